package xdsclient_test

// Delta-specific tests: a scripted Delta server for the wire, and
// go-control-plane's server for removal, reconnection and the fallback to
// State of the World.

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// scriptedDelta is an ADS server that serves Delta only and hands each
// stream to the test.
type scriptedDelta struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	t       *testing.T
	addr    string
	streams chan *deltaStream
}

type deltaStream struct {
	t   *testing.T
	s   discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	end chan error
}

func startScriptedDelta(t *testing.T) *scriptedDelta {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &scriptedDelta{t: t, addr: lis.Addr().String(), streams: make(chan *deltaStream, 10)}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, ss)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return ss
}

func (ss *scriptedDelta) DeltaAggregatedResources(s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	st := &deltaStream{t: ss.t, s: s, end: make(chan error, 1)}
	ss.streams <- st
	select {
	case err := <-st.end:
		return err
	case <-s.Context().Done():
		return s.Context().Err()
	}
}

func (st *deltaStream) recv() *discoveryv3.DeltaDiscoveryRequest {
	st.t.Helper()
	type result struct {
		r   *discoveryv3.DeltaDiscoveryRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := st.s.Recv()
		ch <- result{r, err}
	}()
	res := take(st.t, ch)
	if res.err != nil {
		st.t.Fatalf("recv: %v", res.err)
	}
	return res.r
}

func (st *deltaStream) send(resp *discoveryv3.DeltaDiscoveryResponse) {
	st.t.Helper()
	if err := st.s.Send(resp); err != nil {
		st.t.Fatalf("send: %v", err)
	}
}

// subscription applies the requests read until ok holds for the
// subscription they add up to, and returns them.
func (st *deltaStream) subscription(sub map[string]bool, ok func(map[string]bool) bool) []*discoveryv3.DeltaDiscoveryRequest {
	st.t.Helper()
	var reqs []*discoveryv3.DeltaDiscoveryRequest
	for !ok(sub) {
		r := st.recv()
		reqs = append(reqs, r)
		for _, n := range r.GetResourceNamesSubscribe() {
			sub[n] = true
		}
		for _, n := range r.GetResourceNamesUnsubscribe() {
			delete(sub, n)
		}
	}
	return reqs
}

func has(names ...string) func(map[string]bool) bool {
	return func(sub map[string]bool) bool {
		return slices.Equal(slices.Sorted(maps.Keys(sub)), names)
	}
}

