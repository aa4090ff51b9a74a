package ejection_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/outlier"
)

func endpoints(n int) []*balancer.Endpoint {
	eps := make([]*balancer.Endpoint, n)
	for i := range eps {
		eps[i] = &balancer.Endpoint{Address: fmt.Sprintf("10.0.0.%d:80", i+1), State: &balancer.State{}}
	}
	return eps
}

func u32(v uint32) *uint32 { return &v }

type fixture struct {
	clk     *meshtest.Clock
	d       *ejection.Detector
	eps     []*balancer.Endpoint
	changes atomic.Int32
	events  []ejection.Event
}

func newDetector(t *testing.T, cfg *outlier.Config, n int) *fixture {
	f := &fixture{clk: meshtest.NewClock(time.Unix(0, 0)), eps: endpoints(n)}
	f.d = ejection.NewDetector(cfg, f.eps, ejection.DetectorOptions{
		Clock:    f.clk,
		OnChange: func() { f.changes.Add(1) },
		OnEvent:  func(e ejection.Event) { f.events = append(f.events, e) },
	})
	f.d.Start()
	t.Cleanup(f.d.Stop)
	return f
}

func (f *fixture) record(i, status, n int) {
	for range n {
		f.d.Record(f.eps[i], ejection.Outcome{Status: status})
	}
}

func TestConsecutive5xxEjectsAtOnceAndReturnsOnTheSweep(t *testing.T) {
	f := newDetector(t, &outlier.Config{Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 100}, 3)
	f.record(0, 500, 4)
	assert.False(t, f.d.Ejected(f.eps[0]), "4 of the default 5")
	f.record(0, 500, 1)
	assert.True(t, f.d.Ejected(f.eps[0]), "ejected the moment the count reaches 5")
	assert.EqualValues(t, 1, f.changes.Load())
	assert.Equal(t, []*balancer.Endpoint{f.eps[1], f.eps[2]}, f.d.Available())
	require.Len(t, f.events, 1)
	assert.Equal(t, "consecutive-5xx", f.events[0].Reason)
	assert.Equal(t, 30*time.Second, f.events[0].Duration)

	f.clk.Advance(20 * time.Second)
	assert.True(t, f.d.Ejected(f.eps[0]), "20s < 30s")
	f.clk.Advance(10 * time.Second)
	assert.False(t, f.d.Ejected(f.eps[0]), "returned at the 30s sweep")
	assert.Len(t, f.d.Available(), 3)

	// Ejected again right away: 2 × base.
	f.record(0, 503, 5)
	require.True(t, f.d.Ejected(f.eps[0]))
	assert.Equal(t, 60*time.Second, f.events[len(f.events)-1].Duration)
	f.clk.Advance(50 * time.Second)
	assert.True(t, f.d.Ejected(f.eps[0]))
	f.clk.Advance(10 * time.Second)
	assert.False(t, f.d.Ejected(f.eps[0]))
}

func TestEjectionTimeIsRoundedUpToTheSweep(t *testing.T) {
	f := newDetector(t, &outlier.Config{Interval: 10 * time.Second, BaseEjectionTime: 15 * time.Second, MaxEjectionPercent: 100}, 2)
	f.clk.Advance(5 * time.Second)
	f.record(0, 500, 5) // ejected at t=5s for 15s: back at the t=20s sweep
	f.clk.Advance(14 * time.Second)
	assert.True(t, f.d.Ejected(f.eps[0]))
	f.clk.Advance(time.Second)
	assert.False(t, f.d.Ejected(f.eps[0]))
}

func TestEjectionTimeIsCapped(t *testing.T) {
	f := newDetector(t, &outlier.Config{Interval: time.Second, BaseEjectionTime: 100 * time.Second, MaxEjectionPercent: 100}, 2)
	var durations []time.Duration
	for range 5 {
		f.record(0, 500, 5)
		durations = append(durations, f.events[len(f.events)-1].Duration)
		f.clk.Advance(durations[len(durations)-1])
	}
	assert.Equal(t, []time.Duration{100 * time.Second, 200 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second}, durations,
		"base × times ejected, capped at max(300s, base)")
}

