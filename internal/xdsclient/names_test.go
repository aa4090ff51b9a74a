package xdsclient_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// namesRecorder is a NamesWatcher that logs its calls, each with its name.
type namesRecorder struct {
	t  testing.TB
	ch chan namedEvent
}

type namedEvent struct {
	name string
	event
}

func newNamesRecorder(t testing.TB) *namesRecorder {
	return &namesRecorder{t: t, ch: make(chan namedEvent, 1000)}
}

func (r *namesRecorder) ResourceChanged(name string, d xdsclient.ResourceData, done func()) {
	r.ch <- namedEvent{name, event{kind: "changed", data: d}}
	done()
}

func (r *namesRecorder) ResourceError(name string, err error, done func()) {
	r.ch <- namedEvent{name, event{kind: "error", err: err}}
	done()
}

func (r *namesRecorder) AmbientError(name string, err error, done func()) {
	r.ch <- namedEvent{name, event{kind: "ambient", err: err}}
	done()
}

// next returns the next event, which must be of kind about name.
func (r *namesRecorder) next(name, kind string) namedEvent {
	r.t.Helper()
	e := take(r.t, r.ch)
	if e.name != name || e.kind != kind {
		r.t.Fatalf("event %s of %q (%v), want %s of %q", e.kind, e.name, e.err, kind, name)
	}
	return e
}

// none checks that nothing was heard.
func (r *namesRecorder) none() {
	r.t.Helper()
	select {
	case e := <-r.ch:
		r.t.Fatalf("event %s of %q (%v)", e.kind, e.name, e.err)
	default:
	}
}

// TestNamesWatch: a NamesWatch subscribes to the names added to it and
// unsubscribes those removed, as one Watch per name would (over Delta
// here; the requests of both protocols are built from the same flags), and
// its watcher hears of each resource by name: changes, NACKs (a resource
// error without a good version, an ambient one with), removals, what is
// cached when a name is added, and at once that "*" does not exist (it
// subscribes to nothing). A type has one; Add refuses an empty name, and a
// cancelled watch; Cancel unsubscribes every name.
func TestNamesWatch(t *testing.T) {
	ss := startScriptedDelta(t)
	c := scriptedClient(t, &scripted{t: t, addr: ss.addr}, nil)
	r := newNamesRecorder(t)
	s, err := c.WatchNames(xdsclient.EndpointTypeURL, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WatchNames(xdsclient.EndpointTypeURL, r); err == nil || !strings.Contains(err.Error(), "has one already") {
		t.Fatalf("a second names watch of the type: %v", err)
	}
	if err := s.Add(""); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Fatalf("Add(\"\"): %v", err)
	}
	for _, n := range []string{"a", "b", "a", "*"} {
		if err := s.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Names(); !slices.Equal(got, []string{"*", "a", "b"}) || !s.Has("a") || !s.Has("*") || s.Has("c") {
		t.Fatalf("names %q", got)
	}
	if e := r.next("*", "error"); !errors.Is(e.err, xdsclient.ErrResourceNotFound) {
		t.Fatalf("*: %v", e.err)
	}
	st := take(t, ss.streams)
	for _, req := range st.subscription(map[string]bool{}, has("a", "b")) {
		if slices.Contains(req.GetResourceNamesSubscribe(), "*") {
			t.Fatalf("subscribed to every ClusterLoadAssignment: %v", req)
		}
	}
	res := func(name, version string, port, weight uint32) *discoveryv3.Resource {
		return &discoveryv3.Resource{Name: name, Version: version, Resource: mustAny(t, endpoints(name, 1, port, weight))}
	}
	send := func(nonce string, nack bool, removed []string, rs ...*discoveryv3.Resource) {
		t.Helper()
		st.send(&discoveryv3.DeltaDiscoveryResponse{TypeUrl: xdsclient.EndpointTypeURL, Nonce: nonce, Resources: rs, RemovedResources: removed})
		if a := st.recv(); a.GetResponseNonce() != nonce || (a.GetErrorDetail() != nil) != nack {
			t.Fatalf("answer %v", a)
		}
	}
	send("n1", true, nil, res("a", "1", 80, 1), res("b", "1", 80, 0))
	if p := port(t, r.next("a", "changed").data); p != 80 {
		t.Fatalf("a: port %d", p)
	}
	var invalid *xdsclient.InvalidResourceError
	if e := r.next("b", "error"); !errors.As(e.err, &invalid) || invalid.Name != "b" {
		t.Fatalf("b: %v", e.err)
	}
	send("n2", true, nil, res("a", "2", 81, 0))
	if e := r.next("a", "ambient"); !errors.Is(e.err, xdsclient.ErrInvalidResource) {
		t.Fatalf("a: %v", e.err)
	}

	// Removed, b is unsubscribed and no longer heard of; added again, it is
	// subscribed again.
	s.Remove("b")
	s.Remove("never-added")
	if s.Has("b") {
		t.Fatal("b is still in the set")
	}
	if req := st.recv(); !slices.Equal(req.GetResourceNamesUnsubscribe(), []string{"b"}) || len(req.GetResourceNamesSubscribe()) > 0 {
		t.Fatalf("unsubscription %v", req)
	}
	send("n3", false, nil, res("b", "2", 82, 1))
	if err := s.Add("b"); err != nil {
		t.Fatal(err)
	}
	if req := st.recv(); !slices.Equal(req.GetResourceNamesSubscribe(), []string{"b"}) {
		t.Fatalf("subscription %v", req)
	}
	send("n4", false, nil, res("b", "3", 83, 1))
	if p := port(t, r.next("b", "changed").data); p != 83 {
		t.Fatalf("b: port %d", p)
	}

	// What a Watch has cached is delivered when the name is added.
	w := newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "c", w)
	st.subscription(map[string]bool{}, has("c"))
	send("n5", false, nil, res("c", "1", 84, 1))
	w.nextKind("changed")
	if err := s.Add("c"); err != nil {
		t.Fatal(err)
	}
	if p := port(t, r.next("c", "changed").data); p != 84 {
		t.Fatalf("c: port %d", p)
	}
	// A removal by the server.
	send("n6", false, []string{"a"})
	if e := r.next("a", "error"); !errors.Is(e.err, xdsclient.ErrResourceNotFound) || !strings.Contains(e.err.Error(), "removed") {
		t.Fatalf("a: %v", e.err)
	}
	r.none()

	// Cancelled, the watch unsubscribes its names but c, which the Watch
	// keeps, and its watcher hears nothing more.
	s.Cancel()
	s.Cancel()
	if got := s.Names(); len(got) != 0 {
		t.Fatalf("names after Cancel %q", got)
	}
	if req := st.recv(); !slices.Equal(req.GetResourceNamesUnsubscribe(), []string{"a", "b"}) {
		t.Fatalf("unsubscription %v", req)
	}
	if err := s.Add("d"); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Add after Cancel: %v", err)
	}
	send("n7", false, nil, res("c", "2", 85, 1))
	w.nextKind("changed")
	r.none()
	if _, err := c.WatchNames(xdsclient.EndpointTypeURL, newNamesRecorder(t)); err != nil {
		t.Fatalf("a names watch after Cancel: %v", err)
	}
}
