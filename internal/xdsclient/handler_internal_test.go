package xdsclient

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// bareClient is a Client without a connection or a run loop: tests hand
// responses straight to its handlers on a stream of their own, st.
type bareClient struct {
	*Client
	st *adsStream
}

// newBareClient returns a client of types whose clock never moves, with a
// stream begun (no request built yet). Its callbacks run on its serializer;
// Cleanup stops it.
func newBareClient(tb testing.TB, types []ResourceType) *bareClient {
	tb.Helper()
	c := &Client{
		server: ServerConfig{URI: "bare"},
		types:  make(map[string]ResourceType),
		node:   nodeProto(nil),
		expiry: DefaultWatchExpiryTimeout,
		clk:    clock.NewFake(time.Unix(1_800_000_000, 0)),
		cbs:    newSerializer(),
		state:  make(map[string]*typeState),
	}
	for _, rt := range types {
		if rt.TypeName == "" {
			rt.TypeName = rt.TypeURL
		}
		c.types[rt.TypeURL] = rt
		c.order = append(c.order, rt.TypeURL)
		c.state[rt.TypeURL] = &typeState{c: c, rt: rt, resources: make(map[string]*resourceState)}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	tb.Cleanup(func() {
		c.mu.Lock()
		c.closed = true
		for _, ts := range c.state {
			for _, rs := range ts.resources {
				c.stopTimerLocked(rs)
			}
		}
		c.mu.Unlock()
		c.cancel()
		c.cbs.close()
	})
	c.memoOn = true // the memo is kept, whichever protocol the test speaks
	return &bareClient{Client: c, st: c.beginStream()}
}

// flush builds the pending requests (Delta or SotW) as the sender would.
func (b *bareClient) flush(delta bool) {
	if delta {
		b.deltaRequests(b.st)
	} else {
		b.requests(b.st)
	}
}

// wait waits for the callbacks of a handled response to be done.
func (b *bareClient) wait(tb testing.TB, fl *flow) {
	tb.Helper()
	if fl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !fl.wait(ctx) {
		tb.Fatal("the watchers did not finish with the response")
	}
}

// checkMemo verifies the memo's invariants: every entry is a resource of
// its type that caches a good version, filed under its digest's key, and
// every resource caching a good version is found by its digest.
func (b *bareClient) checkMemo() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for url, ts := range b.state {
		if !b.memoOn {
			if len(ts.memo) > 0 {
				return fmt.Errorf("%s: %d memo keys while the memo is off", url, len(ts.memo))
			}
			continue
		}
		for k, rs := range ts.memo {
			for ; rs != nil; rs = rs.memoNext() {
				switch {
				case ts.resources[rs.name] != rs:
					return fmt.Errorf("%s: memo entry %q is not a resource of the type (deleted?)", url, rs.name)
				case rs.cache == nil:
					return fmt.Errorf("%s: memo entry %q caches nothing", url, rs.name)
				case rs.digest.key() != k:
					return fmt.Errorf("%s: memo entry %q filed under the wrong key", url, rs.name)
				}
			}
		}
		for name, rs := range ts.resources {
			if rs.cache == nil {
				continue
			}
			found := false
			for m := ts.memo[rs.digest.key()]; m != nil; m = m.memoNext() {
				found = found || m == rs
			}
			if !found {
				return fmt.Errorf("%s: %q caches a version but is not in the memo", url, name)
			}
		}
	}
	return nil
}

type doneWildcard struct{}

func (doneWildcard) ResourcesChanged(_ map[string]ResourceData, _ []string, done func()) { done() }
func (doneWildcard) AmbientError(_ error, done func())                                   { done() }
