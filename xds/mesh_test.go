package xds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
	"github.com/switchyard-go/switchyard/route"
)

// eventually bounds waits for what must happen: only a hang fails.
const eventually = 30 * time.Second

const (
	testNode = "sidecar~127.0.0.1~client.default~default.svc.cluster.local"
	svcHost  = "reviews.test"
	svcPort  = 8080
)

var (
	listenerName = svcHost + ":" + strconv.Itoa(svcPort)
	routeName    = "outbound|8080||reviews.test"
	clusterV1    = "outbound|8080|v1|reviews.test"
	clusterV2    = "outbound|8080|v2|reviews.test"
)

// testPlane is go-control-plane's ADS server and snapshot cache on loopback.
type testPlane struct {
	t       testing.TB
	cache   cachev3.SnapshotCache
	mu      sync.Mutex
	addr    string
	srv     *grpc.Server
	version int
	nacks   []string // error details received
	// sent, if set, sees each response just before the server sends it
	// (a *DiscoveryResponse or a *DeltaDiscoveryResponse).
	sent func(proto.Message)
}

func startPlane(t testing.TB) *testPlane {
	t.Helper()
	p := &testPlane{t: t, cache: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *testPlane) start(addr string) {
	p.t.Helper()
	var lis net.Listener
	var err error
	for deadline := time.Now().Add(eventually); ; time.Sleep(10 * time.Millisecond) {
		if lis, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.t.Fatalf("listen %s: %v", addr, err)
	}
	nack := func(detail *rpcstatus.Status) {
		if detail != nil {
			p.mu.Lock()
			p.nacks = append(p.nacks, detail.GetMessage())
			p.mu.Unlock()
		}
	}
	cb := serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
			nack(r.GetErrorDetail())
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, r *discoveryv3.DeltaDiscoveryRequest) error {
			nack(r.GetErrorDetail())
			return nil
		},
	}
	cb.StreamResponseFunc = func(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryResponse) {
		p.onSent(r)
	}
	cb.StreamDeltaResponseFunc = func(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, r *discoveryv3.DeltaDiscoveryResponse) {
		p.onSent(r)
	}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), p.cache, cb))
	p.mu.Lock()
	p.srv, p.addr = srv, lis.Addr().String()
	p.mu.Unlock()
	go srv.Serve(lis)
}

func (p *testPlane) onSent(r proto.Message) {
	p.mu.Lock()
	f := p.sent
	p.mu.Unlock()
	if f != nil {
		f(r)
	}
}

func (p *testPlane) stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (p *testPlane) restart() { p.start(p.addr) }

func (p *testPlane) nackDetails() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.nacks...)
}

// push installs a new snapshot.
func (p *testPlane) push(res map[string][]types.Resource) {
	p.t.Helper()
	p.mu.Lock()
	p.version++
	v := strconv.Itoa(p.version)
	p.mu.Unlock()
	snap, err := cachev3.NewSnapshot(v, res)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.cache.SetSnapshot(context.Background(), testNode, snap); err != nil {
		p.t.Fatal(err)
	}
}

func (p *testPlane) bootstrap() *Bootstrap {
	return &Bootstrap{
		Servers: []Server{{URI: p.addr, Credentials: ChannelCredentials{Type: "insecure"}}},
		Node:    Node{ID: testNode, Metadata: map[string]any{"NAMESPACE": "default"}},
	}
}

// canary is a snapshot routing reviews.test:8080 between v1 and v2 by
// weight, each version served by its own backend.
type canary struct {
	v1, v2 string // backend addresses
	route  func(*routev3.Route)
	http2  bool // the clusters speak HTTP/2 (gRPC)
}

