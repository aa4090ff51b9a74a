package pool

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reply"
)

// OverflowError is the error of a request refused by a connection-pool
// limit. It is never retried.
type OverflowError struct {
	// Limit names the limit that overflowed: "maxConnections+http1MaxPendingRequests",
	// "http2MaxRequests" or "maxRetries".
	Limit string
}

// Error names the limit that overflowed.
func (e *OverflowError) Error() string { return "pool: overflow of " + e.Limit }

// Retriable reports false: an overflow is never retried.
func (e *OverflowError) Retriable() bool { return false }

// Is makes errors.Is(err, ErrOverflow) true for every overflow.
func (e *OverflowError) Is(target error) bool { return target == ErrOverflow }

// ErrOverflow matches every OverflowError with errors.Is.
var ErrOverflow error = &OverflowError{Limit: "a connection-pool limit"}

var (
	errPendingOverflow  = &OverflowError{Limit: "maxConnections+http1MaxPendingRequests"}
	errRequestsOverflow = &OverflowError{Limit: "http2MaxRequests"}
)

// Limits are a cluster's admission limits; zero means unlimited.
type Limits struct {
	// MaxConnections bounds the requests active at once.
	MaxConnections int
	// MaxPending bounds the requests waiting for a connection.
	MaxPending int
	// MaxRequests bounds all outstanding requests, active and pending.
	MaxRequests int
	// MaxRetries bounds concurrent retries (when no budget is set).
	MaxRetries int
	// Budget, when set, bounds concurrent retries to a share of the
	// outstanding requests instead of MaxRetries.
	Budget *RetryBudget
}

// RetryBudget is a retry budget: concurrent retries ≤ max(MinConcurrency,
// Percent% of outstanding requests).
type RetryBudget struct {
	// Percent of outstanding requests that may be retries.
	Percent float64
	// MinConcurrency is the number of concurrent retries always allowed.
	MinConcurrency int
}

// LimitsFrom derives the limits from Istio's connection pool (nil: none).
// The caller sets Budget from the DestinationRule's retryBudget.
func LimitsFrom(pool *Settings) Limits {
	var l Limits
	if pool != nil && pool.TCP != nil {
		l.MaxConnections = int(pool.TCP.MaxConnections)
	}
	if pool != nil && pool.HTTP != nil {
		l.MaxPending = int(pool.HTTP.HTTP1MaxPendingRequests)
		l.MaxRequests = int(pool.HTTP.HTTP2MaxRequests)
		l.MaxRetries = int(pool.HTTP.MaxRetries)
	}
	return l
}

// Unlimited reports whether l sets no limit at all.
func (l Limits) Unlimited() bool {
	return l.MaxConnections == 0 && l.MaxPending == 0 && l.MaxRequests == 0 && l.MaxRetries == 0 && l.Budget == nil
}

// Limiter admits requests to one cluster. It is safe for concurrent use,
// and keeps its counts when its limits change.
type Limiter struct {
	mu      sync.Mutex
	limits  Limits
	active  int
	waiters []chan struct{} // pending requests, oldest first
	retries atomic.Int64
	stats   Stats
}

// Stats counts a limiter's decisions.
type Stats struct {
	// Overflows counts requests refused by a limit.
	Overflows atomic.Int64
	// RetryOverflows counts retries refused by the retry limit or budget.
	RetryOverflows atomic.Int64
}

// NewLimiter returns a limiter with limits l.
func NewLimiter(l Limits) *Limiter { return &Limiter{limits: l} }

// SetLimits replaces the limits, admitting waiting requests that the new
// limits allow.
func (l *Limiter) SetLimits(limits Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits = limits
	for len(l.waiters) > 0 && (limits.MaxConnections == 0 || l.active < limits.MaxConnections) {
		l.handOff()
	}
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() *Stats { return &l.stats }

// Acquire admits a request, waiting for a connection while the pending
// queue has room, until ctx ends. It returns an *OverflowError at once when a
// limit is full. Every successful Acquire must be paired with Release.
func (l *Limiter) Acquire(ctx context.Context) error {
	l.mu.Lock()
	lim := l.limits
	if lim.MaxRequests > 0 && l.active+len(l.waiters) >= lim.MaxRequests {
		l.mu.Unlock()
		l.stats.Overflows.Add(1)
		return errRequestsOverflow
	}
	if lim.MaxConnections == 0 || l.active < lim.MaxConnections {
		l.active++
		l.mu.Unlock()
		return nil
	}
	if lim.MaxPending > 0 && len(l.waiters) >= lim.MaxPending {
		l.mu.Unlock()
		l.stats.Overflows.Add(1)
		return errPendingOverflow
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil // handed a slot by Release
	case <-ctx.Done():
		l.mu.Lock()
		for i, w := range l.waiters {
			if w == ch {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				l.mu.Unlock()
				return context.Cause(ctx)
			}
		}
		l.mu.Unlock()
		l.Release() // a slot was handed over as the context ended
		return context.Cause(ctx)
	}
}

// Release ends an admitted request, handing its slot to the oldest waiting
// request if there is one.
func (l *Limiter) Release() {
	l.mu.Lock()
	l.active--
	if len(l.waiters) > 0 && (l.limits.MaxConnections == 0 || l.active < l.limits.MaxConnections) {
		l.handOff()
	}
	l.mu.Unlock()
}

// handOff admits the oldest waiting request; l.mu is held.
func (l *Limiter) handOff() {
	ch := l.waiters[0]
	l.waiters[0] = nil
	l.waiters = l.waiters[1:]
	l.active++
	close(ch)
}

// Outstanding returns the requests active and pending.
func (l *Limiter) Outstanding() (active, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active, len(l.waiters)
}

// AllowRetry reports whether a retry may start now under the retry budget
// or maxRetries; a true answer must be paired with RetryDone.
func (l *Limiter) AllowRetry() bool {
	l.mu.Lock()
	lim, outstanding := l.limits, l.active+len(l.waiters)
	l.mu.Unlock()
	max := int64(lim.MaxRetries)
	if b := lim.Budget; b != nil {
		max = int64(max64(float64(b.MinConcurrency), b.Percent/100*float64(outstanding)))
	}
	if max == 0 && lim.Budget == nil {
		l.retries.Add(1)
		return true
	}
	if l.retries.Add(1) > max {
		l.retries.Add(-1)
		l.stats.RetryOverflows.Add(1)
		return false
	}
	return true
}

// RetryDone ends a retry allowed by AllowRetry.
func (l *Limiter) RetryDone() { l.retries.Add(-1) }

func max64(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// RoundTripper returns an http.RoundTripper that admits each request
// through the limiter before passing it to next (nil: http.DefaultTransport);
// a request past a limit gets 503 with x-envoy-overloaded: true. The slot is
// held until the response headers arrive. It is safe for concurrent use.
func (l *Limiter) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return limiterRoundTripper{l: l, next: next}
}

type limiterRoundTripper struct {
	l    *Limiter
	next http.RoundTripper
}

func (rt limiterRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rt.l.Acquire(req.Context()); err != nil {
		httpbody.CloseRequest(req)
		if _, ok := err.(*OverflowError); ok {
			return reply.Overflow(req), nil
		}
		return nil, err
	}
	defer rt.l.Release()
	return rt.next.RoundTrip(req)
}
