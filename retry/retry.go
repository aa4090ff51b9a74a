package retry

import (
	"context"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
)

// The defaults of Istio and Envoy.
const (
	// DefaultRetryOn is Istio's retryOn when a route sets no retries.
	DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	// DefaultAttempts is Istio's number of retries when a route sets none.
	DefaultAttempts = 2
	// DefaultBackoff is Envoy's base back-off interval.
	DefaultBackoff = 25 * time.Millisecond
	// DefaultBodyLimit bounds the request body kept, as it is sent, for
	// replay.
	DefaultBodyLimit = 64 << 10
)

// Policy is a compiled retry policy: Istio's HTTPRetry with Envoy's
// semantics. Its RoundTripper and gRPC interceptors retry through any
// transport or ClientConn. It is immutable and safe for concurrent use.
type Policy struct{ p *retrypolicy.Policy }

// Rand is a source of uniformly distributed 64-bit values; it must be safe
// for concurrent use.
type Rand interface{ Uint64() uint64 }

// Option configures a Policy's dependencies.
type Option interface{ option() retrypolicy.Option }

type option struct{ o retrypolicy.Option }

func (o option) option() retrypolicy.Option { return o.o }

// WithClock makes the policy time per-try timeouts and back-off with c
// (nil: the real clock).
func WithClock(c clock.Clock) Option { return option{retrypolicy.WithClock(c)} }

// WithRand makes the policy draw back-off jitter from r (nil:
// math/rand/v2).
func WithRand(r Rand) Option { return option{retrypolicy.WithRand(r)} }

// WithBodyLimit sets how much of a request body without GetBody is kept,
// as it is sent, so that a retry can replay it: once an attempt has sent
// more than n bytes, the request is no longer retried. With n zero or
// negative nothing is kept, and a retry happens only when the failed
// attempt read none of the body. The default is DefaultBodyLimit (64 KiB).
func WithBodyLimit(n int64) Option { return option{retrypolicy.WithBodyLimit(n)} }

// New validates cfg and returns its policy (nil cfg: Istio's default
// policy). Problems are reported with field paths relative to the retries
// block.
func New(cfg *Config, opts ...Option) (*Policy, error) {
	var os []retrypolicy.Option
	for _, o := range opts {
		if o != nil {
			os = append(os, o.option())
		}
	}
	p, err := retrypolicy.New((*retrypolicy.Config)(cfg), os...)
	if err != nil {
		return nil, err
	}
	return &Policy{p}, nil
}

// String describes the policy.
func (p *Policy) String() string { return p.p.String() }

// UnaryClientInterceptor retries unary calls by the policy.
func (p *Policy) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return p.p.InvokeGRPC(ctx, retrypolicy.Unlimited{}, func(ctx context.Context, _ int) error {
			return invoker(ctx, method, req, reply, cc, opts...)
		})
	}
}

// StreamClientInterceptor retries streams by the policy until their first
// response message arrives, replaying the messages sent until then.
func (p *Policy) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return p.p.OpenStream(ctx, retrypolicy.Unlimited{}, func(ctx context.Context) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, opts...)
		}, nil)
	}
}

// RoundTripper returns an http.RoundTripper that retries requests through
// next by the policy. As the http.RoundTripper contract asks, a response of
// any status is returned with a nil error: the last response when retries
// are exhausted. When the last attempt fails without a response, the error
// is an *ExhaustedError wrapping it (ErrPerTryTimeout for a per-try
// timeout), except an error that originates in the request itself (an
// invalid header, a failing body), which is returned as next returned it,
// never retried. A nil next means http.DefaultTransport. It is safe for
// concurrent use.
func (p *Policy) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &roundTripper{p: p, next: next}
}

type roundTripper struct {
	p    *Policy
	next http.RoundTripper
}

var attempters = sync.Pool{New: func() any { return new(attempter) }}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	a := attempters.Get().(*attempter)
	a.next, a.n = rt.next, 0
	resp, err := rt.p.p.Do(req, a)
	n := a.n
	a.next = nil
	attempters.Put(a)
	if err != nil {
		if own, ok := reqerr.Unwrap(err); ok {
			return nil, own // the request's own fault, as next reported it
		}
		if req.Context().Err() == nil {
			return nil, &ExhaustedError{Attempts: n, Last: err}
		}
	}
	return resp, err
}

// attempter sends every attempt to next; retries are limited only by the
// policy.
type attempter struct {
	next http.RoundTripper
	n    int
}

func (a *attempter) Attempt(req *http.Request, n int) (*http.Response, error) {
	a.n = n
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		if own := reqerr.Of(req, err); own != nil {
			return nil, own
		}
	}
	return resp, err
}

func (a *attempter) AllowRetry() bool { return true }
func (a *attempter) RetryDone()       {}
