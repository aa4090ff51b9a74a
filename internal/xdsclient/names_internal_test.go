package xdsclient

import (
	"errors"
	"slices"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// heldNames is a NamesWatcher that logs the names it hears of and waits
// on hold before the first call returns.
type heldNames struct {
	mu    sync.Mutex
	heard []string
	first chan struct{} // closed when the first call starts
	hold  chan struct{}
	once  sync.Once
}

func (h *heldNames) call(name, kind string, done func()) {
	h.mu.Lock()
	h.heard = append(h.heard, kind+" "+name)
	h.mu.Unlock()
	h.once.Do(func() {
		close(h.first)
		<-h.hold
	})
	done()
}

func (h *heldNames) ResourceChanged(name string, _ ResourceData, done func()) {
	h.call(name, "changed", done)
}
func (h *heldNames) ResourceError(name string, _ error, done func()) { h.call(name, "error", done) }
func (h *heldNames) AmbientError(name string, _ error, done func()) {
	h.call(name, "ambient", done)
}

// TestNamesRemoveStopsQueuedCalls: a call about a name queued before the
// name's Remove does not start after it (the calls of a NamesWatch share
// one registration, so it is the resource's membership that tells), even
// if the name is added again meanwhile; the response's flow is released
// all the same. The expiry timers of names never sent report them, by
// name, not to exist.
func TestNamesRemoveStopsQueuedCalls(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	h := &heldNames{first: make(chan struct{}), hold: make(chan struct{})}
	s, err := b.WatchNames(ClusterTypeURL, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := s.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	b.flush(true)
	var res []*discoveryv3.Resource
	for _, n := range []string{"a", "b", "c"} {
		a, err := anypb.New(&clusterv3.Cluster{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, &discoveryv3.Resource{Name: n, Version: "1", Resource: a})
	}
	fl := b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: "n1", Resources: res})
	<-h.first // a's call runs; b's and c's are queued
	s.Remove("b")
	s.Remove("c")
	if err := s.Add("c"); err != nil { // requested anew: its state went with its last watcher
		t.Fatal(err)
	}
	close(h.hold)
	b.wait(t, fl)
	b.clk.(*clock.Fake).Advance(b.expiry)
	b.drain(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	want := []string{"changed a", "error d"}
	if !slices.Equal(h.heard, want) {
		t.Fatalf("heard %q, want %q", h.heard, want)
	}
}

// drain waits until the callbacks queued so far have run.
func (b *bareClient) drain(t *testing.T) {
	t.Helper()
	ran := make(chan struct{})
	b.cbs.schedule(callback{fn: func() { close(ran) }})
	<-ran
}

// TestOneExpiryTimerPerRequest: the resources a request names for the
// first time share one expiry timer, stopped once none of them waits any
// longer (all arrived, or the stream ended); those that have not arrived
// when it fires, and only those, do not exist.
func TestOneExpiryTimerPerRequest(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	clk := b.clk.(*clock.Fake)
	h := &heldNames{first: make(chan struct{}), hold: make(chan struct{})}
	close(h.hold)
	s, err := b.WatchNames(ClusterTypeURL, h)
	if err != nil {
		t.Fatal(err)
	}
	add := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if err := s.Add(n); err != nil {
				t.Fatal(err)
			}
		}
		b.flush(true)
	}
	send := func(nonce string, names ...string) {
		t.Helper()
		var res []*discoveryv3.Resource
		for _, n := range names {
			a, err := anypb.New(&clusterv3.Cluster{Name: n})
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, &discoveryv3.Resource{Name: n, Version: "1", Resource: a})
		}
		b.wait(t, b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: nonce, Resources: res}))
		b.flush(true)
	}
	pending := func(want int) {
		t.Helper()
		if n := clk.Pending(); n != want {
			t.Fatalf("%d timers pending, want %d", n, want)
		}
	}
	add("a", "b")
	pending(1)
	add("c")
	pending(2)
	send("n1", "a", "c")
	pending(1) // b's request's, which b waits for
	clk.Advance(b.expiry)
	pending(0)
	b.drain(t)
	h.mu.Lock()
	heard := slices.Clone(h.heard)
	h.mu.Unlock()
	if want := []string{"changed a", "changed c", "error b"}; !slices.Equal(heard, want) {
		t.Fatalf("heard %q, want %q", heard, want)
	}

	add("d", "e")
	pending(1)
	b.streamEnded(b.st, errors.New("gone"), true)
	pending(0)
}
