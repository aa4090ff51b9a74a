package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/dnstest"
	"github.com/switchyard-go/switchyard/subset"
)

// scriptedDNS is a resolver whose answers a test sets.
type scriptedDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	ttl     time.Duration
	err     error
	lookups atomic.Int64
}

func (s *scriptedDNS) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	s.answers[name] = as
}

func (s *scriptedDNS) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *scriptedDNS) lookup(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, 0, s.err
	}
	return slices.Clone(s.answers[host]), s.ttl, nil
}

func dnsEntry(resolution string) subset.ServiceEntry {
	return subset.ServiceEntry{Name: "api", Namespace: "ns", Hosts: []string{"api.test"},
		Ports: []subset.Port{{Number: 80, Name: "http", Protocol: "HTTP"}}, Resolution: resolution}
}

func endpointsOf(t *testing.T, m *switchyard.Mesh, host string) []string {
	t.Helper()
	e := m.Explain(httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil))
	require.Len(t, e.Destinations, 1)
	var out []string
	for _, ep := range e.Destinations[0].Endpoints {
		out = append(out, ep.Address)
	}
	return out
}

func dnsStateOf(m *switchyard.Mesh, name string) switchyard.DNSState {
	for _, d := range m.AdminState().DNS {
		if d.Name == name {
			return d
		}
	}
	return switchyard.DNSState{}
}

// TestDNSResolutionIsStrictDNS: with resolution DNS every address is an
// endpoint, re-resolved on the TTL; endpoints that stay keep their state;
// a failed resolution keeps the last good set and says so; an empty answer
// empties it; removing the ServiceEntry stops the resolution (synctest
// would fail on a goroutine left behind).
func TestDNSResolutionIsStrictDNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &scriptedDNS{answers: map[string][]netip.Addr{}, ttl: 5 * time.Second}
		dns.set("api.test", "10.0.0.2", "10.0.0.1")
		cfg := switchyard.Config{ServiceEntries: []subset.ServiceEntry{dnsEntry("DNS")}}
		otel := newOtelRig(t)
		m, err := switchyard.New(cfg, append(otel.options(), switchyard.WithDNSResolver(dns.lookup))...)
		require.NoError(t, err)
		defer m.Close()
		synctest.Wait()
		require.Equal(t, []string{"10.0.0.1:80", "10.0.0.2:80"}, endpointsOf(t, m, "api.test"))
		states := switchyard.EndpointStates(m)
		kept := states["outbound|80||api.test 10.0.0.1:80"]
		require.NotNil(t, kept)
		kept.Begin()
		defer kept.End()

		dns.set("api.test", "10.0.0.1", "10.0.0.3")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Equal(t, []string{"10.0.0.1:80", "10.0.0.3:80"}, endpointsOf(t, m, "api.test"))
		assert.Same(t, kept, switchyard.EndpointStates(m)["outbound|80||api.test 10.0.0.1:80"], "an endpoint that stays keeps its state")

		dns.fail(errors.New("SERVFAIL"))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.3:80"}, endpointsOf(t, m, "api.test"), "a failure keeps the last good set")
		st := dnsStateOf(m, "api.test")
		assert.Equal(t, "STRICT_DNS", st.Mode)
		assert.Equal(t, []string{"10.0.0.1", "10.0.0.3"}, st.Addresses)
		assert.Contains(t, st.LastError, "SERVFAIL")
		assert.Equal(t, 1, st.ConsecutiveFailures)
		name := attribute.String("switchyard.dns.name", "api.test")
		assert.EqualValues(t, 1, otel.sum("switchyard.dns.failures", name), "and telemetry says so")

		dns.fail(nil)
		dns.set("api.test")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Empty(t, endpointsOf(t, m, "api.test"), "an answer without addresses empties the set")
		assert.Empty(t, dnsStateOf(m, "api.test").LastError)
		assert.EqualValues(t, 0, otel.sum("switchyard.dns.failures", name))

		// An Update that keeps the entry keeps its resolution.
		require.NoError(t, m.Update(cfg))
		n := dns.lookups.Load()
		require.NoError(t, m.Update(switchyard.Config{}))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.Equal(t, n, dns.lookups.Load(), "no resolution once the ServiceEntry is gone")
		assert.Empty(t, m.AdminState().DNS)
	})
}

// TestDNSRoundRobinIsLogicalDNS: one endpoint, the first address.
func TestDNSRoundRobinIsLogicalDNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &scriptedDNS{answers: map[string][]netip.Addr{}, ttl: 5 * time.Second}
		dns.set("api.test", "10.0.0.2", "10.0.0.1")
		m, err := switchyard.New(switchyard.Config{ServiceEntries: []subset.ServiceEntry{dnsEntry("DNS_ROUND_ROBIN")}}, switchyard.WithDNSResolver(dns.lookup))
		require.NoError(t, err)
		defer m.Close()
		synctest.Wait()
		assert.Equal(t, []string{"10.0.0.2:80"}, endpointsOf(t, m, "api.test"))
		assert.Equal(t, "LOGICAL_DNS", dnsStateOf(m, "api.test").Mode)
	})
}

// TestDNSEndpointsWithLabelsExpand: a ServiceEntry endpoint given by name
// expands to one endpoint per address, each with the workload's labels,
// and subsets select among them.
func TestDNSEndpointsWithLabelsExpand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &scriptedDNS{answers: map[string][]netip.Addr{}}
		dns.set("v1.api.test", "10.0.1.1", "10.0.1.2")
		dns.set("v2.api.test", "10.0.2.1")
		se := dnsEntry("DNS")
		se.Endpoints = []subset.WorkloadEntry{
			{Address: "v1.api.test", Labels: map[string]string{"version": "v1"}},
			{Address: "v2.api.test", Labels: map[string]string{"version": "v2"}},
		}
		cfg, err := switchyard.Parse([]byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: ns}
