package dnsresolve_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/dnstest"
	"github.com/switchyard-go/switchyard/internal/rng"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// scripted is a Resolver that returns its steps in order, then repeats the
// last one.
type scripted struct {
	mu    sync.Mutex
	steps []step
	calls int
}

type step struct {
	ans dnsresolve.Answer
	err error
}

func ok(ttl time.Duration, ss ...string) step {
	return step{ans: dnsresolve.Answer{Addrs: addrs(ss...), TTL: ttl}}
}

func fail(kind error) step {
	return step{err: &dnsresolve.Error{Host: "web.test", Kind: kind}}
}

func (s *scripted) LookupHost(_ context.Context, host string) (dnsresolve.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.steps[min(s.calls, len(s.steps)-1)]
	s.calls++
	return st.ans, st.err
}

func (s *scripted) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// updates records OnUpdate calls.
type updates struct {
	mu  sync.Mutex
	got [][]netip.Addr
}

func (u *updates) on(a []netip.Addr) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got = append(u.got, a)
}

func (u *updates) all() [][]netip.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([][]netip.Addr(nil), u.got...)
}

// start builds a Refresher on a fake clock and waits for its first
// resolution.
func start(t *testing.T, cfg dnsresolve.RefresherConfig) (*dnsresolve.Refresher, *clock.Fake, *updates) {
	t.Helper()
	fake := clock.NewFake(t0)
	u := &updates{}
	if cfg.Host == "" {
		cfg.Host = "web.test"
	}
	cfg.Clock = fake
	cfg.OnUpdate = u.on
	if cfg.Rand == nil {
		cfg.Rand = rng.NewSequence(0)
	}
	r, err := dnsresolve.NewRefresher(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	<-r.Warm()
	return r, fake, u
}

func TestRefresherResolvesAtOnceAndReportsASortedSet(t *testing.T) {
	res := &scripted{steps: []step{ok(30*time.Second, "10.0.0.2", "2001:db8::1", "10.0.0.1", "10.0.0.2")}}
	r, fake, u := start(t, dnsresolve.RefresherConfig{Resolver: res})

	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.1", "10.0.0.2", "2001:db8::1")}, u.all())
	st := r.State()
	assert.Equal(t, dnsresolve.State{
		Host:        "web.test",
		Mode:        dnsresolve.Strict,
		Addrs:       addrs("10.0.0.1", "10.0.0.2", "2001:db8::1"),
		Resolved:    true,
		TTL:         30 * time.Second,
		LastAttempt: t0,
		LastSuccess: t0,
		NextRefresh: t0.Add(30 * time.Second),
	}, st)
	assert.Equal(t, 1, fake.Pending())

	fake.Advance(30*time.Second - time.Nanosecond)
	assert.Equal(t, 1, res.Calls(), "not before the TTL")
	fake.Advance(time.Nanosecond)
	assert.Equal(t, 2, res.Calls())
	assert.Len(t, u.all(), 1, "an unchanged set is not reported again")
}

func TestRefresherWaitsForTheTTLClampedOrTheRefreshRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dnsresolve.RefresherConfig
		ans  step
		want time.Duration
	}{
		{"ttl", dnsresolve.RefresherConfig{}, ok(30*time.Second, "10.0.0.1"), 30 * time.Second},
		{"no ttl: refresh rate default", dnsresolve.RefresherConfig{}, ok(0, "10.0.0.1"), 60 * time.Second},
		{"no ttl: refresh rate", dnsresolve.RefresherConfig{RefreshRate: 7 * time.Second}, ok(0, "10.0.0.1"), 7 * time.Second},
		{"ttl ignored", dnsresolve.RefresherConfig{RefreshRate: 7 * time.Second, IgnoreTTL: true}, ok(30*time.Second, "10.0.0.1"), 7 * time.Second},
		{"ttl below the default floor", dnsresolve.RefresherConfig{}, ok(10*time.Millisecond, "10.0.0.1"), time.Second},
		{"ttl below min", dnsresolve.RefresherConfig{MinRefresh: 5 * time.Second}, ok(2*time.Second, "10.0.0.1"), 5 * time.Second},
		{"ttl above max", dnsresolve.RefresherConfig{MaxRefresh: time.Minute}, ok(time.Hour, "10.0.0.1"), time.Minute},
		{"no max by default", dnsresolve.RefresherConfig{}, ok(time.Hour, "10.0.0.1"), time.Hour},
		{"empty answer: refresh rate", dnsresolve.RefresherConfig{RefreshRate: 9 * time.Second}, ok(30 * time.Second), 9 * time.Second},
		{"not found: refresh rate", dnsresolve.RefresherConfig{RefreshRate: 9 * time.Second}, fail(dnsresolve.ErrNotFound), 9 * time.Second},
		{
			"jitter", dnsresolve.RefresherConfig{Jitter: 100 * time.Millisecond, Rand: rng.NewSequence(rng.Fraction(1, 4))},
			ok(30*time.Second, "10.0.0.1"),
			30*time.Second + time.Duration(rng.N(rng.Fraction(1, 4), uint64(100*time.Millisecond))),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Resolver = &scripted{steps: []step{tc.ans}}
			r, _, _ := start(t, cfg)
			assert.Equal(t, tc.want, r.State().NextRefresh.Sub(t0))
		})
	}
}

