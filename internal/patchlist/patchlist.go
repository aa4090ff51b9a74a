// Package patchlist holds a long list of which few entries change at a
// time: a base, shared and never modified, and the entries replaced since,
// so that replacing one entry of thousands costs the entry, not a copy of
// the list.
package patchlist

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// List is an immutable list of T: With returns a new List. The nil *List
// is empty. Its methods are safe for concurrent use.
type List[T any] struct {
	base []T
	at   []int // the indexes replaced, ascending
	vals []T   // their values, in the order of at

	mu   sync.Mutex          // serialises Slice's building
	flat atomic.Pointer[[]T] // base with the replacements, once Slice built it
}

// Of returns the list s. s is kept: it must not be modified afterwards.
func Of[T any](s []T) *List[T] {
	return &List[T]{base: s}
}

// Len returns the list's length.
func (l *List[T]) Len() int {
	if l == nil {
		return 0
	}
	return len(l.base)
}

// At returns entry i (0 ≤ i < Len), which the caller must not modify.
func (l *List[T]) At(i int) *T {
	if j, ok := slices.BinarySearch(l.at, i); ok {
		return &l.vals[j]
	}
	return &l.base[i]
}

// Slice returns the list as a slice, built once (no copy while nothing was
// replaced); the caller must not modify it.
func (l *List[T]) Slice() []T {
	if l == nil {
		return nil
	}
	if len(l.at) == 0 {
		return l.base
	}
	if p := l.flat.Load(); p != nil {
		return *p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.flat.Load(); p != nil {
		return *p
	}
	flat := slices.Clone(l.base)
	for j, i := range l.at {
		flat[i] = l.vals[j]
	}
	l.flat.Store(&flat)
	return flat
}

// With returns the list with entry at[k] replaced by vals[k] for each k:
// at must be ascending, without repeats, and within the list (it
// panics otherwise, as indexing would). The replacements are kept apart
// from the base until they number more than the square root of the
// list's length (at least 8); then the new list is flattened, so that a
// long run of replacements costs, per replacement, the square root of the
// length in copies, not the length.
func (l *List[T]) With(at []int, vals []T) *List[T] {
	if len(at) != len(vals) {
		panic("patchlist: With: len(at) != len(vals)")
	}
	n := l.Len()
	for k, i := range at {
		if i < 0 || i >= n || (k > 0 && at[k-1] >= i) {
			panic("patchlist: With: indexes not ascending within the list")
		}
	}
	if len(at) == 0 {
		return l
	}
	base, oldAt, oldVals := l.base, l.at, l.vals
	if p := l.flat.Load(); p != nil {
		base, oldAt, oldVals = *p, nil, nil // flattened already: start from it
	}
	next := &List[T]{base: base}
	next.at = make([]int, 0, len(oldAt)+len(at))
	next.vals = make([]T, 0, len(oldAt)+len(at))
	i, j := 0, 0
	for i < len(oldAt) || j < len(at) {
		switch {
		case j == len(at) || (i < len(oldAt) && oldAt[i] < at[j]):
			next.at, next.vals = append(next.at, oldAt[i]), append(next.vals, oldVals[i])
			i++
		default:
			if i < len(oldAt) && oldAt[i] == at[j] {
				i++ // replaced again
			}
			next.at, next.vals = append(next.at, at[j]), append(next.vals, vals[j])
			j++
		}
	}
	if len(next.at) > max(8, int(math.Sqrt(float64(n)))) {
		return &List[T]{base: next.Slice()}
	}
	return next
}