func (c canary) resources(w1, w2 uint32) map[string][]types.Resource {
	l := apiListener(listenerName, routeName)
	r := &routev3.Route{
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: clusterV1, Weight: wrapperspb.UInt32(w1)},
				{Name: clusterV2, Weight: wrapperspb.UInt32(w2)},
			}}},
			Timeout: durationpb.New(0),
		}},
	}
	if c.route != nil {
		c.route(r)
	}
	rc := &routev3.RouteConfiguration{Name: routeName, VirtualHosts: []*routev3.VirtualHost{{
		Name: listenerName, Domains: []string{svcHost, listenerName}, Routes: []*routev3.Route{r},
	}}}
	return map[string][]types.Resource{
		resourcev3.ListenerType: {l},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {c.cluster(clusterV1), c.cluster(clusterV2)},
		resourcev3.EndpointType: {cla(clusterV1, c.v1), cla(clusterV2, c.v2)},
	}
}

func (c canary) cluster(name string) *clusterv3.Cluster {
	cl := edsCluster(name)
	if c.http2 {
		cl.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(&upstreamhttpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			}},
		})}
	}
	return cl
}

// apiListener is a proxyless-style listener using route configuration
// route by RDS.
func apiListener(name, route string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
			RouteConfigName: route,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: routerFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}},
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(hcm)}}
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
		},
		ConnectTimeout: durationpb.New(time.Second),
	}
}

func cla(name, addr string) *endpointv3.ClusterLoadAssignment {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(n)},
			}}},
		}}}},
	}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// backend serves its name.
func backend(t testing.TB, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// seqRand is a deterministic source for the mesh's weighted picks.
type seqRand struct{ n atomic.Uint64 }

func (r *seqRand) Uint64() uint64 {
	// A full-period LCG step scrambled: deterministic and well spread.
	x := r.n.Add(0x9e3779b97f4a7c15)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func newTestMesh(t testing.TB, p *testPlane, opts ...Option) *Mesh {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	opts = append([]Option{WithMeshOptions(switchyard.WithRand(new(seqRand)))}, opts...)
	m, err := NewMesh(ctx, p.bootstrap(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// shares returns the share of each subset for a request to the service.
func shares(m *Mesh) string {
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
	e := m.Explain(req)
	var parts []string
	for _, d := range e.Destinations {
		if d.Share > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.0f", d.Subset, 100*d.Share))
		}
	}
	if len(parts) == 0 {
		return e.Action
	}
	return strings.Join(parts, " ")
}

// waitShares waits until the mesh routes with the given shares.
func waitShares(t testing.TB, m *Mesh, want string) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for shares(m) != want {
		if time.Now().After(deadline) {
			t.Fatalf("shares %q, want %q (last error: %v)", shares(m), want, m.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// count sends n requests and counts the answers by body.
func count(t testing.TB, c *http.Client, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		resp, err := c.Get("http://" + listenerName + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		got[string(b)]++
	}
	return got
}

var personas = []struct {
	name string
	opts []Option
}{
	{"sidecar", nil},
	{"proxyless", []Option{Proxyless()}},
}

// TestPushesChangeRouting: each push of new weights changes where real
// requests go, for both personas, each over its protocol.
func TestPushesChangeRouting(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			p := startPlane(t)
			cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
			p.push(cn.resources(90, 10))
			m := newTestMesh(t, p, ps.opts...)
			c := &http.Client{Transport: m.Transport(nil)}
			// The proxyless mesh subscribes on the first request.
			count(t, c, 1)
			waitShares(t, m, "v1=90 v2=10")
			got := count(t, c, 200)
			if got["v1"] < 150 || got["v2"] < 5 {
				t.Errorf("90/10: %v", got)
			}
			p.push(cn.resources(50, 50))
			waitShares(t, m, "v1=50 v2=50")
			got = count(t, c, 200)
			if got["v1"] < 70 || got["v2"] < 70 {
				t.Errorf("50/50: %v", got)
			}
			p.push(cn.resources(0, 100))
			waitShares(t, m, "v2=100")
			if got := count(t, c, 50); got["v2"] != 50 {
				t.Errorf("0/100: %v", got)
			}
			// go-control-plane serves Delta; the proxyless persona
			// speaks State of the World (xdsclient.Config.StateOfTheWorld).
			want := map[string]xdsclient.Protocol{"sidecar": xdsclient.ProtocolDelta, "proxyless": xdsclient.ProtocolSotW}[ps.name]
			if got := m.client.Protocol(); got != want {
				t.Errorf("protocol %s, want %s", got, want)
			}
		})
	}
}

// TestNACKKeepsRouting: a route the translation cannot represent is NACKed
// with the field named, and routing stays as it was.
func TestNACKKeepsRouting(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			p := startPlane(t)
			cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
			p.push(cn.resources(100, 0))
			m := newTestMesh(t, p, ps.opts...)
			c := &http.Client{Transport: m.Transport(nil)}
			count(t, c, 1)
			waitShares(t, m, "v1=100")
			bad := cn
			bad.route = func(r *routev3.Route) {
				r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
					StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "son"}},
				}}}
			}
			p.push(bad.resources(0, 100))
			deadline := time.Now().Add(eventually)
			for len(p.nackDetails()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no NACK")
				}
				time.Sleep(time.Millisecond)
			}
			detail := p.nackDetails()[0]
			if !strings.Contains(detail, routeName) || !strings.Contains(detail, "routes[0].match.headers[0] (x-user).string_match.suffix: not supported") {
				t.Errorf("NACK detail %q does not name the resource and field", detail)
			}
			if err := m.Err(); err == nil || !strings.Contains(err.Error(), "x-user") {
				t.Errorf("Err() = %v, want the rejection", err)
			}
			if got := count(t, c, 20); got["v1"] != 20 {
				t.Errorf("routing changed after a NACK: %v", got)
			}
			// A good push after the bad one applies.
			p.push(cn.resources(0, 100))
			waitShares(t, m, "v2=100")
		})
	}
}