func TestRefresherReportsOnlyChanges(t *testing.T) {
	res := &scripted{steps: []step{
		ok(10*time.Second, "10.0.0.1", "10.0.0.2"),
		ok(10*time.Second, "10.0.0.2", "10.0.0.1"), // same set, other order
		ok(20*time.Second, "10.0.0.1", "10.0.0.3"),
		ok(20*time.Second, "10.0.0.3", "10.0.0.1", "10.0.0.1"),
	}}
	_, fake, u := start(t, dnsresolve.RefresherConfig{Resolver: res})
	fake.Advance(10 * time.Second)
	fake.Advance(10 * time.Second)
	fake.Advance(20 * time.Second)
	assert.Equal(t, 4, res.Calls())
	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.1", "10.0.0.2"), addrs("10.0.0.1", "10.0.0.3")}, u.all())
}

func TestRefresherKeepsTheLastSetAndBacksOffOnFailure(t *testing.T) {
	res := &scripted{steps: []step{
		ok(10*time.Second, "10.0.0.1"),
		fail(dnsresolve.ErrTimeout),
		fail(dnsresolve.ErrServerFailure),
		fail(dnsresolve.ErrTimeout),
		fail(dnsresolve.ErrUnreachable),
		ok(10*time.Second, "10.0.0.2"),
		fail(dnsresolve.ErrTimeout),
	}}
	// Windows 2, 4, 6 (capped), 6 s; each wait drawn from [w/2, w): with
	// the draw 0, w/2.
	r, fake, u := start(t, dnsresolve.RefresherConfig{
		Resolver: res, FailureBase: 2 * time.Second, FailureMax: 6 * time.Second,
	})
	fake.Advance(10 * time.Second) // first failure
	var waits []time.Duration
	for i := 1; i <= 4; i++ {
		st := r.State()
		assert.Equal(t, addrs("10.0.0.1"), st.Addrs, "the last good set stays")
		assert.Equal(t, i, st.ConsecutiveFailures)
		assert.Equal(t, t0, st.LastSuccess)
		assert.Error(t, st.LastError)
		assert.False(t, dnsresolve.IsAnswer(st.LastError))
		w := st.NextRefresh.Sub(st.LastAttempt)
		waits = append(waits, w)
		fake.Advance(w)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, waits)
	st := r.State()
	assert.NoError(t, st.LastError)
	assert.Zero(t, st.ConsecutiveFailures)
	assert.Equal(t, addrs("10.0.0.2"), st.Addrs)
	assert.Equal(t, fake.Now(), st.LastSuccess)
	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.1"), addrs("10.0.0.2")}, u.all())

	fake.Advance(10 * time.Second)
	st = r.State()
	assert.Equal(t, time.Second, st.NextRefresh.Sub(st.LastAttempt), "a success resets the backoff")
}

