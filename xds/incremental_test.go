package xds

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/route"
)

// translateReference is the translation done whole, as it was before it
// was made incremental: the oracle of TestIncrementalTranslationIsFresh.
func translateReference(rs *resources) switchyard.Config {
	var cfg switchyard.Config
	vsIndex := map[string]int{}
	used := map[string]bool{}
	hashes := map[string]*balancer.ConsistentHash{}
	registryOnly := false
	for _, ln := range slices.Sorted(maps.Keys(rs.listeners)) {
		l := rs.listeners[ln]
		rc := l.inline
		if rc == nil && l.rdsName != "" {
			rc = rs.routes[l.rdsName]
		}
		if rc == nil {
			continue
		}
		for vi := range rc.vhosts {
			out := translateVHost(l, &rc.vhosts[vi])
			if len(out.hosts) == 0 {
				registryOnly = registryOnly || out.blocksAll
				continue
			}
			vh := &rc.vhosts[vi]
			for k, x := range vh.extra {
				for i, cn := range x.clusters {
					used[cn] = true
					if h := x.hash[cn]; h != nil && i < len(vh.routes[k].Route) && hashes[cn] == nil {
						hashes[cn] = h
					}
				}
			}
			name := vh.vsName // the virtual host's name when Istio's metadata names none
			idx := -1
			for _, h := range out.hosts {
				if i, ok := vsIndex[h]; ok {
					idx = i
					break
				}
			}
			if idx < 0 {
				for _, h := range out.hosts {
					vsIndex[h] = len(cfg.VirtualServices)
				}
				cfg.VirtualServices = append(cfg.VirtualServices, route.VirtualService{
					Name: name, Namespace: vh.vsNS, Hosts: out.hosts, HTTP: out.httpRoutes(),
				})
				continue
			}
			vs := &cfg.VirtualServices[idx]
			for _, h := range out.hosts {
				if _, ok := vsIndex[h]; !ok {
					vsIndex[h] = idx
					vs.Hosts = append(vs.Hosts, h)
				}
			}
			vs.HTTP = append(vs.HTTP, out.httpRoutes()...)
		}
	}
	hostClusters := map[string][]string{}
	var hostOrder []string
	for _, cn := range slices.Sorted(maps.Keys(used)) {
		h := keyOf(cn).host
		if _, ok := hostClusters[h]; !ok {
			hostOrder = append(hostOrder, h)
		}
		hostClusters[h] = append(hostClusters[h], cn)
	}
	for _, h := range hostOrder {
		hs := buildHost(rs, h, hostClusters[h], hashes)
		if !hs.live {
			continue
		}
		cfg.ServiceEntries = append(cfg.ServiceEntries, *hs.se)
		cfg.DestinationRules = append(cfg.DestinationRules, *hs.dr)
	}
	if registryOnly {
		cfg.Sidecars = append(cfg.Sidecars, registryOnlySidecar)
	}
	return cfg
}

// randomMesh makes random xDS resources over a few hosts, ports and
// clusters, so that virtual hosts share hosts (and merge), routes share
// clusters, and resources come, change and go.
type randomMesh struct {
	r     *rand.Rand
	hosts []string
	ports []uint32
}

func (g *randomMesh) host() string { return g.hosts[g.r.IntN(len(g.hosts))] }
func (g *randomMesh) port() uint32 { return g.ports[g.r.IntN(len(g.ports))] }

// routeName is a RouteConfiguration's name: some as Istio names them after
// their listeners (see istioListener), which the translation does not
// index.
func (g *randomMesh) routeName() string {
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprintf("outbound|%d||%s", g.port(), g.host())
	case 1:
		return strconv.Itoa(int(g.port()))
	}
	return "rc" + strconv.Itoa(g.r.IntN(4))
}

func (g *randomMesh) clusterName() string {
	switch g.r.IntN(8) {
	case 0:
		return "PassthroughCluster"
	case 1:
		return "plain-" + strconv.Itoa(g.r.IntN(2))
	}
	return fmt.Sprintf("outbound|%d|%s|%s", g.port(), []string{"", "v1", "v2"}[g.r.IntN(3)], g.host())
}

func (g *randomMesh) listenerName() string {
	if g.r.IntN(4) == 0 {
		return fmt.Sprintf("0.0.0.0_%d", g.port()) // a sidecar's
	}
	return fmt.Sprintf("%s:%d", g.host(), g.port())
}