// TestDeltaWire: subscriptions follow the watches; the node goes on the
// stream's first request only; an ACK or NACK carries the nonce and no
// subscription change; the NACK's error_detail names each rejected resource
// (invalid, misnamed, empty, sent twice, unnameable) and not the valid one,
// which is applied; a removed resource not received yet does not exist.
func TestDeltaWire(t *testing.T) {
	ss := startScriptedDelta(t)
	c := scriptedClient(t, &scripted{t: t, addr: ss.addr}, nil)
	names := []string{"a", "b", "c", "d", "e"}
	recs := map[string]*recorder{}
	cancels := map[string]func(){}
	for _, n := range names {
		recs[n] = newRecorder(t)
		cancels[n] = watch(t, c, xdsclient.EndpointTypeURL, n, recs[n])
	}
	st := take(t, ss.streams)
	for i, r := range st.subscription(map[string]bool{}, has(names...)) {
		if (i == 0) != (r.GetNode() != nil) || r.GetTypeUrl() != xdsclient.EndpointTypeURL || r.GetResponseNonce() != "" || len(r.GetInitialResourceVersions()) != 0 {
			t.Fatalf("request %d: %v", i, r)
		}
	}
	if c.Protocol() != xdsclient.ProtocolDelta {
		t.Fatalf("protocol %s", c.Protocol())
	}
	res := func(name, version string, port, weight uint32) *discoveryv3.Resource {
		return &discoveryv3.Resource{Name: name, Version: version, Resource: mustAny(t, endpoints(name, 1, port, weight))}
	}
	misnamed := res("c", "vc1", 80, 1)
	misnamed.Resource = mustAny(t, endpoints("x", 1, 80, 1))
	st.send(&discoveryv3.DeltaDiscoveryResponse{
		TypeUrl: xdsclient.EndpointTypeURL, SystemVersionInfo: "s1", Nonce: "n1",
		Resources: []*discoveryv3.Resource{
			res("a", "va1", 80, 1),
			res("b", "vb1", 80, 0), // weight 0
			misnamed,
			{Name: "d", Version: "vd1"}, // no resource
			res("a", "va1", 80, 1),      // a again
			{Version: "v?"},             // neither name nor resource
		},
		RemovedResources: []string{"e", "never-asked"},
	})
	nack := st.recv()
	if nack.GetResponseNonce() != "n1" || nack.GetErrorDetail().GetCode() != int32(codes.InvalidArgument) ||
		len(nack.GetResourceNamesSubscribe())+len(nack.GetResourceNamesUnsubscribe()) != 0 || nack.GetNode() != nil {
		t.Fatalf("NACK %v", nack)
	}
	detail := nack.GetErrorDetail().GetMessage()
	for _, want := range []string{
		`version "s1"`,
		`ClusterLoadAssignment "b": `, "LoadBalancingWeight",
		`ClusterLoadAssignment "c": the Resource is named "c" but carries a ClusterLoadAssignment named "x"`,
		`ClusterLoadAssignment "d": the Resource carries no resource`,
		`ClusterLoadAssignment "a": sent more than once`,
		"resource [5]: the Resource carries no resource",
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("NACK detail lacks %q:\n%s", want, detail)
		}
	}
	for _, n := range []string{"b", "c", "d", "a"} {
		recs[n].nextKind("error")
	}
	if e := recs["e"].nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) || !strings.Contains(e.err.Error(), "removed") {
		t.Fatalf("e: %v", e.err)
	}

	// Fixed: ACKed by nonce alone; the versions are the resources' own.
	st.send(&discoveryv3.DeltaDiscoveryResponse{
		TypeUrl: xdsclient.EndpointTypeURL, SystemVersionInfo: "s2", Nonce: "n2",
		Resources: []*discoveryv3.Resource{res("a", "va2", 81, 1), res("b", "vb2", 81, 1)},
	})
	ack := st.recv()
	if ack.GetResponseNonce() != "n2" || ack.GetErrorDetail() != nil || len(ack.GetResourceNamesSubscribe())+len(ack.GetResourceNamesUnsubscribe()) != 0 {
		t.Fatalf("ACK %v", ack)
	}
	if p := port(t, recs["a"].nextKind("changed").data); p != 81 {
		t.Fatalf("a: port %d", p)
	}
	recs["b"].nextKind("changed")
	if s := dumpOf(c, xdsclient.EndpointTypeURL, "b"); s.Status != xdsclient.StatusACKed || s.Version != "vb2" {
		t.Fatalf("b: %s version %q", s.Status, s.Version)
	}

	// The last watcher of a resource leaving unsubscribes it, without a
	// nonce; a new watch subscribes.
	cancels["a"]()
	if r := st.recv(); !slices.Equal(r.GetResourceNamesUnsubscribe(), []string{"a"}) || len(r.GetResourceNamesSubscribe()) != 0 || r.GetResponseNonce() != "" {
		t.Fatalf("unsubscription %v", r)
	}
	watch(t, c, xdsclient.EndpointTypeURL, "f", newRecorder(t))
	if r := st.recv(); !slices.Equal(r.GetResourceNamesSubscribe(), []string{"f"}) || len(r.GetResourceNamesUnsubscribe()) != 0 || r.GetResponseNonce() != "" {
		t.Fatalf("subscription %v", r)
	}
}

