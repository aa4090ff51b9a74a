package balancer

import "github.com/switchyard-go/switchyard/internal/rng"

// random draws an endpoint uniformly, or by weight through an alias table.
type random struct {
	eps      []*Endpoint
	r        Rand
	weighted bool
	table    aliasTable
}

func newRandom(eps []*Endpoint, r Rand) *random {
	p := &random{eps: eps, r: r}
	if len(eps) > 1 && !uniformWeights(eps) {
		p.weighted = true
		p.table = newAliasTable(eps)
	}
	return p
}

func (p *random) Pick() (*Endpoint, error) {
	switch {
	case len(p.eps) == 0:
		return nil, ErrNoEndpoint
	case p.weighted:
		return p.eps[p.table.draw(p.r.Uint64())], nil
	default:
		return p.eps[rng.N(p.r.Uint64(), uint64(len(p.eps)))], nil
	}
}

func (p *random) Endpoints() []*Endpoint { return p.eps }
