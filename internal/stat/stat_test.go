package stat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChiSquareCriticalMatchesTables(t *testing.T) {
	// Upper 1e-6 quantiles: df=1 is z²=4.8916², df=2 is -2·ln(1e-6); df=9 checked by numeric integration of the density.
	assert.InDelta(t, 23.93, ChiSquareCritical(1), 0.01)
	assert.InDelta(t, 27.63, ChiSquareCritical(2), 0.01)
	assert.InDelta(t, 44.81, ChiSquareCritical(9), 0.01)
}

func TestBinomialInterval(t *testing.T) {
	lo, hi := BinomialInterval(10000, 0.1)
	assert.Less(t, lo, 1000)
	assert.Greater(t, hi, 1000)
	assert.InDelta(t, 1000-147, lo, 2)
	assert.InDelta(t, 1000+147, hi, 2)
	ok, _, _ := FitsDistribution([]int{500, 500}, []float64{0.5, 0.5})
	assert.True(t, ok)
	ok, _, _ = FitsDistribution([]int{900, 100}, []float64{0.5, 0.5})
	assert.False(t, ok)
}
