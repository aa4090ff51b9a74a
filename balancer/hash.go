package balancer

import (
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Envoy's ring-hash and Maglev limits and defaults.
const (
	DefaultMinimumRingSize = 1024
	MaximumRingSize        = 8 << 20
	DefaultMaglevTableSize = 65537
	MaglevTableSizeLimit   = 5000011
)

// HashPicker picks by a hash of the request, so that every client maps a
// key to the same endpoint. It is immutable and safe for concurrent use.
type HashPicker interface {
	Picker
	// PickHash returns the endpoint for hash h. A non-zero attempt moves
	// off the first choice, for a retry that must avoid it.
	PickHash(h uint64, attempt int) (*Endpoint, error)
}

// Hash is the hash function of consistent hashing: xxHash64, as Envoy's.
func Hash(key string) uint64 { return xxhash.Sum64String(key) }

// ringHash is Envoy's ketama ring.
type ringHash struct {
	eps    []*Endpoint
	hashes []uint64
	owners []int32
	// index[p] is the first ring entry whose hash has p as its top
	// bits: a lookup searches one bucket, not the whole ring.
	index []uint32
	shift uint
	r     Rand
}

// NewRingHash builds Envoy's ring over endpoints: each endpoint gets a share
// of at least minRingSize entries in proportion to its weight, each entry
// hashed as xxHash64("<address>_<i>"); a key belongs to the first entry at
// or above its hash. minRingSize 0 means 1024.
func NewRingHash(endpoints []*Endpoint, minRingSize uint64, r Rand) (HashPicker, error) {
	if minRingSize == 0 {
		minRingSize = DefaultMinimumRingSize
	}
	if minRingSize > MaximumRingSize {
		return nil, errors.New("balancer: minimumRingSize is above Envoy's maximum ring size of 8388608")
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	p := &ringHash{eps: endpoints, r: randOrDefault(r)}
	if len(endpoints) == 0 {
		return p, nil
	}
	var total float64
	for _, e := range endpoints {
		total += float64(e.weight())
	}
	minNorm := math.Inf(1)
	for _, e := range endpoints {
		minNorm = min(minNorm, float64(e.weight())/total)
	}
	scale := min(math.Ceil(minNorm*float64(minRingSize))/minNorm, MaximumRingSize)
	size := int(math.Ceil(scale))
	type entry struct {
		hash  uint64
		owner int32
	}
	ring := make([]entry, 0, size)
	var current, target float64
	buf := make([]byte, 0, 64)
	for i, e := range endpoints {
		target += scale * float64(e.weight()) / total
		for n := 0; current < target; n++ {
			buf = append(append(append(buf[:0], e.Address...), '_'), strconv.Itoa(n)...)
			ring = append(ring, entry{hash: xxhash.Sum64(buf), owner: int32(i)})
			current++
		}
	}
	slices.SortFunc(ring, func(a, b entry) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.owner - b.owner)
	})
	p.hashes = make([]uint64, len(ring))
	p.owners = make([]int32, len(ring))
	for i, e := range ring {
		p.hashes[i], p.owners[i] = e.hash, e.owner
	}
	bits := uint(1)
	for 1<<bits < len(ring) {
		bits++
	}
	p.shift = 64 - bits
	p.index = make([]uint32, 1<<bits+1)
	j := 0
	for b := range p.index {
		for j < len(p.hashes) && p.hashes[j]>>p.shift < uint64(b) {
			j++
		}
		p.index[b] = uint32(j)
	}
	return p, nil
}

func (p *ringHash) PickHash(h uint64, attempt int) (*Endpoint, error) {
	if len(p.hashes) == 0 {
		return nil, ErrNoEndpoint
	}
	b := h >> p.shift
	lo, hi := int(p.index[b]), int(p.index[b+1])
	i, _ := slices.BinarySearch(p.hashes[lo:hi], h)
	i += lo
	// A retry steps along the ring, as Envoy's (index + attempt) % size.
	return p.eps[p.owners[(i+attempt)%len(p.hashes)]], nil
}

// Pick picks at random, as Envoy does for a request without a hash key.
func (p *ringHash) Pick() (*Endpoint, error) {
	if len(p.eps) == 0 {
		return nil, ErrNoEndpoint
	}
	return p.PickHash(p.r.Uint64(), 0)
}

func (p *ringHash) Endpoints() []*Endpoint { return p.eps }

// RingSize returns the number of entries on the ring.
func RingSize(p HashPicker) int {
	if r, ok := p.(*ringHash); ok {
		return len(r.hashes)
	}
	if m, ok := p.(*maglev); ok {
		return len(m.table)
	}
	return 0
}

// maglev is Envoy's Maglev table (Maglev paper §3.4, weighted).
type maglev struct {
	eps   []*Endpoint
	table []int32
	r     Rand
}

// NewMaglev builds Envoy's Maglev lookup table of tableSize entries (a prime
// below 5000011; 0 means 65537): endpoints fill it in turns along their own
// permutations, heavier ones taking more turns.
func NewMaglev(endpoints []*Endpoint, tableSize uint64, r Rand) (HashPicker, error) {
	if tableSize == 0 {
		tableSize = DefaultMaglevTableSize
	}
	if tableSize >= MaglevTableSizeLimit || !isPrime(tableSize) {
		return nil, errors.New("balancer: maglev tableSize must be a prime below 5000011")
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	p := &maglev{eps: endpoints, r: randOrDefault(r)}
	if len(endpoints) == 0 {
		return p, nil
	}
	m := tableSize
	type build struct {
		offset, skip, next uint64
		weight, target     float64
	}
	entries := make([]build, len(endpoints))
	var maxWeight float64
	for i, e := range endpoints {
		entries[i] = build{
			offset: xxhash.Sum64String(e.Address) % m,
			skip:   seeded(e.Address, 1)%(m-1) + 1,
			weight: float64(e.weight()),
		}
		maxWeight = max(maxWeight, entries[i].weight)
	}
	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	filled := uint64(0)
	for iteration := 1.0; filled < m; iteration++ {
		for i := range entries {
			if filled == m {
				break
			}
			e := &entries[i]
			if iteration*e.weight < e.target {
				continue
			}
			e.target += maxWeight
			c := (e.offset + e.skip*e.next) % m
			for table[c] >= 0 {
				e.next++
				c = (e.offset + e.skip*e.next) % m
			}
			table[c] = int32(i)
			e.next++
			filled++
		}
	}
	p.table = table
	return p, nil
}

func (p *maglev) PickHash(h uint64, attempt int) (*Endpoint, error) {
	if len(p.eps) == 0 {
		return nil, ErrNoEndpoint
	}
	if attempt > 0 {
		h = splitmix(h + uint64(attempt)*0x9e3779b97f4a7c15) // a retry perturbs the hash, as Envoy's
	}
	return p.eps[p.table[h%uint64(len(p.table))]], nil
}

func (p *maglev) Pick() (*Endpoint, error) {
	if len(p.eps) == 0 {
		return nil, ErrNoEndpoint
	}
	return p.PickHash(p.r.Uint64(), 0)
}

func (p *maglev) Endpoints() []*Endpoint { return p.eps }

// seeded is xxHash64 of s with a seed.
func seeded(s string, seed uint64) uint64 {
	d := xxhash.NewWithSeed(seed)
	d.WriteString(s)
	return d.Sum64()
}

// splitmix is SplitMix64's finaliser: a bijective mix of h.
func splitmix(h uint64) uint64 {
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
	h = (h ^ (h >> 27)) * 0x94d049bb133111eb
	return h ^ (h >> 31)
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
