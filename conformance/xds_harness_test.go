package conformance

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	istioxds "istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	istiomodel "istio.io/istio/pkg/model"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// This file runs Istio's real control plane (istiod's discovery server,
// built from YAML by Istio's own test harness) on loopback TCP, and connects
// switchyard's ADS client to it as each of the two personas istiod knows.

// startIstiod runs Istio's control plane on the ServiceEntries,
// DestinationRules, VirtualServices and Sidecars of yaml, serving ADS on a
// loopback TCP port whose address it returns. It stops with the test.
//
// The documents are read by Istio's own parser (which validates them) and
// given what Kubernetes' configuration store gives them: the namespace
// default when they name none, the cluster's domain (so that a short host
// such as "reviews" in namespace default means
// reviews.default.svc.cluster.local, as in a cluster; FakeOptions.ConfigString
// leaves the domain empty and resolves it to "reviews.default"), and
// creation times in document order (the order in which Istio merges rules
// of one host), as if applied one by one.
func startIstiod(t testing.TB, yaml string) (addr string) {
	t.Helper()
	configs, others, err := crd.ParseInputs(yaml)
	if err != nil {
		t.Fatalf("Istio rejects the configuration: %v", err)
	}
	if len(others) > 0 {
		t.Fatalf("Istio does not know the kind %s (%s)", others[0].Kind, others[0].Name)
	}
	for i := range configs {
		c := &configs[i]
		if c.Namespace == "" {
			c.Namespace = clientNamespace
		}
		c.Domain = clusterDomain
		c.CreationTimestamp = appliedAt.Add(time.Duration(i) * time.Second)
	}
	s := istioxds.NewFakeDiscoveryServer(t, istioxds.FakeOptions{
		Configs:         configs,
		ListenerBuilder: func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
	})
	return s.Listener.Addr().String()
}

// clusterDomain is the Kubernetes cluster's DNS domain.
const clusterDomain = "cluster.local"

// appliedAt is when the first document was applied.
var appliedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// persona is a kind of xDS client istiod builds configuration for.
type persona struct {
	// name names the persona in golden files and test names.
	name string
	// generator is the node metadata GENERATOR: "grpc" makes istiod build
	// for proxyless gRPC; empty, for an Envoy sidecar.
	generator string
}

var (
	// proxyless subscribes by name, one listener per host:port it calls,
	// and gets proxyless gRPC's configuration.
	proxyless = persona{name: "proxyless", generator: "grpc"}
	// sidecar subscribes to every listener and cluster and gets an Envoy
	// sidecar's configuration.
	sidecar = persona{name: "sidecar"}

	personas = []persona{proxyless, sidecar}
)

// The client workload, as istiod sees it: a pod in namespace default, on a
// node in us-east1/us-east1-b, with no labels and no Service of its own.
const (
	clientNamespace = "default"
	clientPod       = "switchyard-client"
	clientIP        = "10.244.1.99"
	clientRegion    = "us-east1"
	clientZone      = "us-east1-b"
)

// node is the identity the persona presents: the ID a sidecar-injected pod
// presents ("sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local") and
// Istio's node metadata with the namespace, the cluster and the generator.
func (p persona) node() *corev3.Node {
	md := istiomodel.NodeMetadata{
		Namespace: clientNamespace,
		ClusterID: constants.DefaultClusterName,
		Generator: p.generator,
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", clientIP, clientPod, clientNamespace, clientNamespace),
		Metadata: md.ToStruct(),
		Locality: &corev3.Locality{Region: clientRegion, Zone: clientZone},
	}
}

// adsWalkTimeout bounds a walk: generous, so that only a hang fails it,
// never a slow machine (istiod answers on loopback in milliseconds).
const adsWalkTimeout = 60 * time.Second

// resourceExpiry is the client's watch expiry timeout. The client runs on a
// fake clock, advanced only to expire listeners the control plane has shown
// not to exist (see adsWalk.pending), so no timer fires by itself.
const resourceExpiry = 15 * time.Second

// adsWalk is switchyard's ADS client connected as one persona, following
// the references LDS → RDS → CDS → EDS as the resources name them.
type adsWalk struct {
	t      testing.TB
	p      persona
	client *xdsclient.Client
	clock  *clock.Fake
	kick   chan struct{} // capacity 1: some watcher or the tap heard something

	mu        sync.Mutex
	received  map[string]map[string]proto.Message // by type URL, then name; nil for endpoints
	gen       int                                 // counts the watchers' deliveries
	synced    map[string]bool                     // wildcard watches answered, by type URL
	watched   map[string]map[string]bool          // named watches, by type URL
	lastErr   error                               // the last error a watcher heard
	listeners []string                            // the named listener subscription, sorted; nil for a wildcard one
	tap       adsTap
}

