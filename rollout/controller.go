package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/route"
)

// maxSamples bounds the latencies kept per subset and interval.
const maxSamples = 100_000

// Option configures a Controller's dependencies.
type Option interface{ apply(*Controller) }

type optionFunc func(*Controller)

func (f optionFunc) apply(c *Controller) { f(c) }

// WithClock runs the controller's intervals on clk (the mesh's fake clock
// in tests; nil: the real clock).
func WithClock(clk switchyard.Clock) Option {
	if clk == nil {
		clk = clock.Real{}
	}
	return optionFunc(func(c *Controller) { c.clock = clk })
}

// OnEvent calls f with every event, without locks held.
func OnEvent(f func(Event)) Option { return optionFunc(func(c *Controller) { c.onEvent = f }) }

// Controller runs one rollout. It is safe for concurrent use. The
// observations it takes from every request to the host never wait for a
// configuration change in flight; its methods (Status, Pause, …) may, while
// a step is being applied.
type Controller struct {
	mesh    *switchyard.Mesh
	modify  func(func(switchyard.Config) (switchyard.Config, error)) error // mesh.Modify
	cfg     Config
	host    string
	clock   clock.Clock
	onEvent func(Event)

	// mu orders the rollout's state changes and is held across Modify.
	mu      sync.Mutex
	phase   Phase
	step    int // index into StepWeights; -1 during the dark launch
	weight  int32
	dark    int // dark-launch intervals done
	waits   int
	paused  bool
	stopped bool
	timer   clock.Timer
	unsub   func()
	events  []Event
	lastErr error

	// windowMu guards the interval's figures, which every request to the
	// host updates: it is never held across anything slow, and never
	// while taking mu.
	windowMu sync.Mutex
	window   map[string]*window // by subset
}

type window struct {
	requests, failed int
	latencies        []time.Duration
}

// New validates cfg against the mesh's configuration and returns a
// controller, idle until Start.
func New(m *switchyard.Mesh, cfg Config, opts ...Option) (*Controller, error) {
	if m == nil {
		return nil, errors.New("rollout: no mesh to drive")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxWaits == 0 {
		cfg.MaxWaits = 2
	}
	c := &Controller{mesh: m, modify: m.Modify, cfg: cfg, clock: clock.Real{}, phase: PhaseIdle}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	r, err := findRoute(m.Config(), cfg)
	if err != nil {
		return nil, err
	}
	c.host = cfg.Host
	if c.host == "" {
		if len(r.Route) == 0 {
			return nil, fmt.Errorf("rollout: route %q of VirtualService %q has no destination", cfg.Route, cfg.VirtualService)
		}
		c.host = r.Route[0].Destination.Host
	}
	return c, nil
}

// findRoute returns the route the rollout drives.
func findRoute(cfg switchyard.Config, rc Config) (*route.HTTPRoute, error) {
	for i := range cfg.VirtualServices {
		vs := &cfg.VirtualServices[i]
		if !named(vs, rc.VirtualService) {
			continue
		}
		for j := range vs.HTTP {
			if vs.HTTP[j].Name == rc.Route {
				return &vs.HTTP[j], nil
			}
		}
		return nil, fmt.Errorf("rollout: VirtualService %q has no route named %q", rc.VirtualService, rc.Route)
	}
	return nil, fmt.Errorf("rollout: no VirtualService %q", rc.VirtualService)
}

// named reports whether vs is the VirtualService called name ("name" or
// "namespace/name").
func named(vs *route.VirtualService, name string) bool {
	return vs.Name == name || vs.Namespace+"/"+vs.Name == name
}

// Start applies the first stage — the dark launch, or the first weight —
// and schedules the analyses.
func (c *Controller) Start() error {
	c.mu.Lock()
	if c.phase != PhaseIdle {
		c.mu.Unlock()
		return errors.New("rollout: already started")
	}
	c.unsub = c.mesh.Observe(c.observe)
	c.resetWindow()
	var ev Event
	if c.cfg.DarkLaunch != nil {
		c.phase, c.step = PhaseDarkLaunch, -1
		ev = c.event(EventStep, "dark launch: matching requests go to "+c.cfg.Canary)
	} else {
		c.phase, c.step, c.weight = PhaseProgressing, 0, c.cfg.StepWeights[0]
		ev = c.event(EventStep, "")
	}
	err := c.apply()
	if err != nil {
		c.phase = PhaseIdle
		c.unsub()
		c.mu.Unlock()
		return err
	}
	c.schedule()
	c.mu.Unlock()
	c.emit(ev)
	return nil
}

// Stop ends the controller: no further analysis or change. The
// configuration stays as it is.
func (c *Controller) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.unsub != nil {
		c.unsub()
	}
}

// Pause holds the rollout at its current weight: analyses are skipped
// until Resume.
func (c *Controller) Pause() {
	c.mu.Lock()
	c.paused = true
	ev := c.event(EventPaused, "")
	c.mu.Unlock()
	c.emit(ev)
}

