package ejection

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/outlier"
)

// Istio's and Envoy's defaults for outlier detection.
const (
	DefaultConsecutive5xx      = 5
	DefaultConsecutiveLocal    = 5
	DefaultInterval            = 10 * time.Second
	DefaultBaseEjectionTime    = 30 * time.Second
	DefaultMaxEjectionPercent  = 10
	defaultMaxEjectionTimeFlat = 300 * time.Second
)

// Local is a failure of local origin: no HTTP status came back.
type Local uint8

// The kinds of local-origin failure.
const (
	LocalNone    Local = iota // an HTTP response arrived
	LocalConnect              // connect failure or reset: counts as 503
	LocalTimeout              // a timeout: counts as 504
)

// Outcome is the result of one attempt, as outlier detection sees it.
type Outcome struct {
	// Status is the response's HTTP status (a gRPC status already mapped
	// to HTTP); ignored when Local is set.
	Status int
	// Local is set when the attempt failed without a response.
	Local Local
}

// params are a Config with Istio's defaults applied.
type params struct {
	c5xx, cgw, clocal uint32 // 0: disabled
	split             bool
	interval, base    time.Duration
	maxEjectPct       int
	minHealthPct      int
}

func paramsOf(c *outlier.Config) params {
	if c == nil {
		c = &outlier.Config{}
	}
	p := params{c5xx: DefaultConsecutive5xx, interval: DefaultInterval, base: DefaultBaseEjectionTime, maxEjectPct: DefaultMaxEjectionPercent}
	if c.Consecutive5xxErrors != nil {
		p.c5xx = *c.Consecutive5xxErrors
	}
	if c.ConsecutiveGatewayErrors != nil {
		p.cgw = *c.ConsecutiveGatewayErrors
	}
	if c.SplitExternalLocalOriginErrors {
		p.split = true
		p.clocal = DefaultConsecutiveLocal
		if c.ConsecutiveLocalOriginFailures != nil {
			p.clocal = *c.ConsecutiveLocalOriginFailures
		}
	}
	if c.Interval > 0 {
		p.interval = c.Interval
	}
	if c.BaseEjectionTime > 0 {
		p.base = c.BaseEjectionTime
	}
	if c.MaxEjectionPercent > 0 {
		p.maxEjectPct = int(c.MaxEjectionPercent)
	}
	p.minHealthPct = int(c.MinHealthPercent)
	return p
}

// maxEjectionTime is Envoy's default cap: max(300s, base).
func (p params) maxEjectionTime() time.Duration { return max(defaultMaxEjectionTimeFlat, p.base) }

// host is the ejection state of one endpoint. Detectors that replace one
// another across Updates share the hosts of the endpoints they have in
// common, and one lock, their lineage's, guards it.
type host struct {
	c5xx, cgw, clocal atomic.Uint32
	ejected           atomic.Bool
	ejectedAt         time.Duration // since lineage.base; guarded by lineage.mu
	backoff           int           // eject_time_backoff; guarded by lineage.mu
}

// member is one endpoint of a detector and its shared state.
type member struct {
	ep *balancer.Endpoint
	*host
}

// lineage is what the detectors of one cluster share across Updates: the
// lock over their endpoints' ejection state, a count of ejections and
// returns, and the detectors started and not yet stopped, which are told
// of every ejection and return of an endpoint they have, whichever
// detector made it.
type lineage struct {
	base time.Time // when the first detector was made: the origin of ejection times
	mu   sync.Mutex
	gen  uint64
	live []*Detector
}

// Event is an ejection or a return, for observers.
type Event struct {
	// Endpoint is the endpoint concerned.
	Endpoint *balancer.Endpoint
	// Ejected is true for an ejection, false for a return.
	Ejected bool
	// Reason names the counter that triggered an ejection:
	// "consecutive-5xx", "consecutive-gateway-errors" or
	// "consecutive-local-origin-failures".
	Reason string
	// Duration is how long an ejected endpoint stays out, at least.
	Duration time.Duration
}

// Detector ejects the failing endpoints of one cluster. It is safe for
// concurrent use; Stop ends its sweeps.
type Detector struct {
	p        params
	clock    clock.Clock
	onChange func()
	onEvent  func(Event)
	l        *lineage

	// members are the endpoints in order; index finds them by state in
	// a large detector (nil in a small one, which is scanned). Both are
	// set by NewDetector, then read-only.
	members   []member
	index     map[*balancer.State]*member
	endpoints []*balancer.Endpoint // as given to NewDetector; not modified

	// Guarded by l.mu.
	timer   clock.Timer
	started bool
	stopped bool
	seen    uint64 // l.gen when Available last ran
}

