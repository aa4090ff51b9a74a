package xds

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/route"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestEnvoyDefaults: an absent field means what it means to Envoy (or to
// gRPC, for the proxyless persona), not what it means in YAML.
func TestEnvoyDefaults(t *testing.T) {
	c := edsCluster("c")
	c.OutlierDetection = &clusterv3.OutlierDetection{EnforcingSuccessRate: wrapperspb.UInt32(0)}
	side, err := translateCluster(c, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, od := side.policy.ConnectionPool, side.policy.OutlierDetection
	if pl.TCP.MaxConnections != 1024 || pl.HTTP.HTTP1MaxPendingRequests != 1024 || pl.HTTP.HTTP2MaxRequests != 1024 || pl.HTTP.MaxRetries != 3 {
		t.Errorf("sidecar circuit breakers %+v %+v, want Envoy's 1024/1024/1024/3", pl.TCP, pl.HTTP)
	}
	if *od.Consecutive5xxErrors != 5 || od.Interval != 10*time.Second || od.BaseEjectionTime != 30*time.Second || od.MaxEjectionPercent != 10 || od.MinHealthPercent != 50 {
		t.Errorf("outlier detection %+v, want Envoy's defaults", od)
	}
	prox, err := translateCluster(edsCluster("c"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := prox.policy.ConnectionPool; p.TCP.MaxConnections != 0 || p.HTTP.HTTP2MaxRequests != 1024 || p.HTTP.MaxRetries != 0 {
		t.Errorf("proxyless circuit breakers %+v %+v, want gRPC's (max_requests 1024 only)", p.TCP, p.HTTP)
	}

	r := &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}},
		TypedPerFilterConfig: map[string]*anypb.Any{faultFilterName: mustAny(&faultv3.HTTPFault{
			Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503}},
		})},
	}
	e, err := translateRoute(r, "route", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.r.Retries == nil || e.r.Retries.Attempts != 0 {
		t.Errorf("no retry_policy: retries %+v, want none", e.r.Retries)
	}
	if e.r.Timeout != 15*time.Second {
		t.Errorf("no timeout: %v, want Envoy's 15s", e.r.Timeout)
	}
	if p := e.r.Fault.Abort.Percentage; p == nil || p.Value != 0 {
		t.Errorf("abort without percentage: %+v, want 0%%", p)
	}
}

// TestRefusedByName: what the mesh cannot do is refused with the field.
func TestRefusedByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    func(*clusterv3.Cluster)
		want string
	}{
		{"success rate", func(c *clusterv3.Cluster) { c.OutlierDetection = &clusterv3.OutlierDetection{} }, "outlier_detection.enforcing_success_rate"},
		{"lb policy", func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED }, "lb_policy: CLUSTER_PROVIDED"},
		{"health checks", func(c *clusterv3.Cluster) { c.HealthChecks = []*corev3.HealthCheck{{}} }, ".health_checks: not supported"},
		{"choice count", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
			c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{ChoiceCount: wrapperspb.UInt32(3)}}
		}, "choice_count: only 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := edsCluster("c")
			tc.c(c)
			_, err := translateCluster(c, false, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `Cluster "c"`) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestLocalityDistribute: the locality weights of a cluster with
// locality_weighted_lb_config become a distribute rule over the localities
// whose endpoints take traffic, in percentages; equal weights none.
func TestLocalityDistribute(t *testing.T) {
	all := func(endpointIR) bool { return true }
	ep := func(loc string, w uint32) endpointIR {
		return endpointIR{address: "10.0.0.1", localityIR: &localityIR{locality: loc, localityWeight: w}}
	}
	for _, tc := range []struct {
		name string
		eps  []endpointIR
		want map[string]uint32
	}{
		{"istiod's distribute", []endpointIR{ep("r/a", 80), ep("r/a", 80), ep("r/b", 20)}, map[string]uint32{"r/a": 80, "r/b": 20}},
		{"failover only: equal weights", []endpointIR{ep("r/a", 1), ep("r/b", 1)}, nil},
		{"one locality", []endpointIR{ep("r/a", 80)}, nil},
		{"scaled, largest remainder", []endpointIR{ep("r/a", 1), ep("r/b", 2)}, map[string]uint32{"r/a": 33, "r/b": 67}},
		{"no weight counts as 1", []endpointIR{ep("r/a", 0), ep("r/b", 3)}, map[string]uint32{"r/a": 25, "r/b": 75}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := localityDistribute(tc.eps, all)
			if tc.want == nil {
				if d != nil {
					t.Fatalf("got %+v, want none", d)
				}
				return
			}
			if d == nil || d.From != "*" || !maps.Equal(d.To, tc.want) {
				t.Fatalf("got %+v, want from * to %v", d, tc.want)
			}
		})
	}
	// Endpoints that take no traffic (a lower priority without outlier
	// detection) do not count.
	eps := []endpointIR{ep("r/a", 1), {address: "10.0.0.2", localityIR: &localityIR{locality: "r/b", localityWeight: 5, priority: 1}}}
	if d := localityDistribute(eps, func(e endpointIR) bool { return e.priority == 0 }); d != nil {
		t.Errorf("got %+v, want none", d)
	}
}

