package balancer

import (
	"sync/atomic"

	"github.com/switchyard-go/switchyard/internal/rng"
)

// maxSchedule bounds the length of a weighted round-robin schedule; larger
// weight sums are scaled down proportionally.
const maxSchedule = 1 << 16

// roundRobin cycles through a schedule computed once, when it is built: the
// endpoints in order when weights are equal, otherwise the sequence that
// smooth weighted round robin (nginx's algorithm) produces, which interleaves
// heavy endpoints rather than bunching them.
type roundRobin struct {
	eps      []*Endpoint
	schedule []uint32 // nil when weights are equal
	next     atomic.Uint64
}

func newRoundRobin(eps []*Endpoint, r Rand) *roundRobin {
	p := &roundRobin{eps: eps}
	if len(eps) > 1 && !uniformWeights(eps) {
		p.schedule = smoothSchedule(eps)
	}
	// Start at a random point so that many clients do not march in step.
	if n := p.length(); n > 0 {
		p.next.Store(rng.N(r.Uint64(), uint64(n)))
	}
	return p
}

func (p *roundRobin) length() int {
	if p.schedule != nil {
		return len(p.schedule)
	}
	return len(p.eps)
}

func (p *roundRobin) Pick() (*Endpoint, error) {
	n := uint64(p.length())
	if n == 0 {
		return nil, ErrNoEndpoint
	}
	i := (p.next.Add(1) - 1) % n
	if p.schedule != nil {
		return p.eps[p.schedule[i]], nil
	}
	return p.eps[i], nil
}

func (p *roundRobin) Endpoints() []*Endpoint { return p.eps }

// smoothSchedule returns one period of smooth weighted round robin over the
// endpoints' weights, reduced by their common divisor and scaled to at most
// maxSchedule picks.
func smoothSchedule(eps []*Endpoint) []uint32 {
	w := make([]uint64, len(eps))
	var g, total uint64
	for i, e := range eps {
		w[i] = e.weight()
		g = gcd(g, w[i])
	}
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	if total > maxSchedule {
		scaled := uint64(0)
		for i := range w {
			w[i] = max(1, w[i]*maxSchedule/total)
			scaled += w[i]
		}
		total = scaled
	}
	current := make([]int64, len(w))
	out := make([]uint32, 0, total)
	for range total {
		best := 0
		for i := range w {
			current[i] += int64(w[i])
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= int64(total)
		out = append(out, uint32(best))
	}
	return out
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