// Resume continues a paused rollout from a fresh interval.
func (c *Controller) Resume() {
	c.mu.Lock()
	c.paused = false
	c.resetWindow()
	ev := c.event(EventResumed, "")
	c.mu.Unlock()
	c.emit(ev)
}

// Abort rolls the canary back to 0% at once.
func (c *Controller) Abort() error {
	c.mu.Lock()
	if c.phase != PhaseProgressing && c.phase != PhaseDarkLaunch {
		c.mu.Unlock()
		return fmt.Errorf("rollout: nothing to abort in phase %s", c.phase)
	}
	ev, err := c.rollback(Stats{}, Stats{}, "aborted by hand")
	c.mu.Unlock()
	c.emit(ev)
	return err
}

// Status returns the phase and the canary's weight.
func (c *Controller) Status() (Phase, int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.phase, c.weight
}

// Events returns the events so far.
func (c *Controller) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// Err returns the last error applying a change to the mesh, if any.
func (c *Controller) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *Controller) observe(o switchyard.Observation) {
	if o.Host != c.host || (o.Subset != c.cfg.Stable && o.Subset != c.cfg.Canary) {
		return
	}
	c.windowMu.Lock()
	defer c.windowMu.Unlock()
	w := c.window[o.Subset]
	if w == nil {
		return
	}
	w.requests++
	if o.Failed {
		w.failed++
	}
	if len(w.latencies) < maxSamples {
		w.latencies = append(w.latencies, o.Latency)
	}
}

// resetWindow starts a new interval's figures.
func (c *Controller) resetWindow() {
	fresh := map[string]*window{c.cfg.Stable: {}, c.cfg.Canary: {}}
	c.windowMu.Lock()
	c.window = fresh
	c.windowMu.Unlock()
}

// windowStats returns the figures of the interval so far.
func (c *Controller) windowStats() (canary, stable Stats) {
	c.windowMu.Lock()
	cw, sw := c.window[c.cfg.Canary].copy(), c.window[c.cfg.Stable].copy()
	c.windowMu.Unlock()
	return stats(cw), stats(sw)
}

// copy returns a copy of w that observations do not change.
func (w *window) copy() *window {
	if w == nil {
		return nil
	}
	return &window{requests: w.requests, failed: w.failed, latencies: slices.Clone(w.latencies)}
}

// schedule arms the end of the interval; c.mu is held.
func (c *Controller) schedule() {
	if c.stopped {
		return
	}
	c.timer = c.clock.AfterFunc(c.cfg.Interval, c.tick)
}

// tick ends an interval: analyse, then advance, wait, promote or roll back.
func (c *Controller) tick() {
	c.mu.Lock()
	if c.stopped || (c.phase != PhaseProgressing && c.phase != PhaseDarkLaunch) {
		c.mu.Unlock()
		return
	}
	if c.paused {
		c.schedule()
		c.mu.Unlock()
		return
	}
	canary, stable := c.windowStats()
	var evs []Event
	verdict, reason := c.judge(canary, stable)
	switch verdict {
	case verdictWait:
		c.waits++
		if c.waits > c.cfg.MaxWaits {
			ev, _ := c.rollback(canary, stable, fmt.Sprintf("too few requests: %s after %d intervals", reason, c.waits))
			evs = append(evs, ev)
			break
		}
		ev := c.event(EventWaiting, reason)
		ev.Canary, ev.Stable = canary, stable
		evs = append(evs, ev)
		c.resetWindow()
		c.schedule()
	case verdictFail:
		ev, _ := c.rollback(canary, stable, reason)
		evs = append(evs, ev)
	case verdictPass:
		c.waits = 0
		ev := c.event(EventAnalysis, reason)
		ev.Canary, ev.Stable, ev.Passed = canary, stable, true
		evs = append(evs, ev)
		evs = append(evs, c.advance())
	}
	c.mu.Unlock()
	for _, ev := range evs {
		c.emit(ev)
	}
}

// advance moves to the next stage after a passed analysis; c.mu is held.
func (c *Controller) advance() Event {
	if c.phase == PhaseDarkLaunch {
		c.dark++
		if c.dark < max(c.cfg.DarkLaunch.Intervals, 1) {
			c.resetWindow()
			c.schedule()
			return c.event(EventStep, "dark launch continues")
		}
		c.phase, c.step, c.weight = PhaseProgressing, 0, c.cfg.StepWeights[0]
	} else if c.step+1 < len(c.cfg.StepWeights) {
		c.step++
		c.weight = c.cfg.StepWeights[c.step]
	} else {
		c.phase, c.weight = PhasePromoted, 100
		c.apply()
		return c.event(EventPromoted, c.cfg.Canary+" takes all traffic")
	}
	c.apply()
	c.resetWindow()
	c.schedule()
	return c.event(EventStep, "")
}

// rollback sends everything back to the stable subset; c.mu is held.
func (c *Controller) rollback(canary, stable Stats, reason string) (Event, error) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.phase, c.weight = PhaseRolledBack, 0
	err := c.apply()
	ev := c.event(EventRolledBack, reason)
	ev.Canary, ev.Stable = canary, stable
	return ev, err
}

type verdict int

