package switchyard_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

// tlsMesh builds a mesh for host svc.test, port 80 (protocol proto) at the
// backend, with the DestinationRule's trafficPolicy.tls given in YAML flow
// style.
func tlsMesh(t *testing.T, b *tlsBackend, proto, tlsYAML string, opts ...switchyard.Option) *switchyard.Mesh {
	t.Helper()
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc.test]
  ports: [{number: 80, name: http, protocol: %s, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc.test
  trafficPolicy:
    tls: %s
`, proto, b.port, tlsYAML)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func tlsGet(t *testing.T, rt http.RoundTripper, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestTLSOriginationModes sends through the mesh's own transports to real
// TLS servers on loopback: each mode succeeds where it should, and fails
// with a 503 whose body carries the handshake's cause where it should.
func TestTLSOriginationModes(t *testing.T) {
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other")
	dir := t.TempDir()
	caFile := writePEM(t, dir, "ca.pem", ca.pem)
	otherFile := writePEM(t, dir, "other.pem", other.pem)
	client := ca.issue(t, time.Time{}, "client.test")
	certFile, keyFile := writePEM(t, dir, "client.pem", client.chain), writePEM(t, dir, "client-key.pem", client.key)
	good := ca.issue(t, time.Time{}, "svc.test")
	expired := ca.issue(t, time.Now().Add(-time.Hour), "svc.test")
	workload := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	meshServer := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/svc"))
	meshCfg, err := mtls.ServerConfig(meshServer, mtls.ServerOptions{})
	require.NoError(t, err)

	plain := startTLSBackend(t, serverConfig(t, good, nil))
	mutual := startTLSBackend(t, serverConfig(t, good, ca))
	old := startTLSBackend(t, serverConfig(t, expired, nil))
	mesh := startTLSBackend(t, meshCfg)

	for _, tc := range []struct {
		name, proto, tls string
		backend          *tlsBackend
		want             int
		body             string
	}{
		{"simple", "HTTP", `{mode: SIMPLE, caCertificates: ` + caFile + `}`, plain, 200, "HTTP/1.1 sni=svc.test peer="},
		{"simple over HTTP/2", "HTTP2", `{mode: SIMPLE, caCertificates: ` + caFile + `}`, plain, 200, "HTTP/2.0 sni=svc.test"},
		{"simple with sni and SANs", "HTTP", `{mode: SIMPLE, caCertificates: ` + caFile + `, sni: api.test, subjectAltNames: [svc.test]}`, plain, 200, "sni=api.test"},
		{"wrong CA", "HTTP", `{mode: SIMPLE, caCertificates: ` + otherFile + `}`, plain, 503, "connection failure, transport failure reason: dial tcp 127.0.0.1:"},
		{"wrong CA cause", "HTTP", `{mode: SIMPLE, caCertificates: ` + otherFile + `}`, plain, 503, "tls handshake: mtls: unknown authority"},
		{"wrong SAN", "HTTP", `{mode: SIMPLE, caCertificates: ` + caFile + `, subjectAltNames: [db.test]}`, plain, 503, "mtls: SAN mismatch"},
		{"expired", "HTTP", `{mode: SIMPLE, caCertificates: ` + caFile + `}`, old, 503, "mtls: certificate expired"},
		{"insecureSkipVerify", "HTTP", `{mode: SIMPLE, insecureSkipVerify: true}`, old, 200, "HTTP/1.1"},
		{"mutual", "HTTP", `{mode: MUTUAL, caCertificates: ` + caFile + `, clientCertificate: ` + certFile + `, privateKey: ` + keyFile + `}`, mutual, 200, "HTTP/1.1"},
		{"missing client certificate", "HTTP", `{mode: SIMPLE, caCertificates: ` + caFile + `}`, mutual, 503, "tls: certificate required"},
		{"istio mutual", "HTTP", `{mode: ISTIO_MUTUAL}`, mesh, 200, "HTTP/1.1 sni=outbound_.80_._.svc.test peer=spiffe://cluster.local/ns/default/sa/caller"},
		{"istio mutual over HTTP/2", "HTTP2", `{mode: ISTIO_MUTUAL}`, mesh, 200, "HTTP/2.0 sni=outbound_.80_._.svc.test peer=spiffe://cluster.local/ns/default/sa/caller"},
		{"istio mutual, wrong SAN", "HTTP", `{mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/db"]}`, mesh, 503, "mtls: SAN mismatch"},
		{"istio mutual to a plain server", "HTTP", `{mode: ISTIO_MUTUAL}`, plain, 503, "tls handshake: mtls:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tlsMesh(t, tc.backend, tc.proto, tc.tls, switchyard.WithWorkloadCertificates(workload))
			status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
			require.Equal(t, tc.want, status, body)
			require.Contains(t, body, tc.body)
		})
	}
}

