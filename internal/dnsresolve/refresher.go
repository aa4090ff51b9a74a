package dnsresolve

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// Mode is how a [Refresher] turns answers into endpoints.
type Mode uint8

// Modes, after Envoy's cluster types.
const (
	// Strict is STRICT_DNS (ServiceEntry resolution DNS): every address is
	// an endpoint. An authoritative "no such host" or "no data" answer
	// empties the set, as Envoy does; a failure keeps the last good set.
	Strict Mode = iota
	// Logical is LOGICAL_DNS (resolution DNS_ROUND_ROBIN): one endpoint,
	// the first address of the answer. An answer without addresses is a
	// failure and keeps the last good address, as in Envoy.
	Logical
)

// String returns Envoy's name of the cluster type.
func (m Mode) String() string {
	switch m {
	case Strict:
		return "STRICT_DNS"
	case Logical:
		return "LOGICAL_DNS"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Defaults of a [RefresherConfig].
const (
	// DefaultRefreshRate is Istio's MeshConfig dnsRefreshRate.
	DefaultRefreshRate = 60 * time.Second
	// DefaultMinRefresh is the shortest wait a TTL can cause.
	DefaultMinRefresh = time.Second
	// DefaultFailureBase is the first wait after a failed resolution.
	DefaultFailureBase = time.Second
)

// RefresherConfig configures a [Refresher]. The zero values of the
// durations select the documented defaults.
type RefresherConfig struct {
	// Host is the name to keep resolved. Required.
	Host string
	// Resolver looks Host up. Required.
	Resolver Resolver
	// Mode is Strict (every address) or Logical (the first address).
	Mode Mode
	// RefreshRate is the wait between resolutions when the answer has no
	// TTL, or when IgnoreTTL is set. If zero, DefaultRefreshRate (60 s).
	RefreshRate time.Duration
	// IgnoreTTL makes every wait RefreshRate. By default the TTL of the
	// answer decides (Envoy's respect_dns_ttl, which Istio sets).
	IgnoreTTL bool
	// MinRefresh and MaxRefresh clamp a wait that a TTL decides. If
	// MinRefresh is zero, DefaultMinRefresh (1 s); if MaxRefresh is zero,
	// there is no upper bound (as in Envoy).
	MinRefresh, MaxRefresh time.Duration
	// Jitter adds a random wait in [0, Jitter) to each successful refresh
	// (Envoy's dns_jitter; Istio sets 100 ms). If zero, none.
	Jitter time.Duration
	// FailureBase and FailureMax shape the retries after a failed
	// resolution: each wait is drawn uniformly from [w/2, w), where w
	// starts at FailureBase and doubles up to FailureMax. A success resets
	// w. If zero, FailureBase is min(DefaultFailureBase, RefreshRate) and
	// FailureMax is max(RefreshRate, FailureBase): a failing name is
	// retried sooner than a healthy one is refreshed, and not later unless
	// FailureBase says so. (Envoy without dns_failure_refresh_rate simply
	// waits RefreshRate.)
	FailureBase, FailureMax time.Duration
	// OnUpdate, if set, receives the endpoint set: after the first
	// successful resolution, and after each later one that changes it.
	// Strict: the addresses sorted and without duplicates (possibly
	// empty); Logical: the one address. Calls come one at a time, never
	// after Close returns; OnUpdate must not call Close. The slice is the
	// callee's.
	OnUpdate func(addrs []netip.Addr)
	// Clock schedules the refreshes. If nil, the wall clock.
	Clock clock.Clock
	// Rand draws the jitter. If nil, math/rand/v2.
	Rand rng.Source
}

// State is where a [Refresher] stands.
type State struct {
	// Host is the name being resolved.
	Host string
	// Mode is the Refresher's mode.
	Mode Mode
	// Addrs is the set in force: what OnUpdate last received; nil before
	// the first successful resolution.
	Addrs []netip.Addr
	// Resolved reports that a resolution has succeeded at least once.
	Resolved bool
	// TTL is the TTL of the last successful answer (0: none given).
	TTL time.Duration
	// LastAttempt is when the last resolution finished; LastSuccess when
	// the last successful one did (zero if none).
	LastAttempt, LastSuccess time.Time
	// LastError is the error of the last resolution: nil if it found
	// addresses; [ErrNotFound] or [ErrNoData] (with [IsAnswer] true) if, in
	// Strict mode, it emptied the set; any other error (or, in Logical
	// mode, any error) if it failed and the previous set was kept.
	LastError error
	// ConsecutiveFailures counts the failed resolutions since the last
	// success.
	ConsecutiveFailures int
	// NextRefresh is when the next resolution is due (zero once closed).
	NextRefresh time.Time
}

// Refresher keeps the addresses of one host current: it resolves at once,
// then again when the answer's TTL runs out (clamped to [MinRefresh,
// MaxRefresh]) or after RefreshRate, and after a failure with backoff,
// keeping the last good set meanwhile. Its methods are safe for concurrent
// use. Close it when done.
type Refresher struct {
	host      string
	resolver  Resolver
	mode      Mode
	rate      time.Duration
	ignoreTTL bool
	minWait   time.Duration
	maxWait   time.Duration
	jitter    time.Duration
	failMax   time.Duration
	onUpdate  func([]netip.Addr)
	clk       clock.Clock
	rnd       rng.Source

	ctx    context.Context
	cancel context.CancelFunc
	warm   chan struct{}
	wg     sync.WaitGroup // the first resolution and each scheduled one

	mu      sync.Mutex
	closed  bool
	warmed  bool
	timer   clock.Timer // the next resolution; nil while one runs
	backoff *backoff.ExponentialBackOff
	st      State
}

// NewRefresher validates cfg and starts resolving cfg.Host in the
// background.
func NewRefresher(cfg RefresherConfig) (*Refresher, error) {
	var errs []error
	if cfg.Host == "" {
		errs = append(errs, errors.New("dnsresolve: RefresherConfig.Host is empty"))
	}
	if cfg.Resolver == nil {
		errs = append(errs, fmt.Errorf("dnsresolve: RefresherConfig.Resolver is nil (host %q)", cfg.Host))
	}
	if cfg.Mode > Logical {
		errs = append(errs, fmt.Errorf("dnsresolve: RefresherConfig.Mode %d is not a Mode (host %q)", uint8(cfg.Mode), cfg.Host))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"RefreshRate", cfg.RefreshRate}, {"MinRefresh", cfg.MinRefresh}, {"MaxRefresh", cfg.MaxRefresh},
		{"Jitter", cfg.Jitter}, {"FailureBase", cfg.FailureBase}, {"FailureMax", cfg.FailureMax},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("dnsresolve: RefresherConfig.%s %v is negative (host %q)", d.name, d.v, cfg.Host))
		}
	}
	r := &Refresher{
		host:      cfg.Host,
		resolver:  cfg.Resolver,
		mode:      cfg.Mode,
		rate:      cfg.RefreshRate,
		ignoreTTL: cfg.IgnoreTTL,
		minWait:   cfg.MinRefresh,
		maxWait:   cfg.MaxRefresh,
		jitter:    cfg.Jitter,
		failMax:   cfg.FailureMax,
		onUpdate:  cfg.OnUpdate,
		clk:       cfg.Clock,
		rnd:       cfg.Rand,
		warm:      make(chan struct{}),
	}
	if r.rate == 0 {
		r.rate = DefaultRefreshRate
	}
	if r.minWait == 0 {
		r.minWait = DefaultMinRefresh
	}
	failBase := cfg.FailureBase
	if failBase == 0 {
		failBase = min(DefaultFailureBase, r.rate)
	}
	if r.failMax == 0 {
		r.failMax = max(r.rate, failBase)
	}
	if r.maxWait > 0 && r.minWait > r.maxWait {
		errs = append(errs, fmt.Errorf("dnsresolve: RefresherConfig.MinRefresh %v is above MaxRefresh %v (host %q)", r.minWait, r.maxWait, cfg.Host))
	}
	if failBase > r.failMax {
		errs = append(errs, fmt.Errorf("dnsresolve: RefresherConfig.FailureBase %v is above FailureMax %v (host %q)", failBase, r.failMax, cfg.Host))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if r.clk == nil {
		r.clk = clock.Real{}
	}
	if r.rnd == nil {
		r.rnd = rng.Runtime{}
	}
	r.backoff = &backoff.ExponentialBackOff{
		InitialInterval:     failBase,
		RandomizationFactor: 0, // jitter comes from r.rnd, so tests can script it
		Multiplier:          2,
		MaxInterval:         r.failMax,
		MaxElapsedTime:      0, // never give up
		Stop:                backoff.Stop,
		Clock:               r.clk,
	}
	r.backoff.Reset()
	r.st = State{Host: r.host, Mode: r.mode}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.resolve()
	}()
	return r, nil
}

