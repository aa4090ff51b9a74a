package rng

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFractionMapsToIndex(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 10, 100, 1 << 20} {
		for _, k := range []uint64{0, n / 2, n - 1} {
			assert.Equal(t, k, N(Fraction(k, n), n), "k=%d n=%d", k, n)
		}
	}
}

func TestSequenceRepeatsLastValue(t *testing.T) {
	s := NewSequence(1, 2)
	assert.Equal(t, []uint64{1, 2, 2}, []uint64{s.Uint64(), s.Uint64(), s.Uint64()})
}

func TestFloat64InUnitInterval(t *testing.T) {
	assert.Equal(t, 0.0, Float64(0))
	assert.Less(t, Float64(^uint64(0)), 1.0)
}
