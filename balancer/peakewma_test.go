package balancer

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/israce"
	"github.com/switchyard-go/switchyard/internal/rng"
)

func TestPeakEWMAAverage(t *testing.T) {
	c := PeakEWMA{Decay: 10 * time.Second}
	var s State
	t0 := time.Unix(0, 0)
	assert.Equal(t, 7*time.Millisecond, s.Latency(7*time.Millisecond), "unmeasured: the default")
	s.observe(10*time.Millisecond, false, t0, c)
	assert.Equal(t, 10*time.Millisecond, s.Latency(0))
	s.observe(100*time.Millisecond, false, t0.Add(time.Second), c)
	assert.Equal(t, 100*time.Millisecond, s.Latency(0), "a slower sample is taken at once (peak)")
	s.observe(0, false, t0.Add(11*time.Second), c)
	// 10s later the old average weighs e^-1.
	assert.InDelta(t, float64(100*time.Millisecond)*0.36788, float64(s.Latency(0)), float64(time.Microsecond))
	s.observe(time.Millisecond, true, t0.Add(12*time.Second), PeakEWMA{})
	assert.Equal(t, time.Second, s.Latency(0), "a failure counts as the 1s penalty")
}

func TestPeakEWMAPrefersTheCheaper(t *testing.T) {
	eps := endpoints(1, 1)
	t0 := time.Unix(0, 0)
	PeakEWMA{}.Observe(eps[0], 50*time.Millisecond, false, t0)
	PeakEWMA{}.Observe(eps[1], 5*time.Millisecond, false, t0)
	p := NewPeakEWMA(eps, PeakEWMA{}, rng.NewSeeded(1))
	for range 100 {
		e, err := p.Pick()
		require.NoError(t, err)
		require.Same(t, eps[1], e, "two distinct choices of two: always the faster")
	}
	for range 20 {
		eps[1].State.Begin() // 5ms × 21 in flight costs more than 50ms × 1
	}
	e, _ := p.Pick()
	assert.Same(t, eps[0], e, "cost is latency × (active + 1)")
}

func TestPeakEWMAPickAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	p := NewPeakEWMA(endpoints(1, 1, 1), PeakEWMA{}, nil)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { p.Pick() }))
}

func BenchmarkPeakEWMAPick(b *testing.B) {
	for _, n := range []int{2, 100, 10_000} {
		ws := make([]uint32, n)
		for i := range ws {
			ws[i] = 1
		}
		p := NewPeakEWMA(endpoints(ws...), PeakEWMA{}, nil)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Pick()
			}
		})
	}
}
