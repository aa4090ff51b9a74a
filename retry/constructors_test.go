package retry_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/retry"
)

// TestCompiledPolicyIsUsable runs a policy whose options are nil: it had
// no clock, so a per-try timeout or a
// back-off panicked, and no randomness for jitter.
func TestCompiledPolicyIsUsable(t *testing.T) {
	cfg := &retry.Config{Attempts: 2, RetryOn: "5xx,unavailable", PerTryTimeout: time.Second}
	withNils := policy(t, cfg, retry.WithClock(nil), retry.WithRand(nil), nil)
	for name, p := range map[string]*retry.Policy{"New with nil options": withNils} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := meshtest.NewNetwork()
				b := n.Add("svc:80", "svc", nil).FailFirst(1, http.StatusServiceUnavailable)
				req, _ := http.NewRequest("GET", "http://svc/", nil)
				resp, err := p.RoundTripper(n.Transport()).RoundTrip(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode, "retried after a back-off")
				assert.Equal(t, 2, b.Count())

				b.Reset()
				b.Delay(3 * time.Second)
				_, err = p.RoundTripper(n.Transport()).RoundTrip(req)
				assert.ErrorIs(t, err, retry.ErrPerTryTimeout)

				calls := 0
				invoke := p.UnaryClientInterceptor()
				err = invoke(context.Background(), "/svc/M", nil, nil, nil, func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
					if calls++; calls == 1 {
						return status.Error(codes.Unavailable, "down")
					}
					<-ctx.Done() // the per-try timeout ends the later attempts
					return status.FromContextError(ctx.Err()).Err()
				})
				assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
				assert.Equal(t, 3, calls, "unavailable, then two per-try timeouts, retried under 5xx")
			})
		})
	}
}

// The documented defaults are the ones the policy applies.
func TestDefaultsAreThePolicys(t *testing.T) {
	assert.Equal(t, retrypolicy.DefaultRetryOn, retry.DefaultRetryOn)
	assert.Equal(t, retrypolicy.DefaultAttempts, retry.DefaultAttempts)
	assert.Equal(t, retrypolicy.DefaultBackoff, retry.DefaultBackoff)
	assert.Equal(t, retrypolicy.DefaultBodyLimit, retry.DefaultBodyLimit)
}
