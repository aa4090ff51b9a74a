package patchlist

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestListFollowsAFlatCopy: random replacements give the list a flat copy
// given the same replacements has, at every step, entry by entry and as a
// slice, and the lists of earlier steps stay as they were.
func TestListFollowsAFlatCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 100, 1000} {
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		l := Of(slices.Clone(want))
		type step struct {
			l    *List[int]
			want []int
		}
		var steps []step
		for s := range 300 {
			k := 1 + r.IntN(min(n, 4))
			at := map[int]bool{}
			for len(at) < k {
				at[r.IntN(n)] = true
			}
			idx := slices.Sorted(func(yield func(int) bool) {
				for i := range at {
					if !yield(i) {
						return
					}
				}
			})
			vals := make([]int, len(idx))
			want = slices.Clone(want)
			for j, i := range idx {
				vals[j] = -(s*10000 + i)
				want[i] = vals[j]
			}
			l = l.With(idx, vals)
			if r.IntN(5) == 0 {
				l.Slice() // flattened now and then, as Config() would
			}
			steps = append(steps, step{l, want})
			if l.Len() != n {
				t.Fatalf("n=%d step %d: Len %d", n, s, l.Len())
			}
			for i := range n {
				if got := *l.At(i); got != want[i] {
					t.Fatalf("n=%d step %d: At(%d) = %d, want %d", n, s, i, got, want[i])
				}
			}
		}
		for s, st := range steps {
			if !slices.Equal(st.l.Slice(), st.want) {
				t.Fatalf("n=%d: the list of step %d changed", n, s)
			}
		}
	}
}

// TestListReplacementsKeptApart: a few replacements do not copy the base;
// more than the square root of the length are flattened.
func TestListReplacementsKeptApart(t *testing.T) {
	base := make([]int, 100)
	l := Of(base)
	for i := range 10 {
		l = l.With([]int{i}, []int{i + 1})
	}
	if len(l.at) != 10 || &l.base[0] != &base[0] {
		t.Fatalf("10 replacements of 100: %d kept apart, base copied: %v", len(l.at), &l.base[0] != &base[0])
	}
	l = l.With([]int{50}, []int{7})
	if len(l.at) != 0 || &l.base[0] == &base[0] || l.base[50] != 7 || l.base[3] != 4 {
		t.Fatalf("11 replacements of 100: not flattened (%d apart)", len(l.at))
	}
	if got := Of(base).Slice(); &got[0] != &base[0] {
		t.Fatal("Slice of a list with no replacement copied it")
	}
	var nilList *List[int]
	if nilList.Len() != 0 || nilList.Slice() != nil {
		t.Fatal("the nil list is not empty")
	}
}

// TestListConcurrentSlice: Slice from many goroutines builds one slice.
func TestListConcurrentSlice(t *testing.T) {
	l := Of(make([]int, 1000)).With([]int{1, 2}, []int{3, 4})
	var wg sync.WaitGroup
	got := make([][]int, 8)
	for g := range got {
		wg.Go(func() { got[g] = l.Slice() })
	}
	wg.Wait()
	for _, s := range got {
		if &s[0] != &got[0][0] || s[2] != 4 {
			t.Fatal("Slice built more than one slice, or a wrong one")
		}
	}
}

func TestWithRejectsBadIndexes(t *testing.T) {
	l := Of(make([]int, 3))
	for _, at := range [][]int{{3}, {-1}, {1, 1}, {2, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("With(%v) did not panic", at)
				}
			}()
			l.With(at, make([]int, len(at)))
		}()
	}
}