// TestTLSThroughBaseTransport: with an *http.Transport as base, the server
// name is the original authority (or the rule's sni), never the endpoint's
// address the base is given, both for an "https" request the base encrypts
// and for TLS the cluster's rule originates; a base of another type cannot
// originate TLS and says so.
func TestTLSThroughBaseTransport(t *testing.T) {
	ca := newTestCA(t, "ca")
	dir := t.TempDir()
	caFile := writePEM(t, dir, "ca.pem", ca.pem)
	b := startTLSBackend(t, serverConfig(t, ca.issue(t, time.Time{}, "svc.test"), nil))
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(base.CloseIdleConnections)

	m := tlsMesh(t, b, "HTTPS", `{mode: DISABLE}`)
	status, body := tlsGet(t, m.Transport(base), "https://svc.test:80/")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "sni=svc.test")

	m = tlsMesh(t, b, "HTTP", `{mode: SIMPLE, caCertificates: `+caFile+`}`)
	status, body = tlsGet(t, m.Transport(base), "http://svc.test/")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "HTTP/1.1 sni=svc.test")

	m = tlsMesh(t, b, "HTTP", `{mode: SIMPLE, caCertificates: `+caFile+`, sni: api.test, subjectAltNames: [svc.test]}`)
	status, body = tlsGet(t, m.Transport(base), "http://svc.test/")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "sni=api.test")

	other := roundTripFunc(func(r *http.Request) (*http.Response, error) { return base.RoundTrip(r) })
	req, err := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
	require.NoError(t, err)
	_, err = m.Transport(other).RoundTrip(req)
	require.ErrorContains(t, err, "originates TLS (SIMPLE), which a base transport of type switchyard_test.roundTripFunc cannot do")
}

// TestHandshakeFailureIsLocalOrigin: a certificate the client refuses is a
// local-origin connect failure, as in Envoy: with
// split_external_local_origin_errors it counts toward
// consecutiveLocalOriginFailures and ejects the endpoint, and the default
// retry (connect-failure) sends the request to the other one.
func TestHandshakeFailureIsLocalOrigin(t *testing.T) {
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other")
	caFile := writePEM(t, t.TempDir(), "ca.pem", ca.pem)
	good := startTLSBackend(t, serverConfig(t, ca.issue(t, time.Time{}, "svc.test"), nil))
	bad := startTLSBackend(t, serverConfig(t, other.issue(t, time.Time{}, "svc.test"), nil))
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %d}}, {address: 127.0.0.1, ports: {http: %d}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc.test
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    tls: {mode: SIMPLE, caCertificates: %s}
    outlierDetection: {splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 1, consecutive5xxErrors: 0, interval: 1h, baseEjectionTime: 1h, maxEjectionPercent: 100}
`, good.port, bad.port, caFile)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	for range 4 {
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
	}
	req, err := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
	require.NoError(t, err)
	explained := m.Explain(req).String()
	require.Contains(t, explained, fmt.Sprintf("127.0.0.1:%d weight 1 active 0 ejected", bad.port))
	require.Contains(t, explained, fmt.Sprintf("127.0.0.1:%d weight 1 active 0 available", good.port))
}

// TestAutoMTLS: a rule without a TLS mode gets Istio's auto mTLS: with the
// workload's certificates, ISTIO_MUTUAL to endpoints labelled
// security.istio.io/tlsMode=istio (as the sidecar injector labels its
// pods), plain text to the others, to all when the process has no
// certificates, and never over an explicit DISABLE.
func TestAutoMTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	workload := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	meshServer := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/svc"))
	meshCfg, err := mtls.ServerConfig(meshServer, mtls.ServerOptions{})
	require.NoError(t, err)
	sidecar := startTLSBackend(t, meshCfg)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "plain text") }))
	t.Cleanup(plain.Close)
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())

	build := func(t *testing.T, port, labels, rule string, opts ...switchyard.Option) *switchyard.Mesh {
		cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %s}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: %s}]
%s`, port, labels, rule)))
		require.NoError(t, err)
		m, err := switchyard.New(cfg, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		return m
	}
	const injected = `{app: svc, security.istio.io/tlsMode: istio}`
	const disable = "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: svc}\nspec: {host: svc.test, trafficPolicy: {tls: {mode: DISABLE}}}\n"
	const noMode = "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: svc}\nspec: {host: svc.test, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n"
	certs := switchyard.WithWorkloadCertificates(workload)
	sidecarPort := strconv.Itoa(sidecar.port)

	t.Run("injected endpoint gets mTLS", func(t *testing.T) {
		m := build(t, sidecarPort, injected, "", certs)
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
		require.Contains(t, body, "sni=outbound_.80_._.svc.test peer=spiffe://cluster.local/ns/default/sa/caller")
		require.Contains(t, m.Explain(httptest.NewRequest("GET", "http://svc.test/", nil)).Destinations[0].TLS, "ISTIO_MUTUAL")
	})
	t.Run("a rule without a mode keeps auto mTLS", func(t *testing.T) {
		m := build(t, sidecarPort, injected, noMode, certs)
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
	})
	t.Run("endpoint without sidecar gets plain text", func(t *testing.T) {
		m := build(t, plainPort, `{app: svc}`, "", certs)
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
		require.Equal(t, "plain text", body)
	})
	t.Run("DISABLE wins", func(t *testing.T) {
		m := build(t, plainPort, injected, disable, certs)
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
		require.Equal(t, "plain text", body)
	})
	t.Run("no workload certificates, no mTLS", func(t *testing.T) {
		m := build(t, plainPort, injected, "")
		status, body := tlsGet(t, m.Transport(nil), "http://svc.test/")
		require.Equal(t, 200, status, body)
		require.Equal(t, "plain text", body)
	})
}