func (g *randomMesh) listener(name string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		HttpFilters: []*hcmv3.HttpFilter{{Name: routerFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}},
	}
	if g.r.IntN(4) == 0 {
		rc := g.routeConfig(name)
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	} else {
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
			RouteConfigName: g.routeName(),
		}}
	}
	l := &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(hcm)}}
	if g.r.IntN(2) == 0 {
		l.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: g.port()},
		}}}
	}
	return l
}

func (g *randomMesh) routeConfig(name string) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: name}
	for i := range 1 + g.r.IntN(3) {
		vh := &routev3.VirtualHost{Name: fmt.Sprintf("%s-vh%d", name, i)}
		if g.r.IntN(6) == 0 {
			vh.Domains = []string{"*"}
			if g.r.IntN(2) == 0 {
				vh.Routes = []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}},
				}}
			} else {
				vh.Routes = []*routev3.Route{g.route("/")}
			}
		} else {
			for range 1 + g.r.IntN(2) {
				h := g.host()
				if g.r.IntN(2) == 0 {
					h = fmt.Sprintf("%s:%d", h, g.port())
				}
				vh.Domains = append(vh.Domains, h)
			}
			vh.Domains = slices.Compact(vh.Domains)
			for _, p := range []string{"/a", "/"}[g.r.IntN(2):] {
				vh.Routes = append(vh.Routes, g.route(p))
			}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

func (g *randomMesh) route(prefix string) *routev3.Route {
	a := &routev3.RouteAction{}
	if n := g.r.IntN(3); n == 0 {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: g.clusterName()}
	} else {
		wc := &routev3.WeightedCluster{}
		seen := map[string]bool{}
		for range n + 1 {
			if cn := g.clusterName(); !seen[cn] {
				seen[cn] = true
				wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: cn, Weight: wrapperspb.UInt32(uint32(1 + g.r.IntN(99)))})
			}
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if g.r.IntN(3) == 0 {
		a.HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user-" + strconv.Itoa(g.r.IntN(2))},
		}}}
	}
	return &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}}, Action: &routev3.Route_Route{Route: a}}
}

func (g *randomMesh) cluster(name string) *clusterv3.Cluster {
	if name == "PassthroughCluster" {
		return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
			LbPolicy: clusterv3.Cluster_CLUSTER_PROVIDED}
	}
	c := edsCluster(name)
	switch g.r.IntN(4) {
	case 0:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
	case 1:
		// Endpoints of its own.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.EdsClusterConfig = nil
		c.LoadAssignment = g.endpoints(name)
	case 2:
		// Another cluster's endpoints.
		c.EdsClusterConfig.ServiceName = g.clusterName()
	}
	return c
}

func (g *randomMesh) endpoints(name string) *endpointv3.ClusterLoadAssignment {
	c := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for p := range g.r.IntN(3) {
		lle := &endpointv3.LocalityLbEndpoints{Priority: uint32(p)}
		for range 1 + g.r.IntN(2) {
			lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address: fmt.Sprintf("10.0.0.%d", 1+g.r.IntN(4)), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(80 + g.r.IntN(2))},
					}}},
				}},
				LoadBalancingWeight: wrapperspb.UInt32(uint32(1 + g.r.IntN(3))),
			})
		}
		c.Endpoints = append(c.Endpoints, lle)
	}
	return c
}

// push changes a few random resources of rs, noting them in ch. It
// returns whether only endpoints changed.
func (g *randomMesh) push(t *testing.T, rs *resources, ch *changes) bool {
	onlyEDS := true
	for range 1 + g.r.IntN(3) {
		remove := g.r.IntN(5) == 0
		var err error
		switch g.r.IntN(5) {
		case 0:
			n := g.listenerName()
			ch.note(&ch.listeners, n)
			onlyEDS = false
			if remove {
				delete(rs.listeners, n)
			} else if rs.listeners[n], err = translateListener(g.listener(n)); err != nil {
				t.Fatal(err)
			}
		case 1:
			n := g.routeName()
			ch.note(&ch.routes, n)
			onlyEDS = false
			if remove {
				delete(rs.routes, n)
			} else if rs.routes[n], err = translateRouteConfig(g.routeConfig(n)); err != nil {
				t.Fatal(err)
			}
		case 2:
			n := g.clusterName()
			ch.note(&ch.clusters, n)
			onlyEDS = false
			if remove {
				delete(rs.clusters, n)
			} else if rs.clusters[n], err = translateCluster(g.cluster(n), false, nil); err != nil {
				t.Fatal(err)
			}
		default:
			n := g.clusterName()
			ch.note(&ch.endpoints, n)
			if remove {
				delete(rs.endpoints, n)
			} else if rs.endpoints[n], err = translateCLA(g.endpoints(n), "cla", false); err != nil {
				t.Fatal(err)
			}
		}
	}
	return onlyEDS
}

