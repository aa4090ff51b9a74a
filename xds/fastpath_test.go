package xds

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/route"
)

// claOf is a ClusterLoadAssignment of the given endpoints (none: empty).
func claOf(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	c := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{}}}
	for _, addr := range addrs {
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		c.Endpoints[0].LbEndpoints = append(c.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(n)},
			}}},
		}}})
	}
	return c
}

// explainNow is how the mesh routes a request to the service, without its
// live state.
func explainNow(m *switchyard.Mesh) route.Explanation {
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
	e := m.Explain(req)
	for i := range e.Destinations {
		d := &e.Destinations[i]
		d.Pick = ""
		d.Endpoints = slices.Clone(d.Endpoints)
		for j := range d.Endpoints {
			d.Endpoints[j].Active = 0
		}
	}
	return e
}

// requireRoutesAsTranslated checks that m routes as a mesh made afresh
// from the full translation of the resources it holds.
func requireRoutesAsTranslated(t *testing.T, m *Mesh) {
	t.Helper()
	m.mu.Lock()
	cfg, _ := translate(m.rs, nil)
	m.mu.Unlock()
	fresh, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer fresh.Close()
	require.Equal(t, explainNow(fresh), explainNow(m.Mesh))
}

// endpointsOf returns the endpoints of the service's subset as Explain
// shows them.
func endpointsOf(m *Mesh, subset string) []route.EndpointTrace {
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
	for _, d := range m.Explain(req).Destinations {
		if d.Subset == subset {
			return d.Endpoints
		}
	}
	return nil
}

// An EDS-only push goes through the endpoint fast path: the configuration
// is not recompiled, the endpoint that stays keeps its live state (a
// request in flight), and the mesh routes as the full translation would.
// A push that empties a subset still does; one that also changes anything
// else takes the full path, which does not bring back endpoints the fast path set
// earlier.
func TestEDSOnlyPushTakesTheFastPath(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			release := make(chan struct{})
			hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hang" {
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
				io.WriteString(w, "v1")
			}))
			t.Cleanup(hang.Close)
			a, b, v2 := hang.Listener.Addr().String(), backend(t, "v1b"), backend(t, "v2")

			p := startPlane(t)
			push := func(w1, w2 uint32, v1eps, v2eps []string) {
				cn := canary{v1: a, v2: v2}
				res := cn.resources(w1, w2)
				res[resourcev3.EndpointType] = []types.Resource{claOf(clusterV1, v1eps...), claOf(clusterV2, v2eps...)}
				p.push(res)
			}
			push(100, 0, []string{a}, []string{v2})
			m := newTestMesh(t, p, ps.opts...)
			c := &http.Client{Transport: m.Transport(nil)}
			count(t, c, 1)
			waitShares(t, m, "v1=100")

			done := make(chan error, 1)
			go func() {
				resp, err := c.Get("http://" + listenerName + "/hang")
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			defer func() {
				close(release)
				require.NoError(t, <-done)
			}()
			waitFor(t, func() bool { eps := endpointsOf(m, "v1"); return len(eps) == 1 && eps[0].Active == 1 })
			before := m.Mesh.Config()

			// EDS only: v1 gains an endpoint.
			push(100, 0, []string{a, b}, []string{v2})
			waitFor(t, func() bool { return len(endpointsOf(m, "v1")) == 2 })
			require.True(t, sameConfig(before, m.Mesh.Config()), "an EDS-only push recompiled the configuration")
			eps := endpointsOf(m, "v1")
			require.Equal(t, a, eps[0].Address)
			require.EqualValues(t, 1, eps[0].Active, "the endpoint that stayed lost its request in flight")
			requireRoutesAsTranslated(t, m)
			require.NoError(t, m.Err())

			// A batch of changes with v1 back to its first endpoint and
			// something else (as when the client delivers a cluster and an
			// endpoint change together): the full path, which must not
			// keep the endpoints the fast path set although its
			// configuration, older than they are, says the same.
			ir, err := translateCLA(claOf(clusterV1, a), "test", false)
			require.NoError(t, err)
			m.mu.Lock()
			m.setLocked(edsKey, clusterV1, ir)
			m.setLocked(cdsKey, clusterV2, m.rs.clusters[clusterV2])
			m.applyLocked()
			m.mu.Unlock()
			require.False(t, sameConfig(before, m.Mesh.Config()))
			require.Len(t, endpointsOf(m, "v1"), 1)
			require.EqualValues(t, 1, endpointsOf(m, "v1")[0].Active)
			requireRoutesAsTranslated(t, m)

			// Routes change: the full path.
			push(50, 50, []string{a}, []string{v2})
			waitShares(t, m, "v1=50 v2=50")
			require.Len(t, endpointsOf(m, "v1"), 1)
			requireRoutesAsTranslated(t, m)

			// EDS only, and v2 loses its last endpoint: still the fast
			// path. v2 keeps its share, answered 503 "no healthy upstream"
			// as Envoy answers for a cluster without endpoints (and as the
			// mesh built from YAML does for a subset that selects nothing).
			installed := m.Mesh.Config()
			push(50, 50, []string{a}, nil)
			waitFor(t, func() bool { return len(endpointsOf(m, "v2")) == 0 })
			require.Equal(t, "v1=50 v2=50", shares(m))
			require.True(t, sameConfig(installed, m.Mesh.Config()), "an emptied subset takes the fast path")
			requireRoutesAsTranslated(t, m)
			require.NoError(t, m.Err())
		})
	}
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

