package balancer

import (
	"sync/atomic"
	"time"
)

// Endpoint is one upstream address of a cluster. Pickers share Endpoints and
// never modify them.
type Endpoint struct {
	// Address is the "host:port" the mesh sends to.
	Address string
	// Labels are the endpoint's labels, which subsets select on.
	Labels map[string]string
	// Weight is the endpoint's relative load-balancing weight; 0 counts as 1.
	Weight uint32
	// Locality is "region/zone/subzone", possibly shorter or empty.
	Locality string
	// State is the endpoint's live state. It must not be nil.
	State *State
}

// weight returns the effective weight.
func (e *Endpoint) weight() uint64 {
	if e.Weight == 0 {
		return 1
	}
	return uint64(e.Weight)
}

// State is the live state of an endpoint: it is kept across configuration
// updates for as long as the endpoint exists. It is safe for concurrent use.
type State struct {
	active atomic.Int64
	since  time.Time // when the endpoint joined its cluster
	ewma   ewma      // latency average, for Peak-EWMA
}

// NewState returns the state of an endpoint that joined its cluster at
// since (the start of a warm-up window).
func NewState(since time.Time) *State { return &State{since: since} }

// Since returns when the endpoint joined its cluster.
func (s *State) Since() time.Time { return s.since }

// Begin records that a request to the endpoint has started.
func (s *State) Begin() { s.active.Add(1) }

// End records that a request to the endpoint has ended.
func (s *State) End() { s.active.Add(-1) }

// Active reports how many requests to the endpoint are in flight.
func (s *State) Active() int64 { return s.active.Load() }