// TestDeltaRemoval: in Delta a removal is explicit, for every type: a
// ClusterLoadAssignment removed by the server no longer exists (in SotW its
// absence means nothing, see TestSotWDeletion), nor does a Cluster; what
// the server keeps is not touched.
func TestDeltaRemoval(t *testing.T) {
	cp := startControlPlane(t)
	cp.set("1", mesh(9080))
	c := newClient(t, cp, nil)
	kept, gone, eds := newRecorder(t), newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "reviews-v1", kept)
	watch(t, c, xdsclient.ClusterTypeURL, "reviews-v2", gone)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", eds)
	kept.nextKind("changed")
	gone.nextKind("changed")
	eds.nextKind("changed")

	res := mesh(9080)
	res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1]
	res[resourcev3.EndpointType] = res[resourcev3.EndpointType][:1]
	cp.set("2", res)
	for _, r := range []*recorder{gone, eds} {
		if e := r.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) || !strings.Contains(e.err.Error(), "removed") {
			t.Fatalf("error %v", e.err)
		}
	}
	drain(t, c, xdsclient.ClusterTypeURL, "reviews-v1")
	kept.quiet()
	if s := dumpOf(c, xdsclient.EndpointTypeURL, "reviews-v2"); s.Status != xdsclient.StatusDoesNotExist || s.Resource != nil {
		t.Fatalf("removed assignment: %s, cached %v", s.Status, s.Resource)
	}
	// Back again.
	cp.set("3", mesh(9081))
	if p := port(t, eds.nextKind("changed").data); p != 9081 {
		t.Fatalf("port %d", p)
	}
	gone.nextKind("changed")
}

// TestDeltaReconnect: on a new stream the client subscribes to everything
// again, on the first request with the node and the version it holds of
// each resource (initial_resource_versions, for wildcard types too), so the
// server sends only what changed meanwhile: the watchers hear nothing of
// the rest.
func TestDeltaReconnect(t *testing.T) {
	cp := startControlPlane(t)
	cp.set("1", mesh(9080))
	c := newClient(t, cp, nil)
	w1, w2, cw := newRecorder(t), newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w1)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", w2)
	if _, err := c.WatchWildcard(xdsclient.ClusterTypeURL, cw); err != nil {
		t.Fatal(err)
	}
	w1.nextKind("changed")
	w2.nextKind("changed")
	cw.nextKind("set")
	cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
		return isACK(xdsclient.EndpointTypeURL, "1")(r) && len(r.GetResourceNames()) == 2
	})
	held := map[string]string{}
	for _, s := range c.Dump() {
		held[s.TypeURL+" "+s.Name] = s.Version
	}

	cp.stop()
	before := len(cp.requests())
	// Meanwhile reviews-v2's endpoints change.
	res := mesh(9080)
	res[resourcev3.EndpointType][1] = endpoints("reviews-v2", 3, 9090, 1)
	cp.set("2", res)
	cp.restart()
	if p := port(t, w2.skipUntil("changed", "ambient").data); p != 9090 {
		t.Fatalf("reviews-v2: port %d", p)
	}
	reqs := cp.requests()[before:]
	var eds, cds *discoveryv3.DeltaDiscoveryRequest
	for i, r := range reqs {
		d := cp.deltaOf(r)
		if d == nil {
			t.Fatalf("request %d of the new stream is not Delta", i)
		}
		if (i == 0) != (d.GetNode() != nil) {
			t.Fatalf("request %d: node %v", i, d.GetNode())
		}
		switch {
		case eds == nil && d.GetTypeUrl() == xdsclient.EndpointTypeURL:
			eds = d
		case cds == nil && d.GetTypeUrl() == xdsclient.ClusterTypeURL:
			cds = d
		}
	}
	if eds == nil || cds == nil {
		t.Fatalf("no resubscription among %d requests", len(reqs))
	}
	if got := eds.GetResourceNamesSubscribe(); !slices.Equal(got, []string{"reviews-v1", "reviews-v2"}) || eds.GetResponseNonce() != "" {
		t.Fatalf("EDS resubscription %v nonce %q", got, eds.GetResponseNonce())
	}
	if got := cds.GetResourceNamesSubscribe(); !slices.Equal(got, []string{"*"}) {
		t.Fatalf("CDS resubscription %v", got)
	}
	for _, d := range []*discoveryv3.DeltaDiscoveryRequest{eds, cds} {
		want := map[string]string{}
		for key, v := range held {
			if name, ok := strings.CutPrefix(key, d.GetTypeUrl()+" "); ok {
				want[name] = v
			}
		}
		if len(want) != 2 || !maps.Equal(d.GetInitialResourceVersions(), want) {
			t.Fatalf("%s initial_resource_versions %v, want %v", d.GetTypeUrl(), d.GetInitialResourceVersions(), want)
		}
	}
	// What did not change was not sent again, and nobody heard of it.
	cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "2"))
	drain(t, c, xdsclient.EndpointTypeURL, "reviews-v2")
	for _, r := range []*recorder{w1, cw} {
		for len(r.ch) > 0 {
			if e := <-r.ch; e.kind != "ambient" {
				t.Fatalf("after reconnection: %s (%v)", e.kind, e.err)
			}
		}
	}
}

