package xds

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/retry"
	"github.com/switchyard-go/switchyard/route"
)

// Clusters of the same connection-pool and load-balancer settings share
// one decoded copy of them; clusters that differ do not, and settings with
// pointers of their own are never shared.
func TestDecodedClustersShareEqualSettings(t *testing.T) {
	decode := func(c *clusterv3.Cluster) *clusterIR {
		t.Helper()
		ir, err := translateCluster(c, false, nil)
		require.NoError(t, err)
		return ir
	}
	a, b := decode(edsCluster("a")), decode(edsCluster("b"))
	require.Same(t, a.policy.ConnectionPool, b.policy.ConnectionPool)
	require.Same(t, a.policy.LoadBalancer, b.policy.LoadBalancer)
	require.Same(t, a.policy, b.policy)

	limited := edsCluster("c")
	limited.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(10)}}}
	limited.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	c := decode(limited)
	require.NotSame(t, a.policy.ConnectionPool, c.policy.ConnectionPool)
	require.Equal(t, int32(10), c.policy.ConnectionPool.HTTP.HTTP2MaxRequests)
	require.Equal(t, int32(1024), a.policy.ConnectionPool.HTTP.HTTP2MaxRequests)
	require.NotSame(t, a.policy.LoadBalancer, c.policy.LoadBalancer)
	require.NotSame(t, a.policy, c.policy)

	keepalive := edsCluster("d")
	keepalive.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{KeepaliveProbes: wrapperspb.UInt32(3)}}
	d1, d2 := decode(keepalive), decode(keepalive)
	require.NotSame(t, d1.policy.ConnectionPool, d2.policy.ConnectionPool)
	require.Equal(t, &pool.TCPKeepalive{Probes: 3}, d1.policy.ConnectionPool.TCP.TCPKeepalive)
	require.NotSame(t, d1.policy, d2.policy)
}

// A subset's (or host's) traffic policy is its cluster's decoded one when
// the host changes none of it; a second port's setting goes to a copy,
// leaving the decoded policy, which other clusters share, as it was.
func TestHostsShareTheDecodedPolicy(t *testing.T) {
	rs := newResources()
	for _, cn := range []string{"outbound|8080|v1|a.test", "outbound|9090|v1|a.test", "outbound|8080||a.test"} {
		c, err := translateCluster(edsCluster(cn), false, nil)
		require.NoError(t, err)
		rs.clusters[cn] = c
		e, err := translateCLA(cla(cn, "10.0.0.1:9080"), cn, false)
		require.NoError(t, err)
		rs.endpoints[cn] = e
	}
	shared := rs.clusters["outbound|8080|v1|a.test"].policy
	require.Nil(t, shared.PortLevelSettings)

	one := buildHost(rs, "a.test", []string{"outbound|8080|v1|a.test", "outbound|8080||a.test"}, nil)
	require.Same(t, shared, one.dr.TrafficPolicy)
	require.Same(t, shared, one.dr.Subsets[0].TrafficPolicy)

	two := buildHost(rs, "a.test", []string{"outbound|8080|v1|a.test", "outbound|9090|v1|a.test"}, nil)
	tp := two.dr.Subsets[0].TrafficPolicy
	require.NotSame(t, shared, tp)
	require.Len(t, tp.PortLevelSettings, 1)
	require.Equal(t, uint32(9090), tp.PortLevelSettings[0].Port.Number)
	require.Same(t, shared.LoadBalancer, tp.LoadBalancer)
	require.Nil(t, shared.PortLevelSettings, "the decoded policy is unchanged")
	require.Same(t, shared, rs.clusters["outbound|9090|v1|a.test"].policy)
	require.NotSame(t, &one.dr.Subsets[0], &two.dr.Subsets[0], "subsets of other policies")
	require.Same(t, shared, one.dr.Subsets[0].TrafficPolicy)
}

