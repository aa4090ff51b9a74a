package retry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard-go/switchyard/internal/israce"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func policy(t *testing.T, cfg *retry.Config, opts ...retry.Option) *retry.Policy {
	t.Helper()
	p, err := retry.New(cfg, opts...)
	require.NoError(t, err)
	return p
}

func resp(status int, hdr ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: http.NoBody}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  retry.Config
		want string
	}{
		{retry.Config{Attempts: -1}, "attempts: must not be negative"},
		{retry.Config{PerTryTimeout: time.Second}, "attempts: attempts 0 disables retries; perTryTimeout, retryOn and retryRemoteLocalities need attempts > 0"},
		{retry.Config{Attempts: 1, PerTryTimeout: time.Microsecond}, "perTryTimeout: 1µs is below the 1ms minimum"},
		{retry.Config{Attempts: 1, Backoff: time.Microsecond}, "backoff: 1µs is below the 1ms minimum"},
		{retry.Config{Attempts: 1, RetryOn: "5xx,sometimes"}, `retryOn: unknown condition "sometimes"; use Envoy's retry_on names (5xx, gateway-error, reset, connect-failure, retriable-4xx, …), gRPC names (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) or HTTP status codes`},
		{retry.Config{Attempts: 1, RetryOn: "999"}, `retryOn: unknown condition "999"; use Envoy's retry_on names (5xx, gateway-error, reset, connect-failure, retriable-4xx, …), gRPC names (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) or HTTP status codes`},
	} {
		_, err := retry.New(&tc.cfg)
		require.Error(t, err)
		assert.Equal(t, tc.want, err.Error())
	}
	p := policy(t, &retry.Config{Attempts: 0})
	n := meshtest.NewNetwork()
	b := n.Add("svc:80", "svc", nil).FailFirst(1, 503)
	r, err := (&http.Client{Transport: p.RoundTripper(n.Transport())}).Get("http://svc/")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 503, r.StatusCode, "attempts 0 disables retries")
	assert.Equal(t, 1, b.Count())
}

func TestAttemptCountsAndHeader(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("svc:80", "svc", nil).FailFirst(2, 503)
	p := policy(t, &retry.Config{Attempts: 3, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(0)))
	c := &http.Client{Transport: p.RoundTripper(n.Transport())}
	r, err := c.Get("http://svc/")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 200, r.StatusCode)
	reqs := b.Requests()
	require.Len(t, reqs, 3, "two failures, then success: 3 attempts")
	assert.Empty(t, reqs[0].Header.Get("X-Envoy-Attempt-Count"))
	assert.Equal(t, "2", reqs[1].Header.Get("X-Envoy-Attempt-Count"))
	assert.Equal(t, "3", reqs[2].Header.Get("X-Envoy-Attempt-Count"))

	b.Reset()
	b.FailFirst(10, 503)
	r, err = c.Get("http://svc/")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 503, r.StatusCode, "exhausted: the last response is returned")
	assert.Equal(t, 4, b.Count(), "attempts: 3 means up to 1+3 requests")
}

func TestConnectFailuresExhaustToAnError(t *testing.T) {
	n := meshtest.NewNetwork()
	p := policy(t, nil, retry.WithRand(rng.NewSequence(0)))
	_, err := (&http.Client{Transport: p.RoundTripper(n.Transport())}).Get("http://nowhere/")
	var ex *retry.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, 3, ex.Attempts, "the default policy retries connect failures twice")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
}

func TestBackoffWindowsAreEnvoys(t *testing.T) {
	// Retry N waits uniformly in [0, min(2^(N-1)·25ms, 250ms)); with the
	// largest draw every wait is just under its window.
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		b := n.Add("svc:80", "svc", nil).FailFirst(100, 503)
		p := policy(t, &retry.Config{Attempts: 6, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(^uint64(0))))
		var stamps []time.Duration
		start := time.Now()
		b.Handle(nil)
		rt := p.RoundTripper(meshtestStamp{n.Transport(), func() { stamps = append(stamps, time.Since(start)) }})
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		r, err := rt.RoundTrip(req)
		require.NoError(t, err)
		r.Body.Close()
		var waits []time.Duration
		for i := 1; i < len(stamps); i++ {
			waits = append(waits, (stamps[i] - stamps[i-1]).Round(time.Millisecond))
		}
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 250 * ms, 250 * ms}, waits)
	})
}

type meshtestStamp struct {
	next http.RoundTripper
	f    func()
}

func (s meshtestStamp) RoundTrip(r *http.Request) (*http.Response, error) {
	s.f()
	return s.next.RoundTrip(r)
}

func TestBackoffNeverSleepsPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		b := n.Add("svc:80", "svc", nil).FailFirst(100, 503)
		p := policy(t, &retry.Config{Attempts: 5, RetryOn: "5xx", Backoff: time.Second}, retry.WithRand(rng.NewSequence(^uint64(0))))
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://svc/", nil)
		start := time.Now()
		r, err := p.RoundTripper(n.Transport()).RoundTrip(req)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, 503, r.StatusCode, "the last outcome, rather than a sleep into the deadline")
		assert.Equal(t, 2, b.Count(), "first wait ~1s fits, the second (~2s) would not")
		assert.Less(t, time.Since(start), 1500*time.Millisecond)
	})
}

func TestPerTryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		b := n.Add("svc:80", "svc", nil).Delay(3 * time.Second)
		// Retried under 5xx: every attempt times out after 1s.
		p := policy(t, &retry.Config{Attempts: 2, RetryOn: "5xx", PerTryTimeout: time.Second}, retry.WithRand(rng.NewSequence(0)))
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		start := time.Now()
		_, err := p.RoundTripper(n.Transport()).RoundTrip(req)
		assert.ErrorIs(t, err, retry.ErrPerTryTimeout)
		assert.Equal(t, 3, b.Count())
		assert.Equal(t, 3*time.Second, time.Since(start).Round(time.Millisecond))

		// The default conditions do not retry a per-try timeout.
		b.Reset()
		p = policy(t, &retry.Config{Attempts: 2, PerTryTimeout: time.Second})
		_, err = p.RoundTripper(n.Transport()).RoundTrip(req)
		assert.ErrorIs(t, err, retry.ErrPerTryTimeout)
		assert.Equal(t, 1, b.Count())

		// A response that arrives in time is read past the per-try timeout.
		b.Delay(500 * time.Millisecond)
		r, err := p.RoundTripper(slowBody{n.Transport(), 2 * time.Second}).RoundTrip(req)
		require.NoError(t, err)
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, "svc", string(body))
	})
}

// slowBody delays reading the response body, to outlast a per-try timeout.
type slowBody struct {
	next http.RoundTripper
	d    time.Duration
}

func (s slowBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		time.Sleep(0)
		resp.Body = &sleepyReader{resp.Body, s.d, r.Context()}
	}
	return resp, err
}

type sleepyReader struct {
	io.ReadCloser
	d   time.Duration
	ctx context.Context
}

func (s *sleepyReader) Read(p []byte) (int, error) {
	select {
	case <-time.After(s.d):
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
	return s.ReadCloser.Read(p)
}

func TestBodiesAreReplayed(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("svc:80", "svc", nil).FailFirst(1, 503)
	p := policy(t, &retry.Config{Attempts: 1, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(0)))
	rt := p.RoundTripper(n.Transport())

	// Without GetBody: buffered.
	req, _ := http.NewRequest("POST", "http://svc/", io.NopCloser(strings.NewReader("payload")))
	r, err := rt.RoundTrip(req)
	require.NoError(t, err)
	r.Body.Close()
	reqs := b.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "payload", string(reqs[0].Body))
	assert.Equal(t, "payload", string(reqs[1].Body))

	// With GetBody.
	b.Reset()
	b.FailFirst(1, 503)
	req, _ = http.NewRequest("POST", "http://svc/", bytes.NewReader([]byte("again")))
	r, err = rt.RoundTrip(req)
	require.NoError(t, err)
	r.Body.Close()
	reqs = b.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "again", string(reqs[1].Body))

	// Past the limit: sent once, whole, and not retried.
	b.Reset()
	b.FailFirst(1, 503)
	p = policy(t, &retry.Config{Attempts: 1, RetryOn: "5xx"}, retry.WithBodyLimit(4))
	req, _ = http.NewRequest("POST", "http://svc/", io.NopCloser(strings.NewReader("too large")))
	r, err = p.RoundTripper(n.Transport()).RoundTrip(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 503, r.StatusCode)
	reqs = b.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "too large", string(reqs[0].Body))
}

func TestDiscardedResponsesAreClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var bodies []*trackedBody
		next := roundTripFunc(func(*http.Request) (*http.Response, error) {
			b := &trackedBody{Reader: strings.NewReader("error page")}
			bodies = append(bodies, b)
			return &http.Response{StatusCode: 503, Header: http.Header{}, Body: b}, nil
		})
		p := policy(t, &retry.Config{Attempts: 2, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(0)))
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		synctest.Wait() // discarded bodies are drained in the background
		require.Len(t, bodies, 3)
		assert.True(t, bodies[0].closed.Load() && bodies[1].closed.Load(), "discarded responses are drained and closed")
		assert.False(t, bodies[2].closed.Load(), "the returned response is the caller's to close")
		r.Body.Close()
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func TestPolicyAddsNoAllocationsWhenNotFiring(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	bare := roundTripFunc(func(*http.Request) (*http.Response, error) { return okResp, nil })
	rt := policy(t, nil).RoundTripper(bare)
	req, _ := http.NewRequest("GET", "http://svc/", nil)
	allocs := testing.AllocsPerRun(1000, func() { rt.RoundTrip(req) })
	assert.Zero(t, allocs, "armed but not firing: no allocations")
}

var okResp = &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}

func BenchmarkArmedNotFiring(b *testing.B) {
	bare := roundTripFunc(func(*http.Request) (*http.Response, error) { return okResp, nil })
	p, _ := retry.New(nil)
	rt := p.RoundTripper(bare)
	req, _ := http.NewRequest("GET", "http://svc/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rt.RoundTrip(req)
	}
}
