package switchyard_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// churnModel is a configuration under random change and the endpoints the
// fast path gave its hosts, which a mesh built fresh sees as the
// ServiceEntries' own.
type churnModel struct {
	r        *rand.Rand
	cfg      switchyard.Config
	override map[string][]subset.WorkloadEntry
}

const churnHosts = 4

func churnHost(i int) string { return fmt.Sprintf("h%d.test", i) }

func (c *churnModel) workloads(h int) []subset.WorkloadEntry {
	var ws []subset.WorkloadEntry
	for e := range 6 {
		if e < 2 || c.r.IntN(2) == 0 { // always one of each version
			ws = append(ws, subset.WorkloadEntry{Address: fmt.Sprintf("10.0.%d.%d", h, e+1),
				Labels: map[string]string{"version": fmt.Sprintf("v%d", e%2+1)}, Weight: uint32(c.r.IntN(3))})
		}
	}
	return ws
}

func (c *churnModel) entry(h int) subset.ServiceEntry {
	return subset.ServiceEntry{Name: fmt.Sprintf("se%d", h), Namespace: "ns", Hosts: []string{churnHost(h)},
		Ports: []subset.Port{{Number: 80, Name: "http", Protocol: "HTTP"}}, Resolution: "STATIC", Endpoints: c.workloads(h)}
}

func (c *churnModel) rule(h int) subset.DestinationRule {
	lbs := []balancer.SimpleLB{balancer.SimpleRoundRobin, balancer.SimpleLeastRequest, balancer.SimpleRandom}
	tp := &subset.TrafficPolicy{LoadBalancer: &balancer.Settings{Simple: lbs[c.r.IntN(len(lbs))]}}
	if c.r.IntN(2) == 0 {
		tp.OutlierDetection = &outlier.Config{Consecutive5xxErrors: new(uint32(3)), Interval: time.Second, BaseEjectionTime: time.Minute}
	}
	return subset.DestinationRule{Name: fmt.Sprintf("dr%d", h), Namespace: "ns", Host: churnHost(h), TrafficPolicy: tp,
		Subsets: []subset.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}}
}

func (c *churnModel) dest() route.Destination {
	d := route.Destination{Host: churnHost(c.r.IntN(churnHosts))}
	if c.r.IntN(3) > 0 {
		d.Subset = []string{"v1", "v2"}[c.r.IntN(2)]
	}
	return d
}

func (c *churnModel) virtualService(h int) route.VirtualService {
	return route.VirtualService{Name: fmt.Sprintf("vs%d", h), Namespace: "ns", Hosts: []string{churnHost(h)}, HTTP: []route.HTTPRoute{
		{Name: "canary", Match: matchHeader("x-canary", "true"), Route: []route.RouteDestination{{Destination: c.dest()}}},
		{Name: "default", Route: []route.RouteDestination{{Destination: c.dest(), Weight: int32(c.r.IntN(5))}, {Destination: c.dest(), Weight: 1 + int32(c.r.IntN(5))}},
			Timeout: time.Duration(1+c.r.IntN(3)) * time.Second},
	}}
}

// set returns list with the resource of name replaced by v, or added.
func set[T any](list []T, name func(T) string, v T) []T {
	out := slices.Clone(list)
	for i := range out {
		if name(out[i]) == name(v) {
			out[i] = v
			return out
		}
	}
	return append(out, v)
}

func drop[T any](list []T, name func(T) string, n string) []T {
	return slices.DeleteFunc(slices.Clone(list), func(v T) bool { return name(v) == n })
}

func seName(s subset.ServiceEntry) string    { return s.Name }
func drName(d subset.DestinationRule) string { return d.Name }
func vsName(v route.VirtualService) string   { return v.Name }
func matchHeader(k, v string) []match.Request {
	return []match.Request{{Headers: map[string]*match.StringMatch{k: match.Exact(v)}}}
}

// fresh is the configuration a mesh built fresh must be given to route as
// the churned one does: the fast path's endpoints in the entries.
func (c *churnModel) fresh(cfg switchyard.Config) switchyard.Config {
	out := cfg
	out.ServiceEntries = slices.Clone(cfg.ServiceEntries)
	for i := range out.ServiceEntries {
		if ws, ok := c.override[out.ServiceEntries[i].Hosts[0]]; ok {
			out.ServiceEntries[i].Endpoints = ws
		}
	}
	return out
}

