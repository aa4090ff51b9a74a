package balancer

import (
	"errors"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// algorithm is one load-balancing algorithm the mesh can run: the table
// below is the one place that knows them all. Adding one is a file with its
// picker and a row here (and, for a new loadBalancer.simple value, its
// SimpleLB constant): validation, the mesh's clusters, the admin page and
// Explain all read the table.
type algorithm struct {
	// name is how the admin page and Explain name it.
	name string
	// build returns a picker over endpoints with settings s.
	build func(s *Settings, endpoints []*Endpoint, r Rand) (Picker, error)
	// hashed pickers implement HashPicker: requests pick by a hash key.
	hashed bool
	// slowStart is true when Envoy's slow start (warmup) applies.
	slowStart bool
	// feedback returns what the algorithm learns from outcomes, or nil.
	feedback func(s *Settings) Feedback
}

// simple holds the algorithms of loadBalancer.simple, by value; the empty
// value, UNSPECIFIED and the deprecated LEAST_CONN are LEAST_REQUEST.
var simple = map[SimpleLB]*algorithm{
	SimpleLeastRequest: leastRequestAlgorithm,
	SimpleRoundRobin: {name: "ROUND_ROBIN", slowStart: true,
		build: func(_ *Settings, eps []*Endpoint, r Rand) (Picker, error) { return newRoundRobin(eps, r), nil }},
	SimpleRandom: {name: "RANDOM",
		build: func(_ *Settings, eps []*Endpoint, r Rand) (Picker, error) { return newRandom(eps, r), nil }},
}

var (
	leastRequestAlgorithm = &algorithm{name: "LEAST_REQUEST", slowStart: true,
		build: func(_ *Settings, eps []*Endpoint, r Rand) (Picker, error) { return newLeastRequest(eps, r), nil }}
	ringHashAlgorithm = &algorithm{name: "RING_HASH", hashed: true,
		build: func(s *Settings, eps []*Endpoint, r Rand) (Picker, error) {
			size := s.ConsistentHash.MinimumRingSize
			if rh := s.ConsistentHash.RingHash; rh != nil {
				size = rh.MinimumRingSize
			}
			return NewRingHash(eps, size, r)
		}}
	maglevAlgorithm = &algorithm{name: "MAGLEV", hashed: true,
		build: func(s *Settings, eps []*Endpoint, r Rand) (Picker, error) {
			return NewMaglev(eps, s.ConsistentHash.Maglev.TableSize, r)
		}}
	peakEWMAAlgorithm = &algorithm{name: "PEAK_EWMA",
		build: func(s *Settings, eps []*Endpoint, r Rand) (Picker, error) {
			return NewPeakEWMA(eps, *s.PeakEWMA, r), nil
		},
		feedback: func(s *Settings) Feedback { return *s.PeakEWMA }}
)

// algorithmOf returns the algorithm s selects (nil s: Istio's default,
// LEAST_REQUEST), or nil for PASSTHROUGH or an unknown simple value.
func algorithmOf(s *Settings) *algorithm {
	switch {
	case s == nil:
		return leastRequestAlgorithm
	case s.PeakEWMA != nil:
		return peakEWMAAlgorithm
	case s.ConsistentHash != nil && s.ConsistentHash.Maglev != nil:
		return maglevAlgorithm
	case s.ConsistentHash != nil:
		return ringHashAlgorithm
	}
	switch s.Simple {
	case "", SimpleUnspecified, SimpleLeastConn:
		return leastRequestAlgorithm
	}
	return simple[s.Simple]
}

// Algorithm is the load-balancing algorithm a Settings selects: simple,
// consistentHash (ring hash or Maglev) or Peak-EWMA. Its zero value is
// invalid; get one from Settings.Algorithm.
type Algorithm struct {
	a *algorithm
	s *Settings
}

// Algorithm returns the algorithm s selects (nil s: Istio's default,
// LEAST_REQUEST). PASSTHROUGH and unknown simple values select none: an
// error says which values are known.
func (s *Settings) Algorithm() (Algorithm, error) {
	a := algorithmOf(s)
	if a == nil {
		if s.Simple == SimplePassthrough {
			return Algorithm{}, errors.New("PASSTHROUGH sends to the address the caller asked for and picks no endpoint")
		}
		return Algorithm{}, errors.New("unknown algorithm " + fielderr.Quote(string(s.Simple)) + "; use " + strings.Join(simpleNames(), ", ") + " or PASSTHROUGH")
	}
	return Algorithm{a: a, s: s}, nil
}

// simpleNames lists the loadBalancer.simple values that select an
// algorithm, in a fixed order.
func simpleNames() []string {
	names := []string{string(SimpleLeastRequest)}
	for _, v := range []SimpleLB{SimpleRoundRobin, SimpleRandom} {
		if simple[v] != nil {
			names = append(names, string(v))
		}
	}
	return names
}

// Name names the algorithm: LEAST_REQUEST, ROUND_ROBIN, RANDOM, RING_HASH,
// MAGLEV or PEAK_EWMA; "" for the zero Algorithm, which selects none (what
// Settings.Algorithm returns with an error).
func (a Algorithm) Name() string {
	if a.a == nil {
		return ""
	}
	return a.a.name
}

// New returns a picker over endpoints, drawing random numbers from r (nil:
// math/rand/v2). The endpoints slice is retained and must not be modified.
// A hashing algorithm's picker is a HashPicker.
func (a Algorithm) New(endpoints []*Endpoint, r Rand) (Picker, error) {
	if a.a == nil {
		return nil, errors.New("no load-balancing algorithm")
	}
	if err := checkStates(endpoints); err != nil {
		return nil, err
	}
	return a.a.build(a.s, endpoints, randOrDefault(r))
}

// Hashed reports whether requests pick by a hash key (consistentHash).
func (a Algorithm) Hashed() bool { return a.a != nil && a.a.hashed }

// SlowStart reports whether Envoy's slow start (warmup) applies to the
// algorithm: ROUND_ROBIN and LEAST_REQUEST.
func (a Algorithm) SlowStart() bool { return a.a != nil && a.a.slowStart }

// Feedback returns what the algorithm learns from how requests go, or nil
// when it learns from nothing: the mesh then times no attempt.
func (a Algorithm) Feedback() Feedback {
	if a.a == nil || a.a.feedback == nil {
		return nil
	}
	return a.a.feedback(a.s)
}