// sameConfig reports whether a and b are the same configuration value:
// their slices share their arrays.
func sameConfig(a, b switchyard.Config) bool {
	return sameSlice(a.ServiceEntries, b.ServiceEntries) && sameSlice(a.DestinationRules, b.DestinationRules) &&
		sameSlice(a.VirtualServices, b.VirtualServices) && sameSlice(a.Gateways, b.Gateways) && sameSlice(a.Sidecars, b.Sidecars)
}

// TestUpdateBetweenTheTokenCheckAndTheFastPath: a user's Update that lands
// after the endpoint fast path saw its translation in force, but before it
// set the endpoints, does not get the push's endpoints set on it: the push
// is translated whole, as after any Update.
func TestUpdateBetweenTheTokenCheckAndTheFastPath(t *testing.T) {
	a, b, v2 := backend(t, "v1"), backend(t, "v1b"), backend(t, "v2")
	p := startPlane(t)
	push := func(v1 string) {
		res := canary{v1: a, v2: v2}.resources(50, 50)
		res[resourcev3.EndpointType] = []types.Resource{claOf(clusterV1, v1), claOf(clusterV2, v2)}
		p.push(res)
	}
	push(a)
	m := newTestMesh(t, p)
	requireRoutesAsTranslated(t, m)

	var armed, fired atomic.Bool
	orig := meshopt.ConfigToken
	m.mu.Lock() // the appliers read ConfigToken under m.mu: after this
	meshopt.ConfigToken = func(mesh any) any {
		token := orig(mesh)
		if mesh == any(m.Mesh) && armed.CompareAndSwap(true, false) {
			// The user's, right after the check: the hosts, no routes.
			cfg := m.Mesh.Config()
			if err := m.Mesh.Update(switchyard.Config{ServiceEntries: cfg.ServiceEntries, DestinationRules: cfg.DestinationRules}); err != nil {
				t.Error(err)
			}
			fired.Store(true)
		}
		return token
	}
	m.mu.Unlock()
	t.Cleanup(func() {
		m.Close() // waits for the appliers
		meshopt.ConfigToken = orig
	})

	armed.Store(true)
	push(b) // endpoints alone: the fast path
	require.Eventually(t, fired.Load, eventually, time.Millisecond)
	deadline := time.Now().Add(eventually)
	for !routesAsTranslated(m) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	requireRoutesAsTranslated(t, m)
}

// routesAsTranslated is requireRoutesAsTranslated's test.
func routesAsTranslated(m *Mesh) bool {
	m.mu.Lock()
	cfg, _ := translate(m.rs, nil)
	m.mu.Unlock()
	fresh, err := switchyard.New(cfg)
	if err != nil {
		return false
	}
	defer fresh.Close()
	return reflect.DeepEqual(explainNow(fresh), explainNow(m.Mesh))
}
