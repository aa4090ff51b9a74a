package balancer

import "math/bits"

// aliasTable draws index i with probability w[i]/Σw in O(1) (Vose's alias
// method), from one 64-bit random value.
type aliasTable struct {
	prob  []uint64 // threshold scaled to 2^64-1: keep column i if below
	alias []uint32
}

func newAliasTable(eps []*Endpoint) aliasTable {
	n := len(eps)
	var total float64
	for _, e := range eps {
		total += float64(e.weight())
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, e := range eps {
		scaled[i] = float64(e.weight()) * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	t := aliasTable{prob: make([]uint64, n), alias: make([]uint32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.prob[s] = toThreshold(scaled[s])
		t.alias[s] = uint32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range append(small, large...) {
		t.prob[i] = ^uint64(0)
		t.alias[i] = uint32(i)
	}
	return t
}

func toThreshold(p float64) uint64 {
	if p >= 1 {
		return ^uint64(0)
	}
	return uint64(p * (1 << 63) * 2)
}

// draw maps one random value to an index: the high half of v·n picks the
// column and the low half, uniform and independent of it, decides between
// the column and its alias.
func (t *aliasTable) draw(v uint64) int {
	col, coin := bits.Mul64(v, uint64(len(t.prob)))
	if coin < t.prob[col] || t.prob[col] == ^uint64(0) {
		return int(col)
	}
	return int(t.alias[col])
}