// TestUnchangedVirtualHostsKeepTheirTranslation: after a push that changes
// one service's routes, every other VirtualService of the translation has
// the very slices of the previous one (so the mesh's Update recognises it
// unchanged without comparing it), and the changed one does not.
func TestUnchangedVirtualHostsKeepTheirTranslation(t *testing.T) {
	p := startPlane(t)
	addr := backend(t, "v")
	p.push(bigMesh(3, addr, 90, 10))
	m := newTestMesh(t, p)
	before := map[string]route.VirtualService{}
	for _, vs := range m.Config().VirtualServices {
		before[vs.Hosts[0]] = vs
	}
	p.push(bigMesh(3, addr, 50, 50))
	waitFor(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://svc0.test:8080/", nil)
		ds := m.Explain(req).Destinations
		return len(ds) == 2 && ds[0].Share == 0.5
	})
	after := m.Config().VirtualServices
	if len(after) != 3 {
		t.Fatalf("%d VirtualServices", len(after))
	}
	for _, vs := range after {
		old := before[vs.Hosts[0]]
		same := &old.HTTP[0] == &vs.HTTP[0] && &old.Hosts[0] == &vs.Hosts[0]
		if changed := vs.Hosts[0] == "svc0.test"; same == changed {
			t.Errorf("%s: slices kept = %t, want %t", vs.Hosts[0], same, !changed)
		}
	}
}

// TestMissingClusterIsAMissingDestination: a route to a cluster not
// (yet) received keeps its destination, which the mesh answers as one
// nothing backs (503 with an empty body, Envoy's cluster_not_found), and
// the kept translation of the route is the same once the cluster arrives.
func TestMissingClusterIsAMissingDestination(t *testing.T) {
	rs := newResources()
	cn := canary{v1: "10.0.0.1:80", v2: "10.0.0.2:80"}
	res := cn.resources(50, 50)
	l, err := translateListener(res[resourcev3.ListenerType][0].(*listenerv3.Listener))
	require.NoError(t, err)
	rir, err := translateRouteConfig(res[resourcev3.RouteType][0].(*routev3.RouteConfiguration))
	require.NoError(t, err)
	c1, err := translateCluster(edsCluster(clusterV1), false, nil)
	require.NoError(t, err)
	e1, err := translateCLA(cla(clusterV1, cn.v1), "cla", false)
	require.NoError(t, err)
	ln, rn := res[resourcev3.ListenerType][0].(*listenerv3.Listener).GetName(), res[resourcev3.RouteType][0].(*routev3.RouteConfiguration).GetName()
	rs.listeners[ln], rs.routes[rn], rs.clusters[clusterV1], rs.endpoints[clusterV1] = l, rir, c1, e1

	cfg, tr := translate(rs, nil) // v2 has not arrived
	require.Len(t, cfg.VirtualServices[0].HTTP[0].Route, 2)
	require.Len(t, cfg.DestinationRules[0].Subsets, 1, "no subset stands for v2")
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
	for _, d := range m.Explain(req).Destinations {
		if got := d.Missing != ""; got != (d.Subset == "v2") {
			t.Errorf("%s: missing %q", d.Subset, d.Missing)
		}
	}

	c2, err := translateCluster(edsCluster(clusterV2), false, nil)
	require.NoError(t, err)
	e2, err := translateCLA(cla(clusterV2, cn.v2), "cla", false)
	require.NoError(t, err)
	rs.clusters[clusterV2], rs.endpoints[clusterV2] = c2, e2
	want, _ := translate(rs, nil)
	got, _ := translate(rs, tr)
	require.Equal(t, want, got)
	require.Len(t, got.DestinationRules[0].Subsets, 2)
}
