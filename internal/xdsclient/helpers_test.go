package xdsclient_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// eventually bounds the waits for something that must happen: generous, so
// that only a hang fails a test, never a slow machine.
const eventually = 30 * time.Second

const nodeID = "sidecar~10.0.0.1~client.default~default.svc.cluster.local"

// controlPlane is go-control-plane's ADS server with its snapshot cache, on
// loopback TCP, serving both State of the World and Delta. It records every
// request as the client sent it. A Delta request is recorded as a SotW view
// (see recordingStream), so that tests can assert on both protocols alike;
// delta returns the request itself.
type controlPlane struct {
	t     testing.TB
	cache cachev3.SnapshotCache
	addr  string

	mu    sync.Mutex
	srv   *grpc.Server
	reqs  []*discoveryv3.DiscoveryRequest
	delta map[*discoveryv3.DiscoveryRequest]*discoveryv3.DeltaDiscoveryRequest
	seen  chan struct{} // signalled on each request
}

// startControlPlane serves on a free loopback port.
func startControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, cache: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil), seen: make(chan struct{}, 1)}
	cp.start("127.0.0.1:0")
	t.Cleanup(cp.stop)
	return cp
}

// start serves on addr (the previous port when restarting).
func (cp *controlPlane) start(addr string) {
	cp.t.Helper()
	var lis net.Listener
	var err error
	// The port of a server just stopped may linger briefly; retry.
	for deadline := time.Now().Add(eventually); ; {
		lis, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		cp.t.Fatalf("listen %s: %v", addr, err)
	}
	srv := grpc.NewServer(grpc.StreamInterceptor(cp.record))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), cp.cache, nil))
	cp.mu.Lock()
	cp.srv = srv
	cp.addr = lis.Addr().String()
	cp.mu.Unlock()
	go srv.Serve(lis)
}

// stop ends the server and its streams.
func (cp *controlPlane) stop() {
	cp.mu.Lock()
	srv := cp.srv
	cp.srv = nil
	cp.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (cp *controlPlane) restart() { cp.start(cp.addr) }

// record keeps a copy of each request before the server fills in the node.
func (cp *controlPlane) record(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &recordingStream{
		ServerStream: ss, cp: cp,
		versions: map[string]string{}, acked: map[string]string{}, subs: map[string]map[string]bool{},
	})
}

// recordingStream records the requests of one stream. For Delta it keeps
// what a SotW view of each request needs: the system version of each
// response sent (by nonce), the last version ACKed and the subscription
// (by type).
type recordingStream struct {
	grpc.ServerStream
	cp       *controlPlane
	versions map[string]string
	acked    map[string]string
	subs     map[string]map[string]bool
}

func (s *recordingStream) SendMsg(m any) error {
	if resp, ok := m.(*discoveryv3.DeltaDiscoveryResponse); ok {
		s.cp.mu.Lock()
		s.versions[resp.GetNonce()] = resp.GetSystemVersionInfo()
		s.cp.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}

func (s *recordingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err != nil {
		return err
	}
	s.cp.mu.Lock()
	switch req := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		s.cp.reqs = append(s.cp.reqs, proto.Clone(req).(*discoveryv3.DiscoveryRequest))
	case *discoveryv3.DeltaDiscoveryRequest:
		view := s.sotwView(req)
		s.cp.reqs = append(s.cp.reqs, view)
		if s.cp.delta == nil {
			s.cp.delta = map[*discoveryv3.DiscoveryRequest]*discoveryv3.DeltaDiscoveryRequest{}
		}
		s.cp.delta[view] = proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest)
	}
	s.cp.mu.Unlock()
	select {
	case s.cp.seen <- struct{}{}:
	default:
	}
	return err
}

// sotwView is the SotW request equivalent to a Delta one: ResourceNames is
// the subscription after it (sorted, "*" included), VersionInfo that of the
// response it ACKs or, for a NACK, of the last one ACKed.
func (s *recordingStream) sotwView(req *discoveryv3.DeltaDiscoveryRequest) *discoveryv3.DiscoveryRequest {
	url := req.GetTypeUrl()
	sub := s.subs[url]
	if sub == nil {
		sub = map[string]bool{}
		s.subs[url] = sub
	}
	for _, n := range req.GetResourceNamesSubscribe() {
		sub[n] = true
	}
	for _, n := range req.GetResourceNamesUnsubscribe() {
		delete(sub, n)
	}
	if req.GetResponseNonce() != "" && req.GetErrorDetail() == nil {
		s.acked[url] = s.versions[req.GetResponseNonce()]
	}
	view := &discoveryv3.DiscoveryRequest{
		TypeUrl:       url,
		ResponseNonce: req.GetResponseNonce(), VersionInfo: s.acked[url],
		ErrorDetail: req.GetErrorDetail(), ResourceNames: slices.Sorted(maps.Keys(sub)),
	}
	if req.GetNode() != nil {
		view.Node = proto.Clone(req.GetNode()).(*corev3.Node)
	}
	return view
}