// TestReconnect: with the control plane gone the last configuration stays
// in force; after it comes back, pushes apply again.
func TestReconnect(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	p.push(cn.resources(100, 0))
	m := newTestMesh(t, p)
	c := &http.Client{Transport: m.Transport(nil)}
	waitShares(t, m, "v1=100")
	p.stop()
	if got := count(t, c, 20); got["v1"] != 20 {
		t.Errorf("without control plane: %v", got)
	}
	p.restart()
	p.push(cn.resources(0, 100))
	waitShares(t, m, "v2=100")
	if got := count(t, c, 20); got["v2"] != 20 {
		t.Errorf("after reconnect: %v", got)
	}
}

// TestMissingResources: a proxyless request to a service the control plane
// does not know waits for the does-not-exist verdict and goes to the base
// transport; a route to a cluster that does not exist answers 503.
func TestMissingResources(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	res := cn.resources(50, 50)
	res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1] // no v2 cluster
	res[resourcev3.EndpointType] = res[resourcev3.EndpointType][:1]
	p.push(res)
	m := newTestMesh(t, p, Proxyless(), optionFunc(func(o *meshOptions) { o.watchExpiry = 100 * time.Millisecond }))

	other := backend(t, "elsewhere")
	c := &http.Client{Transport: m.Transport(nil)}
	resp, err := c.Get("http://" + other + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "elsewhere" {
		t.Errorf("unknown host: %d %q, want the base transport's answer", resp.StatusCode, b)
	}

	v2 := 0
	for range 40 {
		resp, err := c.Get("http://" + listenerName + "/")
		if err != nil {
			t.Fatalf("%v (mesh error %v, config %+v)", err, m.Err(), m.Config())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			v2++
		case string(b) != "v1":
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	}
	if v2 == 0 || v2 == 40 {
		t.Errorf("%d of 40 requests got 503; want those routed to the missing cluster", v2)
	}
}

// TestProxylessWaitIsBounded: a request whose context ends before the
// service's configuration arrives fails with the context's error, at once.
func TestProxylessWaitIsBounded(t *testing.T) {
	p := startPlane(t)
	m := newTestMesh(t, p, Proxyless())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listenerName+"/", nil)
	_, err := m.Transport(nil).RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// TestFlappingUnderLoad: the control plane goes away and comes back, and
// pushes weight changes, while clients send a bounded load: every request
// is answered by a backend.
func TestFlappingUnderLoad(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	p.push(cn.resources(90, 10))
	m := newTestMesh(t, p)
	c := &http.Client{Transport: m.Transport(nil)}

	const workers, perWorker = 4, 150
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				resp, err := c.Get("http://" + listenerName + "/")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || (string(b) != "v1" && string(b) != "v2") {
						err = fmt.Errorf("%d %q", resp.StatusCode, b)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range 3 {
		p.stop()
		time.Sleep(20 * time.Millisecond)
		p.restart()
		w := uint32(10 + 40*i)
		p.push(cn.resources(100-w, w))
		waitShares(t, m, fmt.Sprintf("v1=%d v2=%d", 100-w, w))
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, workers*perWorker, firstErr.Load())
	}
}

// TestCloseStopsEverything: after Close no goroutine of the mesh remains,
// and requests fail with ErrClosed instead of hanging.
func TestCloseStopsEverything(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			// Registered first, so it runs after the other cleanups
			// (backends, control plane).
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			p := startPlane(t)
			cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
			p.push(cn.resources(100, 0))
			ctx, cancel := context.WithTimeout(context.Background(), eventually)
			defer cancel()
			m, err := NewMesh(ctx, p.bootstrap(), ps.opts...)
			if err != nil {
				t.Fatal(err)
			}
			tr := m.Transport(nil)
			c := &http.Client{Transport: tr}
			count(t, c, 3)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
			if _, err := tr.RoundTrip(req); !errors.Is(err, switchyard.ErrClosed) {
				t.Errorf("after Close: %v, want ErrClosed", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// grpcVersion answers UnaryCall with its name.
type grpcVersion struct {
	testpb.UnimplementedTestServiceServer
	name string
}

func (g grpcVersion) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Username: g.name}, nil
}

func grpcBackend(t testing.TB, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testpb.RegisterTestServiceServer(s, grpcVersion{name: name})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestProxylessGRPC: a gRPC client on the proxyless mesh subscribes to its
// target on the first call and follows the pushes.
func TestProxylessGRPC(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: grpcBackend(t, "v1"), v2: grpcBackend(t, "v2")}
	cn.http2 = true
	p.push(cn.resources(100, 0))
	m := newTestMesh(t, p, Proxyless())
	cc, err := grpc.NewClient(listenerName, append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	call := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		defer cancel()
		resp, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
		if err != nil {
			t.Fatalf("call: %v (mesh error %v)", err, m.Err())
		}
		return resp.GetUsername()
	}
	if got := call(); got != "v1" {
		t.Fatalf("first call went to %q, want v1", got)
	}
	p.push(cn.resources(0, 100))
	waitShares(t, m, "v2=100")
	for range 10 {
		if got := call(); got != "v2" {
			t.Fatalf("after the push a call went to %q, want v2", got)
		}
	}
}

// TestProxylessGRPCMissingListener: a proxyless gRPC call to a target the
// control plane has no listener for fails with UNAVAILABLE naming the
// listener, as through gRPC's xDS resolver, and is not sent anywhere; an
// HTTP request to the same host goes to the base transport.
func TestProxylessGRPCMissingListener(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: grpcBackend(t, "v1"), v2: grpcBackend(t, "v2")}
	cn.http2 = true
	p.push(cn.resources(100, 0))
	m := newTestMesh(t, p, Proxyless(), optionFunc(func(o *meshOptions) { o.watchExpiry = 100 * time.Millisecond }))
	other := grpcBackend(t, "elsewhere") // a real server the call must not reach
	cc, err := grpc.NewClient(other, append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	resp, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `no listener "`+other+`"`) {
		t.Fatalf("call to a target without listener: %v, %v; want UNAVAILABLE naming the listener", resp, err)
	}
	stream, err := testpb.NewTestServiceClient(cc).FullDuplexCall(ctx)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream to a target without listener: %v, %v; want UNAVAILABLE", stream, err)
	}

	// The listener's target still works on the same mesh.
	mc, err := grpc.NewClient(listenerName, append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if resp, err := testpb.NewTestServiceClient(mc).UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil || resp.GetUsername() != "v1" {
		t.Fatalf("call to the mesh's target: %v, %v", resp, err)
	}
}

// TestErrNamesRejectedResources: Err names a rejected cluster from the
// first response on (the sidecar persona's wildcard included), keeps
// naming it while other resources are accepted, and is nil once a good
// version of it arrives.
func TestErrNamesRejectedResources(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			p := startPlane(t)
			cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
			bad := func(w1, w2 uint32) map[string][]types.Resource {
				res := cn.resources(w1, w2)
				c := cn.cluster(clusterV2)
				c.LbPolicy = clusterv3.Cluster_LOAD_BALANCING_POLICY_CONFIG // not translated
				res[resourcev3.ClusterType] = []types.Resource{cn.cluster(clusterV1), c}
				return res
			}
			p.push(bad(100, 0))
			m := newTestMesh(t, p, ps.opts...)
			c := &http.Client{Transport: m.Transport(nil)}
			count(t, c, 1)
			waitErr := func(want string) {
				t.Helper()
				deadline := time.Now().Add(eventually)
				for {
					err := m.Err()
					if (want == "" && err == nil) || (want != "" && err != nil && strings.Contains(err.Error(), want)) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("Err() = %v, want %q", err, want)
					}
					time.Sleep(time.Millisecond)
				}
			}
			waitErr(clusterV2)
			// v1's endpoints change and are accepted; the cluster is still
			// rejected.
			res := bad(100, 0)
			res[resourcev3.EndpointType] = []types.Resource{cla(clusterV1, cn.v2), cla(clusterV2, cn.v2)}
			p.push(res)
			deadline := time.Now().Add(eventually)
			for {
				req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
				e := m.Explain(req)
				if len(e.Destinations) == 1 && len(e.Destinations[0].Endpoints) == 1 && e.Destinations[0].Endpoints[0].Address == cn.v2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("v1's new endpoint never applied: %v", e)
				}
				time.Sleep(time.Millisecond)
			}
			if err := m.Err(); err == nil || !strings.Contains(err.Error(), clusterV2) {
				t.Errorf("after other resources were accepted, Err() = %v, want the rejection of %s", err, clusterV2)
			}
			p.push(cn.resources(50, 50))
			waitErr("")
		})
	}
}

