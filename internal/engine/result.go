package engine

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
)

// ResultKind is how an attempt ended, as the mesh's bookkeeping sees it.
type ResultKind uint8

// The ways an attempt ends.
const (
	// Answered: the endpoint answered with Result.Status.
	Answered ResultKind = iota
	// Unreachable: no response came back (a connect failure, a reset);
	// outlier detection counts it as a local-origin 503.
	Unreachable
	// TimedOut: a per-try or route timeout cut the attempt; outlier
	// detection counts it as a local-origin 504.
	TimedOut
	// GaveUp: the caller's own context ended; it says nothing of the
	// endpoint.
	GaveUp
	// Own: the request's own fault (a header net/http refuses, gRPC metadata
	// over the server's limit); it says nothing of the endpoint.
	Own
)

// Result is how one attempt ended.
type Result struct {
	Kind ResultKind
	// Status is the endpoint's HTTP status, a gRPC status mapped to HTTP as
	// Envoy maps it; set when Kind is Answered.
	Status int
}

// Failed reports whether the attempt failed at the endpoint: a 5xx, or no
// response.
func (r Result) Failed() bool {
	switch r.Kind {
	case Answered:
		return r.Status >= 500
	case Unreachable, TimedOut:
		return true
	}
	return false
}

func (r Result) outcome() ejection.Outcome {
	switch r.Kind {
	case Unreachable:
		return ejection.Outcome{Local: ejection.LocalConnect}
	case TimedOut:
		return ejection.Outcome{Local: ejection.LocalTimeout}
	}
	return ejection.Outcome{Status: r.Status}
}

// timedOut reports whether ctx ended by a per-try or a route timeout.
func timedOut(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, retrypolicy.ErrPerTryTimeout) || errors.Is(cause, ErrRouteTimeout)
}

// HTTPResult is the result of an HTTP attempt sent with req that returned
// resp or err; an error of the request's own making is the caller's to
// tell (Result{Kind: Own}). A grpc-status in the response headers (a
// trailers-only response) counts as its HTTP equivalent, as Envoy counts it.
func HTTPResult(req *http.Request, resp *http.Response, err error) Result {
	if err != nil {
		switch {
		case timedOut(req.Context()):
			return Result{Kind: TimedOut}
		case req.Context().Err() != nil:
			return Result{Kind: GaveUp}
		}
		return Result{Kind: Unreachable}
	}
	if gs := resp.Header["Grpc-Status"]; len(gs) > 0 {
		if code, err := strconv.Atoi(gs[0]); err == nil {
			return Result{Status: grpccode.HTTPStatus(code)}
		}
	}
	return Result{Status: resp.StatusCode}
}

// GRPCResult is the result of a gRPC attempt whose context is ctx that
// ended with err (nil for OK); an error of the call's own making is the
// caller's to tell (Result{Kind: Own}). A status is counted as its HTTP
// equivalent, as Envoy counts it; an error that is no status, as no
// response.
func GRPCResult(ctx context.Context, err error) Result {
	if err == nil {
		return Result{Status: http.StatusOK}
	}
	switch {
	case timedOut(ctx):
		return Result{Kind: TimedOut}
	case ctx.Err() != nil:
		return Result{Kind: GaveUp}
	}
	s, ok := status.FromError(err)
	switch {
	case !ok:
		return Result{Kind: Unreachable}
	case s.Code() == codes.Canceled:
		return Result{Kind: GaveUp}
	}
	return Result{Status: grpccode.HTTPStatus(int(s.Code()))}
}
