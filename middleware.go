package switchyard

import "net/http"

// RoundTripperFunc adapts a function to http.RoundTripper, as
// http.HandlerFunc does for handlers.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f(req).
func (f RoundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Middleware wraps a RoundTripper with behaviour of its own.
type Middleware func(next http.RoundTripper) http.RoundTripper

// Chain wraps next in mws, the first listed outermost: Chain(t, a, b) sends a
// request through a, then b, then t. A nil next means
// http.DefaultTransport; nil middlewares are skipped. The chain is built
// once, here.
func Chain(next http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			next = mws[i](next)
		}
	}
	return next
}
