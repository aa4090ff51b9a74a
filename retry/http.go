package retry

import (
	"net/http"
	"sync"

	"github.com/switchyard-go/switchyard/internal/reqerr"
)

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
	resp, err := rt.p.Do(req, a)
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
