package switchyard_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/pool"
)

// echoServer is a loopback TCP server that answers each line with its
// name and the line, as Istio's tcp-echo sample server does.
type echoServer struct {
	ln   net.Listener
	name string
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]bool
}

func newEchoServer(t testing.TB, name string) *echoServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{ln: ln, name: name, conn: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conn, c)
					s.mu.Unlock()
					c.Close()
				}()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, s.name+" "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *echoServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo writes a line on c and returns the answer's first word: the
// server's name.
func echoLine(t testing.TB, c net.Conn) string {
	t.Helper()
	_, err := io.WriteString(c, "hello\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(line, " hello\n"), line)
	return strings.Fields(line)[0]
}

// tcpEchoEntry is a ServiceEntry for host tcp-echo on port 9000 with one
// endpoint per server, labelled version v1, v2, … in order.
func tcpEchoEntry(servers ...*echoServer) string {
	var b strings.Builder
	b.WriteString(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
`)
	for i, s := range servers {
		fmt.Fprintf(&b, "  - {address: 127.0.0.1, ports: {tcp: %d}, labels: {app: tcp-echo, version: v%d}}\n", s.port(), i+1)
	}
	return b.String()
}

const tcpEchoSubsets = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

func newDialMesh(t testing.TB, yaml string, opts ...switchyard.Option) *switchyard.Mesh {
	t.Helper()
	cfg, err := switchyard.Parse([]byte(yaml))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestDialTCPSplits80To20(t *testing.T) {
	one, two := newEchoServer(t, "one"), newEchoServer(t, "two")
	m := newDialMesh(t, tcpEchoEntry(one, two)+"---\n"+tcpEchoSubsets+`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
`, switchyard.WithRand(meshtest.NewRand(19)))
	const n = 10_000
	counts := map[string]int{}
	for range n {
		c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
		require.NoError(t, err)
		counts[echoLine(t, c)]++
		require.NoError(t, c.Close())
	}
	lo, hi := stat.BinomialInterval(n, 0.2)
	require.Equal(t, n, counts["one"]+counts["two"])
	require.GreaterOrEqual(t, counts["two"], lo, "%v", counts)
	require.LessOrEqual(t, counts["two"], hi, "%v", counts)
}

// sampleDocs reads an Istio sample file, leaving out its Gateway: the
// gateway's name is all a Dialer needs, and the Gateway kind is another
// part of issue 19.
func sampleDocs(t *testing.T, file string) string {
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var kept []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if !strings.Contains(doc, "\nkind: Gateway\n") {
			kept = append(kept, doc)
		}
	}
	return strings.Join(kept, "\n---\n")
}

func TestDialRunsIstioTCPEchoSample(t *testing.T) {
	one, two := newEchoServer(t, "one"), newEchoServer(t, "two")
	entry := tcpEchoEntry(one, two)
	m := newDialMesh(t, entry+"---\n"+sampleDocs(t, "testdata/tcp-echo/tcp-echo-all-v1.yaml"), switchyard.WithRand(meshtest.NewRand(7)))
	d := m.Dialer()
	d.Gateway = "tcp-echo-gateway"
	count := func(n int) map[string]int {
		counts := map[string]int{}
		for range n {
			c, err := d.DialContext(t.Context(), "tcp", "ingress.example:31400")
			require.NoError(t, err)
			counts[echoLine(t, c)]++
			c.Close()
		}
		return counts
	}
	require.Equal(t, map[string]int{"one": 200}, count(200))

	// The mesh's own dialer is no gateway: the sample's routes are not its.
	_, err := m.DialContext(t.Context(), "tcp", "ingress.example:31400")
	require.Error(t, err)
	var other switchyard.Dialer = *m.Dialer()
	other.Gateway = "another-gateway"
	_, err = other.DialContext(t.Context(), "tcp", "ingress.example:31400")
	require.ErrorIs(t, err, switchyard.ErrNoRoute)

	// tcp-echo-20-v2.yaml replaces the VirtualService: 20% to v2.
	vs, err := switchyard.Parse([]byte(sampleDocs(t, "testdata/tcp-echo/tcp-echo-20-v2.yaml")))
	require.NoError(t, err)
	require.NoError(t, m.Modify(func(cfg switchyard.Config) (switchyard.Config, error) {
		cfg = cfg.Clone()
		cfg.VirtualServices = vs.VirtualServices
		return cfg, nil
	}))
	const n = 2000
	counts := count(n)
	lo, hi := stat.BinomialInterval(n, 0.2)
	require.Equal(t, n, counts["one"]+counts["two"])
	require.True(t, counts["two"] >= lo && counts["two"] <= hi, "%v not within [%d, %d]", counts, lo, hi)
}

func TestDialRoutesTLSBySNI(t *testing.T) {
	backend := func(name string) *httptest.Server {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.TLS.ServerName)
		}))
		t.Cleanup(s.Close)
		return s
	}
	api, web := backend("api"), backend("web")
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	m := newDialMesh(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.internal]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: %d}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web.internal]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: %d}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example}
spec:
  hosts: ["*.example.com"]
  tls:
  - match: [{port: 443, sniHosts: [api.example.com]}]
    route: [{destination: {host: api.internal}}]
  - match: [{port: 443, sniHosts: ["*.example.com"]}]
    route: [{destination: {host: web.internal}}]
`, port(api), port(web)))
	// A real crypto/tls client behind net/http: the mesh reads the server
	// name from its ClientHello and never sees inside the TLS session.
	tr := &http.Transport{DialContext: m.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test is about routing, not the certificate
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(url string) string {
		resp, err := client.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, "api api.example.com", get("https://api.example.com/"))
	require.Equal(t, "web www.example.com", get("https://www.example.com/"))
	require.Equal(t, "web WEB.Example.com", get("https://WEB.Example.com/"))

}

func TestDialMatchesSourceLabelsAndSubnets(t *testing.T) {
	one, two := newEchoServer(t, "one"), newEchoServer(t, "two")
	yaml := tcpEchoEntry(one, two) + "---\n" + tcpEchoSubsets + `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo, 127.0.0.2]
  tcp:
  - match: [{sourceLabels: {app: canary}}, {destinationSubnets: [127.0.0.0/30]}]
    route: [{destination: {host: tcp-echo, subset: v2, port: {number: 9000}}}]
  - route: [{destination: {host: tcp-echo, subset: v1, port: {number: 9000}}}]
`
	dial := func(m *switchyard.Mesh, addr string) string {
		c, err := m.DialContext(t.Context(), "tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		return echoLine(t, c)
	}
	plain := newDialMesh(t, yaml)
	require.Equal(t, "one", dial(plain, "tcp-echo:9000"))
	require.Equal(t, "two", dial(plain, "127.0.0.2:9000"), "127.0.0.2 is in 127.0.0.0/30")
	canary := newDialMesh(t, yaml, switchyard.WithSourceLabels(map[string]string{"app": "canary", "version": "v9"}))
	require.Equal(t, "two", dial(canary, "tcp-echo:9000"))
}

func TestDialOverflowsMaxConnections(t *testing.T) {
	one := newEchoServer(t, "one")
	m := newDialMesh(t, tcpEchoEntry(one)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 2}}}
`)
	var held []net.Conn
	for range 2 {
		c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
		require.NoError(t, err)
		held = append(held, c)
	}
	_, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.ErrorIs(t, err, pool.ErrOverflow)
	require.ErrorContains(t, err, "maxConnections")
	active, pending := switchyard.Outstanding(m, "tcp-echo")
	require.Equal(t, [2]int{2, 0}, [2]int{active, pending})

	require.NoError(t, held[0].Close())
	require.NoError(t, held[0].Close(), "a second Close releases nothing more")
	c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.NoError(t, err)
	require.Equal(t, "one", echoLine(t, c))
	c.Close()
	held[1].Close()
	active, pending = switchyard.Outstanding(m, "tcp-echo")
	require.Equal(t, [2]int{0, 0}, [2]int{active, pending})
}

// refusedPort returns a loopback port nothing listens on.
func refusedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestDialEjectsEndpointsThatRefuseConnections(t *testing.T) {
	one := newEchoServer(t, "one")
	clk := meshtest.NewClock(time.Unix(0, 0))
	m := newDialMesh(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {tcp: %d}}
  - {address: 127.0.0.1, ports: {tcp: %d}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}
`, one.port(), refusedPort(t)), switchyard.WithClock(clk))
	refused := 0
	for range 4 { // round robin: the refusing endpoint is tried twice
		c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
		if err != nil {
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			refused++
			continue
		}
		require.Equal(t, "one", echoLine(t, c))
		c.Close()
	}
	require.Equal(t, 2, refused)
	for range 20 { // ejected: every connection goes to the other
		c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
		require.NoError(t, err)
		c.Close()
	}
	e := m.Explain(&http.Request{Method: "GET", Host: "tcp-echo:9000", URL: mustURL(t, "http://tcp-echo:9000/")})
	require.Contains(t, e.String(), "ejected")
}

func TestDialConnectTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := switchyard.Parse([]byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  trafficPolicy:
    connectionPool: {tcp: {connectTimeout: 2s}}
    outlierDetection: {consecutiveGatewayErrors: 1, interval: 1s, baseEjectionTime: 1m}
`))
		require.NoError(t, err)
		m, err := switchyard.New(cfg)
		require.NoError(t, err)
		defer m.Close()
		switchyard.SetEndpointDial(m, func(ctx context.Context, network, addr string) (net.Conn, error) {
			require.Equal(t, "10.0.0.1:5432", addr)
			<-ctx.Done() // a connect that never completes
			return nil, ctx.Err()
		})
		start := time.Now()
		_, err = m.DialContext(t.Context(), "tcp", "db:5432")
		require.Equal(t, 2*time.Second, time.Since(start))
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.ErrorContains(t, err, "connectTimeout")
		// The timeout counted against the endpoint: it is ejected.
		_, err = m.DialContext(t.Context(), "tcp", "db:5432")
		require.ErrorContains(t, err, "no healthy upstream")
	})
}

func TestDialClosesOldAndIdleConnections(t *testing.T) {
	one := newEchoServer(t, "one")
	clk := meshtest.NewClock(time.Unix(0, 0))
	m := newDialMesh(t, tcpEchoEntry(one)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 5, maxConnectionDuration: 1h, idleTimeout: 10m}}}
`, switchyard.WithClock(clk))
	closed := func(c net.Conn) bool {
		_, err := c.Write([]byte("x\n"))
		return errors.Is(err, net.ErrClosed)
	}

	busy, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.NoError(t, err)
	for range 6 { // in use every 9 minutes: never idle for 10
		clk.Advance(9 * time.Minute)
		require.Equal(t, "one", echoLine(t, busy))
	}
	require.False(t, closed(busy))
	clk.Advance(6 * time.Minute) // 1h after it was made
	require.True(t, closed(busy), "maxConnectionDuration")

	idle, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.NoError(t, err)
	clk.Advance(5 * time.Minute)
	require.Equal(t, "one", echoLine(t, idle))
	clk.Advance(9 * time.Minute) // 9 minutes since the last use
	require.Equal(t, "one", echoLine(t, idle))
	clk.Advance(10 * time.Minute)
	require.True(t, closed(idle), "idleTimeout")
	active, _ := switchyard.Outstanding(m, "tcp-echo")
	require.Zero(t, active, "closed connections give back their admission")
}

