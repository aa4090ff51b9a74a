package pool_test

import (
	"context"

	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/internal/israce"
	"github.com/switchyard-go/switchyard/pool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOneActiveOnePendingNextOverflows(t *testing.T) {
	// Istio's circuit-breaking task: maxConnections 1 and
	// http1MaxPendingRequests 1 admit one request, queue one, and refuse
	// the next at once.
	synctest.Test(t, func(t *testing.T) {
		l := pool.NewLimiter(pool.Limits{MaxConnections: 1, MaxPending: 1})
		ctx := context.Background()
		require.NoError(t, l.Acquire(ctx))

		var wg sync.WaitGroup
		var pendingErr error
		wg.Go(func() { pendingErr = l.Acquire(ctx) })
		synctest.Wait()
		active, pending := l.Outstanding()
		assert.Equal(t, 1, active)
		assert.Equal(t, 1, pending)

		err := l.Acquire(ctx)
		assert.ErrorIs(t, err, pool.ErrOverflow)
		var oe *pool.OverflowError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "maxConnections+http1MaxPendingRequests", oe.Limit)
		assert.EqualValues(t, 1, l.Stats().Overflows.Load())

		l.Release() // the pending request takes the slot
		wg.Wait()
		require.NoError(t, pendingErr)
		active, pending = l.Outstanding()
		assert.Equal(t, 1, active)
		assert.Zero(t, pending)
		l.Release()
	})
}

func TestPendingRequestsAreAdmittedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pool.NewLimiter(pool.Limits{MaxConnections: 1})
		require.NoError(t, l.Acquire(context.Background()))
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				require.NoError(t, l.Acquire(context.Background()))
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				l.Release()
			})
			synctest.Wait()
		}
		l.Release()
		wg.Wait()
		assert.Equal(t, []int{0, 1, 2}, order)
	})
}

func TestPendingRequestLeavesOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pool.NewLimiter(pool.Limits{MaxConnections: 1})
		require.NoError(t, l.Acquire(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.ErrorIs(t, l.Acquire(ctx), context.DeadlineExceeded)
		_, pending := l.Outstanding()
		assert.Zero(t, pending)
		l.Release()
		active, _ := l.Outstanding()
		assert.Zero(t, active)
	})
}

func TestMaxRequestsCountsOutstanding(t *testing.T) {
	l := pool.NewLimiter(pool.Limits{MaxRequests: 2})
	require.NoError(t, l.Acquire(context.Background()))
	require.NoError(t, l.Acquire(context.Background()))
	err := l.Acquire(context.Background())
	var oe *pool.OverflowError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "http2MaxRequests", oe.Limit)
	assert.False(t, oe.Retriable())
	l.Release()
	assert.NoError(t, l.Acquire(context.Background()))
}

func TestRetryLimitAndBudget(t *testing.T) {
	l := pool.NewLimiter(pool.Limits{MaxRetries: 1})
	assert.True(t, l.AllowRetry())
	assert.False(t, l.AllowRetry())
	l.RetryDone()
	assert.True(t, l.AllowRetry())

	// Budget: max(3, 20% of 20 outstanding) = 4 concurrent retries.
	b := pool.NewLimiter(pool.Limits{Budget: &pool.RetryBudget{Percent: 20, MinConcurrency: 3}})
	for range 20 {
		require.NoError(t, b.Acquire(context.Background()))
	}
	for range 4 {
		assert.True(t, b.AllowRetry())
	}
	assert.False(t, b.AllowRetry())
	assert.EqualValues(t, 1, b.Stats().RetryOverflows.Load())

	u := pool.NewLimiter(pool.Limits{})
	for range 100 {
		assert.True(t, u.AllowRetry(), "no limit set: retries unlimited")
	}
}

func TestAdmissionAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	l := pool.NewLimiter(pool.Limits{MaxConnections: 10, MaxPending: 10, MaxRequests: 100})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		l.Release()
	})
	assert.Zero(t, allocs)
}

func TestLimiterRoundTripperAnswersOverflowWith503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-release
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
		})
		rt := pool.NewLimiter(pool.Limits{MaxConnections: 1, MaxPending: 1}).RoundTripper(next)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", "http://svc/", nil)
				resp, err := rt.RoundTrip(req)
				assert.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			})
		}
		synctest.Wait()
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "true", resp.Header.Get("X-Envoy-Overloaded"))
		close(release)
		wg.Wait()
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
