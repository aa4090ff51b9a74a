// Package rng supplies the random numbers that the data path draws: weighted
// choices, balancer picks, percentages. Algorithms take numbers from a
// [Source] so that tests can script them.
package rng

import (
	"math/bits"
	"math/rand/v2"
	"sync"
)

// Source produces uniformly distributed 64-bit values. Implementations must
// be safe for concurrent use.
type Source interface {
	Uint64() uint64
}

// Runtime draws from math/rand/v2's lock-free global generator.
type Runtime struct{}

// Uint64 returns rand.Uint64().
func (Runtime) Uint64() uint64 { return rand.Uint64() }

// N maps a uniform 64-bit value onto [0, n) without modulo bias worth
// measuring (Lemire's multiply-shift). n must be > 0.
func N(v uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(v, n)
	return hi
}

// Float64 maps a uniform 64-bit value onto [0, 1).
func Float64(v uint64) float64 { return float64(v>>11) / (1 << 53) }

// Seeded is a deterministic Source for tests and simulations: a PCG
// generator behind a mutex. It is safe for concurrent use.
type Seeded struct {
	mu  sync.Mutex
	pcg *rand.PCG
}

// NewSeeded returns a deterministic Source seeded with seed.
func NewSeeded(seed uint64) *Seeded { return &Seeded{pcg: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)} }

// Uint64 returns the next value of the sequence.
func (s *Seeded) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pcg.Uint64()
}

// Sequence is a Source that returns scripted values in order and then repeats
// the last one; for tests that need an exact draw. It is safe for concurrent
// use.
type Sequence struct {
	mu     sync.Mutex
	values []uint64
	next   int
}

// NewSequence returns a Source that yields values in order.
func NewSequence(values ...uint64) *Sequence { return &Sequence{values: values} }

// Uint64 returns the next scripted value.
func (s *Sequence) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.values) == 0 {
		return 0
	}
	v := s.values[min(s.next, len(s.values)-1)]
	s.next++
	return v
}

// Fraction returns the 64-bit value whose [N] image over n is k: a helper
// for scripting a Sequence ("draw index k of n").
func Fraction(k, n uint64) uint64 {
	// k·2⁶⁴/n is the smallest value that maps to k; add half a step so
	// that the draw sits in the middle of k's interval.
	q, _ := bits.Div64(k, 0, n)
	return q + (^uint64(0)/n)/2
}