// TestErrForgetsARejectedResourceThatIsGone: a cluster rejected from its
// first version on, then no longer sent (sidecar: absent from the wildcard
// response; proxyless: no longer referenced, so unwatched), is no longer
// a problem: Err returns nil.
func TestErrForgetsARejectedResourceThatIsGone(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			p := startPlane(t)
			cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
			res := cn.resources(100, 0)
			c := cn.cluster(clusterV2)
			c.LbPolicy = clusterv3.Cluster_LOAD_BALANCING_POLICY_CONFIG // not translated
			res[resourcev3.ClusterType] = []types.Resource{cn.cluster(clusterV1), c}
			p.push(res)
			m := newTestMesh(t, p, ps.opts...)
			count(t, &http.Client{Transport: m.Transport(nil)}, 1)
			deadline := time.Now().Add(eventually)
			for err := m.Err(); err == nil || !strings.Contains(err.Error(), clusterV2); err = m.Err() {
				if time.Now().After(deadline) {
					t.Fatalf("Err() = %v, want the rejection of %s", err, clusterV2)
				}
				time.Sleep(time.Millisecond)
			}
			// v2 leaves the routes and the clusters.
			gone := cn
			gone.route = func(r *routev3.Route) {
				r.GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: clusterV1}
			}
			res = gone.resources(100, 0)
			res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1]
			res[resourcev3.EndpointType] = res[resourcev3.EndpointType][:1]
			p.push(res)
			deadline = time.Now().Add(eventually)
			for err := m.Err(); err != nil; err = m.Err() {
				if time.Now().After(deadline) {
					t.Fatalf("Err() = %v after the rejected cluster left", err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// TestInitialSyncInstallsOnce: the sidecar persona's initial sync is
// translated and installed once whole, not at each step of the
// LDS→RDS→CDS→EDS walk; pushes after it are installed as they come.
func TestInitialSyncInstallsOnce(t *testing.T) {
	p := startPlane(t)
	p.push(canary{v1: backend(t, "v1"), v2: backend(t, "v2")}.resources(90, 10))
	m := newTestMesh(t, p)
	applied := func() int {
		n := 0
		for _, u := range m.AdminState().Updates {
			if u.Applied && u.Resources["VirtualService"] > 0 {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, applied(), "updates installed by the initial sync: %+v", m.AdminState().Updates)
	require.Equal(t, "v1=90 v2=10", shares(m))
	require.Empty(t, m.Warnings())

	p.push(canary{v1: backend(t, "v1"), v2: backend(t, "v2")}.resources(50, 50))
	require.Eventually(t, func() bool { return shares(m) == "v1=50 v2=50" }, eventually, time.Millisecond)
	require.Equal(t, 2, applied())
}

// TestUpdateBetweenTheTokenCheckAndTheRevision: a user's Update that lands
// after applyLocked chose to revise its translation's routes, but before
// the revision, is not revised as if it were the translation's (a
// configuration neither the user's nor the control plane's): the push is
// translated whole, as after any Update.
func TestUpdateBetweenTheTokenCheckAndTheRevision(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	p.push(cn.resources(90, 10))
	m := newTestMesh(t, p)
	require.Equal(t, "v1=90 v2=10", shares(m))

	var armed, fired atomic.Bool
	orig := meshopt.ReviseVirtualServices
	m.mu.Lock() // the appliers call ReviseVirtualServices under m.mu: after this
	meshopt.ReviseVirtualServices = func(mesh, token any, at []int, vals []route.VirtualService) (any, bool, error) {
		if mesh == any(m.Mesh) && armed.CompareAndSwap(true, false) {
			if err := m.Mesh.Update(switchyard.Config{}); err != nil { // the user's, right before the revision
				t.Error(err)
			}
			fired.Store(true)
		}
		return orig(mesh, token, at, vals)
	}
	m.mu.Unlock()
	t.Cleanup(func() {
		m.Close() // waits for the appliers
		meshopt.ReviseVirtualServices = orig
	})

	armed.Store(true)
	p.push(cn.resources(50, 50)) // the routes alone: a revision
	waitShares(t, m, "v1=50 v2=50")
	require.True(t, fired.Load())
	require.NoError(t, m.Err())
	requireRoutesAsTranslated(t, m)
}

// TestNoLateCallbackForARemovedName: a NamesWatch call that passed the
// client's membership check before the mesh removed the name (the
// applier holds m.mu while it removes names; the call then waits for
// m.mu) changes nothing: the resource stays out of the mesh's resources,
// is not marked missing or rejected, and the call's done is called.
func TestNoLateCallbackForARemovedName(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			p := startPlane(t)
			p.push(canary{v1: backend(t, "v1"), v2: backend(t, "v2")}.resources(90, 10))
			m := newTestMesh(t, p, ps.opts...)
			const name = "removed-before-the-call"
			m.mu.Lock()
			require.False(t, m.names[kEDS].Has(name))
			m.mu.Unlock()

			var dones atomic.Int32
			done := func() { dones.Add(1) }
			w := &named{m: m, key: edsKey}
			w.ResourceChanged(name, &endpointsIR{}, done)
			require.Eventually(t, func() bool { return dones.Load() == 1 }, eventually, time.Millisecond)
			m.mu.Lock()
			_, stored := m.rs.endpoints[name]
			m.mu.Unlock()
			require.False(t, stored, "a late ResourceChanged stored the resource")
			w.ResourceError(name, fmt.Errorf("%w: gone", xdsclient.ErrResourceNotFound), done)
			w.AmbientError(name, &xdsclient.InvalidResourceError{Name: name, Err: errors.New("bad")}, done)
			require.Eventually(t, func() bool { return dones.Load() == 3 }, eventually, time.Millisecond)
			m.mu.Lock()
			missing, rejected := m.missing[watch{kEDS, name}], len(m.rejected)
			m.mu.Unlock()
			require.False(t, missing, "a late ResourceError marked the resource missing")
			require.Zero(t, rejected, "a late AmbientError noted a rejection")
		})
	}
}
