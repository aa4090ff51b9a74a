package balancer

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/internal/rng"
)

// PeakEWMA configures the Peak-EWMA balancer: power of two distinct
// choices by cost = latency × (active requests + 1), where latency is a
// moving average that jumps to any slower sample at once and decays towards
// faster ones with time constant Decay; failures count as FailurePenalty.
// Finagle and linkerd2-proxy balance this way; it steers away from an
// endpoint that turns slow before its queue grows. It is selected from Go
// (Settings.PeakEWMA), not from YAML: Istio has no such algorithm.
type PeakEWMA struct {
	// Decay is the time constant of the moving average; 10s when zero.
	Decay time.Duration
	// DefaultRTT is the latency assumed for an endpoint not yet measured;
	// 10ms when zero.
	DefaultRTT time.Duration
	// FailurePenalty is the latency a failed request counts as, at least;
	// 1s when zero.
	FailurePenalty time.Duration
}

func (c PeakEWMA) withDefaults() PeakEWMA {
	if c.Decay <= 0 {
		c.Decay = 10 * time.Second
	}
	if c.DefaultRTT <= 0 {
		c.DefaultRTT = 10 * time.Millisecond
	}
	if c.FailurePenalty <= 0 {
		c.FailurePenalty = time.Second
	}
	return c
}

// ewma is an endpoint's latency average, in State: apart from it, as
// only Peak-EWMA clusters, a few, measure it.
type ewma struct {
	bits  atomic.Uint64 // float64 nanoseconds; 0 until the first sample
	stamp atomic.Int64  // unix nanoseconds of the last sample
}

// Observe records a finished request to ep under c: its latency and whether
// it failed, at now. PeakEWMA is the Feedback of its balancer: the mesh
// observes every attempt to an endpoint of a Peak-EWMA cluster.
func (c PeakEWMA) Observe(ep *Endpoint, latency time.Duration, failed bool, now time.Time) {
	ep.State.observe(latency, failed, now, c)
}

// observe records a finished request to the endpoint: its latency and
// whether it failed, at now.
func (s *State) observe(latency time.Duration, failed bool, now time.Time, c PeakEWMA) {
	c = c.withDefaults()
	rtt := float64(latency)
	if failed {
		rtt = max(rtt, float64(c.FailurePenalty))
	}
	e := s.ewma.Load()
	if e == nil {
		s.ewma.CompareAndSwap(nil, &ewma{})
		e = s.ewma.Load()
	}
	for {
		oldBits := e.bits.Load()
		old := math.Float64frombits(oldBits)
		next := rtt
		if oldBits != 0 && rtt < old {
			dt := float64(now.UnixNano() - e.stamp.Load())
			w := math.Exp(-max(dt, 0) / float64(c.Decay))
			next = old*w + rtt*(1-w)
		}
		if e.bits.CompareAndSwap(oldBits, math.Float64bits(next)) {
			e.stamp.Store(now.UnixNano())
			return
		}
	}
}

// latencyBits returns the float64 bits of the endpoint's latency average,
// 0 before any sample.
func (s *State) latencyBits() uint64 {
	if e := s.ewma.Load(); e != nil {
		return e.bits.Load()
	}
	return 0
}

// Latency returns the endpoint's latency average, or def before any sample.
func (s *State) Latency(def time.Duration) time.Duration {
	if b := s.latencyBits(); b != 0 {
		return time.Duration(math.Float64frombits(b))
	}
	return def
}

// peakEWMA picks the cheaper of two distinct endpoints drawn at random.
type peakEWMA struct {
	eps []*Endpoint
	r   Rand
	def float64
}

// NewPeakEWMA returns a Peak-EWMA picker over endpoints.
func NewPeakEWMA(endpoints []*Endpoint, c PeakEWMA, r Rand) Picker {
	c = c.withDefaults()
	return &peakEWMA{eps: endpoints, r: randOrDefault(r), def: float64(c.DefaultRTT)}
}

func (p *peakEWMA) cost(e *Endpoint) float64 {
	if e.State == nil {
		return p.def // no State, which an Endpoint must have: never measured
	}
	lat := p.def
	if b := e.State.latencyBits(); b != 0 {
		lat = math.Float64frombits(b)
	}
	return lat * float64(max(e.State.Active(), 0)+1)
}

func (p *peakEWMA) Pick() (*Endpoint, error) {
	n := uint64(len(p.eps))
	switch n {
	case 0:
		return nil, ErrNoEndpoint
	case 1:
		return p.eps[0], nil
	}
	a := int(rng.N(p.r.Uint64(), n))
	b := otherIndex(a, p.r.Uint64(), n)
	if p.cost(p.eps[b]) < p.cost(p.eps[a]) {
		return p.eps[b], nil
	}
	return p.eps[a], nil
}

func (p *peakEWMA) Endpoints() []*Endpoint { return p.eps }
