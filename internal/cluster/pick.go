package cluster

import (
	"fmt"
	"math"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// warmup is a cluster's slow-start configuration.
type warmup struct {
	window     time.Duration
	minPercent float64
	aggression float64
}

// pickerBox holds the current picker; under warm-up it is valid until
// the endpoints' weights next change noticeably.
type pickerBox struct {
	balancer.Picker
	until time.Time // zero: valid until the endpoint set changes
	base  []*balancer.Endpoint
}

// PickHash returns the endpoint for hash h (attempt > 0 moves off the first
// choice for a retry) on a consistent-hash cluster; other clusters pick as
// Pick does.
func (c *Cluster) PickHash(h uint64, attempt int) (*balancer.Endpoint, error) {
	p := c.current()
	if hp, ok := p.Picker.(balancer.HashPicker); ok {
		return hp.PickHash(h, attempt)
	}
	return p.Pick()
}

// Pick returns the endpoint for the next attempt, or balancer.ErrNoEndpoint
// when none is available (every endpoint ejected).
func (c *Cluster) Pick() (*balancer.Endpoint, error) { return c.current().Pick() }

// current returns the picker, re-deriving warming endpoints' weights when
// they are due.
func (c *Cluster) current() *pickerBox {
	p := c.picker.Load()
	if p.until.IsZero() {
		return p
	}
	now := c.clock.Now()
	if now.Before(p.until) {
		return p
	}
	next := c.warmed(p.base, now)
	c.picker.CompareAndSwap(p, next)
	return next
}

// warmed builds a picker over eps with Envoy's slow-start weights at now,
// valid for a twentieth of the window or until every endpoint is warm.
func (c *Cluster) warmed(eps []*balancer.Endpoint, now time.Time) *pickerBox {
	w := c.warmup
	scaled := make([]*balancer.Endpoint, len(eps))
	warming := false
	for i, e := range eps {
		age := now.Sub(e.State.Since())
		f := balancer.WarmupFactor(age, w.window, w.minPercent, w.aggression)
		if f < 1 {
			warming = true
		}
		cp := *e
		cp.Weight = uint32(max(1, math.Round(float64(max(e.Weight, 1))*f*1000)))
		scaled[i] = &cp
	}
	p, err := c.algo.New(scaled, c.rand)
	if err != nil {
		p, _ = c.algo.New(eps, c.rand)
	}
	box := &pickerBox{Picker: p, base: eps}
	if warming {
		box.until = now.Add(max(w.window/20, time.Millisecond))
	}
	return box
}

// PickAvoiding returns an endpoint not in tried: it picks up to attempts
// times, as Envoy's previous_hosts predicate with
// host_selection_retry_max_attempts, and then, where Envoy would settle for
// a tried endpoint, takes the first available one not tried, so that a
// retry reaches another endpoint whenever one exists. Only when every
// available endpoint has been tried does it return a tried one.
func (c *Cluster) PickAvoiding(tried []*balancer.Endpoint, attempts int) (*balancer.Endpoint, error) {
	p := c.current()
	var ep *balancer.Endpoint
	for range max(attempts, 1) {
		var err error
		if ep, err = p.Pick(); err != nil {
			return nil, err
		}
		if !contains(tried, ep) {
			return ep, nil
		}
	}
	for _, e := range p.Endpoints() {
		if !contains(tried, e) {
			return e, nil
		}
	}
	return ep, nil
}

// contains reports whether ep is in eps, by live state: warm-up re-creates
// Endpoint values with other weights.
// PickRemote returns an available endpoint in a locality none of tried is
// in, starting from a random one, or false when there is none: Envoy's
// previous_priorities for retryRemoteLocalities.
func (c *Cluster) PickRemote(tried []*balancer.Endpoint) (*balancer.Endpoint, bool) {
	eps := c.current().Endpoints()
	if len(eps) == 0 {
		return nil, false
	}
	start := int(rng.N(c.rand.Uint64(), uint64(len(eps))))
	for i := range eps {
		e := eps[(start+i)%len(eps)]
		remote := true
		for _, t := range tried {
			if t.Locality == e.Locality {
				remote = false
				break
			}
		}
		if remote {
			return e, true
		}
	}
	return nil, false
}

func contains(eps []*balancer.Endpoint, ep *balancer.Endpoint) bool {
	for _, e := range eps {
		if e.State == ep.State {
			return true
		}
	}
	return false
}

// rebuildFrom makes the picker balance over the available endpoints of d,
// if d is still the cluster's detector: the one an endpoint change
// replaced may still hear of ejections.
func (c *Cluster) rebuildFrom(d *ejection.Detector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.endpoints(); set.detector == d {
		_ = c.install(set, d.Available())
	}
}

// install makes the cluster balance over eps, the available endpoints of
// set. c.mu must be held (or the cluster not yet shared).
func (c *Cluster) install(set *endpointSet, eps []*balancer.Endpoint) error {
	if c.locality != nil {
		p, err := c.localityPicker(set, eps)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		c.picker.Store(&pickerBox{Picker: p, base: eps})
		return nil
	}
	if c.warmup != nil && c.algo.SlowStart() {
		c.picker.Store(c.warmed(eps, c.clock.Now()))
		return nil
	}
	p, err := c.newPicker(eps)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	c.picker.Store(&pickerBox{Picker: p, base: eps})
	return nil
}

// newPicker builds the cluster's balancer over eps.
func (c *Cluster) newPicker(eps []*balancer.Endpoint) (balancer.Picker, error) {
	return c.algo.New(eps, c.rand)
}
