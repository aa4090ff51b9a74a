package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/subset"
)

func reviews() subset.ServiceEntry {
	return subset.ServiceEntry{
		Name: "reviews", Namespace: "default",
		Hosts:      []string{"reviews"},
		Ports:      []subset.Port{{Number: 9080, Name: "http", Protocol: "HTTP"}, {Number: 9090, Name: "admin", TargetPort: 19090}},
		Resolution: "STATIC",
		Endpoints: []subset.WorkloadEntry{
			{Address: "10.0.0.1", Labels: map[string]string{"version": "v1"}},
			{Address: "10.0.0.2", Labels: map[string]string{"version": "v2"}, Ports: map[string]uint32{"http": 8080}},
			{Address: "fd00::3", Labels: map[string]string{"version": "v2"}, Weight: 3},
		},
	}
}

func addresses(c *Cluster) []string {
	var out []string
	for _, e := range c.Endpoints() {
		out = append(out, e.Address)
	}
	return out
}

func TestClustersSelectEndpointsAndPorts(t *testing.T) {
	r, err := Compile([]subset.ServiceEntry{reviews()}, []subset.DestinationRule{{
		Name: "reviews", Host: "reviews",
		Subsets: []subset.Subset{{Name: "v2", Labels: map[string]string{"version": "v2"}}},
	}}, Options{})
	require.NoError(t, err)

	svc := r.Lookup("reviews")
	require.NotNil(t, svc)
	all := svc.Cluster("", 9080)
	assert.Equal(t, "outbound|9080||reviews", all.Name)
	assert.Equal(t, []string{"10.0.0.1:9080", "10.0.0.2:8080", "[fd00::3]:9080"}, addresses(all))
	assert.Equal(t, []string{"10.0.0.1:19090", "10.0.0.2:19090", "[fd00::3]:19090"}, addresses(svc.Cluster("", 9090)),
		"targetPort applies when the endpoint names no port")
	v2 := svc.Cluster("v2", 9080)
	assert.Equal(t, "outbound|9080|v2|reviews", v2.Name)
	assert.Equal(t, []string{"10.0.0.2:8080", "[fd00::3]:9080"}, addresses(v2))
	assert.EqualValues(t, 3, v2.Endpoints()[1].Weight)
}

func TestTargetPicksClusterByPort(t *testing.T) {
	r, err := Compile([]subset.ServiceEntry{reviews()}, nil, Options{})
	require.NoError(t, err)
	tg := r.Target("reviews", "", 0)
	require.Empty(t, tg.Missing())
	assert.EqualValues(t, 9090, tg.Cluster(9090).Port)
	assert.Nil(t, tg.Cluster(80), "two ports and the request names neither")
	tg = r.Target("reviews", "", 9090)
	require.Empty(t, tg.Missing())
	assert.EqualValues(t, 9090, tg.Cluster(80).Port)

	// Istio accepts destinations nothing backs; they name no cluster.
	for _, tt := range []struct {
		host, subset string
		port         uint32
		why          string
	}{
		{"ratings", "", 0, `no ServiceEntry defines host "ratings"`},
		{"reviews", "v9", 0, `subset "v9" of host "reviews" is not defined: no DestinationRule has host "reviews"`},
		{"reviews", "", 7000, `host "reviews" has no port 7000; its ports are 9080, 9090`},
	} {
		tg := r.Target(tt.host, tt.subset, tt.port)
		assert.Equal(t, tt.why, tg.Missing())
		assert.Nil(t, tg.Cluster(9080))
	}
}

func TestSinglePortServiceAnswersAnyRequestPort(t *testing.T) {
	se := reviews()
	se.Ports = se.Ports[:1]
	r, err := Compile([]subset.ServiceEntry{se}, nil, Options{})
	require.NoError(t, err)
	tg := r.Target("reviews", "", 0)
	require.Empty(t, tg.Missing())
	assert.EqualValues(t, 9080, tg.Cluster(80).Port)
}