func TestRefresherBackoffJitterStaysInTheWindow(t *testing.T) {
	res := &scripted{steps: []step{fail(dnsresolve.ErrTimeout)}}
	r, fake, _ := start(t, dnsresolve.RefresherConfig{
		Resolver: res, FailureBase: 4 * time.Second, FailureMax: 4 * time.Second,
		Rand: rng.NewSequence(rng.Fraction(3, 4), ^uint64(0)),
	})
	st := r.State()
	assert.False(t, st.Resolved)
	assert.Nil(t, st.Addrs)
	w := st.NextRefresh.Sub(t0)
	assert.Equal(t, 2*time.Second+time.Duration(rng.N(rng.Fraction(3, 4), uint64(2*time.Second))), w)
	fake.Advance(w)
	st = r.State()
	w = st.NextRefresh.Sub(st.LastAttempt)
	assert.Less(t, w, 4*time.Second, "the largest draw stays below the window")
	assert.GreaterOrEqual(t, w, 3999*time.Millisecond)
}

func TestRefresherDefaultBackoffFollowsTheRefreshRate(t *testing.T) {
	res := &scripted{steps: []step{fail(dnsresolve.ErrTimeout)}}
	r, fake, _ := start(t, dnsresolve.RefresherConfig{Resolver: res, RefreshRate: 5 * time.Second})
	var windows []time.Duration
	for range 5 {
		st := r.State()
		w := st.NextRefresh.Sub(st.LastAttempt)
		windows = append(windows, 2*w) // the draw 0 gives w/2
		fake.Advance(w)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, windows)
}

func TestRefresherStrictEmptiesTheSetOnAnAuthoritativeNoAddress(t *testing.T) {
	res := &scripted{steps: []step{
		ok(10*time.Second, "10.0.0.1"),
		fail(dnsresolve.ErrNotFound),
		ok(10*time.Second, "10.0.0.1"),
		fail(dnsresolve.ErrNoData),
		fail(dnsresolve.ErrNoData),
	}}
	r, fake, u := start(t, dnsresolve.RefresherConfig{Resolver: res, RefreshRate: 5 * time.Second})
	fake.Advance(10 * time.Second)
	st := r.State()
	assert.Equal(t, []netip.Addr{}, st.Addrs)
	assert.ErrorIs(t, st.LastError, dnsresolve.ErrNotFound)
	assert.True(t, dnsresolve.IsAnswer(st.LastError))
	assert.Zero(t, st.ConsecutiveFailures, "an answer is not a failure")
	assert.Equal(t, fake.Now(), st.LastSuccess)
	fake.Advance(5 * time.Second)
	fake.Advance(10 * time.Second)
	fake.Advance(5 * time.Second)
	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.1"), {}, addrs("10.0.0.1"), {}}, u.all())
	assert.Equal(t, 5, res.Calls())
}

func TestRefresherLogicalReportsTheFirstAddressAndKeepsItOnEmptyAnswers(t *testing.T) {
	res := &scripted{steps: []step{
		ok(10*time.Second, "10.0.0.2", "10.0.0.1"),
		ok(10*time.Second, "10.0.0.2", "10.0.0.3"), // first unchanged
		ok(10*time.Second, "10.0.0.3", "10.0.0.2"),
		fail(dnsresolve.ErrNotFound),
		ok(10 * time.Second),
	}}
	r, fake, u := start(t, dnsresolve.RefresherConfig{Resolver: res, Mode: dnsresolve.Logical, FailureBase: 2 * time.Second})
	fake.Advance(10 * time.Second)
	fake.Advance(10 * time.Second)
	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.2"), addrs("10.0.0.3")}, u.all())

	fake.Advance(10 * time.Second) // NXDOMAIN: a failure for LOGICAL_DNS
	st := r.State()
	assert.Equal(t, addrs("10.0.0.3"), st.Addrs)
	assert.Equal(t, 1, st.ConsecutiveFailures)
	assert.ErrorIs(t, st.LastError, dnsresolve.ErrNotFound)
	fake.Advance(time.Second) // an empty answer: also a failure
	st = r.State()
	assert.Equal(t, addrs("10.0.0.3"), st.Addrs)
	assert.Equal(t, 2, st.ConsecutiveFailures)
	assert.ErrorIs(t, st.LastError, dnsresolve.ErrNoData)
	assert.Len(t, u.all(), 2)
	assert.Equal(t, dnsresolve.Logical, st.Mode)
}