// adsTap is what the walk sees of the ADS stream itself, about listeners:
// whether every request named the whole subscription, and which subscribed
// listeners some response left out.
type adsTap struct {
	otherRequest string          // a listener request that did not name the whole subscription
	absent       map[string]bool // subscribed listeners missing from some response
}

// connectPersona connects switchyard's ADS client to the control plane at
// addr as persona p, and subscribes: the proxyless persona to the listeners
// named (host:port, as gRPC names the target xds:///host:port), the sidecar
// persona to every listener and cluster. Routes, clusters (proxyless) and
// endpoints follow as the resources received reference them; sync waits
// for them all. The client is closed when the test ends.
//
// The connection is held back until every subscription is made, so that the
// stream's first request names them all.
func connectPersona(t testing.TB, addr string, p persona, listeners []string) *adsWalk {
	t.Helper()
	w := &adsWalk{
		t: t, p: p,
		clock:    clock.NewFake(appliedAt),
		kick:     make(chan struct{}, 1),
		received: map[string]map[string]proto.Message{},
		synced:   map[string]bool{},
		watched:  map[string]map[string]bool{},
		tap:      adsTap{absent: map[string]bool{}},
	}
	if p.generator != "" {
		w.listeners = slices.Sorted(slices.Values(listeners))
	}
	subscribed := make(chan struct{})
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		select {
		case <-subscribed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}
	c, err := xdsclient.New(xdsclient.Config{
		Server: xdsclient.ServerConfig{
			URI: "passthrough:///" + addr,
			DialOptions: []grpc.DialOption{
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(dial),
				grpc.WithStreamInterceptor(w.intercept),
			},
		},
		Node:               p.node(),
		ResourceTypes:      xdsclient.DefaultResourceTypes(),
		WatchExpiryTimeout: resourceExpiry,
		Clock:              w.clock,
	})
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	w.client = c
	t.Cleanup(func() { c.Close() })
	if p.generator == "" {
		w.watchAll(xdsclient.ListenerTypeURL)
		w.watchAll(xdsclient.ClusterTypeURL)
	} else {
		for _, name := range listeners {
			w.watch(xdsclient.ListenerTypeURL, name)
		}
	}
	close(subscribed)
	return w
}

// intercept taps the ADS stream.
func (w *adsWalk) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &tappedStream{ClientStream: cs, w: w}, nil
}

type tappedStream struct {
	grpc.ClientStream
	w *adsWalk
}