// DetectorOptions are a Detector's dependencies.
type DetectorOptions struct {
	// Clock runs the interval sweep; nil means the real clock.
	Clock clock.Clock
	// OnChange is called, without locks held, whenever the set of ejected
	// endpoints changes.
	OnChange func()
	// OnEvent, if set, is told of every ejection and return.
	OnEvent func(Event)
	// Previous is the detector this one replaces. The endpoints both have
	// keep their state, shared from then on under one lock: an outcome
	// recorded through either detector (Previous still serves requests in
	// flight on the old configuration) counts once, an ejection through
	// either is one ejection, and every started detector that has the
	// endpoint is told of it through OnChange.
	Previous *Detector
}

// NewDetector returns a detector for the endpoints of a cluster under cfg
// (nil: Istio's defaults), which it keeps and must not be modified. Its
// interval sweep runs from Start to Stop.
func NewDetector(cfg *outlier.Config, endpoints []*balancer.Endpoint, o DetectorOptions) *Detector {
	d := &Detector{p: paramsOf(cfg), clock: o.Clock, onChange: o.OnChange, onEvent: o.OnEvent,
		members: make([]member, len(endpoints)), endpoints: endpoints}
	if len(endpoints) > scanned {
		d.index = make(map[*balancer.State]*member, len(endpoints))
	}
	if d.clock == nil {
		d.clock = clock.Real{}
	}
	if o.Previous != nil {
		d.l = o.Previous.l
	} else {
		d.l = &lineage{base: d.clock.Now()}
	}
	for i, ep := range endpoints {
		m := &d.members[i]
		m.ep = ep
		if p := o.Previous.member(ep.State); p != nil {
			m.host = p.host
		} else {
			m.host = &host{}
		}
		if d.index != nil {
			d.index[ep.State] = m
		}
	}
	return d
}

// scanned is the most endpoints a detector finds by scanning its members
// rather than through an index: for a small cluster a scan is as quick,
// and an index costs more memory than the endpoints' own state.
const scanned = 16

// member returns the member of d (nil: none) whose endpoint has state st;
// of two with the same state (two workloads at one address), the last.
func (d *Detector) member(st *balancer.State) *member {
	if d == nil {
		return nil
	}
	if d.index != nil {
		return d.index[st]
	}
	for i := len(d.members) - 1; i >= 0; i-- {
		if d.members[i].ep.State == st {
			return &d.members[i]
		}
	}
	return nil
}

// Start begins the interval sweep. If an endpoint was ejected or returned
// through another detector of the cluster since Available last ran, Start
// calls OnChange.
func (d *Detector) Start() {
	d.l.mu.Lock()
	if d.started || d.stopped {
		d.l.mu.Unlock()
		return
	}
	d.started = true
	d.timer = d.clock.AfterFunc(d.p.interval, d.sweep)
	d.l.live = append(d.l.live, d)
	stale := d.seen != d.l.gen
	d.l.mu.Unlock()
	if stale && d.onChange != nil {
		d.onChange()
	}
}

// Stop ends the interval sweep. Recording outcomes still works.
func (d *Detector) Stop() {
	d.l.mu.Lock()
	defer d.l.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
	if i := slices.Index(d.l.live, d); i >= 0 {
		d.l.live = slices.Delete(d.l.live, i, i+1)
	}
}

// Ejected reports whether ep is ejected.
func (d *Detector) Ejected(ep *balancer.Endpoint) bool {
	m := d.member(ep.State)
	return m != nil && m.ejected.Load()
}

// Available returns the endpoints to balance over: all of them but the
// ejected, or all of them in panic mode (fewer than minHealthPercent
// healthy). It may return none: every endpoint ejected and panic disabled.
// The slice must not be modified.
func (d *Detector) Available() []*balancer.Endpoint {
	d.l.mu.Lock()
	defer d.l.mu.Unlock()
	d.seen = d.l.gen
	var healthy []*balancer.Endpoint
	for i := range d.members {
		if m := &d.members[i]; m.ejected.Load() && healthy == nil {
			healthy = make([]*balancer.Endpoint, 0, len(d.members))
			for _, o := range d.members[:i] {
				healthy = append(healthy, o.ep)
			}
		} else if healthy != nil && !m.ejected.Load() {
			healthy = append(healthy, m.ep)
		}
	}
	if healthy == nil {
		return d.endpoints // none ejected, the common case: shared, not copied
	}
	if d.p.minHealthPct > 0 && len(healthy)*100 < d.p.minHealthPct*len(d.members) {
		return d.endpoints // panic: balance over every endpoint
	}
	return healthy
}

