package engine

import (
	"errors"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
)

// maxTried bounds the endpoints a request remembers to avoid on retries.
const maxTried = 8

// maxRingWalk bounds the ring entries a hashed pick steps over to leave an
// endpoint whose connection cannot be made.
const maxRingWalk = 64

// Rules say how the attempts of one request choose their endpoints: the
// host-selection part of its route's retry policy.
type Rules struct {
	// AvoidPrevious makes a retry pick an endpoint not tried yet
	// (retryIgnorePreviousHosts, true by default).
	AvoidPrevious bool
	// HashAvoid makes retries to a consistent-hash cluster move along the
	// ring; otherwise every attempt keeps the key's endpoint, as Istio
	// drops the previous-hosts predicate there.
	HashAvoid bool
	// Remote makes a retry pick an endpoint in a locality not tried yet
	// (retryRemoteLocalities).
	Remote bool
	// Tries is how many picks a retry makes to find an endpoint not tried
	// yet (Envoy's host_selection_retry_max_attempts).
	Tries int
}

// Conns describes the connections a transport keeps to endpoints by
// itself — gRPC's SubConns — so that a pick can prefer an endpoint with a
// ready one. HTTP requests pass nil: every endpoint can be sent to at once.
type Conns interface {
	// Ready reports whether addr has a ready connection.
	Ready(addr string) bool
	// Failure returns the error with which connections to addr fail (gRPC's
	// TRANSIENT_FAILURE, until it connects again), or nil while its
	// connection is being made for the first time or after an idle spell.
	Failure(addr string) error
}

// ErrNoHealthyUpstream ends a request's attempts: its cluster has no
// endpoint to pick (every one ejected, or none selected). It is never
// retried.
var ErrNoHealthyUpstream error = noHealthyUpstream{}

type noHealthyUpstream struct{}

func (noHealthyUpstream) Error() string   { return "no healthy upstream" }
func (noHealthyUpstream) Retriable() bool { return false }

// ErrNotReady is Pick's answer when no endpoint of the cluster has a ready
// connection yet but one may get one: gRPC waits for its next picker.
var ErrNotReady = errors.New("engine: no endpoint of the cluster has a ready connection")

// UnreachableError is Pick's answer when no endpoint of a cluster can
// connect: gRPC fails the call with UNAVAILABLE and this text, as HTTP
// answers 503 "no healthy upstream", unless the call waits for ready.
type UnreachableError struct {
	// Cluster is the cluster's name.
	Cluster string
	// Last is the last connection error seen.
	Last error
}

func (e *UnreachableError) Error() string {
	return "no healthy upstream: no endpoint of " + e.Cluster + " can connect; last connection error: " + e.Last.Error()
}

// Selection picks the endpoints of one request's attempts within one
// cluster and reports how each attempt went: the one attempt engine of the
// mesh, for HTTP requests and gRPC calls and streams alike. A retry avoids
// the endpoints tried before, keeps a consistent-hash key's endpoint, or
// moves to another locality, as the request's Rules say; every outcome
// reaches outlier detection, the least-request counters and latency-aware
// balancers through Done. Attempts are sequential: a Selection is used by
// one goroutine at a time.
type Selection struct {
	cluster *cluster.Cluster
	rules   Rules
	clock   clock.Clock
	hash    uint64
	hashed  bool
	mirror  bool
	attempt int
	tried   [maxTried]*balancer.Endpoint
	ntried  int
}

// Reset readies s for a new request to cluster c.
func (s *Selection) Reset(c *cluster.Cluster, r Rules, clk clock.Clock) {
	*s = Selection{cluster: c, rules: r, clock: clk}
}

// Cluster returns the cluster s picks in.
func (s *Selection) Cluster() *cluster.Cluster { return s.cluster }

// SetHash gives the request a consistent-hash key.
func (s *Selection) SetHash(h uint64) { s.hash, s.hashed = h, true }

// SetMirror marks the request as a mirrored copy: its outcomes never reach
// outlier detection, so that mirroring changes nothing for the requests
// the cluster serves.
func (s *Selection) SetMirror() { s.mirror = true }

// Begin starts attempt n (from 1).
func (s *Selection) Begin(n int) { s.attempt = n }

// Pick returns the endpoint for the current attempt and remembers it as
// tried. With conns, it picks an endpoint with a ready connection; it
// returns ErrNotReady while one it could use may still connect, and an
// *UnreachableError once none can. With no endpoint to pick it returns
// ErrNoHealthyUpstream.
func (s *Selection) Pick(conns Conns) (*balancer.Endpoint, error) {
	ep, err := s.pick(conns)
	if err != nil {
		return nil, err
	}
	if s.ntried < maxTried {
		s.tried[s.ntried] = ep
		s.ntried++
	}
	return ep, nil
}