func TestDNSWithoutEndpointsUsesHosts(t *testing.T) {
	r, err := Compile([]subset.ServiceEntry{{
		Name: "ext", Hosts: []string{"api.example.com"}, Ports: []subset.Port{{Number: 443, Name: "p443"}}, Resolution: "DNS",
	}}, nil, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"api.example.com:443"}, addresses(r.Lookup("api.example.com").Cluster("", 443)))
}

func TestResolutionNoneIsPassthroughAndWildcardsMatch(t *testing.T) {
	r, err := Compile([]subset.ServiceEntry{{Name: "any", Hosts: []string{"*.example.com"}, Ports: []subset.Port{{Number: 80, Name: "p80"}}}}, nil, Options{})
	require.NoError(t, err)
	svc := r.Lookup("www.example.com")
	require.NotNil(t, svc)
	assert.True(t, svc.Cluster("", 80).Passthrough)
	assert.Nil(t, r.Lookup("example.com"))
}

func TestPolicyPrecedence(t *testing.T) {
	rr := &balancer.Settings{Simple: balancer.SimpleRoundRobin}
	random := &balancer.Settings{Simple: balancer.SimpleRandom}
	lr := &balancer.Settings{Simple: balancer.SimpleLeastRequest}
	dr := &subset.DestinationRule{
		Host: "reviews",
		TrafficPolicy: &subset.TrafficPolicy{
			LoadBalancer:      rr,
			PortLevelSettings: []subset.PortTrafficPolicy{{Port: subset.PortSelector{Number: 9090}}},
		},
	}
	assert.Same(t, rr, resolvePolicy(dr, subset.Subset{}, 9080).LoadBalancer, "rule policy")
	assert.Nil(t, resolvePolicy(dr, subset.Subset{}, 9090).LoadBalancer, "rule port-level entry replaces wholesale: default")
	ss := subset.Subset{Name: "v1", TrafficPolicy: &subset.TrafficPolicy{LoadBalancer: random}}
	assert.Same(t, random, resolvePolicy(dr, ss, 9080).LoadBalancer, "subset component overrides")
	assert.Same(t, random, resolvePolicy(dr, ss, 9090).LoadBalancer, "subset component overrides rule port level")
	ss.TrafficPolicy.PortLevelSettings = []subset.PortTrafficPolicy{{Port: subset.PortSelector{Number: 9080}, LoadBalancer: lr}}
	assert.Same(t, lr, resolvePolicy(dr, ss, 9080).LoadBalancer, "subset port level is most specific")
}

func TestEndpointStateSurvivesRecompile(t *testing.T) {
	r1, err := Compile([]subset.ServiceEntry{reviews()}, nil, Options{})
	require.NoError(t, err)
	ep := r1.Lookup("reviews").Cluster("", 9080).Endpoints()[0]
	ep.State.Begin()

	se := reviews()
	se.Endpoints = append(se.Endpoints, subset.WorkloadEntry{Address: "10.0.0.9"})
	r2, err := Compile([]subset.ServiceEntry{se}, nil, Options{Previous: r1})
	require.NoError(t, err)
	eps := r2.Lookup("reviews").Cluster("", 9080).Endpoints()
	require.Len(t, eps, 4)
	assert.Same(t, ep.State, eps[0].State)
	assert.EqualValues(t, 1, eps[0].State.Active())
	assert.Zero(t, eps[3].State.Active())
}

// A request still in flight on the configuration an Update replaced can
// eject an endpoint both configurations have: the new cluster stops
// picking it at once, as if the new configuration had seen the failures.
func TestEjectionOnTheReplacedRegistryReachesTheNewCluster(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	dr := []subset.DestinationRule{{Name: "reviews", Host: "reviews", TrafficPolicy: &subset.TrafficPolicy{
		OutlierDetection: &outlier.Config{MaxEjectionPercent: 100, BaseEjectionTime: time.Minute}}}}
	r1, err := Compile([]subset.ServiceEntry{reviews()}, dr, Options{Clock: clk})
	require.NoError(t, err)
	r1.Activate(nil)
	r2, err := Compile([]subset.ServiceEntry{reviews()}, dr, Options{Clock: clk, Previous: r1})
	require.NoError(t, err)
	r2.Activate(r1)
	defer r2.Stop()

	old, next := r1.Lookup("reviews").Cluster("", 9080), r2.Lookup("reviews").Cluster("", 9080)
	ep := old.Endpoints()[0]
	for range 5 {
		old.Record(ep, ejection.Outcome{Status: 503})
	}
	require.Len(t, next.Available(), 2, "the new cluster no longer balances over %s", ep.Address)
	for range 50 {
		got, err := next.Pick()
		require.NoError(t, err)
		require.NotEqual(t, ep.Address, got.Address)
	}
	clk.Advance(time.Minute)
	assert.Len(t, next.Available(), 3, "and takes it back on its own sweep")
}

