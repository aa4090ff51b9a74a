package xdsclient

import (
	"testing"
)

// TestMemoKeyCollision: two cached resources whose digests share the memo
// key (the first 8 bytes) are both found by their digests; neither shadows
// the other, and forgetting one leaves the other. (The chain lives in the
// resources' resourceAux, dropped when the chain goes.)
func TestMemoKeyCollision(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	ts := b.state[ClusterTypeURL]
	var da, db digest
	copy(da.sum[:], "samekey!-a")
	copy(db.sum[:], "samekey!-b")
	if da.key() != db.key() || da == db {
		t.Fatal("the digests must collide on the key only")
	}
	a := &resourceState{name: "a", cache: "A", digest: da, status: StatusACKed}
	bb := &resourceState{name: "b", cache: "B", digest: db, status: StatusACKed}
	b.mu.Lock()
	ts.resources["a"], ts.resources["b"] = a, bb
	b.remember(ts, a)
	b.remember(ts, bb)
	b.mu.Unlock()
	if err := b.checkMemo(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    digest
		name string
	}{{da, "a"}, {db, "b"}} {
		if name, data, ok := b.recall(ts, c.d, ""); !ok || name != c.name || data != ResourceData(map[string]string{"a": "A", "b": "B"}[c.name]) {
			t.Fatalf("recall of %s's digest: %q %v %v", c.name, name, data, ok)
		}
	}
	b.mu.Lock()
	b.forget(ts, bb)
	bb.cache = nil
	b.mu.Unlock()
	if name, _, ok := b.recall(ts, da, ""); !ok || name != "a" {
		t.Fatalf("a after b is forgotten: %q %v", name, ok)
	}
	if _, _, ok := b.recall(ts, db, ""); ok {
		t.Fatal("b recalled after it was forgotten")
	}
	if err := b.checkMemo(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.forget(ts, a)
	a.cache = nil
	n := len(ts.memo)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d memo keys left after both are forgotten", n)
	}
	if a.aux != nil || bb.aux != nil {
		t.Fatal("a resource out of the memo keeps the aux of its chain")
	}
}

// TestMemoOnlyInSotW: a client speaking Delta keeps no memo (a Delta
// response names its resources; issue 18); on its first State of the World
// stream, the memo files every resource cached so far.
func TestMemoOnlyInSotW(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	ts := b.state[ClusterTypeURL]
	b.mu.Lock()
	b.memoOn = false
	clear(ts.memo)
	for _, name := range []string{"a", "b"} {
		rs := &resourceState{name: name, cache: name, digest: digestOf([]byte(name)), status: StatusACKed}
		ts.resources[name] = rs
		b.remember(ts, rs)
	}
	n := len(ts.memo)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d memo keys while speaking Delta", n)
	}
	if err := b.checkMemo(); err != nil {
		t.Fatal(err)
	}
	b.sotw.Store(true)
	b.beginStream()
	if err := b.checkMemo(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	n = len(ts.memo)
	b.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d memo keys on a State of the World stream, want 2", n)
	}
}
