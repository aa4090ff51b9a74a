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
	// load packs the requests in flight (the low activeBits bits) and the
	// requests sent (the rest) into one word, so that a request pays one
	// atomic add to start and one to end.
	load     atomic.Uint64
	failures atomic.Uint64
	since    time.Time            // when the endpoint joined its cluster
	ewma     atomic.Pointer[ewma] // latency average, made at the first sample (Peak-EWMA only)
}

// NewState returns the state of an endpoint that joined its cluster at
// since (the start of a warm-up window).
func NewState(since time.Time) *State { return &State{since: since} }

// Since returns when the endpoint joined its cluster.
func (s *State) Since() time.Time { return s.since }

// activeBits bounds the requests in flight to one endpoint at 2^24-1.
const activeBits = 24

// Begin records that a request to the endpoint has started.
func (s *State) Begin() { s.load.Add(1<<activeBits | 1) }

// Fail records that a request to the endpoint failed: a 5xx, or an error
// other than the caller's own cancellation.
func (s *State) Fail() { s.failures.Add(1) }

// Requests reports how many requests the endpoint has been sent.
func (s *State) Requests() uint64 { return s.load.Load() >> activeBits }

// Failures reports how many requests to the endpoint have failed.
func (s *State) Failures() uint64 { return s.failures.Load() }

// End records that a request to the endpoint has ended.
func (s *State) End() { s.load.Add(^uint64(0)) }

// Active reports how many requests to the endpoint are in flight.
func (s *State) Active() int64 { return int64(s.load.Load() & (1<<activeBits - 1)) }