// A route's matches are bound to its listener's port, whatever the port
// its RouteConfiguration's name suggests; the translation shares the
// decoded matches when the two agree.
func TestRouteMatchesBoundToTheListenerPort(t *testing.T) {
	rc := func(name string) *routev3.RouteConfiguration {
		return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
			Name: "h", Domains: []string{"h.test"},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/api"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "outbound|8080||h.test"}}},
			}},
		}}}
	}
	for _, tc := range []struct {
		rc         string
		port       uint32
		wantShared bool
	}{
		{"8080", 8080, true},
		{"outbound|8080||h.test", 8080, true},
		{"8080", 9090, false},
		{"8080", 0, false},
		{"routes", 8080, false},
		{"routes", 0, true},
	} {
		ir, err := translateRouteConfig(rc(tc.rc))
		require.NoError(t, err)
		vh := &ir.vhosts[0]
		out := translateVHost(&listenerIR{port: tc.port}, vh)
		routes := out.httpRoutes()
		require.Len(t, routes, 1)
		got := routes[0].Match
		require.Len(t, got, 1)
		require.Equal(t, tc.port, got[0].Port, "RouteConfiguration %q, listener port %d", tc.rc, tc.port)
		require.Equal(t, tc.wantShared, &got[0] == &vh.routes[0].Match[0], "RouteConfiguration %q, listener port %d: shared", tc.rc, tc.port)
		// The routes too, with their destinations resolved at decoding.
		require.Equal(t, tc.wantShared, &routes[0] == &vh.routes[0], "RouteConfiguration %q, listener port %d: route shared", tc.rc, tc.port)
		require.Equal(t, cap(routes), len(routes), "appending to the routes copies them")
		require.Equal(t, route.Destination{Host: "h.test", Port: &route.PortSelector{Number: 8080}}, routes[0].Route[0].Destination)
		require.Equal(t, []string{"outbound|8080||h.test"}, slices.Collect(out.clusters()))
		require.Equal(t, "/api", *got[0].URI.Prefix)
	}
}

// Decoded resources hold no spare capacity: a RouteConfiguration's virtual
// hosts and routes, and a ClusterLoadAssignment's endpoints, are allocated
// at their size.
func TestDecodedResourcesAreAllocatedAtTheirSize(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "9080"}
	for i := range 5 {
		vh := &routev3.VirtualHost{Name: strconv.Itoa(i), Domains: []string{"h" + strconv.Itoa(i) + ".test"}}
		for range 3 {
			vh.Routes = append(vh.Routes, &routev3.Route{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}},
			})
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	ir, err := translateRouteConfig(rc)
	require.NoError(t, err)
	require.Len(t, ir.vhosts, 5)
	require.Equal(t, 5, cap(ir.vhosts))
	for _, vh := range ir.vhosts {
		require.Len(t, vh.routes, 3)
		require.Equal(t, 3, cap(vh.routes))
	}

	c := cla("c", "10.0.0.1:80")
	for i := 2; i <= 5; i++ {
		c.Endpoints = append(c.Endpoints, cla("c", "10.0.0."+strconv.Itoa(i)+":80").Endpoints...)
	}
	eps, err := translateCLA(c, "c", false)
	require.NoError(t, err)
	require.Len(t, eps.eps, 5)
	require.Equal(t, 5, cap(eps.eps))
}

// Routes of the same retry policy (istiod writes the same on every route)
// share one decoded copy of it; a route of another policy does not.
func TestDecodedRoutesShareEqualRetryPolicies(t *testing.T) {
	istio := func() *routev3.RetryPolicy {
		return &routev3.RetryPolicy{
			RetryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", NumRetries: wrapperspb.UInt32(2),
			RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{Name: previousHostsPredicate}},
		}
	}
	decode := func(rp *routev3.RetryPolicy) *retry.Config {
		t.Helper()
		e, err := translateRoute(&routev3.Route{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, RetryPolicy: rp}},
		}, "route", nil, nil)
		require.NoError(t, err)
		return e.r.Retries
	}
	a, b := decode(istio()), decode(istio())
	require.Same(t, a, b)
	require.Equal(t, int32(2), a.Attempts)
	require.True(t, *a.RetryIgnorePreviousHosts)

	three := istio()
	three.NumRetries = wrapperspb.UInt32(3)
	c := decode(three)
	require.NotSame(t, a, c)
	require.Equal(t, int32(3), c.Attempts)
	noPredicate := istio()
	noPredicate.RetryHostPredicate = nil
	d := decode(noPredicate)
	require.NotSame(t, a, d)
	require.False(t, *d.RetryIgnorePreviousHosts)

	require.Same(t, decode(nil), decode(nil))
	require.Equal(t, int32(0), decode(nil).Attempts)
}

