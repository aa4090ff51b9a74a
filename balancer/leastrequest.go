package balancer

import "github.com/switchyard-go/switchyard/internal/rng"

// leastRequest is power of two distinct choices: draw two different
// endpoints and keep the one with fewer active requests; ties go to the first
// draw. With unequal weights the two are drawn in proportion to weight, so an
// idle cluster is loaded by weight (as Envoy's weight/(active+1) schedule is)
// and a busy one steers away from its most loaded endpoints.
type leastRequest struct {
	eps      []*Endpoint
	r        Rand
	weighted bool
	table    aliasTable
}

func newLeastRequest(eps []*Endpoint, r Rand) *leastRequest {
	p := &leastRequest{eps: eps, r: r}
	if len(eps) > 1 && !uniformWeights(eps) {
		p.weighted = true
		p.table = newAliasTable(eps)
	}
	return p
}

// maxRedraws bounds how often a weighted draw is repeated to find a second
// endpoint distinct from the first before falling back to a uniform one.
const maxRedraws = 4

func (p *leastRequest) Pick() (*Endpoint, error) {
	n := uint64(len(p.eps))
	switch n {
	case 0:
		return nil, ErrNoEndpoint
	case 1:
		return p.eps[0], nil
	}
	var a, b int
	switch {
	case p.weighted && n == 2:
		// Both endpoints are the two choices; the weight decides which
		// one is first and so wins a tie.
		a = p.table.draw(p.r.Uint64())
		b = 1 - a
	case p.weighted:
		a = p.table.draw(p.r.Uint64())
		b = a
		for i := 0; i < maxRedraws && b == a; i++ {
			b = p.table.draw(p.r.Uint64())
		}
		if b == a {
			b = otherIndex(a, p.r.Uint64(), n)
		}
	default:
		a = int(rng.N(p.r.Uint64(), n))
		b = otherIndex(a, p.r.Uint64(), n)
	}
	ea, eb := p.eps[a], p.eps[b]
	if ea.State.Active() <= eb.State.Active() {
		return ea, nil
	}
	return eb, nil
}

// otherIndex draws uniformly from [0, n) without a.
func otherIndex(a int, v, n uint64) int {
	b := int(rng.N(v, n-1))
	if b >= a {
		b++
	}
	return b
}

func (p *leastRequest) Endpoints() []*Endpoint { return p.eps }