// TestDeltaRewatch: a resource unwatched and watched again at once (before
// or after the unsubscription went out) arrives again: the client
// resubscribes even if the server never heard it was unsubscribed.
func TestDeltaRewatch(t *testing.T) {
	cp := startControlPlane(t)
	cp.set("1", mesh(9080))
	c := newClient(t, cp, nil)
	keep := newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", keep) // keeps the type subscribed
	keep.nextKind("changed")
	for range 20 {
		w := newRecorder(t)
		cancel := watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
		w.nextKind("changed")
		cancel()
	}
}

// sotwOnly serves go-control-plane's State of the World and refuses Delta,
// as a control plane that does not implement it.
type sotwOnly struct {
	serverv3.Server
}

func (sotwOnly) DeltaAggregatedResources(discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return status.Error(codes.Unimplemented, "method DeltaAggregatedResources not implemented")
}

// TestDeltaFallback: a server that answers the Delta stream with
// Unimplemented is spoken to in State of the World, at once and for the
// client's life (a reconnection does not try Delta again); the watchers
// hear no error of it, and Protocol says so.
func TestDeltaFallback(t *testing.T) {
	cp := startControlPlane(t)
	cp.set("1", mesh(9080))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deltaCalls := make(chan struct{}, 10)
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if strings.HasSuffix(info.FullMethod, "/DeltaAggregatedResources") {
			deltaCalls <- struct{}{}
		}
		return cp.record(srv, ss, info, handler)
	}))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, sotwOnly{serverv3.NewServer(context.Background(), cp.cache, nil)})
	go srv.Serve(lis)
	defer srv.Stop()

	c := newClient(t, &controlPlane{addr: lis.Addr().String()}, nil)
	w := newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
	w.nextKind("changed")
	if c.Protocol() != xdsclient.ProtocolSotW {
		t.Fatalf("protocol %s", c.Protocol())
	}
	cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "1"))
	if n := len(deltaCalls); n != 1 {
		t.Fatalf("%d Delta streams", n)
	}
	// A new stream (the server's maximum connection age, say) is SotW.
	srv.Stop()
	lis, err = net.Listen("tcp", lis.Addr().String())
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	srv2 := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if strings.HasSuffix(info.FullMethod, "/DeltaAggregatedResources") {
			deltaCalls <- struct{}{}
		}
		return cp.record(srv, ss, info, handler)
	}))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv2, sotwOnly{serverv3.NewServer(context.Background(), cp.cache, nil)})
	go srv2.Serve(lis)
	defer srv2.Stop()
	cp.set("2", mesh(9081))
	if p := port(t, w.skipUntil("changed", "ambient").data); p != 9081 {
		t.Fatalf("port %d", p)
	}
	if n := len(deltaCalls); n != 1 {
		t.Fatalf("%d Delta streams after reconnection", n)
	}
	for len(w.ch) > 0 {
		if e := <-w.ch; e.kind == "error" {
			t.Fatalf("watcher: %v", e.err)
		}
	}
}

