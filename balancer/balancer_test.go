package balancer

import (
	"fmt"
	"github.com/switchyard-go/switchyard/internal/israce"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/stat"
)

func endpoints(weights ...uint32) []*Endpoint {
	eps := make([]*Endpoint, len(weights))
	for i, w := range weights {
		eps[i] = &Endpoint{Address: fmt.Sprintf("10.0.0.%d:80", i), Weight: w, State: &State{}}
	}
	return eps
}

func names(eps []*Endpoint, picks []*Endpoint) string {
	idx := map[*Endpoint]byte{}
	for i, e := range eps {
		idx[e] = byte('a' + i)
	}
	var b strings.Builder
	for _, p := range picks {
		b.WriteByte(idx[p])
	}
	return b.String()
}

func pickN(t *testing.T, p Picker, n int) []*Endpoint {
	t.Helper()
	out := make([]*Endpoint, n)
	for i := range out {
		e, err := p.Pick()
		require.NoError(t, err)
		out[i] = e
	}
	return out
}

func TestRoundRobinCyclesInOrderFromARandomStart(t *testing.T) {
	eps := endpoints(1, 1, 1)
	p, err := New(&Settings{Simple: SimpleRoundRobin}, eps, rng.NewSequence(rng.Fraction(1, 3)))
	require.NoError(t, err)
	assert.Equal(t, "bcabca", names(eps, pickN(t, p, 6)))
}

func TestRoundRobinWeightedIsSmooth(t *testing.T) {
	// nginx's smooth weighted round robin for weights 5,1,1 gives
	// a a b a c a a: the heavy endpoint is interleaved, not bunched.
	eps := endpoints(5, 1, 1)
	p, err := New(&Settings{Simple: SimpleRoundRobin}, eps, rng.NewSequence(0))
	require.NoError(t, err)
	assert.Equal(t, "aabacaaaabacaa", names(eps, pickN(t, p, 14)))
}

func TestRoundRobinScheduleReducesAndCapsWeights(t *testing.T) {
	eps := endpoints(300, 100)
	assert.Len(t, smoothSchedule(eps), 4, "weights reduced by their gcd")
	big := endpoints(1_000_000, 1)
	s := smoothSchedule(big)
	assert.LessOrEqual(t, len(s), maxSchedule+1)
	assert.Contains(t, s, uint32(1), "a light endpoint keeps at least one slot")
}

func TestRandomDistribution(t *testing.T) {
	for _, weights := range [][]uint32{{1, 1, 1, 1}, {70, 20, 10}, {1, 0, 3}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			eps := endpoints(weights...)
			p, err := New(&Settings{Simple: SimpleRandom}, eps, rng.NewSeeded(42))
			require.NoError(t, err)
			assertDistribution(t, p, eps)
		})
	}
}

func TestLeastRequestIdleFollowsWeights(t *testing.T) {
	// With no active requests every comparison is a tie, won by the first
	// draw, so picks follow the weights.
	for _, weights := range [][]uint32{{1, 1, 1}, {60, 30, 10}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			eps := endpoints(weights...)
			p, err := New(nil, eps, rng.NewSeeded(7))
			require.NoError(t, err)
			assertDistribution(t, p, eps)
		})
	}
}

func assertDistribution(t *testing.T, p Picker, eps []*Endpoint) {
	t.Helper()
	const n = 100_000
	counts := make([]int, len(eps))
	idx := map[*Endpoint]int{}
	var total float64
	for i, e := range eps {
		idx[e] = i
		total += float64(e.weight())
	}
	for range n {
		e, err := p.Pick()
		require.NoError(t, err)
		counts[idx[e]]++
	}
	probs := make([]float64, len(eps))
	for i, e := range eps {
		probs[i] = float64(e.weight()) / total
	}
	ok, x, crit := stat.FitsDistribution(counts, probs)
	assert.True(t, ok, "counts %v for weights %v: chi-square %.1f > %.1f", counts, probs, x, crit)
}

func TestLeastRequestPrefersFewerActive(t *testing.T) {
	eps := endpoints(1, 1, 1)
	eps[0].State.Begin()
	eps[0].State.Begin()
	// Draw a then b: b has fewer active requests.
	p, err := New(nil, eps, rng.NewSequence(rng.Fraction(0, 3), rng.Fraction(0, 2)))
	require.NoError(t, err)
	e, err := p.Pick()
	require.NoError(t, err)
	assert.Same(t, eps[1], e)
}

func TestLeastRequestChoicesAreDistinct(t *testing.T) {
	// With two endpoints, one busy, two distinct choices always find the idle one.
	eps := endpoints(1, 1)
	eps[1].State.Begin()
	p, err := New(nil, eps, rng.NewSeeded(1))
	require.NoError(t, err)
	for range 1000 {
		e, err := p.Pick()
		require.NoError(t, err)
		require.Same(t, eps[0], e)
	}
}

func TestLeastRequestWeightedStillPrefersFewerActive(t *testing.T) {
	// The draws are weighted; the comparison is on active requests alone.
	eps := endpoints(4, 1)
	for range 3 {
		eps[0].State.Begin()
	}
	eps[1].State.Begin()
	p, err := New(nil, eps, rng.NewSeeded(3))
	require.NoError(t, err)
	for range 100 {
		e, err := p.Pick()
		require.NoError(t, err)
		require.Same(t, eps[1], e)
	}
}

// simpleAlgorithms are the loadBalancer.simple algorithms.
var simpleAlgorithms = []SimpleLB{SimpleLeastRequest, SimpleRoundRobin, SimpleRandom}

func TestEmptyPickerReportsNoEndpoint(t *testing.T) {
	for _, pol := range simpleAlgorithms {
		p, err := New(&Settings{Simple: pol}, nil, nil)
		require.NoError(t, err)
		_, err = p.Pick()
		assert.ErrorIs(t, err, ErrNoEndpoint, string(pol))
	}
}

func TestNewRejectsEndpointWithoutState(t *testing.T) {
	_, err := New(&Settings{Simple: SimpleRandom}, []*Endpoint{{Address: "a:1"}}, nil)
	assert.EqualError(t, err, "balancer: endpoint 0 has no State")
	_, err = New(&Settings{Simple: "FASTEST"}, nil, nil)
	assert.EqualError(t, err, `unknown algorithm "FASTEST"; use LEAST_REQUEST, ROUND_ROBIN, RANDOM or PASSTHROUGH`)
}

func TestPickAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	for _, pol := range simpleAlgorithms {
		for _, eps := range [][]*Endpoint{endpoints(1, 1, 1), endpoints(5, 3, 1)} {
			p, err := New(&Settings{Simple: pol}, eps, nil)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := p.Pick(); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs, string(pol))
		}
	}
}

func TestStateCountsActive(t *testing.T) {
	var s State
	s.Begin()
	s.Begin()
	s.End()
	assert.EqualValues(t, 1, s.Active())
}

func BenchmarkPick(b *testing.B) {
	for _, pol := range simpleAlgorithms {
		for _, weighted := range []bool{false, true} {
			for _, n := range []int{2, 10, 100, 1000, 10000} {
				ws := make([]uint32, n)
				for i := range ws {
					ws[i] = 1
					if weighted {
						ws[i] = uint32(1 + i%7)
					}
				}
				eps := endpoints(ws...)
				p, _ := New(&Settings{Simple: pol}, eps, nil)
				name := fmt.Sprintf("%s/weighted=%v/n=%d", pol, weighted, n)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						_, _ = p.Pick()
					}
				})
				b.Run(name+"/parallel", func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							_, _ = p.Pick()
						}
					})
				})
			}
		}
	}
}
