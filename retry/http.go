package retry

import (
	"net/http"
	"sync"
)

// RoundTripper returns an http.RoundTripper that retries requests through
// next by the policy. As the http.RoundTripper contract asks, a response of
// any status is returned with a nil error: the last response when retries
// are exhausted. When the last attempt fails without a response, the error
// is an *ExhaustedError wrapping it (ErrPerTryTimeout for a per-try
// timeout). A nil next means http.DefaultTransport. It is safe for
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
	if err != nil && req.Context().Err() == nil {
		return nil, &ExhaustedError{Attempts: n, Last: err}
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
	return a.next.RoundTrip(req)
}

func (a *attempter) AllowRetry() bool { return true }
func (a *attempter) RetryDone()       {}