func (s *tappedStream) SendMsg(m any) error {
	if req, ok := m.(*discoveryv3.DiscoveryRequest); ok && req.GetTypeUrl() == xdsclient.ListenerTypeURL && s.w.listeners != nil {
		names := slices.Sorted(slices.Values(req.GetResourceNames()))
		s.w.mu.Lock()
		if !slices.Equal(names, s.w.listeners) && s.w.tap.otherRequest == "" {
			s.w.tap.otherRequest = fmt.Sprintf("%q", names)
		}
		s.w.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

func (s *tappedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if resp, ok := m.(*discoveryv3.DiscoveryResponse); ok && err == nil && resp.GetTypeUrl() == xdsclient.ListenerTypeURL && s.w.listeners != nil {
		present := map[string]bool{}
		for _, a := range resp.GetResources() {
			present[listenerName(a)] = true
		}
		s.w.mu.Lock()
		for _, name := range s.w.listeners {
			if !present[name] {
				s.w.tap.absent[name] = true
			}
		}
		s.w.mu.Unlock()
		s.w.signal()
	}
	return err
}

// listenerName is the name of a Listener in a response, wrapped in a
// discovery Resource or not; "" if it cannot be read.
func listenerName(a *anypb.Any) string {
	if r := new(discoveryv3.Resource); a.MessageIs(r) {
		if a.UnmarshalTo(r) != nil {
			return ""
		}
		if r.GetName() != "" {
			return r.GetName()
		}
		a = r.GetResource()
	}
	l := new(listenerv3.Listener)
	if a.UnmarshalTo(l) != nil {
		return ""
	}
	return l.GetName()
}

// sync waits until every resource subscribed to, and every one they
// reference, has been answered (sent, rejected, or found not to exist).
func (w *adsWalk) sync() {
	w.t.Helper()
	deadline := time.NewTimer(adsWalkTimeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		gen := w.gen
		w.mu.Unlock()
		w.follow()
		pending, expire := w.pending()
		w.mu.Lock()
		settled := gen == w.gen // nothing was delivered that follow did not see
		w.mu.Unlock()
		if len(pending) == 0 && settled {
			return
		}
		if expire {
			w.clock.Advance(resourceExpiry)
			continue
		}
		select {
		case <-w.kick:
		case <-deadline.C:
			w.mu.Lock()
			lastErr := w.lastErr
			w.mu.Unlock()
			w.t.Fatalf("%s: after %v, still waiting for %s (last error heard: %v)", w.p.name, adsWalkTimeout, strings.Join(pending, ", "), lastErr)
		}
	}
}

// follow subscribes to what the resources received so far reference.
func (w *adsWalk) follow() {
	w.mu.Lock()
	var routes, clusters, endpoints []string
	for _, m := range w.received[xdsclient.ListenerTypeURL] {
		routes = append(routes, routeNames(m.(*listenerv3.Listener))...)
	}
	if w.p.generator != "" { // the sidecar persona has every cluster
		for _, m := range w.received[xdsclient.RouteTypeURL] {
			clusters = append(clusters, clusterNames(m.(*routev3.RouteConfiguration))...)
		}
	}
	for _, m := range w.received[xdsclient.ClusterTypeURL] {
		if name, ok := edsName(m.(*clusterv3.Cluster)); ok {
			endpoints = append(endpoints, name)
		}
	}
	w.mu.Unlock()
	for _, n := range routes {
		w.watch(xdsclient.RouteTypeURL, n)
	}
	for _, n := range clusters {
		w.watch(xdsclient.ClusterTypeURL, n)
	}
	for _, n := range endpoints {
		w.watch(xdsclient.EndpointTypeURL, n)
	}
}

// pending lists what has not been answered yet. expire is true when all of
// it is listeners the control plane has shown not to exist: they were left
// out of a response, and every listener request named the whole
// subscription (the proxyless persona's subscription is made before the
// stream starts and never changes; the tap checks it), so every response
// answered a request naming them. The client itself concludes only when its
// expiry timer fires, as gRPC does, since in general a response may answer
// an earlier request; advancing its clock lets it conclude at once.
func (w *adsWalk) pending() (pending []string, expire bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, url := range []string{xdsclient.ListenerTypeURL, xdsclient.ClusterTypeURL} {
		if synced, wildcard := w.synced[url]; wildcard && !synced {
			pending = append(pending, typeName(url)+" *")
		}
	}
	if w.tap.otherRequest != "" {
		w.t.Fatalf("%s: a listener request named %s, not the subscription %q", w.p.name, w.tap.otherRequest, w.listeners)
	}
	expire = len(pending) == 0
	for _, rs := range w.client.Dump() {
		switch {
		case rs.Status == xdsclient.StatusRequested:
			pending = append(pending, typeName(rs.TypeURL)+" "+rs.Name)
			expire = expire && rs.TypeURL == xdsclient.ListenerTypeURL && w.tap.absent[rs.Name]
		case rs.Resource != nil:
			// The client has it; the walk must have it too, to follow it.
			if _, ok := w.received[rs.TypeURL][rs.Name]; !ok {
				pending = append(pending, typeName(rs.TypeURL)+" "+rs.Name+" (not yet delivered)")
				expire = false
			}
		}
	}
	return pending, expire && len(pending) > 0
}

// heard keeps the last error a watcher heard, for the timeout's message.
func (w *adsWalk) heard(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

func (w *adsWalk) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// watch subscribes to one resource, once.
func (w *adsWalk) watch(typeURL, name string) {
	w.mu.Lock()
	if w.watched[typeURL] == nil {
		w.watched[typeURL] = map[string]bool{}
	}
	seen := w.watched[typeURL][name]
	w.watched[typeURL][name] = true
	w.mu.Unlock()
	if seen {
		return
	}
	if _, err := w.client.Watch(typeURL, name, &namedWatcher{w: w, typeURL: typeURL, name: name}); err != nil {
		w.t.Fatalf("%s: %v", w.p.name, err)
	}
}

// watchAll subscribes to every resource of a type.
func (w *adsWalk) watchAll(typeURL string) {
	w.mu.Lock()
	w.synced[typeURL] = false
	w.mu.Unlock()
	if _, err := w.client.WatchWildcard(typeURL, &wildcardWatcher{w: w, typeURL: typeURL}); err != nil {
		w.t.Fatalf("%s: %v", w.p.name, err)
	}
}

func (w *adsWalk) store(typeURL, name string, r xdsclient.ResourceData) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	if w.received[typeURL] == nil {
		w.received[typeURL] = map[string]proto.Message{}
	}
	if r == nil {
		delete(w.received[typeURL], name)
		return
	}
	w.received[typeURL][name] = resourceMessage(r)
}

// resourceMessage is the protobuf message a built-in resource type decoded.
func resourceMessage(r xdsclient.ResourceData) proto.Message {
	switch r := r.(type) {
	case *xdsclient.ProtoResource[*listenerv3.Listener]:
		return r.Message
	case *xdsclient.ProtoResource[*routev3.RouteConfiguration]:
		return r.Message
	case *xdsclient.ProtoResource[*clusterv3.Cluster]:
		return r.Message
	}
	return nil // endpoints reference nothing: kept only as delivered
}

type namedWatcher struct {
	w       *adsWalk
	typeURL string
	name    string
}

func (n *namedWatcher) ResourceChanged(r xdsclient.ResourceData, done func()) {
	n.w.store(n.typeURL, n.name, r)
	n.w.signal()
	done()
}

func (n *namedWatcher) ResourceError(err error, done func()) {
	n.w.heard(err)
	n.w.store(n.typeURL, n.name, nil)
	n.w.signal()
	done()
}

func (n *namedWatcher) AmbientError(err error, done func()) {
	n.w.heard(err)
	n.w.signal()
	done()
}

type wildcardWatcher struct {
	w       *adsWalk
	typeURL string
}

func (ww *wildcardWatcher) ResourcesChanged(changed map[string]xdsclient.ResourceData, removed []string, done func()) {
	for name, r := range changed {
		ww.w.store(ww.typeURL, name, r)
	}
	for _, name := range removed {
		ww.w.store(ww.typeURL, name, nil)
	}
	ww.w.mu.Lock()
	ww.w.synced[ww.typeURL] = true
	ww.w.mu.Unlock()
	ww.w.signal()
	done()
}

func (ww *wildcardWatcher) AmbientError(err error, done func()) {
	ww.w.heard(err)
	ww.w.signal()
	done()
}

// routeNames are the RouteConfigurations a listener's HTTP connection
// managers fetch by RDS: the API listener's (proxyless) and the filter
// chains' (sidecar).
func routeNames(l *listenerv3.Listener) []string {
	var out []string
	add := func(h *hcmv3.HttpConnectionManager) {
		if name := h.GetRds().GetRouteConfigName(); name != "" {
			out = append(out, name)
		}
	}
	if h, ok := hcmOf(l.GetApiListener().GetApiListener()); ok {
		add(h)
	}
	chains := slices.Clone(l.GetFilterChains())
	if fc := l.GetDefaultFilterChain(); fc != nil {
		chains = append(chains, fc)
	}
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			if h, ok := hcmOf(f.GetTypedConfig()); ok {
				add(h)
			}
		}
	}
	return out
}

