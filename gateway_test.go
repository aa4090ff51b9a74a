package switchyard_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

// gatewayCerts are PEM files in a temporary directory: a CA, a server
// certificate for *.example.com and a client certificate, both signed by
// the CA.
type gatewayCerts struct {
	dir                      string
	ca, cert, key            string // file paths
	pool                     *x509.CertPool
	client                   tls.Certificate
	caCert                   *x509.Certificate
	caKey                    *ecdsa.PrivateKey
	clientCertPEM, clientKey []byte
}

func newGatewayCerts(t *testing.T) *gatewayCerts {
	t.Helper()
	c := &gatewayCerts{dir: t.TempDir()}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	c.caCert, _ = x509.ParseCertificate(caDER)
	c.caKey = caKey
	c.pool = x509.NewCertPool()
	c.pool.AddCert(c.caCert)
	c.ca = c.write(t, "ca.pem", "CERTIFICATE", caDER)

	certPEM, keyPEM := c.issue(t, 2, &x509.Certificate{DNSNames: []string{"*.example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	c.cert = c.write(t, "cert.pem", "", certPEM)
	c.key = c.write(t, "key.pem", "", keyPEM)
	c.clientCertPEM, c.clientKey = c.issue(t, 3, &x509.Certificate{DNSNames: []string{"client.example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	c.client, err = tls.X509KeyPair(c.clientCertPEM, c.clientKey)
	require.NoError(t, err)
	return c
}

func (c *gatewayCerts) issue(t *testing.T, serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, &key.PublicKey, c.caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (c *gatewayCerts) write(t *testing.T, name, typ string, data []byte) string {
	if typ != "" {
		data = pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: data})
	}
	p := filepath.Join(c.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// echoBackend answers with its name and what the gateway sent it.
func echoBackend(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s xff=%s proto=%s rid=%s conn=%s hop=%s", name, r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Request-Id"), r.Header.Get("Connection"), r.Header.Get("X-Hop"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gatewayManifests is an ingress Gateway (TLS on 443, a redirect on 80)
// and a VirtualService bound to it: jason goes to v2, others 80/20.
func gatewayManifests(c *gatewayCerts, v1, v2 string, mode string) string {
	_, p1, _ := net.SplitHostPort(v1)
	_, p2, _ := net.SplitHostPort(v2)
	ca := ""
	if mode == "MUTUAL" {
		ca = ", caCertificates: " + c.ca
	}
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop/bookinfo.example.com"]
    tls: {mode: %s, serverCertificate: %s, privateKey: %s%s}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/bookinfo.example.com"]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: shop}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/ingress]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
`, p1, p2, mode, c.cert, c.key, ca)
}

// serveGateway serves port of the gateway on a loopback listener and
// returns its address; the server is shut down at cleanup.
func serveGateway(t *testing.T, m *switchyard.Mesh, name string, port uint32) string {
	t.Helper()
	srv, err := m.Gateway(name, port)
	require.NoError(t, err)
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if srv.TLSConfig != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// gatewayClient sends every request to addr over TLS (HTTP/2) trusting
// pool, whatever its URL's host.
func gatewayClient(t *testing.T, addr string, tc *tls.Config) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestGatewayTLSCanaryAndHeaderRoute terminates TLS at an ingress Gateway
// on loopback and routes with the VirtualService bound to it: a header
// route, and an 80/20 canary within binomial bounds at α = 1e-6. The
// VirtualService, bound only to the gateway, leaves the mesh's own
// transport alone.
func TestGatewayTLSCanaryAndHeaderRoute(t *testing.T) {
	certs := newGatewayCerts(t)
	v1, v2 := echoBackend(t, "v1"), echoBackend(t, "v2")
	cfg, err := switchyard.Parse([]byte(gatewayManifests(certs, v1, v2, "SIMPLE")))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithRand(meshtest.NewRand(7)))
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 443)
	c := gatewayClient(t, addr, &tls.Config{RootCAs: certs.pool})

	resp, body := get(t, c, "https://bookinfo.example.com/reviews/1", "end-user", "jason", "X-Forwarded-For", "203.0.113.9")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS to the gateway")
	assert.True(t, strings.HasPrefix(body, "v2 host=bookinfo.example.com xff=203.0.113.9, 127.0.0.1 proto=https rid="), body)
	rid := body[strings.Index(body, "rid=")+4 : strings.Index(body, " conn=")]
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, rid)
	_, body = get(t, c, "https://bookinfo.example.com/", "X-Request-Id", "given")
	assert.Contains(t, body, "rid=given", "a request id the client sent is kept")

	const n = 1000
	v2s := 0
	for range n {
		resp, body := get(t, c, "https://bookinfo.example.com/")
		require.Equal(t, 200, resp.StatusCode, body)
		if strings.HasPrefix(body, "v2 ") {
			v2s++
		}
	}
	lo, hi := stat.BinomialInterval(n, 0.2)
	assert.True(t, v2s >= lo && v2s <= hi, "v2 got %d of %d, want %d..%d", v2s, n, lo, hi)

	resp, _ = get(t, c, "https://other.example.com/")
	assert.Equal(t, 404, resp.StatusCode, "a host the gateway does not expose")

	// The mesh's own transport: bookinfo.example.com is not a mesh host.
	assert.Equal(t, "passthrough", m.Explain(httptest.NewRequest("GET", "http://bookinfo.example.com/", nil)).Action)
}

// TestGatewayHTTPSRedirect answers plain HTTP on a server with
// tls.httpsRedirect with a 301 to the same host and path over https.
func TestGatewayHTTPSRedirect(t *testing.T) {
	certs := newGatewayCerts(t)
	v1, v2 := echoBackend(t, "v1"), echoBackend(t, "v2")
	cfg, err := switchyard.Parse([]byte(gatewayManifests(certs, v1, v2, "SIMPLE")))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 80)
	c := gatewayClient(t, addr, nil)
	resp, _ := get(t, c, "http://bookinfo.example.com/reviews?x=1")
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	assert.Equal(t, "https://bookinfo.example.com/reviews?x=1", resp.Header.Get("Location"))
	resp, _ = get(t, c, "http://other.example.com/")
	assert.Equal(t, 404, resp.StatusCode)
}

// TestGatewayMutualTLS requires a client certificate signed by the
// configured CA.
func TestGatewayMutualTLS(t *testing.T) {
	certs := newGatewayCerts(t)
	v1, v2 := echoBackend(t, "v1"), echoBackend(t, "v2")
	cfg, err := switchyard.Parse([]byte(gatewayManifests(certs, v1, v2, "MUTUAL")))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 443)
	resp, body := get(t, gatewayClient(t, addr, &tls.Config{RootCAs: certs.pool, Certificates: []tls.Certificate{certs.client}}),
		"https://bookinfo.example.com/", "end-user", "jason")
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "v2 "), body)
	_, err = gatewayClient(t, addr, &tls.Config{RootCAs: certs.pool}).Get("https://bookinfo.example.com/")
	assert.Error(t, err, "no client certificate")
}

// TestGatewaySimpleIgnoresClientCA: a SIMPLE server with caCertificates
// (and subjectAltNames) is valid, as Istio has it, and asks no client for a
// certificate: Istio validates clients only in MUTUAL mode.
func TestGatewaySimpleIgnoresClientCA(t *testing.T) {
	certs := newGatewayCerts(t)
	v1, v2 := echoBackend(t, "v1"), echoBackend(t, "v2")
	manifest := gatewayManifests(certs, v1, v2, "SIMPLE")
	withCA := strings.Replace(manifest, "privateKey: "+certs.key+"}",
		"privateKey: "+certs.key+", caCertificates: "+certs.ca+", subjectAltNames: [client.example.com]}", 1)
	require.NotEqual(t, manifest, withCA)
	cfg, err := switchyard.Parse([]byte(withCA))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 443)
	resp, _ := get(t, gatewayClient(t, addr, &tls.Config{RootCAs: certs.pool}), "https://bookinfo.example.com/")
	assert.Equal(t, 200, resp.StatusCode, "no client certificate is asked for")
}

// TestGatewayWebSocket upgrades a connection through the gateway and
// exchanges bytes both ways over it.
func TestGatewayWebSocket(t *testing.T) {
	certs := newGatewayCerts(t)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}))
	defer ws.Close()
	// A route timeout wraps the upstream body; the upgraded connection
	// must stay writable through it.
	manifests := strings.Replace(gatewayManifests(certs, ws.Listener.Addr().String(), ws.Listener.Addr().String(), "SIMPLE"),
		"  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 80}", "  - timeout: 30s\n    route:\n    - {destination: {host: reviews, subset: v1}, weight: 80}", 1)
	require.Contains(t, manifests, "timeout: 30s")
	cfg, err := switchyard.Parse([]byte(manifests))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 443)

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: certs.pool, ServerName: "bookinfo.example.com", NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: bookinfo.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo hello\n", line)
}

// TestGatewayGRPC passes gRPC calls through a plain-text (h2c) gateway
// port to a gRPC server: unary, a bidirectional stream, and a status
// carried in trailers.
func TestGatewayGRPC(t *testing.T) {
	b := &grpcBackend{name: "echo"}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, b)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	defer gs.Stop()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo]
  ports: [{number: 9090, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {grpc: %s}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: grpc-gw}
spec:
  servers: [{port: {number: 8080, name: grpc, protocol: GRPC}, hosts: [grpc.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grpc-edge}
spec:
  hosts: [grpc.example.com]
  gateways: [grpc-gw]
  http: [{route: [{destination: {host: echo}}]}]
`, port)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "grpc-gw", 8080)

	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.example.com"))
	require.NoError(t, err)
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, "echo", string(resp.GetPayload().GetBody()))

	stream, err := client.FullDuplexCall(ctx)
	require.NoError(t, err)
	for _, msg := range []string{"a", "b"} {
		require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}))
		got, err := stream.Recv()
		require.NoError(t, err)
		assert.Equal(t, "echo:"+msg, string(got.GetPayload().GetBody()))
	}
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	assert.Equal(t, io.EOF, err)

	b.failNext(1, codes.PermissionDenied)
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "the status comes through in trailers: %v", err)
}

// TestGatewayAndSidecarValidation: every field is served or rejected by
// name, with Istio's validation rules, at Parse (unsupported fields) or New.
func TestGatewayAndSidecarValidation(t *testing.T) {
	gw := func(servers string) string {
		return "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: edge}\nspec:\n  servers:\n" + servers
	}
	sc := func(spec string) string {
		return "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: sc, namespace: shop}\nspec:\n" + spec
	}
	for _, tt := range []struct{ name, manifest, want string }{
		{"no servers", "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {selector: {istio: ingressgateway}}",
			`Gateway "gw": spec.servers: at least one server is required`},
		{"credentialName", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: my-secret}"),
			`Gateway "edge/gw": spec.servers[0].tls.credentialName: not supported: "my-secret" names a Kubernetes secret, which an in-process gateway cannot read; set serverCertificate and privateKey (and caCertificates for MUTUAL) to PEM file paths instead`},
		{"passthrough", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: PASSTHROUGH}"),
			`spec.servers[0].tls.mode: not supported: PASSTHROUGH (the default) forwards TLS unterminated, which the HTTP handler cannot; set mode SIMPLE or MUTUAL`},
		{"HTTPS without tls", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]"),
			`spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols`},
		{"TLS on a plain port", gw("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE}"),
			`spec.servers[0].tls: server cannot have TLS settings for plain text HTTP ports; only httpsRedirect`},
		{"TCP server", gw("  - port: {number: 31400, name: tcp, protocol: TCP}\n    hosts: [\"*\"]"),
			`spec.servers[0].port.protocol: not supported: TCP servers carry TCP or unterminated TLS`},
		{"port name", gw("  - port: {number: 80, protocol: HTTP}\n    hosts: [a.example.com]"),
			`spec.servers[0].port.name: port name must be set`},
		{"duplicate port name", gw("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n  - port: {number: 81, name: http, protocol: HTTP}\n    hosts: [b.example.com]"),
			`spec.servers[1].port.name: port names in servers must be unique: "http" names port 80 too`},
		{"host namespace", gw("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"Bad_NS/a.example.com\"]"),
			`spec.servers[0].hosts[0]: "Bad_NS/a.example.com": the namespace before '/' must be`},
		{"missing key file", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, serverCertificate: /nonexistent/cert.pem, privateKey: /nonexistent/key.pem}"),
			`spec.servers[0].tls: serverCertificate "/nonexistent/cert.pem" and privateKey "/nonexistent/key.pem": open /nonexistent/cert.pem: no such file or directory`},
		{"MUTUAL without CA", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: MUTUAL, serverCertificate: c.pem, privateKey: k.pem}"),
			`spec.servers[0].tls.caCertificates: MUTUAL TLS requires a client CA bundle`},
		{"bind", gw("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n    bind: 0.0.0.0"),
			`spec.servers[0].bind: not supported: bind chooses the gateway's listening address`},
		{"cipherSuites", gw("  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384]}"),
			`spec.servers[0].tls.cipherSuites: not supported`},
		{"short server host", gw("  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"shop/reviews\"]"),
			`spec.servers[0].hosts[0]: "shop/reviews": short names (non FQDN) are not allowed`},
		{"short egress host", sc("  egress: [{hosts: [./reviews]}]"),
			`spec.egress[0].hosts[0]: "./reviews": short names (non FQDN) are not allowed`},
		{"exclusion of a bad namespace", sc("  egress: [{hosts: [\"~Bad_NS/*\"]}]"),
			`spec.egress[0].hosts[0]: "~Bad_NS/*": the namespace before '/' must be`},
		{"empty Sidecar", sc("  {}"), `Sidecar "shop/sc": spec: sidecar: empty configuration provided`},
		{"egress host without namespace", sc("  egress: [{hosts: [reviews]}]"),
			`spec.egress[0].hosts[0]: "reviews": a host must be "namespace/host"`},
		{"egress port", sc("  egress: [{port: {number: 9080}, hosts: [./reviews]}]"),
			`spec.egress[0].port: not supported: an egress listener per port is not supported`},
		{"ingress", sc("  ingress: [{port: {number: 9080}}]"), `spec.ingress: not supported: ingress listeners configure the inbound proxy`},
		{"inboundConnectionPool", sc("  inboundConnectionPool: {}"), `spec.inboundConnectionPool: not supported`},
		{"egressProxy", sc("  outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress}}"), `spec.outboundTrafficPolicy.egressProxy: not supported`},
		{"mode", sc("  outboundTrafficPolicy: {mode: BLOCK}"), `spec.outboundTrafficPolicy.mode: unknown mode "BLOCK"; use ALLOW_ANY or REGISTRY_ONLY`},
		{"two namespace-wide Sidecars", sc("  outboundTrafficPolicy: {mode: ALLOW_ANY}") + "\n---\n" +
			"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: sc2, namespace: shop}\nspec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}",
			`Sidecar "shop/sc2": metadata: Sidecar "shop/sc" already applies to every workload of namespace "shop"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := switchyard.Parse([]byte(tt.manifest))
			if err == nil {
				var m *switchyard.Mesh
				m, err = switchyard.New(cfg)
				if m != nil {
					m.Close()
				}
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestGatewayTLSRefusalIsTheWholeError: a server whose TLS mode or
// credentialName switchyard refuses by name gets that refusal alone, not
// also the certificate files a SIMPLE server would need: Istio requires
// them only of SIMPLE and MUTUAL servers without a credentialName.
func TestGatewayTLSRefusalIsTheWholeError(t *testing.T) {
	for _, tt := range []struct{ name, tls, want string }{
		{"default mode", "{httpsRedirect: true}", "tls.mode: not supported: PASSTHROUGH"},
		{"credentialName", "{mode: SIMPLE, credentialName: sds-name}", "tls.credentialName: not supported"},
		{"credentialName MUTUAL", "{mode: MUTUAL, credentialName: sds-name}", "tls.credentialName: not supported"},
		{"ISTIO_MUTUAL", "{mode: ISTIO_MUTUAL}", "tls.mode: not supported: ISTIO_MUTUAL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := switchyard.Parse([]byte("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n" +
				"  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: " + tt.tls))
			require.NoError(t, err)
			_, err = switchyard.New(cfg)
			require.Error(t, err)
			assert.Equal(t, `Gateway "gw": spec.servers[0].`, err.Error()[:len(`Gateway "gw": spec.servers[0].`)])
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "requires", "the refusal is the whole error")
			assert.Equal(t, 1, strings.Count(err.Error(), "spec.servers[0]"), "one error: %v", err)
		})
	}
}

// TestGatewayBinding: a VirtualService bound only to a Gateway leaves the
// mesh alone; one listing mesh and the Gateway serves both; a match block
// naming the gateway applies only there; a VirtualService host the
// gateway's servers do not expose (or expose to another namespace) is not
// routed by it.
func TestGatewayBinding(t *testing.T) {
	v1 := echoBackend(t, "v1")
	_, p1, _ := net.SplitHostPort(v1)
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.shop]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["./reviews.shop", "./a.example.com", "other/b.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: both}
spec:
  hosts: [reviews.shop]
  gateways: [mesh, gw]
  http:
  - match: [{gateways: [gw], uri: {prefix: /direct}}]
    directResponse: {status: 201}
  - route: [{destination: {host: reviews.shop}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge-only}
spec:
  hosts: [a.example.com, b.example.com, c.example.com]
  gateways: [default/gw]
  http: [{directResponse: {status: 202}}]
`, p1)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "gw", 8080)
	c := gatewayClient(t, addr, nil)
	for host, want := range map[string]int{"reviews.shop": 201, "a.example.com": 202, "b.example.com": 404, "c.example.com": 404} {
		resp, _ := get(t, c, "http://"+host+"/direct")
		assert.Equal(t, want, resp.StatusCode, "through the gateway: %s", host)
	}
	// Hop-by-hop headers, and those Connection names, stop at the gateway.
	resp, body := get(t, c, "http://reviews.shop/x", "Connection", "X-Hop", "X-Hop", "secret")
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "v1 host=reviews.shop xff=127.0.0.1 proto=http rid="), body)
	assert.True(t, strings.HasSuffix(body, " conn= hop="), body)

	mc := &http.Client{Transport: m.Transport(nil)}
	resp, body = get(t, mc, "http://reviews.shop/direct")
	assert.Equal(t, 200, resp.StatusCode, "the mesh skips the gateway's match block")
	assert.True(t, strings.HasPrefix(body, "v1 "), body)
	assert.Equal(t, "passthrough", m.Explain(httptest.NewRequest("GET", "http://a.example.com/", nil)).Action)

	_, err = m.Gateway("gw", 9999)
	assert.EqualError(t, err, `switchyard: Gateway "default/gw" has no server on port 9999 (its ports: [8080])`)
	_, err = m.Gateway("nope", 80)
	assert.EqualError(t, err, `switchyard: no Gateway "default/nope"`)
}

