package xds

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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
// plane's SetSnapshot to the client routing by the new weights, in a
// mesh of -xds.services services; one push per iteration (run with -benchtime=100x).
func BenchmarkPushToEffect(b *testing.B) {
	// rebuilt: every push is a snapshot of new resource objects, which
	// go-control-plane marshals anew (a control plane without a cache);
	// cached: only svc0's RouteConfiguration is new, the other resources
	// are re-sent as marshalled before (as istiod's cache does).
	for _, mode := range []string{"rebuilt", "cached"} {
		b.Run(mode, func(b *testing.B) { pushToEffect(b, mode == "cached") })
	}
}

func pushToEffect(b *testing.B, cached bool) {
	p := startPlane(b)
	addr := backend(b, "v")
	base := bigMesh(*benchServices, addr, 90, 10)
	p.push(base)
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
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w := uint32(10 + i%2*40) // 10 and 50 in turn
		w = 60 - w
		var res map[string][]types.Resource
		if cached {
			res = maps.Clone(base)
			routes := slices.Clone(base[resourcev3.RouteType])
			routes[0] = bigMesh(1, addr, 100-w, w)[resourcev3.RouteType][0] // svc0's
			res[resourcev3.RouteType] = routes
		} else {
			res = bigMesh(*benchServices, addr, 100-w, w)
		}
		start := time.Now()
		p.push(res)
		for share() != int(w) {
			if time.Since(start) > eventually {
				b.Fatalf("push %d never applied: %v", i, m.Err())
			}
			time.Sleep(20 * time.Microsecond)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(ds, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(ds, 0.99).Microseconds()), "p99-µs")
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
		m.setLocked(edsKey, r.Name, r.Resource.(*decoded).ir)
		m.applyLocked()
		m.mu.Unlock()
	}
	if err := m.Err(); err != nil {
		b.Fatal(err)
	}
}