// TestDeltaUnchangedNotDecodedAgain: a resource sent again unchanged (as
// istiod does on every new stream, whatever initial_resource_versions
// says) is neither decoded again nor delivered again.
func TestDeltaUnchangedNotDecodedAgain(t *testing.T) {
	ss := startScriptedDelta(t)
	var dec countingDecoder
	dec.inner = xdsclient.DefaultResourceTypes()[2].Decoder // Cluster
	c := scriptedClient(t, &scripted{t: t, addr: ss.addr}, func(cfg *xdsclient.Config) {
		cfg.ResourceTypes = []xdsclient.ResourceType{{TypeURL: xdsclient.ClusterTypeURL, TypeName: "Cluster", Decoder: &dec, AllResourcesRequiredInSotW: true}}
	})
	w := newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "a", w)
	st := take(t, ss.streams)
	st.subscription(map[string]bool{}, has("a"))
	send := func(nonce, version string) {
		t.Helper()
		st.send(&discoveryv3.DeltaDiscoveryResponse{
			TypeUrl: xdsclient.ClusterTypeURL, Nonce: nonce,
			Resources: []*discoveryv3.Resource{{Name: "a", Version: version, Resource: mustAny(t, cluster("a"))}},
		})
		if ack := st.recv(); ack.GetResponseNonce() != nonce || ack.GetErrorDetail() != nil {
			t.Fatalf("ACK %v", ack)
		}
	}
	send("n1", "v1")
	w.nextKind("changed")
	st.end <- status.Error(codes.Unavailable, "max connection age")
	st = take(t, ss.streams)
	if r := st.recv(); r.GetInitialResourceVersions()["a"] != "v1" {
		t.Fatalf("resubscription %v", r)
	}
	send("m1", "v1")
	if got := dec.n.Load(); got != 1 {
		t.Fatalf("%d decodes, want 1", got)
	}
	drainAll(t, c, w, xdsclient.ClusterTypeURL, "a")
	if s := dumpOf(c, xdsclient.ClusterTypeURL, "a"); s.Status != xdsclient.StatusACKed || s.Version != "v1" {
		t.Fatalf("a: %s version %q", s.Status, s.Version)
	}
}

// TestWatchWildcardName: a watch of the resource named "*" (the wildcard
// subscription's name, which a route may still name) subscribes to
// nothing (its state is not among the type's resources, from which the
// requests of both protocols are built), and its watcher hears at once
// that the resource does not exist; the other watches are unaffected.
func TestWatchWildcardName(t *testing.T) {
	ss := startScriptedDelta(t)
	c := scriptedClient(t, &scripted{t: t, addr: ss.addr}, nil)
	star := newRecorder(t)
	cancel := watch(t, c, xdsclient.ClusterTypeURL, "*", star)
	watch(t, c, xdsclient.ClusterTypeURL, "a", newRecorder(t))
	st := take(t, ss.streams)
	for _, r := range st.subscription(map[string]bool{}, func(sub map[string]bool) bool { return sub["a"] || sub["*"] }) {
		if slices.Contains(r.GetResourceNamesSubscribe(), "*") {
			t.Fatalf("the watch of %q subscribed to every Cluster: %v", "*", r)
		}
	}
	if e := star.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
		t.Fatalf("error %v", e.err)
	}
	cancel()
	cancel()
	for _, s := range c.Dump() {
		if s.Name == "*" {
			t.Fatalf("dump: %+v", s)
		}
	}
}
