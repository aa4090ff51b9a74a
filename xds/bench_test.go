package xds

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// benchServices is the size of the benchmarks' mesh. The figures
// are for 1,000 (-args -xds.services=1000); the default keeps the CI's
// -benchtime=100x run short.
var benchServices = flag.Int("xds.services", 100, "services in the benchmarks' mesh")

// bigMesh is an n-service mesh as a control plane would send it: per
// service a listener, a route configuration splitting v1/v2, two EDS
// clusters and their endpoints. Service 0 gets weights w1/w2, every other
// 90/10.
func bigMesh(n int, addr string, w1, w2 uint32) map[string][]types.Resource {
	out := map[string][]types.Resource{}
	for i := range n {
		host := fmt.Sprintf("svc%d.test", i)
		c := canary{v1: addr, v2: addr}
		a, b := uint32(90), uint32(10)
		if i == 0 {
			a, b = w1, w2
		}
		res := c.resources(a, b)
		rename(res, host)
		for k, v := range res {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

// rename moves canary's resources from reviews.test to host.
func rename(res map[string][]types.Resource, host string) {
	ln := host + ":" + strconv.Itoa(svcPort)
	rn := "outbound|8080||" + host
	c1, c2 := "outbound|8080|v1|"+host, "outbound|8080|v2|"+host
	r := res[resourcev3.RouteType][0].(*routev3.RouteConfiguration)
	r.Name = rn
	r.VirtualHosts[0].Name, r.VirtualHosts[0].Domains = ln, []string{host, ln}
	wc := r.VirtualHosts[0].Routes[0].GetRoute().GetWeightedClusters()
	wc.Clusters[0].Name, wc.Clusters[1].Name = c1, c2
	res[resourcev3.ListenerType] = []types.Resource{apiListener(ln, rn)}
	res[resourcev3.ClusterType] = []types.Resource{edsCluster(c1), edsCluster(c2)}
	e := res[resourcev3.EndpointType]
	e[0].(*endpointv3.ClusterLoadAssignment).ClusterName = c1
	e[1].(*endpointv3.ClusterLoadAssignment).ClusterName = c2
}

// percentile returns the p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPushToEffect measures, on loopback, the time from the control
// plane's SetSnapshot to the client routing by the new weights (p50-µs,
// p99-µs), and from the server sending the response that carries the
// changed RouteConfiguration to the same (sent-p50-µs, sent-p99-µs: the
// issue's "after the server's push"), in a mesh of -xds.services services;
// one push per iteration (run with -benchtime=100x).
func BenchmarkPushToEffect(b *testing.B) {
	// rebuilt: every push is a snapshot of new resource objects, which
	// go-control-plane marshals anew (a control plane without a cache);
	// cached: only svc0's RouteConfiguration is new, the other resources
	// are re-sent as marshalled before (as istiod's cache does); both
	// send every type again (the snapshot's version is the same for all).
	// routes: as cached, but only the RouteConfigurations' version
	// changes, so the server sends them alone (a control plane that
	// versions each type and sends only the changed one).
	for _, mode := range []string{"rebuilt", "cached", "routes"} {
		b.Run(mode, func(b *testing.B) { pushToEffect(b, mode) })
	}
}

func pushToEffect(b *testing.B, mode string) {
	p := startPlane(b)
	addr := backend(b, "v")
	base := bigMesh(*benchServices, addr, 90, 10)
	p.push(base)
	p.mu.Lock()
	baseVersion := strconv.Itoa(p.version)
	p.mu.Unlock()
	m := newTestMesh(b, p)
	req, _ := http.NewRequest(http.MethodGet, "http://svc0.test:8080/", nil)
	share := func() int {
		for _, d := range m.Explain(req).Destinations {
			if d.Subset == "v2" {
				return int(d.Share*100 + 0.5)
			}
		}
		return 0
	}
	// The send of the first response after the push that carries svc0's
	// RouteConfiguration as pushed.
	var (
		sentMu      sync.Mutex
		sentAt      time.Time
		wantVersion string
	)
	const changed = "outbound|8080||svc0.test"
	p.mu.Lock()
	p.sent = func(r proto.Message) {
		now := time.Now()
		sentMu.Lock()
		defer sentMu.Unlock()
		if wantVersion == "" || !sentAt.IsZero() {
			return
		}
		switch r := r.(type) {
		case *discoveryv3.DiscoveryResponse:
			if r.GetTypeUrl() == resourcev3.RouteType && r.GetVersionInfo() == wantVersion {
				sentAt = now
			}
		case *discoveryv3.DeltaDiscoveryResponse:
			if r.GetTypeUrl() == resourcev3.RouteType && slices.ContainsFunc(r.GetResources(), func(res *discoveryv3.Resource) bool { return res.GetName() == changed }) {
				sentAt = now
			}
		}
	}
	p.mu.Unlock()
	var ds, sent []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w := uint32(10 + i%2*40) // 10 and 50 in turn
		w = 60 - w
		var res map[string][]types.Resource
		if mode != "rebuilt" {
			res = maps.Clone(base)
			routes := slices.Clone(base[resourcev3.RouteType])
			routes[0] = bigMesh(1, addr, 100-w, w)[resourcev3.RouteType][0] // svc0's
			res[resourcev3.RouteType] = routes
		} else {
			res = bigMesh(*benchServices, addr, 100-w, w)
		}
		p.mu.Lock()
		v := strconv.Itoa(p.version + 1) // the snapshot's version
		p.mu.Unlock()
		sentMu.Lock()
		wantVersion, sentAt = v, time.Time{}
		sentMu.Unlock()
		start := time.Now()
		if mode == "routes" {
			pushRoutes(b, p, res, baseVersion)
		} else {
			p.push(res)
		}
		// Checked at each change the mesh applies, not by polling, which
		// would take the client's CPU.
		deadline := time.After(eventually)
		for {
			m.mu.Lock()
			changed := m.changed
			m.mu.Unlock()
			if share() == int(w) {
				break
			}
			select {
			case <-changed:
			case <-deadline:
				b.Fatalf("push %d never applied: %v", i, m.Err())
			}
		}
		end := time.Now()
		ds = append(ds, end.Sub(start))
		sentMu.Lock()
		at := sentAt
		wantVersion = ""
		sentMu.Unlock()
		if at.IsZero() {
			b.Fatalf("push %d applied before the server sent it", i)
		}
		sent = append(sent, end.Sub(at))
	}
	b.StopTimer()
	p.mu.Lock()
	p.sent = nil
	p.mu.Unlock()
	b.ReportMetric(float64(percentile(ds, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(ds, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(percentile(sent, 0.5).Microseconds()), "sent-p50-µs")
	b.ReportMetric(float64(percentile(sent, 0.99).Microseconds()), "sent-p99-µs")
}

// pushRoutes installs a snapshot of res in which only the
// RouteConfigurations have a new version: the others keep base.
func pushRoutes(b *testing.B, p *testPlane, res map[string][]types.Resource, base string) {
	p.mu.Lock()
	p.version++
	v := strconv.Itoa(p.version)
	p.mu.Unlock()
	snap, err := cachev3.NewSnapshot(v, res)
	if err != nil {
		b.Fatal(err)
	}
	for t := range snap.Resources {
		if types.ResponseType(t) != types.Route {
			snap.Resources[t].Version = base
		}
	}
	if err := p.cache.SetSnapshot(context.Background(), testNode, snap); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInitialSync measures NewMesh (sidecar persona) against a
// control plane holding a mesh of -xds.services services: connection, the whole
// LDS→RDS→CDS→EDS walk and the first configuration installed.
func BenchmarkInitialSync(b *testing.B) {
	p := startPlane(b)
	p.push(bigMesh(*benchServices, backend(b, "v"), 90, 10))
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		m, err := NewMesh(ctx, p.bootstrap())
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if n := len(m.Config().VirtualServices); n != *benchServices {
			b.Fatalf("%d virtual services", n)
		}
		m.Close()
	}
}

// BenchmarkEDSPushOneCluster measures the client's work for an EDS update
// of one cluster in a mesh of -xds.services services: decoding the resource and
// applying the configuration (no server, no network).
func BenchmarkEDSPushOneCluster(b *testing.B) {
	p := startPlane(b)
	addr := backend(b, "v")
	p.push(bigMesh(*benchServices, addr, 90, 10))
	m := newTestMesh(b, p)
	dec := m.resourceTypes()[3].Decoder
	var anys []*anypb.Any
	for i := range 2 {
		c := cla(clusterV1, addr)
		c.ClusterName = "outbound|8080|v1|svc0.test"
		c.Endpoints[0].LbEndpoints[0].LoadBalancingWeight = wrapperspb.UInt32(uint32(1 + i))
		a, err := anypb.New(c)
		if err != nil {
			b.Fatal(err)
		}
		anys = append(anys, a)
	}
	for i := 0; b.Loop(); i++ {
		r, err := dec.Decode(anys[i%2], xdsclient.DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m.mu.Lock()
		m.setLocked(edsKey, r.Name, r.Resource)
		m.applyLocked()
		m.mu.Unlock()
	}
	if err := m.Err(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRoutePushOneService measures the client's work for an RDS
// update of one service's weights in a mesh of -xds.services services:
// decoding the RouteConfiguration, translating and updating the mesh (no
// server, no network).
func BenchmarkRoutePushOneService(b *testing.B) {
	p := startPlane(b)
	addr := backend(b, "v")
	p.push(bigMesh(*benchServices, addr, 90, 10))
	m := newTestMesh(b, p)
	dec := m.resourceTypes()[1].Decoder
	var anys []*anypb.Any
	for _, w := range []uint32{10, 50} {
		a, err := anypb.New(bigMesh(1, addr, 100-w, w)[resourcev3.RouteType][0].(*routev3.RouteConfiguration))
		if err != nil {
			b.Fatal(err)
		}
		anys = append(anys, a)
	}
	for i := 0; b.Loop(); i++ {
		r, err := dec.Decode(anys[i%2], xdsclient.DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m.mu.Lock()
		m.setLocked(rdsKey, r.Name, r.Resource)
		m.applyLocked()
		m.mu.Unlock()
	}
	if err := m.Err(); err != nil {
		b.Fatal(err)
	}
}