const (
	verdictPass verdict = iota
	verdictWait
	verdictFail
)

// judge applies the analysis to an interval's figures.
func (c *Controller) judge(canary, stable Stats) (verdict, string) {
	a := c.cfg.Analysis
	if canary.Requests < max(a.MinRequests, 1) {
		return verdictWait, fmt.Sprintf("%d canary requests of the %d needed", canary.Requests, max(a.MinRequests, 1))
	}
	var fails []string
	if a.MaxErrorRate > 0 && canary.ErrorRate > a.MaxErrorRate {
		fails = append(fails, fmt.Sprintf("error rate %.2f%% > %.2f%%", canary.ErrorRate, a.MaxErrorRate))
	}
	if a.MaxLatencyP99 > 0 && canary.P99 > a.MaxLatencyP99 {
		fails = append(fails, fmt.Sprintf("p99 %v > %v", canary.P99, a.MaxLatencyP99))
	}
	if stable.Requests > 0 {
		if a.MaxErrorRateIncrease > 0 && canary.ErrorRate-stable.ErrorRate > a.MaxErrorRateIncrease {
			fails = append(fails, fmt.Sprintf("error rate %.2f%% is %.2f points above stable's %.2f%%", canary.ErrorRate, canary.ErrorRate-stable.ErrorRate, stable.ErrorRate))
		}
		if a.MaxLatencyRatio > 0 && stable.P99 > 0 && float64(canary.P99) > a.MaxLatencyRatio*float64(stable.P99) {
			fails = append(fails, fmt.Sprintf("p99 %v is %.2fx stable's %v", canary.P99, float64(canary.P99)/float64(stable.P99), stable.P99))
		}
	}
	if len(fails) > 0 {
		return verdictFail, strings.Join(fails, "; ")
	}
	return verdictPass, "all checks passed"
}

// stats summarises w, sorting its latencies.
func stats(w *window) Stats {
	if w == nil || w.requests == 0 {
		return Stats{}
	}
	s := Stats{Requests: w.requests, ErrorRate: 100 * float64(w.failed) / float64(w.requests)}
	if l := w.latencies; len(l) > 0 {
		slices.Sort(l)
		s.P50 = l[len(l)/2]
		s.P99 = l[min(len(l)-1, len(l)*99/100)]
	}
	return s
}

func (c *Controller) event(kind EventKind, reason string) Event {
	ev := Event{Kind: kind, At: c.clock.Now(), Phase: c.phase, Weight: c.weight, Reason: reason}
	c.events = append(c.events, ev)
	return ev
}

func (c *Controller) emit(ev Event) {
	if c.onEvent != nil {
		c.onEvent(ev)
	}
}

// apply writes the current stage into the mesh's configuration through
// Mesh.Modify; c.mu is held.
func (c *Controller) apply() error {
	err := c.modify(func(cfg switchyard.Config) (switchyard.Config, error) {
		cfg = cfg.Clone()
		return cfg, c.rewrite(&cfg)
	})
	if err != nil {
		c.lastErr = err
	}
	return err
}

// darkSuffix names the route a dark launch inserts.
const darkSuffix = "-dark-launch"

// rewrite sets the driven route's destinations to the current weights and
// adds or removes the dark-launch route.
func (c *Controller) rewrite(cfg *switchyard.Config) error {
	for i := range cfg.VirtualServices {
		vs := &cfg.VirtualServices[i]
		if !named(vs, c.cfg.VirtualService) {
			continue
		}
		var routes []route.HTTPRoute
		found := false
		for _, r := range vs.HTTP {
			if r.Name == c.cfg.Route+darkSuffix {
				continue // dropped; added again below while dark
			}
			if r.Name == c.cfg.Route {
				found = true
				if c.phase == PhaseDarkLaunch {
					dark := r
					dark.Name = c.cfg.Route + darkSuffix
					dark.Match = c.cfg.DarkLaunch.Match
					dark.Route = []route.RouteDestination{c.destination(r, c.cfg.Canary, 100)}
					routes = append(routes, dark)
				}
				r.Route = []route.RouteDestination{
					c.destination(r, c.cfg.Stable, 100-c.weight),
					c.destination(r, c.cfg.Canary, c.weight),
				}
			}
			routes = append(routes, r)
		}
		if !found {
			return fmt.Errorf("rollout: VirtualService %q no longer has a route named %q", c.cfg.VirtualService, c.cfg.Route)
		}
		vs.HTTP = routes
		return nil
	}
	return fmt.Errorf("rollout: no VirtualService %q", c.cfg.VirtualService)
}

// destination returns the route's destination for subset (keeping its port
// and headers when the route has one), with weight.
func (c *Controller) destination(r route.HTTPRoute, subset string, weight int32) route.RouteDestination {
	for _, d := range r.Route {
		if d.Destination.Subset == subset {
			d.Weight = weight
			return d
		}
	}
	d := route.RouteDestination{Destination: route.Destination{Host: c.host, Subset: subset}, Weight: weight}
	if len(r.Route) > 0 {
		d.Destination.Port = r.Route[0].Destination.Port
	}
	return d
}
