package router

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	grpcbalancer "google.golang.org/grpc/balancer"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/pool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Call is the routing decision of one gRPC call, carried in the context of
// each attempt so that the ClientConn's picker picks within the chosen
// cluster through the attempt engine, as HTTP requests pick. Attempts are
// sequential.
type Call struct {
	sel engine.Selection
	// how the current attempt went: whether it reached the picker, and
	// whether it failed by the call's own doing
	picked atomic.Bool
	own    atomic.Bool
	// what the current attempt did, for its telemetry
	ep      atomic.Pointer[balancer.Endpoint]
	ejected atomic.Bool
}

// Cluster returns the destination cluster drawn for the call.
func (c *Call) Cluster() *cluster.Cluster { return c.sel.Cluster() }

// begin starts attempt n.
func (c *Call) begin(n int) {
	c.sel.Begin(n)
	c.picked.Store(false)
	c.own.Store(false)
	c.ep.Store(nil)
	c.ejected.Store(false)
}

type callKey struct{}

// CallFromContext returns the call state the mesh's interceptors put in an
// attempt's context, or nil.
func CallFromContext(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// Pick returns an endpoint of the call's cluster with a ready connection
// (conns are the ClientConn's), picked by the attempt engine as HTTP
// requests pick, and the time to give Done. Errors are the engine's:
// engine.ErrNotReady while an endpoint it could use may still connect
// (gRPC waits for the next picker), an *engine.UnreachableError once none
// can (not a status: gRPC fails the call with UNAVAILABLE unless it waits
// for ready), and UNAVAILABLE "no healthy upstream" when every endpoint is
// ejected.
func (c *Call) Pick(conns engine.Conns) (*balancer.Endpoint, time.Time, error) {
	ep, err := c.sel.Pick(conns)
	if err != nil {
		if err == engine.ErrNoHealthyUpstream {
			err = status.Error(codes.Unavailable, "no healthy upstream")
		}
		return nil, time.Time{}, err
	}
	c.picked.Store(true)
	c.ep.Store(ep)
	return ep, c.sel.Start(ep), nil
}

// Done reports the end of an attempt to ep that started at start (from
// Pick), as gRPC reports it to the picker; ctx is the attempt's.
//
// Nothing is recorded of an attempt that failed by the call's own doing
// (see ownError) — it is returned as it is and never retried — nor of one
// the caller gave up on (its context ended, not by a route or per-try
// timeout); a pick gRPC abandoned because the connection stopped being
// ready is undone.
func (c *Call) Done(ctx context.Context, ep *balancer.Endpoint, start time.Time, di grpcbalancer.DoneInfo) {
	err := di.Err
	switch {
	case err == nil && !di.BytesSent:
		// gRPC abandoned the pick (its connection was no longer ready) and
		// picks again: no attempt was made.
		c.sel.Abandon(ep)
		c.ep.Store(nil)
	case err != nil && ownError(err, di.BytesSent, di.BytesReceived, sending(ctx)):
		c.own.Store(true)
		c.sel.Done(ep, start, engine.Result{Kind: engine.Own})
	default:
		if c.sel.Done(ep, start, engine.GRPCResult(ctx, err)) {
			c.ejected.Store(true)
		}
	}
}

// sending reports whether ctx is a stream attempt's with a SendMsg in
// progress.
func sending(ctx context.Context) bool {
	a := streamAttemptFrom(ctx)
	return a != nil && a.sending.Load() > 0
}

// ownError reports whether an attempt that ended with err failed by the
// call's own doing — its metadata, its message, its call options — rather
// than at the endpoint; sent and received are gRPC's DoneInfo.BytesSent and
// BytesReceived, sending whether a SendMsg was in progress. grpc-go (1.85)
// makes such errors itself, in three places:
//
//   - before picking an endpoint (newClientStream): metadata it rejects, a
//     compressor or codec not registered (INTERNAL). The picker never hears
//     of these; classify catches them.
//   - after the pick, refusing to create the stream on the connection
//     (http2Client.NewStream): metadata over the header-list size the
//     server advertised (INTERNAL), per-RPC credentials that fail
//     (UNAUTHENTICATED). BytesSent is then false, as for a connection that
//     closed under the pick — which is UNAVAILABLE.
//   - in SendMsg, before writing (prepareMsg and the size check): a message
//     that does not marshal or compress (INTERNAL) or exceeds the send limit
//     (RESOURCE_EXHAUSTED), with texts of its own; it finishes the stream
//     with them. A server's status has reached the client (received) unless
//     the failure happened while sending.
//
// UNAVAILABLE, CANCELLED and DEADLINE_EXCEEDED are never the call's own.
func ownError(err error, sent, received, sending bool) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.OK, codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return false
	}
	if !sent {
		return true
	}
	return (!received || sending) && localSendFailure(s.Message())
}

// localSendFailure reports whether msg is one of grpc-go's own texts for a
// message it could not send (rpc_util.go encode and compress, stream.go
// SendMsg).
func localSendFailure(msg string) bool {
	for _, prefix := range []string{
		"grpc: error while marshaling: ",
		"grpc: error while compressing: ",
		"grpc: message too large (",
		"trying to send message larger than max (",
		"SendMsg called after CloseSend",
	} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// classify marks err, with which the current attempt ended, as the call's
// own when it is (see ownError): it is then never retried. An attempt that
// never reached the picker failed by the call's own doing unless it found
// no connection or its context ended.
func (c *Call) classify(err error) error {
	if err == nil {
		return nil
	}
	if !c.own.Load() {
		if c.picked.Load() {
			return err
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
			return err
		}
		var r interface{ Retriable() bool }
		if errors.As(err, &r) {
			return err // the mesh's own (an overflow), already final
		}
	}
	return callError{err}
}

// callError is an error of the call's own making, never retried; the
// caller gets the error it wraps.
type callError struct{ err error }

func (e callError) Error() string { return e.err.Error() }

func (e callError) Unwrap() error { return e.err }

func (e callError) GRPCStatus() *status.Status { return status.Convert(e.err) }

func (callError) Retriable() bool { return false }

// unwrapCallError returns the error a callError wraps, or err.
func unwrapCallError(err error) error {
	if ce, ok := err.(callError); ok {
		return ce.err
	}
	return err
}

// overflowStatus is a pool overflow as a gRPC status: UNAVAILABLE, never
// retried.
type overflowStatus struct{ *status.Status }

func (o overflowStatus) Error() string { return o.Err().Error() }

func (o overflowStatus) GRPCStatus() *status.Status { return o.Status }

func (o overflowStatus) Retriable() bool { return false }

// admit passes the cluster's admission limits; an overflow is UNAVAILABLE
// and never retried. The limiter returned (nil for none) must be released
// when the attempt ends.
func admit(ctx context.Context, c *cluster.Cluster) (*pool.Limiter, error) {
	lim, err := engine.Admit(ctx, c)
	if err != nil {
		if errors.Is(err, pool.ErrOverflow) {
			return nil, overflowStatus{status.New(codes.Unavailable, reply.OverflowBody)}
		}
		return nil, status.FromContextError(err).Err()
	}
	return lim, nil
}