// deltaOf returns the Delta request r is the view of, or nil.
func (cp *controlPlane) deltaOf(r *discoveryv3.DiscoveryRequest) *discoveryv3.DeltaDiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.delta[r]
}

// requests returns a copy of the requests received so far.
func (cp *controlPlane) requests() []*discoveryv3.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]*discoveryv3.DiscoveryRequest(nil), cp.reqs...)
}

// waitRequest waits for a request (received from now on or before) that
// satisfies ok, and returns it.
func (cp *controlPlane) waitRequest(ok func(*discoveryv3.DiscoveryRequest) bool) *discoveryv3.DiscoveryRequest {
	cp.t.Helper()
	timeout := time.After(eventually)
	for {
		for _, r := range cp.requests() {
			if ok(r) {
				return r
			}
		}
		select {
		case <-cp.seen:
		case <-timeout:
			cp.t.Fatalf("no such request among %d", len(cp.requests()))
		}
	}
}

// set installs a snapshot for the test node.
func (cp *controlPlane) set(version string, res map[resourcev3.Type][]types.Resource) {
	cp.t.Helper()
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		cp.t.Fatal(err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), nodeID, snap); err != nil {
		cp.t.Fatal(err)
	}
}

// Resources of a small mesh: listener → route → cluster → endpoints.

func listener(name, route string) *listenerv3.Listener {
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: route,
			ConfigSource:    &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
		}},
	})
	if err != nil {
		panic(err)
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: hcm}}
}

func routeConfig(name string, clusters ...string) *routev3.RouteConfiguration {
	var wcs []*routev3.WeightedCluster_ClusterWeight
	for _, c := range clusters {
		wcs = append(wcs, &routev3.WeightedCluster_ClusterWeight{Name: c, Weight: wrapperspb.UInt32(1)})
	}
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
		Name: "reviews", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{
				WeightedClusters: &routev3.WeightedCluster{Clusters: wcs},
			}}},
		}},
	}}}
}

func cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
		},
	}
}

// endpoints is a load assignment of n endpoints 10.0.0.1..n on port, each of
// the given weight (0 is invalid: Envoy's rules require ≥ 1).
func endpoints(name string, n int, port uint32, weight uint32) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for i := 1; i <= n; i++ {
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: fmt.Sprintf("10.0.0.%d", i), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
				}}},
			}},
			LoadBalancingWeight: wrapperspb.UInt32(weight),
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		Locality:    &corev3.Locality{Region: "eu", Zone: "eu-1a"},
		LbEndpoints: lbs,
	}}}
}

// mesh is the snapshot of one listener, route, two clusters and their
// endpoints; port tells versions apart.
func mesh(port uint32) map[resourcev3.Type][]types.Resource {
	return map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {listener("reviews:9080", "route-reviews")},
		resourcev3.RouteType:    {routeConfig("route-reviews", "reviews-v1", "reviews-v2")},
		resourcev3.ClusterType:  {cluster("reviews-v1"), cluster("reviews-v2")},
		resourcev3.EndpointType: {endpoints("reviews-v1", 2, port, 1), endpoints("reviews-v2", 3, port, 1)},
	}
}