// TestIncrementalTranslationIsFresh: after every push of random sequences
// of pushes (resources set, changed and removed), the translation updated by
// what changed is the configuration a fresh translation gives, and a mesh
// updated with it explains every request and warns as a mesh made anew
// from the fresh one. Some endpoint-only pushes take the endpoint fast path
// first, as Mesh does; pushes that change only routes are installed as
// Mesh does, replacing those VirtualServices without copying the list (and
// the configuration in force flattened now and then, as Config does).
func TestIncrementalTranslationIsFresh(t *testing.T) {
	seeds, steps := 30, 60
	if testing.Short() {
		seeds = 5
	}
	revisions := 0
	defer func() {
		if !t.Failed() && revisions == 0 {
			t.Error("no push was installed as a revision of the VirtualServices")
		}
	}()
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			g := &randomMesh{r: rand.New(rand.NewPCG(uint64(seed), 18)),
				hosts: []string{"svc0.test", "svc1.test", "svc2.test"}, ports: []uint32{8080, 9090}}
			rs, tr := newResources(), newTranslation()
			live, err := switchyard.New(switchyard.Config{})
			require.NoError(t, err)
			defer live.Close()
			ch := &changes{}
			var installed any // the token of the configuration tr installed
			for step := range steps {
				if g.push(t, rs, ch) && g.r.IntN(2) == 0 {
					// The endpoint fast path: the hosts rebuilt, the
					// lists left as they are, no update.
					for name := range ch.endpoints {
						for _, h := range tr.edsHosts(rs, name) {
							cs := tr.clustersOf(h)
							hs := buildHost(rs, h, cs, tr.hashes)
							hs.inputs = hostInputs(rs, cs, tr.hashes)
							tr.hosts[h], tr.stale[h] = hs, true
						}
					}
					*ch = changes{}
					continue
				}
				rev := tr.update(rs, ch)
				*ch = changes{}
				got := tr.config()
				want := translateReference(rs)
				require.Equal(t, want, got, "step %d", step)

				fresh, errNew := switchyard.New(want)
				var errUpdate error
				if rev != nil && installed != nil && installed == meshopt.ConfigToken(live) {
					var ok bool
					installed, ok, errUpdate = meshopt.ReviseVirtualServices(live, installed, rev.at, rev.vals)
					require.True(t, ok, "step %d", step)
					revisions++
				} else {
					installed, errUpdate = meshopt.Update(live, got)
				}
				if g.r.IntN(4) == 0 {
					require.Equal(t, got, live.Config(), "step %d", step)
				}
				require.Equal(t, errNew == nil, errUpdate == nil, "step %d: New: %v; Update: %v", step, errNew, errUpdate)
				if errNew != nil {
					continue
				}
				require.Equal(t, warningsOf(fresh), warningsOf(live), "step %d", step)
				for _, h := range g.hosts {
					for _, p := range g.ports {
						for _, path := range []string{"/", "/a"} {
							req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d%s", h, p, path), nil)
							require.Equal(t, explained(fresh, req), explained(live, req), "step %d: %s", step, req.URL)
						}
					}
				}
				fresh.Close()
			}
		})
	}
}

func warningsOf(m *switchyard.Mesh) []string {
	var out []string
	for _, w := range m.Warnings() {
		out = append(out, w.Error())
	}
	return out
}

// explained is m's explanation of req without the endpoint each
// destination would pick (which depends on the balancers' state).
func explained(m *switchyard.Mesh, req *http.Request) route.Explanation {
	e := m.Explain(req)
	for i := range e.Destinations {
		e.Destinations[i].Pick = ""
	}
	return e
}

// referenceWatches is the watches a mesh wants for rs, computed whole as
// applyLocked did before it counted them: the oracle of
// TestWatchesFollowTheResources.
func referenceWatches(rs *resources, cancels map[string]bool, proxyless bool) map[string]bool {
	want := map[string]bool{}
	for name, l := range rs.listeners {
		if proxyless {
			want[ldsKey+name] = true
		}
		if l.rdsName != "" {
			want[rdsKey+l.rdsName] = true
		}
	}
	if proxyless {
		for k := range cancels {
			if k[:4] == ldsKey {
				want[k] = true
			}
		}
		for _, l := range rs.listeners {
			rc := l.inline
			if rc == nil {
				rc = rs.routes[l.rdsName]
			}
			if rc != nil {
				for _, k := range appendClusterWatches(nil, rc) {
					want[k.String()] = true
				}
			}
		}
	} else {
		want[ldsKey+"*"], want[cdsKey+"*"] = true, true
	}
	for name, c := range rs.clusters {
		if (!proxyless || want[cdsKey+name]) && c.edsName != "" && !c.ignored {
			want[edsKey+c.edsName] = true
		}
	}
	return want
}

