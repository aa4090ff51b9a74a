package retrypolicy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/internal/failure"
	"google.golang.org/grpc/codes"
)

// Classify tells what kind of transport failure err is, a per-try timeout
// included.
func Classify(err error) failure.Kind {
	if errors.Is(err, ErrPerTryTimeout) {
		return failure.PerTryTimeout
	}
	return failure.Transport(err)
}

// final reports whether err ends the attempt loop whatever the policy: an
// error whose Retriable method returns false (a connection-pool overflow,
// no healthy upstream), or the caller's own cancellation.
func final(req *http.Request, err error) bool {
	var r interface{ Retriable() bool }
	if errors.As(err, &r) && !r.Retriable() {
		return true
	}
	return req.Context().Err() != nil
}

// RetryFailure reports whether the policy retries a failure of kind f.
// Per Envoy, 5xx and gateway-error also cover resets and per-try timeouts.
func (p *Policy) RetryFailure(f failure.Kind) bool {
	any := On5xx | OnGatewayError | OnReset
	switch f {
	case failure.Connect:
		return p.on&(any|OnConnectFailure|OnResetBeforeRequest) != 0
	case failure.RefusedStream:
		return p.on&(any|OnRefusedStream|OnResetBeforeRequest) != 0
	default:
		return p.on&any != 0
	}
}

// RetryResponse reports whether the policy retries resp, the answer to req,
// checking Envoy's conditions in Envoy's order.
func (p *Policy) RetryResponse(req *http.Request, resp *http.Response) bool {
	if _, ok := resp.Header["X-Envoy-Ratelimited"]; ok {
		return p.Has(OnEnvoyRateLimited)
	}
	s := resp.StatusCode
	switch {
	case p.Has(On5xx) && s >= 500 && s <= 599:
		return true
	case p.Has(OnGatewayError) && s >= 502 && s <= 504:
		return true
	case p.Has(OnRetriable4xx) && s == http.StatusConflict:
		return true
	case p.Has(OnRetriableStatusCodes) && p.retriableCode(req, s):
		return true
	case p.Has(OnRetriableHeaders) && retriableHeader(req, resp):
		return true
	}
	if gs := resp.Header["Grpc-Status"]; len(gs) > 0 {
		code, err := strconv.Atoi(gs[0])
		return err == nil && p.RetryGRPC(codes.Code(code))
	}
	return false
}

func (p *Policy) retriableCode(req *http.Request, s int) bool {
	for _, c := range p.codes {
		if c == s {
			return true
		}
	}
	// Header names here are canonical already: index the map directly
	// rather than pay for canonicalisation on every response.
	for _, v := range req.Header["X-Envoy-Retriable-Status-Codes"] {
		for _, tok := range strings.Split(v, ",") {
			if c, err := strconv.Atoi(strings.TrimSpace(tok)); err == nil && c == s {
				return true
			}
		}
	}
	return false
}

func retriableHeader(req *http.Request, resp *http.Response) bool {
	for _, v := range req.Header["X-Envoy-Retriable-Header-Names"] {
		for _, name := range strings.Split(v, ",") {
			if _, ok := resp.Header[http.CanonicalHeaderKey(strings.TrimSpace(name))]; ok {
				return true
			}
		}
	}
	return false
}