spec:
  host: api.test
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`))
		require.NoError(t, err)
		cfg.ServiceEntries = []subset.ServiceEntry{se}
		m, err := switchyard.New(cfg, switchyard.WithDNSResolver(dns.lookup))
		require.NoError(t, err)
		defer m.Close()
		synctest.Wait()
		var got []string
		for _, c := range switchyard.Clusters(m) {
			got = append(got, strings.Join(strings.Fields(c)[:1], "")+" "+strings.Join(addrsIn(c), ","))
		}
		assert.Equal(t, []string{
			"outbound|80||api.test 10.0.1.1:80,10.0.1.2:80,10.0.2.1:80",
			"outbound|80|v1|api.test 10.0.1.1:80,10.0.1.2:80",
			"outbound|80|v2|api.test 10.0.2.1:80",
		}, got)
	})
}

// addrsIn returns the endpoint addresses of a line of Clusters.
func addrsIn(line string) []string {
	var out []string
	for _, f := range strings.Fields(line)[4:] {
		out = append(out, strings.SplitN(f, "/", 2)[0])
	}
	return out
}

// TestDNSWithARealServer resolves through the system resolver, reading a
// resolv.conf, against a DNS server on loopback, and follows a change of
// its records on their TTL.
func TestDNSWithARealServer(t *testing.T) {
	srv, err := dnstest.Start()
	require.NoError(t, err)
	defer srv.Close()
	srv.Set("api.test", dnstest.A(1, "10.0.0.1"), dnstest.A(1, "10.0.0.2"))
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	require.NoError(t, os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644))
	hosts := filepath.Join(dir, "hosts")
	require.NoError(t, os.WriteFile(hosts, nil, 0o644))
	sys, err := dnsresolve.NewSystem(dnsresolve.SystemConfig{ResolvConf: conf, Hosts: hosts,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Addr().String())
		}})
	require.NoError(t, err)
	lookup := func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
		a, err := sys.LookupHost(ctx, host)
		return a.Addrs, a.TTL, err
	}
	m, err := switchyard.New(switchyard.Config{ServiceEntries: []subset.ServiceEntry{dnsEntry("DNS")}}, switchyard.WithDNSResolver(lookup))
	require.NoError(t, err)
	defer m.Close()
	waitFor(t, func() bool {
		return slices.Equal(endpointsOf(t, m, "api.test"), []string{"10.0.0.1:80", "10.0.0.2:80"})
	})
	srv.Set("api.test", dnstest.A(1, "10.0.0.3"))
	waitFor(t, func() bool { return slices.Equal(endpointsOf(t, m, "api.test"), []string{"10.0.0.3:80"}) })
	assert.Equal(t, 1, len(dnsStateOf(m, "api.test").Addresses))
}

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		if d, ok := t.Deadline(); ok && time.Until(d) < 5*time.Second {
			t.Fatal("condition never held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDNSAnswersChangingUnderLoad: clients send requests while the
// resolver's answers change; an address that leaves is shut down as soon
// as the mesh has applied the answer. No request reaches an endpoint that
// has left, and every request ends with a live endpoint's response.
func TestDNSAnswersChangingUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &scriptedDNS{answers: map[string][]netip.Addr{}, ttl: time.Second}
		sets := [][]string{{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {"10.0.0.2", "10.0.0.4"}, {"10.0.0.5"}, {"10.0.0.5", "10.0.0.6", "10.0.0.7"}, {"10.0.0.1", "10.0.0.7"}}
		dns.set("api.test", sets[0]...)
		var (
			mu       sync.Mutex
			live     = map[string]bool{}
			toDead   atomic.Int64
			answered atomic.Int64
		)
		for _, a := range sets[0] {
			live[a+":80"] = true
		}
		backend := func(addr string) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				ok := live[addr]
				mu.Unlock()
				if !ok {
					toDead.Add(1)
					return nil, fmt.Errorf("dial %s: connection refused", addr)
				}
				answered.Add(1)
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(addr)), Header: http.Header{}, Request: req}, nil
			})
		}
		m, err := switchyard.New(switchyard.Config{ServiceEntries: []subset.ServiceEntry{dnsEntry("DNS")}},
			switchyard.WithDNSResolver(dns.lookup), switchyard.WithEndpointTransport(backend))
		require.NoError(t, err)
		defer m.Close()
		synctest.Wait()
		client := &http.Client{Transport: m.Transport(nil)}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var failures atomic.Int64
		const clients, perClient = 4, 400 // 10 s of virtual time, past the last change
		for range clients {
			wg.Go(func() {
				for range perClient {
					resp, err := client.Get("http://api.test/")
					if err != nil {
						failures.Add(1)
					} else {
						resp.Body.Close()
						if resp.StatusCode != 200 {
							failures.Add(1)
						}
					}
					select {
					case <-stop:
						return
					case <-time.After(25 * time.Millisecond):
					}
				}
			})
		}
		for _, next := range sets[1:] {
			time.Sleep(time.Second)
			mu.Lock() // the new addresses are up before they are published
			for _, a := range next {
				live[a+":80"] = true
			}
			mu.Unlock()
			dns.set("api.test", next...)
			time.Sleep(time.Second)
			synctest.Wait()
			// The mesh has applied the answer: the addresses that left
			// shut down, the new ones are up.
			mu.Lock()
			clear(live)
			for _, a := range next {
				live[a+":80"] = true
			}
			mu.Unlock()
		}
		wg.Wait()
		close(stop)
		assert.Zero(t, toDead.Load(), "requests sent to an endpoint that had left")
		assert.Zero(t, failures.Load())
		assert.EqualValues(t, clients*perClient, answered.Load())
	})
}