func TestRefresherCloseStopsEverything(t *testing.T) {
	res := &scripted{steps: []step{ok(10*time.Second, "10.0.0.1"), ok(10*time.Second, "10.0.0.2")}}
	r, fake, u := start(t, dnsresolve.RefresherConfig{Resolver: res})
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "idempotent")
	assert.Zero(t, fake.Pending())
	fake.Advance(time.Hour)
	assert.Equal(t, 1, res.Calls())
	assert.Len(t, u.all(), 1)
	assert.True(t, r.State().NextRefresh.IsZero())
}

func TestRefresherCloseCancelsALookupInFlight(t *testing.T) {
	started := make(chan struct{})
	var sawCancel atomic.Bool
	res := dnsresolve.ResolverFunc(func(ctx context.Context, host string) (dnsresolve.Answer, error) {
		close(started)
		<-ctx.Done()
		sawCancel.Store(true)
		return dnsresolve.Answer{}, &dnsresolve.Error{Host: host, Kind: context.Cause(ctx)}
	})
	var updated atomic.Bool
	r, err := dnsresolve.NewRefresher(dnsresolve.RefresherConfig{
		Host: "web.test", Resolver: res, OnUpdate: func([]netip.Addr) { updated.Store(true) },
	})
	require.NoError(t, err)
	<-started
	require.NoError(t, r.Close())
	assert.True(t, sawCancel.Load(), "Close returns after the lookup ended")
	assert.False(t, updated.Load())
	select {
	case <-r.Warm():
	default:
		t.Error("Warm is closed by Close")
	}
	assert.Zero(t, r.State().ConsecutiveFailures, "a cancelled lookup is not a failure")
}

func TestRefresherValidatesItsConfig(t *testing.T) {
	res := &scripted{steps: []step{ok(0, "10.0.0.1")}}
	for _, tc := range []struct {
		cfg  dnsresolve.RefresherConfig
		want []string
	}{
		{dnsresolve.RefresherConfig{}, []string{"RefresherConfig.Host is empty", "RefresherConfig.Resolver is nil"}},
		{dnsresolve.RefresherConfig{Host: "h", Resolver: res, Mode: 9}, []string{`RefresherConfig.Mode 9 is not a Mode (host "h")`}},
		{dnsresolve.RefresherConfig{Host: "h", Resolver: res, RefreshRate: -1, Jitter: -2}, []string{
			`RefresherConfig.RefreshRate -1ns is negative (host "h")`, `RefresherConfig.Jitter -2ns is negative`,
		}},
		{dnsresolve.RefresherConfig{Host: "h", Resolver: res, MinRefresh: time.Minute, MaxRefresh: time.Second}, []string{
			"RefresherConfig.MinRefresh 1m0s is above MaxRefresh 1s",
		}},
		{dnsresolve.RefresherConfig{Host: "h", Resolver: res, FailureBase: time.Minute, FailureMax: time.Second}, []string{
			"RefresherConfig.FailureBase 1m0s is above FailureMax 1s",
		}},
	} {
		r, err := dnsresolve.NewRefresher(tc.cfg)
		if !assert.Nil(t, r) {
			r.Close()
		}
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w)
		}
	}
}