func TestTCPRouteValidation(t *testing.T) {
	const entry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
`
	for _, tc := range []struct{ spec, want string }{
		{"  hosts: [db.example.com]\n  tls:\n  - route: [{destination: {host: db.example.com}}]\n", "spec.tls[0].match: a TLS route must have at least one match"},
		{"  hosts: [db.example.com]\n  tls:\n  - match: [{port: 5432}]\n    route: [{destination: {host: db.example.com}}]\n", "spec.tls[0].match[0].sniHosts: a TLS match must have at least one SNI host"},
		{"  hosts: [db.example.com]\n  tls:\n  - match: [{sniHosts: [other.com]}]\n    route: [{destination: {host: db.example.com}}]\n", `spec.tls[0].match[0].sniHosts[0]: SNI host "other.com" is not within any of the VirtualService's hosts`},
		{"  hosts: [db.example.com]\n  tcp:\n  - match: [{destinationSubnets: [10.0.0.0/40]}]\n    route: [{destination: {host: db.example.com}}]\n", "spec.tcp[0].match[0].destinationSubnets[0]"},
		{"  hosts: [db.example.com]\n  tcp:\n  - match: [{port: 70000}]\n    route: [{destination: {host: db.example.com}}]\n", "spec.tcp[0].match[0].port: 70000 is not a port number"},
		{"  hosts: [db.example.com]\n  tcp:\n  - match: [{port: 5432}]\n", "spec.tcp[0].route: at least one destination is required"},
		{"  hosts: [db.example.com]\n  tcp:\n  - route: [{destination: {host: db.example.com}, weight: 0}, {destination: {host: db.example.com}, weight: 0}]\n", "spec.tcp[0].route: the weights of several destinations must sum to more than 0"},
		{"  hosts: [\"*\"]\n  tcp:\n  - route: [{destination: {host: db.example.com}}]\n", "wildcard host * is not allowed for VirtualServices bound to the mesh gateway"},
		{"  hosts: [db.example.com]\n  gateways: [\"bad/Name/x\"]\n  tcp:\n  - route: [{destination: {host: db.example.com}}]\n", `spec.gateways[0]: gateway "bad/Name/x"`},
		{"  hosts: [db.example.com]\n  tcp:\n  - route: [{destination: {host: db.example.com}, headers: {}}]\n", "headers"},
		{"  hosts: [db.example.com]\n  tcp:\n  - match: [{sourceSubnet: 10.0.0.0/8}]\n    route: [{destination: {host: db.example.com}}]\n", "sourceSubnet"},
		{"  hosts: [db.example.com]\n", "http, tcp or tls must be provided"},
	} {
		cfg, err := switchyard.Parse([]byte(entry + tc.spec))
		if err == nil {
			_, err = switchyard.New(cfg)
		}
		require.ErrorContains(t, err, tc.want, tc.spec)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestDialReportsEachConnection(t *testing.T) {
	one := newEchoServer(t, "one")
	rig := newOtelRig(t)
	m := newDialMesh(t, tcpEchoEntry(one)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
`, rig.options()...)
	var mu sync.Mutex
	var obs []switchyard.Observation
	stop := m.Observe(func(o switchyard.Observation) {
		mu.Lock()
		obs = append(obs, o)
		mu.Unlock()
	})
	defer stop()
	c, err := m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.NoError(t, err)
	_, err = m.DialContext(t.Context(), "tcp", "tcp-echo:9000")
	require.ErrorIs(t, err, pool.ErrOverflow)
	c.Close()

	mu.Lock()
	require.Len(t, obs, 2)
	require.Equal(t, "tcp-echo", obs[0].Host)
	require.False(t, obs[0].Failed)
	require.True(t, obs[1].Failed)
	mu.Unlock()
	spans := rig.spans.Ended()
	require.Len(t, spans, 2)
	require.Equal(t, "connect tcp-echo", spans[0].Name())
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	require.Equal(t, "outbound|9000||tcp-echo", attrs["switchyard.cluster"])
	require.Equal(t, "127.0.0.1:"+strconv.Itoa(one.port()), attrs["switchyard.endpoint"])
	require.Equal(t, "overflow", spans[1].Events()[0].Name)
}

func TestZeroDialerFailsCleanly(t *testing.T) {
	var d switchyard.Dialer
	_, err := d.DialContext(t.Context(), "tcp", "db:5432")
	require.ErrorContains(t, err, "Mesh.Dialer")
}

// byteWriter writes one byte at a time, as a client whose ClientHello
// reaches the mesh in pieces.
type byteWriter struct{ net.Conn }

func (w byteWriter) Write(b []byte) (int, error) {
	for i := range b {
		if _, err := w.Conn.Write(b[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(b), nil
}

func TestDialReadsAClientHelloWrittenInPieces(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") }))
	defer api.Close()
	m := newDialMesh(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.internal]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: %d}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example}
spec:
  hosts: [api.example.com]
  tls:
  - match: [{sniHosts: [api.example.com]}]
    route: [{destination: {host: api.internal}}]
`, api.Listener.Addr().(*net.TCPAddr).Port))
	c, err := m.DialContext(t.Context(), "tcp", "api.example.com:443")
	require.NoError(t, err)
	tc := tls.Client(byteWriter{c}, &tls.Config{ServerName: "api.example.com", InsecureSkipVerify: true}) // routing, not the certificate, is under test
	defer tc.Close()
	_, err = io.WriteString(tc, "GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "api", string(body))
}
