package balancer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestConstructorsNeverReturnPanickingPickers: the hash pickers panicked on
// a nil endpoint while building, and Peak-EWMA on an endpoint without State
// when picking. Those that return an error reject such endpoints, as New
// does; Peak-EWMA, which cannot, treats one as never measured.
func TestConstructorsNeverReturnPanickingPickers(t *testing.T) {
	for _, eps := range [][]*Endpoint{{nil}, {{Address: "a:1"}}} {
		_, err := NewRingHash(eps, 0, nil)
		assert.EqualError(t, err, "balancer: endpoint 0 has no State")
		_, err = NewMaglev(eps, 0, nil)
		assert.EqualError(t, err, "balancer: endpoint 0 has no State")
	}
	eps := []*Endpoint{{Address: "a:1"}, {Address: "b:1"}}
	p := NewPeakEWMA(eps, PeakEWMA{}, nil)
	for range 10 {
		e, err := p.Pick()
		assert.NoError(t, err)
		assert.Contains(t, eps, e)
	}
}
