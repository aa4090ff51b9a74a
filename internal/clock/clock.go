// Package clock abstracts time so that timers and timestamps can be driven by
// tests. The real clock wraps package time; [Fake] is advanced by hand.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and schedules functions. Implementations must be safe
// for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled by [Clock.AfterFunc]: Stop prevents the
// call if it has not happened yet and reports whether it did so. It is an
// alias of an unnamed interface so that any clock can implement Clock
// without importing this package (*time.Timer satisfies it).
type Timer = interface{ Stop() bool }

// Real is the wall clock of package time. It works inside testing/synctest
// bubbles, where time is virtual.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a manually advanced clock. Its zero value is not usable; build one
// with [NewFake]. Functions scheduled with AfterFunc run, in deadline order,
// inside Advance, synchronously on the caller's goroutine.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	pending []*fakeTimer
}

// NewFake returns a fake clock that reads start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc schedules fn for when the clock has been advanced by d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{clock: f, at: f.now.Add(d), seq: f.seq, fn: fn}
	f.pending = append(f.pending, t)
	return t
}

// Advance moves the clock forward by d and runs every function whose time
// has come, earliest first, each seeing Now() equal to its own deadline.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	for {
		sort.Slice(f.pending, func(i, j int) bool {
			a, b := f.pending[i], f.pending[j]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			return a.seq < b.seq
		})
		if len(f.pending) == 0 || f.pending[0].at.After(target) {
			break
		}
		t := f.pending[0]
		f.pending = f.pending[1:]
		if t.at.After(f.now) {
			f.now = t.at
		}
		f.mu.Unlock()
		t.fn()
		f.mu.Lock()
	}
	f.now = target
	f.mu.Unlock()
}

// Pending reports how many scheduled functions have not run or been stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

type fakeTimer struct {
	clock *Fake
	at    time.Time
	seq   uint64
	fn    func()
}

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.pending {
		if p == t {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			return true
		}
	}
	return false
}

// Sleep waits d on c, or until ctx ends, whose cause it then returns.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	done := make(chan struct{})
	t := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return context.Cause(ctx)
	}
}