func (s *Selection) pick(conns Conns) (*balancer.Endpoint, error) {
	c := s.cluster
	if s.hashed {
		// Keep affinity: every attempt goes to the key's endpoint unless
		// the retry policy moves retries along the ring.
		offset := 0
		if s.rules.HashAvoid {
			offset = max(s.attempt-1, 0)
		}
		ep, err := c.PickHash(s.hash, offset)
		if err != nil {
			return nil, ErrNoHealthyUpstream
		}
		if conns == nil || conns.Ready(ep.Address) {
			return ep, nil
		}
		if conns.Failure(ep.Address) == nil {
			return nil, ErrNotReady // the key's endpoint is connecting: wait for it
		}
		// The key's endpoint cannot connect: as gRPC's ring hash, the first
		// ready endpoint further along the ring.
		for i := 1; i <= maxRingWalk; i++ {
			if e, err := c.PickHash(s.hash, offset+i); err == nil && conns.Ready(e.Address) {
				return e, nil
			}
		}
		return s.pickReady(nil, conns)
	}
	var tried []*balancer.Endpoint
	if s.rules.AvoidPrevious {
		tried = s.tried[:s.ntried]
	}
	if s.rules.Remote && s.attempt > 1 {
		if ep, ok := c.PickRemote(s.tried[:s.ntried]); ok && (conns == nil || conns.Ready(ep.Address)) {
			return ep, nil
		}
	}
	if conns == nil {
		ep, err := c.PickAvoiding(tried, s.rules.Tries)
		if err != nil {
			return nil, ErrNoHealthyUpstream
		}
		return ep, nil
	}
	// Pass over endpoints without a ready connection as if tried.
	var avoid [2 * maxTried]*balancer.Endpoint
	n := copy(avoid[:], tried)
	for range maxTried {
		ep, err := c.PickAvoiding(avoid[:n], s.rules.Tries)
		if err != nil {
			return nil, ErrNoHealthyUpstream
		}
		if conns.Ready(ep.Address) {
			return ep, nil
		}
		if n < len(avoid) {
			avoid[n] = ep
			n++
		}
	}
	return s.pickReady(tried, conns)
}

// pickReady looks through every endpoint the cluster balances over for one
// the balancer did not offer: a ready one not in tried, else a ready one.
// Without one, it returns ErrNotReady while an endpoint may still connect,
// and the cluster's connection failure once none can.
func (s *Selection) pickReady(tried []*balancer.Endpoint, conns Conns) (*balancer.Endpoint, error) {
	var again *balancer.Endpoint
	var last error
	for _, e := range s.cluster.Available() {
		if conns.Ready(e.Address) {
			if !contains(tried, e) {
				return e, nil
			}
			again = e
		} else if err := conns.Failure(e.Address); err == nil {
			last = ErrNotReady
		} else if last != ErrNotReady {
			last = err
		}
	}
	switch {
	case again != nil:
		return again, nil
	case last == ErrNotReady:
		return nil, ErrNotReady
	case last == nil:
		return nil, ErrNoHealthyUpstream
	}
	return nil, &UnreachableError{Cluster: s.cluster.Name, Last: last}
}

// contains reports whether ep is in eps, by live state: warm-up re-creates
// Endpoint values with other weights.
func contains(eps []*balancer.Endpoint, ep *balancer.Endpoint) bool {
	for _, e := range eps {
		if e.State == ep.State {
			return true
		}
	}
	return false
}

// Start records that an attempt to ep, picked by Pick, is being sent, and
// returns its start time for Done (zero unless the cluster's balancer
// learns from latencies).
func (s *Selection) Start(ep *balancer.Endpoint) time.Time {
	ep.State.Begin()
	if s.cluster.Feedback() == nil {
		return time.Time{}
	}
	return s.clock.Now()
}

// Abandon undoes Start and Pick for an attempt that was never sent (gRPC
// dropped the pick because its connection stopped being ready).
func (s *Selection) Abandon(ep *balancer.Endpoint) {
	ep.State.End()
	if s.ntried > 0 && s.tried[s.ntried-1] == ep {
		s.ntried--
	}
}

// Done records how the attempt to ep that started at start ended: it ends
// the attempt's load on ep, tells a latency-aware balancer, marks a
// failure, and reports the outcome to outlier detection (never a
// mirror's). It reports whether the outcome ejected ep.
func (s *Selection) Done(ep *balancer.Endpoint, start time.Time, r Result) (ejected bool) {
	ep.State.End()
	if r.Kind == Own {
		return false // the request's own fault says nothing of the endpoint
	}
	failed := r.Failed()
	if fb := s.cluster.Feedback(); fb != nil && !start.IsZero() {
		now := s.clock.Now()
		fb.Observe(ep, now.Sub(start), failed, now)
	}
	if r.Kind == GaveUp {
		return false // the caller gave up: nothing to say about the endpoint
	}
	if failed {
		ep.State.Fail()
	}
	if s.mirror {
		return false
	}
	return s.cluster.Record(ep, r.outcome())
}