// Clusters of the same outlier detection share one decoded copy of it; a
// cluster of another does not.
func TestDecodedClustersShareEqualOutlierDetection(t *testing.T) {
	decode := func(consecutive5xx uint32) *clusterIR {
		t.Helper()
		c := edsCluster("c")
		c.OutlierDetection = &clusterv3.OutlierDetection{EnforcingSuccessRate: wrapperspb.UInt32(0), Consecutive_5Xx: wrapperspb.UInt32(consecutive5xx)}
		ir, err := translateCluster(c, false, nil)
		require.NoError(t, err)
		return ir
	}
	a, b, c := decode(7), decode(7), decode(8)
	require.Same(t, a.policy.OutlierDetection, b.policy.OutlierDetection)
	require.NotSame(t, a.policy.OutlierDetection, c.policy.OutlierDetection)
	require.Equal(t, uint32(7), *a.policy.OutlierDetection.Consecutive5xxErrors)
	require.Equal(t, uint32(8), *c.policy.OutlierDetection.Consecutive5xxErrors)
}

// Hosts whose endpoints and subsets have the same ports and labels share
// one copy of each map (the configuration never modifies them); other
// ports get their own, and a table full starts again without changing the
// maps in use.
func TestHostsShareEqualEndpointMaps(t *testing.T) {
	rs := newResources()
	add := func(cn, addr string) {
		t.Helper()
		c, err := translateCluster(edsCluster(cn), false, nil)
		require.NoError(t, err)
		rs.clusters[cn] = c
		e, err := translateCLA(cla(cn, addr), cn, false)
		require.NoError(t, err)
		rs.endpoints[cn] = e
	}
	clusters := func(h string) []string {
		return []string{"outbound|8080|v1|" + h, "outbound|8080|v2|" + h}
	}
	for i, h := range []string{"a.test", "b.test"} {
		cs := clusters(h)
		add(cs[0], "10.0.0."+strconv.Itoa(i+1)+":9080")
		add(cs[1], "10.0.1."+strconv.Itoa(i+1)+":9080")
	}
	a, b := buildHost(rs, "a.test", clusters("a.test"), nil), buildHost(rs, "b.test", clusters("b.test"), nil)
	same := func(x, y any) bool { return reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer() }
	require.Len(t, a.se.Endpoints, 2)
	require.Len(t, b.se.Endpoints, 2)
	for i := range 2 {
		require.True(t, same(a.se.Endpoints[i].Ports, b.se.Endpoints[i].Ports))
		require.True(t, same(a.se.Endpoints[i].Labels, b.se.Endpoints[i].Labels))
		require.True(t, same(a.dr.Subsets[i].Labels, b.dr.Subsets[i].Labels))
		require.True(t, same(a.dr.Subsets[i].Labels, a.se.Endpoints[i].Labels), "a subset's labels and its only endpoint's")
	}
	require.Equal(t, map[string]uint32{"p8080": 9080}, a.se.Endpoints[0].Ports)
	require.Equal(t, map[string]string{subsetLabelPrefix + "v1": "true"}, a.se.Endpoints[0].Labels)
	require.Equal(t, map[string]string{subsetLabelPrefix + "v2": "true"}, b.dr.Subsets[1].Labels)

	add("outbound|8080|v1|c.test", "10.0.2.1:9090")
	c := buildHost(rs, "c.test", []string{"outbound|8080|v1|c.test"}, nil)
	require.Equal(t, map[string]uint32{"p8080": 9090}, c.se.Endpoints[0].Ports)
	require.False(t, same(a.se.Endpoints[0].Ports, c.se.Endpoints[0].Ports))

	// The ServiceEntries' ports and DestinationRules' subsets likewise,
	// clipped.
	require.Same(t, &a.se.Ports[0], &b.se.Ports[0])
	require.Same(t, &a.se.Ports[0], &c.se.Ports[0], "the same service port, other endpoint ports")
	require.Equal(t, len(a.se.Ports), cap(a.se.Ports))
	require.Same(t, &a.dr.Subsets[0], &b.dr.Subsets[0])
	require.Equal(t, len(a.dr.Subsets), cap(a.dr.Subsets))
	require.Len(t, c.dr.Subsets, 1)
	require.NotSame(t, &a.dr.Subsets[0], &c.dr.Subsets[0], "other subsets")
	require.Equal(t, a.dr.Subsets[0], c.dr.Subsets[0])

	for i := range maxSharedMaps {
		sharedPortMaps.shared(map[string]uint32{"x": uint32(i)})
	}
	a2 := buildHost(rs, "a.test", clusters("a.test"), nil)
	require.Equal(t, a.se, a2.se)
	require.Equal(t, map[string]uint32{"p8080": 9080}, a.se.Endpoints[0].Ports)
	require.LessOrEqual(t, len(sharedPortMaps.m), maxSharedMaps)
}