// Warm is closed once the first resolution has finished, successfully or
// not (Envoy's cluster warming), or the Refresher is closed.
func (r *Refresher) Warm() <-chan struct{} { return r.warm }

// State returns a snapshot of the Refresher's state.
func (r *Refresher) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Addrs = slices.Clone(s.Addrs)
	return s
}

// Close stops the refreshes and cancels a resolution in flight, then waits
// for it (and for an OnUpdate call in progress) to end. It is idempotent and
// always returns nil.
func (r *Refresher) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		if r.timer != nil && r.timer.Stop() {
			r.wg.Done() // the scheduled resolution will not run
		}
		r.timer = nil
		r.st.NextRefresh = time.Time{}
		r.markWarm()
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// markWarm closes the warm channel once. r.mu must be held.
func (r *Refresher) markWarm() {
	if !r.warmed {
		r.warmed = true
		close(r.warm)
	}
}

// fire runs a scheduled resolution.
func (r *Refresher) fire() {
	defer r.wg.Done()
	r.mu.Lock()
	r.timer = nil
	closed := r.closed
	r.mu.Unlock()
	if !closed {
		r.resolve()
	}
}

// resolve looks the host up once, applies the outcome, tells OnUpdate and
// schedules the next resolution.
func (r *Refresher) resolve() {
	ans, err := r.resolver.LookupHost(r.ctx, r.host)
	if r.ctx.Err() != nil {
		return // closed meanwhile
	}
	now := r.clk.Now()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	set, ok := r.endpoints(ans, err)
	if !ok && err == nil {
		err = &Error{Host: r.host, Kind: ErrNoData} // Logical: an empty answer fails
	}
	changed := false
	var wait time.Duration
	r.st.LastAttempt = now
	r.st.LastError = err
	if ok {
		changed = !r.st.Resolved || !slices.Equal(set, r.st.Addrs)
		r.st.Resolved = true
		r.st.Addrs = set
		r.st.TTL = ans.TTL
		r.st.LastSuccess = now
		r.st.ConsecutiveFailures = 0
		r.backoff.Reset()
		wait = r.successWait(ans.TTL, len(set) > 0)
	} else {
		r.st.ConsecutiveFailures++
		wait = r.failureWait()
	}
	r.mu.Unlock()

	// OnUpdate runs before the next resolution is scheduled, so that calls
	// never overlap and arrive in order.
	if changed && r.onUpdate != nil {
		r.onUpdate(slices.Clone(set))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// Warm is marked after the next resolution is scheduled: who waits
	// for it sees the schedule in place.
	defer r.markWarm()
	if r.closed {
		return
	}
	r.st.NextRefresh = r.clk.Now().Add(wait)
	r.wg.Add(1)
	r.timer = r.clk.AfterFunc(wait, r.fire)
}

// endpoints turns a lookup outcome into the endpoint set of r's mode, and
// reports whether it replaces the current one.
func (r *Refresher) endpoints(ans Answer, err error) ([]netip.Addr, bool) {
	var addrs []netip.Addr
	if err == nil {
		addrs = make([]netip.Addr, 0, len(ans.Addrs))
		for _, a := range ans.Addrs {
			if a.IsValid() {
				addrs = append(addrs, a)
			}
		}
	}
	if r.mode == Logical {
		if len(addrs) == 0 {
			return nil, false // no data or any error: keep the last address
		}
		return addrs[:1:1], true
	}
	switch {
	case err == nil:
		slices.SortFunc(addrs, netip.Addr.Compare)
		return slices.Compact(addrs), true
	case IsAnswer(err):
		return []netip.Addr{}, true
	}
	return nil, false
}

// successWait is the wait after a successful resolution: the TTL clamped to
// [minWait, maxWait] when it applies, else the refresh rate; plus jitter.
func (r *Refresher) successWait(ttl time.Duration, nonEmpty bool) time.Duration {
	w := r.rate
	if !r.ignoreTTL && ttl > 0 && nonEmpty {
		w = max(ttl, r.minWait)
		if r.maxWait > 0 {
			w = min(w, r.maxWait)
		}
	}
	if r.jitter > 0 {
		w += time.Duration(rng.N(r.rnd.Uint64(), uint64(r.jitter)))
	}
	return w
}

// failureWait is the next backoff: uniform in [w/2, w) for the current
// window w.
func (r *Refresher) failureWait() time.Duration {
	w := r.backoff.NextBackOff()
	half := w / 2
	return half + time.Duration(rng.N(r.rnd.Uint64(), uint64(w-half)))
}