func TestCompileErrors(t *testing.T) {
	bad := reviews()
	bad.Resolution = "DNZ"
	bad.Ports = append(bad.Ports, subset.Port{Number: 9080, Name: "http", Protocol: "QUIC"})
	bad.Endpoints = append(bad.Endpoints, subset.WorkloadEntry{Address: "reviews.local", Ports: map[string]uint32{"nope": 1}})
	_, err := Compile([]subset.ServiceEntry{bad}, nil, Options{})
	require.Error(t, err)
	assert.Equal(t, `ServiceEntry "default/reviews": spec.resolution: unknown resolution "DNZ"; use NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS
ServiceEntry "default/reviews": spec.ports[2].number: port 9080 is listed twice
ServiceEntry "default/reviews": spec.ports[2].name: port name "http" is used twice
ServiceEntry "default/reviews": spec.ports[2].protocol: unknown protocol "QUIC"
ServiceEntry "default/reviews": spec.endpoints[3].ports["nope"]: no service port is named "nope"`, err.Error())

	r, err := Compile([]subset.ServiceEntry{reviews()}, []subset.DestinationRule{
		{Name: "a", Host: "reviews", Subsets: []subset.Subset{{Name: "v3", Labels: map[string]string{"version": "v3"}}}},
		{Name: "b", Host: "reviews", Subsets: []subset.Subset{{Name: "v3"}}},
		{Name: "c", Host: "ratings"},
	}, Options{})
	require.NoError(t, err, "Istio accepts all three")
	var warnings []string
	for _, w := range r.Warnings() {
		warnings = append(warnings, w.Error())
	}
	assert.Equal(t, []string{
		`DestinationRule "c": spec.host: no ServiceEntry defines host "ratings", so this rule applies to nothing (in a cluster Istio would apply it to a Kubernetes service of that name: add a ServiceEntry that lists its endpoints)`,
		`DestinationRule "b": spec.subsets[0]: ignored: subset "v3" of host "reviews" is already defined by an earlier rule, and Istio keeps the first`,
		`DestinationRule "a": spec.subsets[0].labels: subset "v3" selects no endpoint of "reviews" (no endpoint has labels {version=v3}): requests routed to it get 503 no healthy upstream`,
	}, warnings)

	_, err = Compile([]subset.ServiceEntry{reviews()}, []subset.DestinationRule{
		{Name: "a", Host: "reviews", Subsets: []subset.Subset{{Name: "v3", Labels: map[string]string{"version": "v3"}}, {Name: "v3"}},
			TrafficPolicy: &subset.TrafficPolicy{}},
		{Name: "b", Host: "reviews"},
		{Name: "c", Host: "ratings"},
	}, Options{})
	require.Error(t, err)
	assert.Equal(t, `DestinationRule "a": spec.trafficPolicy: a traffic policy must set at least one field
DestinationRule "a": spec.subsets[1].name: subset "v3" is defined twice`, err.Error())
}

func TestFormatLabelsIsShort(t *testing.T) {
	assert.Equal(t, "{a=1,b=2}", formatLabels(map[string]string{"b": "2", "a": "1"}))
	long := map[string]string{"k": strings.Repeat("v", 1000)}
	assert.Equal(t, "{k="+strings.Repeat("v", 62)+"…}", formatLabels(long))
	many := map[string]string{}
	for i := range 100 {
		many[fmt.Sprintf("label-%03d", i)] = "value"
	}
	assert.Less(t, len(formatLabels(many)), maxLabelsText+100)
	assert.True(t, strings.HasSuffix(formatLabels(many), " more}"))
}
