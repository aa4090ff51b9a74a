package switchyard_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// reviseBase has two hosts; vs-a routes a.shop, and vs-dup claims it too
// (a warning of vs-dup's placement: Istio gives a host to its first
// VirtualService); vs-b routes b.shop; vs-hidden is not exported to the
// caller's namespace; vs-gw serves a gateway and the mesh.
const reviseBase = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: shop}
spec:
  hosts: [a.shop]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, labels: {version: v1}}, {address: 10.0.0.2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: shop}
spec:
  hosts: [b.shop]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.1.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: shop}
spec:
  host: a.shop
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["./edge.shop"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-a, namespace: shop}
spec:
  hosts: [a.shop]
  http:
  - match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: a.shop, subset: v2}}]
  - route: [{destination: {host: a.shop, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-dup, namespace: shop}
spec:
  hosts: [a.shop]
  http: [{route: [{destination: {host: b.shop}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-b, namespace: shop}
spec:
  hosts: [b.shop]
  http: [{route: [{destination: {host: b.shop}}], timeout: 2s}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-hidden, namespace: other}
spec:
  hosts: [hidden.other]
  exportTo: ["."]
  http: [{route: [{destination: {host: b.shop}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-gw, namespace: shop}
spec:
  hosts: [edge.shop]
  gateways: [gw, mesh]
  http: [{directResponse: {status: 201}}]
`

// withHTTP returns cfg with the HTTP routes of the VirtualService named
// name replaced by those of f's change to a copy of them.
func withHTTP(t *testing.T, cfg switchyard.Config, name string, f func([]route.HTTPRoute)) switchyard.Config {
	t.Helper()
	out := cfg
	out.VirtualServices = slices.Clone(cfg.VirtualServices)
	i := slices.IndexFunc(out.VirtualServices, func(v route.VirtualService) bool { return v.Name == name })
	require.GreaterOrEqual(t, i, 0, name)
	vs := &out.VirtualServices[i]
	vs.HTTP = slices.Clone(vs.HTTP)
	f(vs.HTTP)
	return out
}

// TestRoutesOnlyUpdateIsAFreshMesh: an update that changes only the HTTP
// routes of VirtualServices in place (the path that recompiles those
// alone) leaves the mesh routing, warning and refusing exactly as a mesh
// built fresh from the new configuration: warnings of the changed routes
// and of their hosts' placement, a VirtualService not exported here, one
// also bound to a Gateway (whose gateway must see the change), an invalid
// change (refused, the running configuration untouched), and warnings as
// errors. Each change is made twice: by Update, and by the xDS-fed mesh's
// way, replacing the VirtualServices changed without copying the list
// (meshopt.ReviseVirtualServices), after which Config flattens the list.
func TestRoutesOnlyUpdateIsAFreshMesh(t *testing.T) {
	base, err := switchyard.Parse([]byte(reviseBase))
	require.NoError(t, err)
	opts := []switchyard.Option{switchyard.WithSourceNamespace("shop")}
	requests := []*http.Request{}
	for _, host := range []string{"a.shop", "b.shop", "edge.shop", "hidden.other"} {
		for _, canary := range []string{"true", "false"} {
			req := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
			req.Header.Set("x-canary", canary)
			requests = append(requests, req)
		}
	}
	setSubset := func(i int, subset string) func([]route.HTTPRoute) {
		return func(hr []route.HTTPRoute) {
			hr[i].Route = slices.Clone(hr[i].Route)
			hr[i].Route[0].Destination.Subset = subset
		}
	}
	for _, tt := range []struct {
		name   string
		change func(switchyard.Config) switchyard.Config
		strict bool
	}{
		{"nothing", func(c switchyard.Config) switchyard.Config { return c }, false},
		{"copy of everything", func(c switchyard.Config) switchyard.Config { return c.Clone() }, false},
		{"route to another subset", func(c switchyard.Config) switchyard.Config { return withHTTP(t, c, "vs-a", setSubset(1, "v2")) }, false},
		{"route to a missing subset warns", func(c switchyard.Config) switchyard.Config { return withHTTP(t, c, "vs-a", setSubset(0, "v9")) }, false},
		{"warning as error", func(c switchyard.Config) switchyard.Config { return withHTTP(t, c, "vs-a", setSubset(0, "v9")) }, true},
		{"the shadowed VirtualService", func(c switchyard.Config) switchyard.Config {
			return withHTTP(t, c, "vs-dup", func(hr []route.HTTPRoute) { hr[0].Timeout = time.Second })
		}, false},
		{"two VirtualServices", func(c switchyard.Config) switchyard.Config {
			c = withHTTP(t, c, "vs-a", setSubset(1, "v2"))
			return withHTTP(t, c, "vs-b", func(hr []route.HTTPRoute) { hr[0].Timeout = 3 * time.Second })
		}, false},
		{"not exported here", func(c switchyard.Config) switchyard.Config {
			return withHTTP(t, c, "vs-hidden", func(hr []route.HTTPRoute) { hr[0].Timeout = time.Second })
		}, false},
		{"invalid", func(c switchyard.Config) switchyard.Config {
			return withHTTP(t, c, "vs-b", func(hr []route.HTTPRoute) { hr[0].Timeout = -time.Second })
		}, false},
		{"invalid and a warning", func(c switchyard.Config) switchyard.Config {
			c = withHTTP(t, c, "vs-a", setSubset(0, "v9"))
			return withHTTP(t, c, "vs-b", func(hr []route.HTTPRoute) { hr[0].Timeout = time.Nanosecond })
		}, false},
		{"bound to a gateway too", func(c switchyard.Config) switchyard.Config {
			return withHTTP(t, c, "vs-gw", func(hr []route.HTTPRoute) {
				d := *hr[0].DirectResponse
				d.Status = 202
				hr[0].DirectResponse = &d
			})
		}, false},
	} {
		for _, via := range []string{"Update", "ReviseVirtualServices"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				opts, base := opts, base
				if tt.strict {
					// without the VirtualServices that warn
					opts = append(slices.Clone(opts), switchyard.WithWarningsAsErrors())
					base.VirtualServices = slices.DeleteFunc(slices.Clone(base.VirtualServices), func(v route.VirtualService) bool {
						return v.Name == "vs-dup" || v.Name == "vs-hidden"
					})
				}
				m, err := switchyard.New(base, opts...)
				require.NoError(t, err)
				defer m.Close()
				before := explainAll(m, requests)
				next := tt.change(base)
				fresh, freshErr := switchyard.New(next, opts...)
				if via == "Update" {
					err = m.Update(next)
				} else {
					var at []int
					var vals []route.VirtualService
					for i := range next.VirtualServices {
						if &next.VirtualServices[i] != &base.VirtualServices[i] {
							at, vals = append(at, i), append(vals, next.VirtualServices[i])
						}
					}
					_, _, err = meshopt.ReviseVirtualServices(m, meshopt.ConfigToken(m), at, vals)
				}
				if freshErr != nil {
					require.Error(t, err)
					assert.Equal(t, freshErr.Error(), err.Error())
					assert.Equal(t, before, explainAll(m, requests), "a refused update changes nothing")
					assert.True(t, reflect.DeepEqual(base, m.Config()), "a refused update changes nothing")
					return
				}
				defer fresh.Close()
				require.NoError(t, err)
				assert.Equal(t, warningTexts(fresh.Warnings()), warningTexts(m.Warnings()))
				assert.Equal(t, explainAll(fresh, requests), explainAll(m, requests))
				assert.Equal(t, gatewayStatus(t, fresh), gatewayStatus(t, m))
				assert.True(t, reflect.DeepEqual(next, m.Config()), "Config is the configuration given")
				assert.Equal(t, fresh.AdminState().Routes, m.AdminState().Routes)
			})
		}
	}
}

func explainAll(m *switchyard.Mesh, reqs []*http.Request) []switchyard.Explanation {
	var out []switchyard.Explanation
	for _, r := range reqs {
		out = append(out, comparable(m.Explain(r)))
	}
	return out
}

// gatewayStatus is the status gateway shop/gw answers for edge.shop.
func gatewayStatus(t *testing.T, m *switchyard.Mesh) int {
	srv, err := m.Gateway("shop/gw", 8080)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://edge.shop/", nil))
	return rec.Code
}

// TestUpdatesReleaseReplacedConfigurations: what the mesh compiled from a
// resource keeps a copy of it, not a pointer into the configuration's
// slice, so that once an Update replaces a configuration its slices can
// be collected even while compiled resources from it live on (here: a
// VirtualService, then a ServiceEntry, changed by one update and reused
// by the next, which changes another).
func TestUpdatesReleaseReplacedConfigurations(t *testing.T) {
	base, err := switchyard.Parse([]byte(reviseBase))
	require.NoError(t, err)
	for _, tt := range []struct {
		kind  string
		track func(switchyard.Config, *atomic.Bool)
		step  func(c switchyard.Config, i int) switchyard.Config
	}{
		{"VirtualService", func(c switchyard.Config, done *atomic.Bool) {
			runtime.SetFinalizer(&c.VirtualServices[0], func(*route.VirtualService) { done.Store(true) })
		}, func(c switchyard.Config, i int) switchyard.Config {
			return withHTTP(t, c, []string{"vs-a", "vs-b"}[i], func(hr []route.HTTPRoute) { hr[0].Timeout = time.Duration(i+1) * time.Second })
		}},
		{"ServiceEntry", func(c switchyard.Config, done *atomic.Bool) {
			runtime.SetFinalizer(&c.ServiceEntries[0], func(*subset.ServiceEntry) { done.Store(true) })
		}, func(c switchyard.Config, i int) switchyard.Config {
			c.ServiceEntries = slices.Clone(c.ServiceEntries)
			se := &c.ServiceEntries[i]
			se.Endpoints = slices.Clone(se.Endpoints)
			se.Endpoints[0].Address = "10.9.9." + strconv.Itoa(i+1)
			return c
		}},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			m, err := switchyard.New(base)
			require.NoError(t, err)
			defer m.Close()
			var collected atomic.Bool
			func() {
				first := tt.step(base, 0) // its slice of this kind is new
				tt.track(first, &collected)
				require.NoError(t, m.Update(first))
				require.NoError(t, m.Update(tt.step(first, 1))) // keeps what it compiled from first's element 0
			}()
			for range 100 {
				if collected.Load() {
					break
				}
				runtime.GC()
				runtime.Gosched()
			}
			assert.True(t, collected.Load(), "the replaced configuration's slice is still reachable")
			runtime.KeepAlive(m)
		})
	}
}

// TestReviseVirtualServicesInTurns: revisions without copying the list,
// one after another and mixed with Update (whose comparison then reads a
// revised list) and Config (which flattens it), leave the mesh as a fresh
// one at every step; indexes out of order or range are refused, and change
// nothing.
func TestReviseVirtualServicesInTurns(t *testing.T) {
	base, err := switchyard.Parse([]byte(reviseBase))
	require.NoError(t, err)
	opts := []switchyard.Option{switchyard.WithSourceNamespace("shop")}
	var requests []*http.Request
	for _, host := range []string{"a.shop", "b.shop", "edge.shop"} {
		requests = append(requests, httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil))
	}
	m, err := switchyard.New(base, opts...)
	require.NoError(t, err)
	defer m.Close()
	a := slices.IndexFunc(base.VirtualServices, func(v route.VirtualService) bool { return v.Name == "vs-a" })
	b := slices.IndexFunc(base.VirtualServices, func(v route.VirtualService) bool { return v.Name == "vs-b" })
	want := base
	for step := range 24 {
		next := withHTTP(t, want, "vs-b", func(hr []route.HTTPRoute) { hr[0].Timeout = time.Duration(step+1) * time.Second })
		next = withHTTP(t, next, "vs-a", func(hr []route.HTTPRoute) {
			hr[1].Route = slices.Clone(hr[1].Route)
			hr[1].Route[0].Destination.Subset = []string{"v1", "v2"}[step%2]
		})
		switch step % 4 {
		case 3:
			require.NoError(t, m.Update(next.Clone()))
		default:
			_, _, err := meshopt.ReviseVirtualServices(m, meshopt.ConfigToken(m), []int{min(a, b), max(a, b)},
				[]route.VirtualService{next.VirtualServices[min(a, b)], next.VirtualServices[max(a, b)]})
			require.NoError(t, err)
		}
		want = next
		if step%3 == 0 {
			require.True(t, reflect.DeepEqual(want, m.Config()), "step %d: Config", step)
		}
		fresh, err := switchyard.New(want, opts...)
		require.NoError(t, err)
		assert.Equal(t, explainAll(fresh, requests), explainAll(m, requests), "step %d", step)
		fresh.Close()
	}
	before := explainAll(m, requests)
	for _, at := range [][]int{{b, a}, {len(base.VirtualServices)}, {-1}, {a, a}} {
		vals := make([]route.VirtualService, len(at))
		_, _, err := meshopt.ReviseVirtualServices(m, meshopt.ConfigToken(m), at, vals)
		require.Error(t, err, "indexes %v", at)
	}
	_, _, err = meshopt.ReviseVirtualServices(m, meshopt.ConfigToken(m), []int{a}, nil)
	require.Error(t, err, "one index, no value")
	assert.Equal(t, before, explainAll(m, requests), "a refused revision changes nothing")
	assert.True(t, reflect.DeepEqual(want, m.Config()), "a refused revision changes nothing")
}

// TestConfigToken: the token the xds package's installs return is the
// configuration in force's until another configuration replaces it;
// endpoints set on it do not.
func TestConfigToken(t *testing.T) {
	base, err := switchyard.Parse([]byte(reviseBase))
	require.NoError(t, err)
	m, err := switchyard.New(base, switchyard.WithSourceNamespace("shop"))
	require.NoError(t, err)
	defer m.Close()
	tok, err := meshopt.Update(m, base.Clone())
	require.NoError(t, err)
	require.Same(t, tok, meshopt.ConfigToken(m))
	require.NoError(t, m.SetEndpoints("b.shop", []subset.WorkloadEntry{{Address: "10.0.1.9"}}))
	require.Same(t, tok, meshopt.ConfigToken(m), "endpoints set")
	vs := base.VirtualServices[0]
	vs.HTTP = slices.Clone(vs.HTTP)
	tok2, ok, err := meshopt.ReviseVirtualServices(m, tok, []int{0}, []route.VirtualService{vs})
	require.NoError(t, err)
	require.True(t, ok)
	require.NotSame(t, tok, tok2)
	require.Same(t, tok2, meshopt.ConfigToken(m))
	require.NoError(t, m.Update(base))
	require.NotSame(t, tok2, meshopt.ConfigToken(m), "a configuration installed by someone else")

	// A revision of the configuration of a token no longer in force (an
	// Update got in since the caller looked) changes nothing.
	user := meshopt.ConfigToken(m)
	tok3, ok, err := meshopt.ReviseVirtualServices(m, tok2, []int{0}, []route.VirtualService{vs})
	require.NoError(t, err)
	require.False(t, ok, "revised a configuration installed by someone else")
	require.Nil(t, tok3)
	require.Same(t, user, meshopt.ConfigToken(m))
	require.True(t, reflect.DeepEqual(base, m.Config()))

	_, err = meshopt.Update(m, base.Clone())
	require.NoError(t, err)
	_, _, err = meshopt.ReviseVirtualServices(m, meshopt.ConfigToken(m), []int{1, 0}, make([]route.VirtualService, 2))
	require.Error(t, err)
}
