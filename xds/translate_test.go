package xds

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
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