// TestIncrementalUpdatesRouteAsAFreshMesh applies random sequences of
// changes (ServiceEntries, DestinationRules, VirtualServices added,
// changed and removed; endpoints through Update and through the fast
// path; unchanged updates) to one mesh, and after each compares it with a
// mesh built fresh from the resulting configuration: the same clusters
// with the same policy and endpoints, the same routing of a set of
// requests, the same verdict on an invalid update. Endpoints that survive
// a change keep their live state.
func TestIncrementalUpdatesRouteAsAFreshMesh(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := &churnModel{r: rand.New(rand.NewPCG(seed, 16)), override: map[string][]subset.WorkloadEntry{}}
			for h := range churnHosts {
				c.cfg.ServiceEntries = append(c.cfg.ServiceEntries, c.entry(h))
			}
			m, err := switchyard.New(c.cfg, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return http.DefaultTransport }))
			require.NoError(t, err)
			defer m.Close()
			for step := range 60 {
				before := switchyard.EndpointStates(m)
				for _, st := range before {
					st.Begin() // live state to carry over
				}
				h := c.r.IntN(churnHosts)
				host := churnHost(h)
				next := c.cfg
				op := c.r.IntN(9)
				var what string
				switch op {
				case 0, 1:
					what = "SE endpoints of " + host
					next.ServiceEntries = set(next.ServiceEntries, seName, c.entry(h))
				case 2:
					what = "fast path " + host
					ws := c.workloads(h)
					err := m.SetEndpoints(host, ws)
					if !slices.ContainsFunc(c.cfg.ServiceEntries, func(s subset.ServiceEntry) bool { return s.Hosts[0] == host }) {
						require.Error(t, err, "step %d: %s", step, what)
						continue
					}
					require.NoError(t, err, "step %d: %s", step, what)
					c.override[host] = ws
				case 3:
					what = "DR of " + host
					next.DestinationRules = set(next.DestinationRules, drName, c.rule(h))
				case 4:
					what = "no DR of " + host
					next.DestinationRules = drop(next.DestinationRules, drName, fmt.Sprintf("dr%d", h))
				case 5, 6:
					what = "VS of " + host
					next.VirtualServices = set(next.VirtualServices, vsName, c.virtualService(h))
				case 7:
					what = "no VS of " + host
					next.VirtualServices = drop(next.VirtualServices, vsName, fmt.Sprintf("vs%d", h))
				case 8:
					what = "no SE of " + host
					next.ServiceEntries = drop(next.ServiceEntries, seName, fmt.Sprintf("se%d", h))
				}
				if op != 2 {
					freshErr := func() error {
						f, err := switchyard.New(c.fresh(next))
						if err == nil {
							f.Close()
						}
						return err
					}()
					err := m.Update(next)
					require.Equal(t, freshErr == nil, err == nil, "step %d: %s: incremental %v, fresh %v", step, what, err, freshErr)
					if err == nil {
						for i := range next.ServiceEntries {
							se := &next.ServiceEntries[i]
							old := slices.IndexFunc(c.cfg.ServiceEntries, func(s subset.ServiceEntry) bool { return s.Name == se.Name })
							if old < 0 || !sameSource(&c.cfg.ServiceEntries[old], se) {
								delete(c.override, se.Hosts[0])
							}
						}
						for host := range c.override {
							if !slices.ContainsFunc(next.ServiceEntries, func(s subset.ServiceEntry) bool { return s.Hosts[0] == host }) {
								delete(c.override, host)
							}
						}
						c.cfg = next
					}
				}
				f, err := switchyard.New(c.fresh(c.cfg))
				require.NoError(t, err, "step %d: %s", step, what)
				require.Equal(t, switchyard.Clusters(f), switchyard.Clusters(m), "step %d: %s", step, what)
				for i := range churnHosts + 1 {
					for _, canary := range []string{"true", "false"} {
						req := httptest.NewRequest(http.MethodGet, "http://"+churnHost(i)+"/x", nil)
						req.Header.Set("x-canary", canary)
						require.Equal(t, comparable(f.Explain(req)), comparable(m.Explain(req)), "step %d: %s: %s canary=%s", step, what, churnHost(i), canary)
					}
				}
				f.Close()
				after := switchyard.EndpointStates(m)
				for k, st := range after {
					if old, ok := before[k]; ok {
						require.Same(t, old, st, "step %d: %s: endpoint %s lost its state", step, what, k)
					}
				}
				for _, st := range before {
					st.End()
				}
			}
		})
	}
}

func sameSource(a, b *subset.ServiceEntry) bool {
	return a.Resolution == b.Resolution && reflect.DeepEqual(a.Endpoints, b.Endpoints) && reflect.DeepEqual(a.Hosts, b.Hosts)
}

// comparable drops what a fresh mesh cannot share with a churned one: the
// pick (a balancer's cursor) and the requests in flight.
func comparable(e switchyard.Explanation) switchyard.Explanation {
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