// newClient connects a client to cp with fast, deterministic reconnection.
func newClient(t testing.TB, cp *controlPlane, mod func(*xdsclient.Config)) *xdsclient.Client {
	t.Helper()
	meta, err := structpb.NewStruct(map[string]any{"NAMESPACE": "default", "GENERATOR": "grpc"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := xdsclient.Config{
		Server: xdsclient.ServerConfig{URI: cp.addr, DialOptions: fastDial()},
		Node: &corev3.Node{
			Id: nodeID, Cluster: "client",
			Locality: &corev3.Locality{Region: "eu", Zone: "eu-1a", SubZone: "rack-7"},
			Metadata: meta,
		},
		ResourceTypes: xdsclient.DefaultResourceTypes(),
		Backoff:       func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) },
	}
	if sotw(t) {
		cfg.StateOfTheWorld = true
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := xdsclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// protocols runs test once per protocol, as subtests "Delta" and "SotW";
// newClient forces State of the World in the latter.
func protocols(t *testing.T, test func(t *testing.T)) {
	for _, p := range []string{"Delta", "SotW"} {
		t.Run(p, test)
	}
}

// sotw reports whether t runs under protocols' SotW subtest.
func sotw(t testing.TB) bool { return strings.Contains(t.Name(), "/SotW") }

// delta reports whether t runs under protocols' Delta subtest (newClient
// then lets the client choose: go-control-plane serves Delta).
func delta(t testing.TB) bool { return strings.Contains(t.Name(), "/Delta") }

// fastDial makes gRPC's own reconnection quick, so that a restarted server
// is found again promptly.
func fastDial() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1, MaxDelay: 5 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
	}
}

// event is one watcher call.
type event struct {
	kind    string // changed, error, ambient, set
	at      time.Time
	data    xdsclient.ResourceData
	err     error
	changed map[string]xdsclient.ResourceData
	removed []string
}

// recorder is a watcher that logs its calls on a channel, calling done at
// once unless hold is set.
type recorder struct {
	t    testing.TB
	ch   chan event
	hold chan func() // if not nil, done funcs go here instead of being called
}

func newRecorder(t testing.TB) *recorder { return &recorder{t: t, ch: make(chan event, 1000)} }

func (r *recorder) finish(done func()) {
	if r.hold != nil {
		r.hold <- done
		return
	}
	done()
}

func (r *recorder) ResourceChanged(d xdsclient.ResourceData, done func()) {
	r.ch <- event{kind: "changed", data: d, at: time.Now()}
	r.finish(done)
}

func (r *recorder) ResourceError(err error, done func()) {
	r.ch <- event{kind: "error", err: err}
	r.finish(done)
}

func (r *recorder) AmbientError(err error, done func()) {
	r.ch <- event{kind: "ambient", err: err}
	r.finish(done)
}

func (r *recorder) ResourcesChanged(changed map[string]xdsclient.ResourceData, removed []string, done func()) {
	r.ch <- event{kind: "set", changed: changed, removed: removed}
	r.finish(done)
}

// next returns the next event.
func (r *recorder) next() event {
	r.t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(eventually):
		r.t.Fatal("no watcher event")
		return event{}
	}
}

// nextKind returns the next event, which must be of kind.
func (r *recorder) nextKind(kind string) event {
	r.t.Helper()
	e := r.next()
	if e.kind != kind {
		r.t.Fatalf("event %s (%v), want %s", e.kind, e.err, kind)
	}
	return e
}

// skipUntil discards events until one of kind, which it returns; every
// discarded event must be of a kind in allowed.
func (r *recorder) skipUntil(kind string, allowed ...string) event {
	r.t.Helper()
	for {
		e := r.next()
		if e.kind == kind {
			return e
		}
		ok := false
		for _, a := range allowed {
			ok = ok || e.kind == a
		}
		if !ok {
			r.t.Fatalf("event %s (%v) while waiting for %s", e.kind, e.err, kind)
		}
	}
}

// quiet asserts that no event is pending. It proves nothing about events
// still in flight; callers first synchronise on something later.
func (r *recorder) quiet() {
	r.t.Helper()
	select {
	case e := <-r.ch:
		r.t.Fatalf("unexpected event %s (%v)", e.kind, e.err)
	default:
	}
}

func msg[M proto.Message](t testing.TB, d xdsclient.ResourceData) M {
	t.Helper()
	pr, ok := d.(*xdsclient.ProtoResource[M])
	if !ok {
		t.Fatalf("resource is %T", d)
	}
	return pr.Message
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// fakeClock is a fake clock starting at a fixed instant.
func fakeClock() *clock.Fake { return clock.NewFake(time.Unix(1_800_000_000, 0)) }

// wait waits for ch to be closed or signalled.
func wait(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(eventually):
		t.Fatal("timed out")
	}
}

// take receives from ch.
func take[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(eventually):
		t.Fatal("timed out")
		panic("unreachable")
	}
}
