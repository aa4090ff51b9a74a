package router_test

import (
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/router"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fixtures of the router's behaviour tests: a routing table compiled
// from YAML over in-memory backends, whose requests reach the backends
// through a fake Sender — the router and the attempt engine alone, with
// none of the mesh's transports, resolvers or telemetry.

// fixture is a router over the Bookinfo reviews backends plus extra YAML.
type fixture struct {
	t       *testing.T
	table   *router.Table
	reg     *cluster.Registry
	env     *router.Env
	net     *meshtest.Network
	client  *http.Client
	backend map[string]*meshtest.Backend
}

// settings are the dependencies a fixture's router runs on.
type settings struct {
	rand     balancer.Rand
	clock    clock.Clock
	locality string
	labels   map[string]string
	sourceIP string
}

type option func(*settings)

func withRand(r balancer.Rand) option { return func(s *settings) { s.rand = r } }
func withClock(c clock.Clock) option  { return func(s *settings) { s.clock = c } }
func withLocality(l string) option    { return func(s *settings) { s.locality = l } }
func withSourceIP(ip string) option   { return func(s *settings) { s.sourceIP = ip } }
func withSourceLabels(l map[string]string) option {
	return func(s *settings) { s.labels = l }
}

func bookinfo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/bookinfo.yaml")
	require.NoError(t, err)
	return b
}

// newFixture compiles the Bookinfo fixture and extra manifests, with
// backends v1, v2, v3 at 10.0.0.{1,2,3}:9080.
func newFixture(t *testing.T, extra string, opts ...option) *fixture {
	t.Helper()
	cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+extra)...))
	require.NoError(t, err)
	s := settings{rand: rng.Runtime{}, clock: clock.Real{}}
	for _, o := range opts {
		o(&s)
	}
	f := &fixture{t: t, net: meshtest.NewNetwork(), backend: map[string]*meshtest.Backend{}}
	for i, v := range []string{"v1", "v2", "v3"} {
		f.backend[v] = f.net.Add("10.0.0."+string(rune('1'+i))+":9080", v, map[string]string{"version": v})
	}
	f.reg, err = cluster.Compile(cfg.ServiceEntries, cfg.DestinationRules, cluster.Options{Rand: s.rand, Clock: s.clock,
		Client: cluster.Client{Locality: s.locality, Labels: s.labels}})
	require.NoError(t, err)
	f.reg.Activate(nil)
	t.Cleanup(f.reg.Stop)
	f.env = &router.Env{Rand: s.rand, Clock: s.clock, SourceIP: s.sourceIP, Observers: &router.Observers{}}
	f.table, err = router.Compile(cfg.VirtualServices, f.reg, match.Source{Labels: s.labels}, f.env)
	require.NoError(t, err)
	f.client = &http.Client{Transport: f, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// RoundTrip routes req through the table, as the mesh's transport does.
func (f *fixture) RoundTrip(req *http.Request) (*http.Response, error) {
	authority := router.Authority(req)
	host, port := router.SplitAuthority(authority, req.URL.Scheme)
	vh := f.table.Lookup(host)
	if vh == nil {
		return f.net.Transport().RoundTrip(req)
	}
	in := router.NewInput(req, authority, port)
	return vh.RoundTrip(req, &in, sender{f.net.Transport()}, f.env)
}

// sender is the fake Sender: each attempt goes to its endpoint's in-memory
// backend, the request's Host kept.
type sender struct{ next http.RoundTripper }

func (s sender) Send(req *http.Request, c *cluster.Cluster, ep *balancer.Endpoint) (*http.Response, error) {
	if ep == nil {
		return s.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Host = ep.Address
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	resp, err := s.next.RoundTrip(out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// get sends a GET with headers given as name, value pairs and returns the
// response with its body read.
func (f *fixture) get(url string, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(f.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return f.do(req)
}

func (f *fixture) do(req *http.Request) (*http.Response, string) {
	f.t.Helper()
	resp, err := f.client.Do(req)
	require.NoError(f.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	require.NoError(f.t, resp.Body.Close())
	return resp, string(b)
}

// vs is a VirtualService for reviews with the given http routes.
func vs(http string) string {
	return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
` + http
}

// hashedMesh is a ratings service on three endpoints whose DestinationRule
// has the given traffic policy.
func hashedMesh(lb string) string {
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
` + lb
}