// TestGatewayFollowsUpdate: routes, hosts and certificates come from the
// configuration in force, request by request; a port the Gateway no
// longer serves answers 404.
func TestGatewayFollowsUpdate(t *testing.T) {
	certs := newGatewayCerts(t)
	v1, v2 := echoBackend(t, "v1"), echoBackend(t, "v2")
	manifests := gatewayManifests(certs, v1, v2, "SIMPLE")
	cfg, err := switchyard.Parse([]byte(manifests))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	addr := serveGateway(t, m, "istio-system/ingress", 443)
	c := gatewayClient(t, addr, &tls.Config{RootCAs: certs.pool})

	// Everyone to v2 now.
	next, err := switchyard.Parse([]byte(strings.Replace(strings.Replace(manifests, "weight: 80", "weight: 0", 1), "weight: 20", "weight: 100", 1)))
	require.NoError(t, err)
	require.NoError(t, m.Update(next))
	for range 20 {
		_, body := get(t, c, "https://bookinfo.example.com/")
		require.True(t, strings.HasPrefix(body, "v2 "), body)
	}
	// The Gateway gone: the port answers 404, and a bad certificate path
	// fails the update and leaves the running configuration alone.
	bad, err := switchyard.Parse([]byte(strings.Replace(manifests, certs.key, filepath.Join(certs.dir, "missing.pem"), 1)))
	require.NoError(t, err)
	err = m.Update(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Gateway "istio-system/ingress": spec.servers[0].tls: serverCertificate`)
	none := next
	none.Gateways = nil
	require.NoError(t, m.Update(none))
	resp, _ := get(t, c, "https://bookinfo.example.com/")
	assert.Equal(t, 404, resp.StatusCode)
}