// TestRefresherTracksALoopbackServer runs the real resolver against a DNS
// server on loopback, with the refreshes on a fake clock: the server's TTL
// decides when the next query goes out, changes arrive through OnUpdate,
// and a failing server leaves the set in place.
func TestRefresherTracksALoopbackServer(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("api.test.", dnstest.A(30, "10.0.0.2"), dnstest.A(30, "10.0.0.1"), dnstest.AAAA(45, "2001:db8::1"))
	sys := l.system(oneServer)
	r, fake, u := start(t, dnsresolve.RefresherConfig{Host: "api.test.", Resolver: sys})
	assert.Equal(t, [][]netip.Addr{addrs("10.0.0.1", "10.0.0.2", "2001:db8::1")}, u.all())
	assert.Equal(t, 30*time.Second, r.State().NextRefresh.Sub(t0))

	srv.Set("api.test.", dnstest.A(5, "10.0.0.3"))
	fake.Advance(29 * time.Second)
	assert.Len(t, u.all(), 1, "no query before the TTL runs out")
	assert.Equal(t, 1, srv.Count("api.test.", dnsmessage.TypeA, ""))
	fake.Advance(time.Second)
	assert.Equal(t, addrs("10.0.0.3"), u.all()[1])
	assert.Equal(t, 5*time.Second, r.State().TTL)

	srv.SetBehavior("api.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure})
	fake.Advance(5 * time.Second)
	st := r.State()
	assert.Equal(t, addrs("10.0.0.3"), st.Addrs)
	assert.ErrorIs(t, st.LastError, dnsresolve.ErrServerFailure)
	assert.Equal(t, 1, st.ConsecutiveFailures)

	srv.SetBehavior("api.test.", dnstest.Behavior{})
	srv.Delete("api.test.")
	fake.Advance(st.NextRefresh.Sub(fake.Now()))
	st = r.State()
	assert.Equal(t, []netip.Addr{}, st.Addrs, "NXDOMAIN empties a STRICT_DNS set")
	assert.Len(t, u.all(), 3)
}

// TestRefresherUnderConcurrentReaders changes the server's answers while
// the Refresher re-resolves on the wall clock and readers poll its state;
// the race detector checks the sharing, and every set a reader sees must be
// one the server gave.
func TestRefresherUnderConcurrentReaders(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	sets := [][]dnstest.Record{
		{dnstest.A(1, "10.0.0.1"), dnstest.A(1, "10.0.0.2")},
		{dnstest.A(1, "10.0.0.3")},
		{dnstest.A(1, "10.0.0.2"), dnstest.A(1, "10.0.0.4")},
	}
	valid := map[netip.Addr]bool{}
	for _, s := range sets {
		for _, rec := range s {
			valid[rec.Addr] = true
		}
	}
	srv.Set("api.test.", sets[0]...)
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })

	const wantUpdates = 20
	var n atomic.Int32
	enough := make(chan struct{})
	r, err := dnsresolve.NewRefresher(dnsresolve.RefresherConfig{
		Host: "api.test.", Resolver: sys, RefreshRate: time.Millisecond, IgnoreTTL: true,
		OnUpdate: func(a []netip.Addr) {
			for _, x := range a {
				if !valid[x] {
					t.Errorf("update %v has an address the server never gave", a)
				}
			}
			if n.Add(1) == wantUpdates {
				close(enough)
			}
		},
	})
	require.NoError(t, err)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.Set("api.test.", sets[i%len(sets)]...)
			time.Sleep(2 * time.Millisecond)
		}
	})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := r.State()
				for _, x := range st.Addrs {
					if !valid[x] {
						t.Errorf("state %v has an address the server never gave", st.Addrs)
						return
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second): // a cap on the run, not a measurement
		t.Errorf("only %d updates", n.Load())
	}
	close(stop)
	wg.Wait()
	require.NoError(t, r.Close())
	assert.NotZero(t, r.State().LastSuccess)
	assert.False(t, errors.Is(r.State().LastError, context.Canceled))
}
