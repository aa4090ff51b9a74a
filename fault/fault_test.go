package fault_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pct(v float64) *fault.Percent { return &fault.Percent{Value: v} }

func TestAbortAnswersLocally(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("svc:80", "svc", nil)
	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{HTTPStatus: 503, Percentage: pct(100)}})
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: inj.RoundTripper(n.Transport())}).Get("http://svc/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "fault filter abort", string(body))
	assert.Zero(t, b.Count(), "an abort never reaches the upstream")
}

func TestGRPCAborts(t *testing.T) {
	grpcReq, _ := http.NewRequest("POST", "http://svc/pkg.Svc/Method", nil)
	grpcReq.Header.Set("Content-Type", "application/grpc")
	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{GRPCStatus: "UNAVAILABLE", Percentage: pct(100)}})
	require.NoError(t, err)
	resp, _, err := inj.Inject(grpcReq)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "14", resp.Header.Get("Grpc-Status"))
	assert.Equal(t, "fault%20filter%20abort", resp.Header.Get("Grpc-Message"))

	inj, err = fault.New(&fault.Config{Abort: &fault.Abort{HTTPStatus: 404, Percentage: pct(100)}})
	require.NoError(t, err)
	resp, _, err = inj.Inject(grpcReq)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "12", resp.Header.Get("Grpc-Status"), "404 maps to UNIMPLEMENTED for a gRPC request")

}

func TestDelayHoldsTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		n.Add("svc:80", "svc", nil)
		inj, err := fault.New(&fault.Config{Delay: &fault.Delay{FixedDelay: 5 * time.Second, Percentage: pct(100)}})
		require.NoError(t, err)
		rt := inj.RoundTripper(n.Transport())
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 5*time.Second, time.Since(start))

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ = http.NewRequestWithContext(ctx, "GET", "http://svc/", nil)
		_, err = rt.RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline cuts the delay")
	})
}

func TestAbsentPercentageNeverInjects(t *testing.T) {
	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{HTTPStatus: 500}, Delay: &fault.Delay{FixedDelay: time.Hour}})
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", "http://svc/", nil)
	for range 1000 {
		resp, _, err := inj.Inject(req)
		require.NoError(t, err)
		require.Nil(t, resp)
	}
}

func TestPercentagesAndIndependence(t *testing.T) {
	// Delay 30% and abort 10%, drawn independently: the four combinations
	// follow the product of the marginals (chi-square, alpha 1e-6).
	clk := &instantClock{}
	inj, err := fault.New(&fault.Config{
		Delay: &fault.Delay{FixedDelay: time.Millisecond, Percentage: pct(30)},
		Abort: &fault.Abort{HTTPStatus: 500, Percentage: pct(10)},
	}, fault.WithClock(clk), fault.WithRand(rng.NewSeeded(9)))
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", "http://svc/", nil)
	var counts [4]int // delayed×aborted
	const n = 50_000
	for range n {
		before := clk.timers
		resp, _, err := inj.Inject(req)
		require.NoError(t, err)
		i := 0
		if clk.timers != before {
			i += 2
		}
		if resp != nil {
			i++
		}
		counts[i]++
	}
	ok, x, crit := stat.FitsDistribution(counts[:], []float64{0.7 * 0.9, 0.7 * 0.1, 0.3 * 0.9, 0.3 * 0.1})
	assert.True(t, ok, "counts %v: chi-square %.1f > %.1f", counts, x, crit)
}

// instantClock fires every timer at once and counts them: a user-written
// Clock, which needs no import of switchyard's packages.
type instantClock struct{ timers int }

func (c *instantClock) Now() time.Time { return time.Unix(0, 0) }

func (c *instantClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.timers++
	f()
	return firedTimer{}
}

type firedTimer struct{}

func (firedTimer) Stop() bool { return false }

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  *fault.Config
		want string
	}{
		{&fault.Config{}, "a fault needs a delay, an abort or both"},
		{&fault.Config{Delay: &fault.Delay{Percentage: pct(10)}}, "delay.fixedDelay: required, at least 1ms"},
		{&fault.Config{Delay: &fault.Delay{FixedDelay: time.Second, Percentage: pct(101)}}, "delay.percentage.value: 101 must be 0 or within [0.0001, 100]"},
		{&fault.Config{Delay: &fault.Delay{FixedDelay: time.Second, Percent: 120}}, "delay.percent: 120 is outside 0-100"},
		{&fault.Config{Abort: &fault.Abort{HTTPStatus: 700}}, "abort.httpStatus: 700 is outside 200-599"},
		{&fault.Config{Abort: &fault.Abort{}}, "abort.httpStatus: 0 is outside 200-599"},
		{&fault.Config{Abort: &fault.Abort{GRPCStatus: "BROKEN"}}, `abort.grpcStatus: unknown gRPC status "BROKEN"; use a name such as UNAVAILABLE`},
		{&fault.Config{Abort: &fault.Abort{GRPCStatus: "14"}}, `abort.grpcStatus: unknown gRPC status "14"; use a name such as UNAVAILABLE`},
		{&fault.Config{Abort: &fault.Abort{HTTPStatus: 500, GRPCStatus: "INTERNAL"}}, "abort: httpStatus and grpcStatus are mutually exclusive"},
	} {
		_, err := fault.New(tc.cfg)
		require.Error(t, err)
		assert.Equal(t, tc.want, err.Error())
	}
}