// A translated virtual host's hosts are its decoded domains' array when
// they are its first domains as they are (istiod's "host", "host:port"),
// and a copy otherwise; either way appending to them copies.
func TestVirtualHostHostsShareTheDomains(t *testing.T) {
	for _, tc := range []struct {
		domains []string
		hosts   []string
		shared  bool
	}{
		{[]string{"a.test", "a.test:8080"}, []string{"a.test"}, true},
		{[]string{"a.test", "b.test", "b.test:80"}, []string{"a.test", "b.test"}, true},
		{[]string{"a.test:8080", "a.test"}, []string{"a.test"}, false},
		{[]string{"A.test"}, []string{"a.test"}, false},
	} {
		vh := &vhostIR{domains: tc.domains}
		out := translateVHost(&listenerIR{}, vh)
		require.Equal(t, tc.hosts, out.hosts, "%q", tc.domains)
		require.Equal(t, tc.shared, &out.hosts[0] == &vh.domains[0], "%q: shared", tc.domains)
		require.Equal(t, len(out.hosts), cap(out.hosts), "%q: clipped", tc.domains)
	}
}

// Endpoints of the same locality, priority and locality weight share one
// decoded copy of them, across ClusterLoadAssignments.
func TestDecodedEndpointsShareTheirLocality(t *testing.T) {
	decode := func(c *endpointv3.ClusterLoadAssignment) *endpointsIR {
		t.Helper()
		e, err := translateCLA(c, "cla", false)
		require.NoError(t, err)
		return e
	}
	a, b := cla("a", "10.0.0.1:80"), cla("b", "10.0.0.2:80")
	for _, c := range []*endpointv3.ClusterLoadAssignment{a, b} {
		c.Endpoints[0].Locality = &corev3.Locality{Region: "r", Zone: "z"}
	}
	ea, eb := decode(a), decode(b)
	require.Same(t, ea.eps[0].localityIR, eb.eps[0].localityIR)
	require.Equal(t, localityIR{locality: "r/z"}, *ea.eps[0].localityIR)

	b.Endpoints[0].Priority = 1
	eb = decode(b)
	require.NotSame(t, ea.eps[0].localityIR, eb.eps[0].localityIR)
	require.Equal(t, localityIR{locality: "r/z", priority: 1}, *eb.eps[0].localityIR)
}

// Maps of different entries are never shared, however their keys and
// values split the same bytes.
func TestSharedMapsAreKeyedByTheirEntries(t *testing.T) {
	var tbl mapTable[string]
	maps := []map[string]string{
		{"ab": "c"}, {"a": "bc"}, {"a\x00b": "c"}, {"a": "b\x00c"}, {"a": "b", "c": "d"}, {"a": "bcd"}, {},
	}
	got := make([]map[string]string, len(maps))
	for i, m := range maps {
		got[i] = tbl.shared(m)
		require.Equal(t, m, got[i])
	}
	for i := range maps {
		require.Equal(t, maps[i], tbl.shared(map[string]string(maps[i])), "%q", maps[i])
	}
	require.Len(t, tbl.m, len(maps))
}