// Record counts the outcome of an attempt to ep and ejects ep when a count
// reaches its threshold. It reports whether this outcome ejected ep.
func (d *Detector) Record(ep *balancer.Endpoint, o Outcome) (ejected bool) {
	h := d.member(ep.State)
	if h == nil {
		return false // an endpoint of another configuration
	}
	status := o.Status
	if o.Local != LocalNone {
		if d.p.split {
			if n := h.clocal.Add(1); d.p.clocal > 0 && n == d.p.clocal {
				return d.eject(h, &h.clocal, "consecutive-local-origin-failures")
			}
			return false
		}
		status = 503
		if o.Local == LocalTimeout {
			status = 504
		}
	} else if d.p.split {
		h.clocal.Store(0) // a response means the connection worked
	}
	if status < 500 || status > 599 {
		h.c5xx.Store(0)
		h.cgw.Store(0)
		return false
	}
	n5 := h.c5xx.Add(1)
	var ngw uint32
	if status >= 502 && status <= 504 {
		ngw = h.cgw.Add(1)
	} else {
		h.cgw.Store(0)
	}
	switch {
	case d.p.c5xx > 0 && n5 == d.p.c5xx:
		return d.eject(h, &h.c5xx, "consecutive-5xx")
	case d.p.cgw > 0 && ngw == d.p.cgw:
		return d.eject(h, &h.cgw, "consecutive-gateway-errors")
	}
	return false
}

// eject ejects m unless it is ejected already or the share of ejected
// endpoints has reached maxEjectionPercent, and resets the counter that
// triggered. It reports whether it ejected m.
func (d *Detector) eject(m *member, counter *atomic.Uint32, reason string) bool {
	d.l.mu.Lock()
	if m.ejected.Load() {
		d.l.mu.Unlock()
		return false
	}
	ejected := 0
	for i := range d.members {
		if d.members[i].ejected.Load() {
			ejected++
		}
	}
	if ejected*100 >= d.p.maxEjectPct*len(d.members) && ejected > 0 {
		d.l.mu.Unlock()
		return false
	}
	counter.Store(0)
	now := d.clock.Now()
	if time.Duration(m.backoff)*d.p.base < d.p.maxEjectionTime()+d.p.base {
		m.backoff++
	}
	m.ejected.Store(true)
	m.ejectedAt = now.Sub(d.l.base)
	dur := min(time.Duration(m.backoff)*d.p.base, d.p.maxEjectionTime())
	others := d.othersWith(m, nil)
	d.l.mu.Unlock()
	if d.onEvent != nil {
		d.onEvent(Event{Endpoint: m.ep, Ejected: true, Reason: reason, Duration: dur})
	}
	d.changed(others)
	return true
}

// othersWith adds to out the started detectors of the lineage, d aside,
// that have m's endpoint, and counts a change of its ejection; d.l.mu is
// held.
func (d *Detector) othersWith(m *member, out []*Detector) []*Detector {
	d.l.gen++
	for _, o := range d.l.live {
		if o == d || slices.Contains(out, o) {
			continue
		}
		if om := o.member(m.ep.State); om != nil && om.host == m.host {
			out = append(out, o)
		}
	}
	return out
}

// changed tells d and others that the set of ejected endpoints changed;
// no lock is held.
func (d *Detector) changed(others []*Detector) {
	if d.onChange != nil {
		d.onChange()
	}
	for _, o := range others {
		if o.onChange != nil {
			o.onChange()
		}
	}
}

// sweep returns endpoints whose ejection time has passed and lets the
// ejection multiplier of healthy ones decay, then schedules the next sweep.
func (d *Detector) sweep() {
	now := d.clock.Now()
	var returned []*member
	var others []*Detector
	d.l.mu.Lock()
	if d.stopped {
		d.l.mu.Unlock()
		return
	}
	for i := range d.members {
		m := &d.members[i]
		if !m.ejected.Load() {
			if m.backoff > 0 {
				m.backoff--
			}
			continue
		}
		if now.Sub(d.l.base)-m.ejectedAt >= min(time.Duration(m.backoff)*d.p.base, d.p.maxEjectionTime()) {
			m.ejected.Store(false)
			m.c5xx.Store(0)
			m.cgw.Store(0)
			returned = append(returned, m)
			others = d.othersWith(m, others)
		}
	}
	d.timer = d.clock.AfterFunc(d.p.interval, d.sweep)
	d.l.mu.Unlock()
	if len(returned) == 0 {
		return
	}
	if d.onEvent != nil {
		for _, m := range returned {
			d.onEvent(Event{Endpoint: m.ep})
		}
	}
	d.changed(others)
}