// hcmOf decodes a as an HttpConnectionManager, if it is one.
func hcmOf(a interface {
	GetTypeUrl() string
	GetValue() []byte
}) (*hcmv3.HttpConnectionManager, bool) {
	h := new(hcmv3.HttpConnectionManager)
	if a == nil || a.GetTypeUrl() != "type.googleapis.com/"+string(h.ProtoReflect().Descriptor().FullName()) {
		return nil, false
	}
	if err := proto.Unmarshal(a.GetValue(), h); err != nil {
		return nil, false
	}
	return h, true
}

// clusterNames are the clusters a RouteConfiguration sends to or mirrors to.
func clusterNames(rc *routev3.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			a := r.GetRoute()
			if c := a.GetCluster(); c != "" {
				out = append(out, c)
			}
			for _, wc := range a.GetWeightedClusters().GetClusters() {
				out = append(out, wc.GetName())
			}
			for _, m := range a.GetRequestMirrorPolicies() {
				out = append(out, m.GetCluster())
			}
		}
	}
	return out
}

// edsName is the ClusterLoadAssignment an EDS cluster fetches.
func edsName(c *clusterv3.Cluster) (string, bool) {
	if c.GetType() != clusterv3.Cluster_EDS {
		return "", false
	}
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return n, true
	}
	return c.GetName(), true
}

// typeName is the short name of a resource type.
func typeName(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