// TestWatchesFollowTheResources: after every push of random sequences, for
// each persona, the mesh watches what the resources imply, computed whole,
// starting those and cancelling the others; and, after a push applied
// whole (the others may take the endpoint fast path), it has installed the
// configuration a fresh translation of what it holds gives.
func TestWatchesFollowTheResources(t *testing.T) {
	for _, proxyless := range []bool{false, true} {
		t.Run(fmt.Sprintf("proxyless=%t", proxyless), func(t *testing.T) {
			p := startPlane(t)
			p.push(bigMesh(1, "10.0.0.1:80", 90, 10))
			opts := []Option{optionFunc(func(o *meshOptions) { o.watchExpiry = time.Hour })}
			if proxyless {
				opts = append(opts, Proxyless())
			}
			m := newTestMesh(t, p, opts...)
			p.stop() // nothing more arrives but what the test sets
			compared := 0
			defer func() {
				if compared < 100 {
					t.Errorf("%d configurations compared", compared)
				}
			}()
			for seed := range 10 {
				g := &randomMesh{r: rand.New(rand.NewPCG(uint64(seed), 19)),
					hosts: []string{"svc0.test", "svc1.test", "svc2.test"}, ports: []uint32{8080, 9090}}
				for step := range 40 {
					scratch := newResources()
					m.mu.Lock()
					var names []string // endpoints the configuration uses
					for _, n := range slices.Sorted(maps.Keys(m.rs.endpoints)) {
						if len(m.inc.edsHosts(m.rs, n)) > 0 {
							names = append(names, n)
						}
					}
					if len(names) > 0 && g.r.IntN(2) == 0 {
						// New weights for the same endpoints: the endpoint
						// fast path's case.
						n := names[g.r.IntN(len(names))]
						eps := slices.Clone(m.rs.endpoints[n].eps)
						for i := range eps {
							eps[i].weight = uint32(1 + g.r.IntN(3))
						}
						scratch.endpoints[n] = &endpointsIR{eps: eps}
					} else {
						g.push(t, scratch, &changes{})
					}
					for n, l := range scratch.listeners {
						m.setLocked(ldsKey, n, l)
					}
					for n, r := range scratch.routes {
						m.setLocked(rdsKey, n, r)
					}
					for n, c := range scratch.clusters {
						m.setLocked(cdsKey, n, c)
					}
					for n, e := range scratch.endpoints {
						m.setLocked(edsKey, n, e)
					}
					if g.r.IntN(10) == 0 {
						// A removal.
						for n := range m.rs.listeners {
							m.setLocked(ldsKey, n, nil)
							break
						}
					}
					want := referenceWatches(m.rs, watchKeys(m), proxyless)
					whole := g.r.IntN(2) == 0
					m.full = m.full || whole
					m.applyLocked()
					var fresh, installed *switchyard.Config
					if whole && m.updateErr == nil {
						f, i := translateReference(m.rs), m.Mesh.Config()
						fresh, installed = &f, &i
						compared++
					}
					got := map[string]bool{}
					for k := range watchKeys(m) {
						got[k] = true
					}
					for k := range m.unwatched {
						got[k.String()] = true
					}
					m.mu.Unlock()
					require.Equal(t, want, got, "seed %d step %d", seed, step)
					if fresh != nil {
						require.Equal(t, *fresh, *installed, "seed %d step %d", seed, step)
					}
				}
			}
		})
	}
}

// The listener Istio's conventions name after a RouteConfiguration, which
// the translation finds by name instead of indexing it.
func TestIstioListenerNames(t *testing.T) {
	for _, tc := range []struct{ route, listener string }{
		{"outbound|9080||reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080"},
		{"9080", "0.0.0.0_9080"},
		{"outbound|9080|v1|reviews.test", ""},
		{"outbound|http||reviews.test", ""},
		{"outbound|9080||", ""},
		{"outbound|9080||a|b", ""},
		{"inbound|9080||reviews.test", ""},
		{"123456", ""},
		{"rc0", ""},
		{"", ""},
	} {
		require.Equal(t, tc.listener, istioListener(tc.route), "%q", tc.route)
		for _, n := range []string{"reviews.test:9080", "0.0.0.0_9080", "reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local:90800", ""} {
			require.Equal(t, tc.listener != "" && n == tc.listener, isIstioListener(n, tc.route), "listener %q, route %q", n, tc.route)
		}
	}
}