func TestNon5xxResetsTheCount(t *testing.T) {
	f := newDetector(t, &outlier.Config{MaxEjectionPercent: 100}, 2)
	f.record(0, 500, 4)
	f.record(0, 404, 1)
	f.record(0, 500, 4)
	assert.False(t, f.d.Ejected(f.eps[0]))
}

func TestGatewayErrors(t *testing.T) {
	f := newDetector(t, &outlier.Config{Consecutive5xxErrors: u32(0), ConsecutiveGatewayErrors: u32(3), MaxEjectionPercent: 100}, 2)
	f.record(0, 500, 10)
	assert.False(t, f.d.Ejected(f.eps[0]), "consecutive5xxErrors 0 disables 5xx ejection; 500 is not a gateway error")
	f.record(0, 502, 2)
	f.record(0, 500, 1)
	f.record(0, 504, 2)
	assert.False(t, f.d.Ejected(f.eps[0]), "another 5xx resets the gateway count")
	f.d.Record(f.eps[0], ejection.Outcome{Local: ejection.LocalTimeout})
	assert.True(t, f.d.Ejected(f.eps[0]), "a timeout counts as 504")
	assert.Equal(t, "consecutive-gateway-errors", f.events[0].Reason)
}

func TestLocalOriginFailuresCountAs5xxUnlessSplit(t *testing.T) {
	f := newDetector(t, &outlier.Config{MaxEjectionPercent: 100}, 2)
	for range 5 {
		f.d.Record(f.eps[0], ejection.Outcome{Local: ejection.LocalConnect})
	}
	assert.True(t, f.d.Ejected(f.eps[0]), "connect failures count as 503")

	s := newDetector(t, &outlier.Config{SplitExternalLocalOriginErrors: true, ConsecutiveLocalOriginFailures: u32(2), MaxEjectionPercent: 100}, 2)
	s.record(0, 500, 4)
	s.d.Record(s.eps[0], ejection.Outcome{Local: ejection.LocalConnect})
	s.record(0, 200, 1)
	s.d.Record(s.eps[0], ejection.Outcome{Local: ejection.LocalConnect})
	assert.False(t, s.d.Ejected(s.eps[0]), "a response resets the local-origin count; local failures do not feed the 5xx count")
	s.d.Record(s.eps[0], ejection.Outcome{Local: ejection.LocalConnect})
	assert.True(t, s.d.Ejected(s.eps[0]))
	assert.Equal(t, "consecutive-local-origin-failures", s.events[0].Reason)
}

func TestMaxEjectionPercentButAlwaysOne(t *testing.T) {
	f := newDetector(t, &outlier.Config{}, 3) // default 10%
	f.record(0, 500, 5)
	f.record(1, 500, 5)
	assert.True(t, f.d.Ejected(f.eps[0]), "at least one endpoint can always be ejected")
	assert.False(t, f.d.Ejected(f.eps[1]), "33% ejected already is past 10%")

	g := newDetector(t, &outlier.Config{MaxEjectionPercent: 50}, 4)
	for i := range 4 {
		g.record(i, 500, 5)
	}
	assert.Len(t, g.d.Available(), 2, "50% of 4")
}

func TestAllEjectedWithoutPanicLeavesNone(t *testing.T) {
	f := newDetector(t, &outlier.Config{MaxEjectionPercent: 100}, 2)
	f.record(0, 500, 5)
	f.record(1, 500, 5)
	assert.Empty(t, f.d.Available(), "minHealthPercent 0: no panic mode")

	p := newDetector(t, &outlier.Config{MaxEjectionPercent: 100, MinHealthPercent: 60}, 2)
	p.record(0, 500, 5)
	assert.Len(t, p.d.Available(), 2, "50% healthy is below 60%: panic, balance over all")
}

func TestStatePassesToTheNextDetector(t *testing.T) {
	f := newDetector(t, &outlier.Config{MaxEjectionPercent: 100}, 2)
	f.record(0, 500, 5)
	next := ejection.NewDetector(&outlier.Config{MaxEjectionPercent: 100}, f.eps, ejection.DetectorOptions{Clock: f.clk, Previous: f.d})
	f.d.Stop()
	next.Start()
	defer next.Stop()
	assert.True(t, next.Ejected(f.eps[0]), "ejections survive a configuration update")
	f.clk.Advance(30 * time.Second)
	assert.False(t, next.Ejected(f.eps[0]))
}
