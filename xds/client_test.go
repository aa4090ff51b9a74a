package xds

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(planeEnv); spec != "" {
		os.Exit(runPlaneProcess(spec)) // a control plane for BenchmarkHeap
	}
	goleak.VerifyTestMain(m)
}

// pki is a CA with a server and a client certificate, as PEM files.
type pki struct {
	dir                   string
	ca, other             string // roots: the right CA, and an unrelated one
	serverCert, serverKey string
	clientCert, clientKey string
	serverTLS             *tls.Config
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	serialNext            int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caCert, p.caKey = p.selfSigned(t, "test CA")
	p.ca = p.write(t, "ca.pem", pemCert(p.caCert))
	other, _ := p.selfSigned(t, "other CA")
	p.other = p.write(t, "other.pem", pemCert(other))
	sc, sk := p.issue(t, "control plane", x509.ExtKeyUsageServerAuth)
	p.serverCert, p.serverKey = p.write(t, "server.pem", pemCert(sc)), p.write(t, "server-key.pem", pemKey(t, sk))
	cc, ck := p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = p.write(t, "client.pem", pemCert(cc)), p.write(t, "client-key.pem", pemKey(t, ck))
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	p.serverTLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS12}
	return p
}

func (p *pki) serial() *big.Int {
	p.serialNext++
	return big.NewInt(p.serialNext)
}

func (p *pki) selfSigned(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: p.serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (p *pki) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: p.serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (p *pki) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// serveTLS runs go-control-plane's ADS server over mutual TLS on loopback,
// serving one cluster to node "n".
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	snap, err := cachev3.NewSnapshot("1", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: {&clusterv3.Cluster{Name: "reviews", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.SetSnapshot(context.Background(), "n", snap); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), cache, nil))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

type watcher struct{ ch chan string }

func (w watcher) ResourceChanged(_ xdsclient.ResourceData, done func()) { w.ch <- "changed"; done() }
func (w watcher) ResourceError(err error, done func())                  { w.ch <- "error: " + err.Error(); done() }
func (w watcher) AmbientError(err error, done func())                   { w.ch <- "ambient: " + err.Error(); done() }

// connect builds a client from the bootstrap, with quick reconnection, and
// watches cluster "reviews".
func connect(t *testing.T, js string) (watcher, *xdsclient.Client) {
	t.Helper()
	b, err := ParseBootstrap([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := b.clientConfig(xdsclient.DefaultResourceTypes())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Backoff = func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) }
	cfg.Server.DialOptions = append(cfg.Server.DialOptions, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: grpcbackoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1, MaxDelay: 5 * time.Millisecond}, MinConnectTimeout: time.Second,
	}))
	c, err := xdsclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := watcher{ch: make(chan string, 100)}
	if _, err := c.Watch(xdsclient.ClusterTypeURL, "reviews", w); err != nil {
		t.Fatal(err)
	}
	return w, c
}

func (w watcher) next(t *testing.T) string {
	t.Helper()
	select {
	case e := <-w.ch:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no watcher event")
		return ""
	}
}

func tlsBootstrap(addr, ca, cert, key string) string {
	return fmt.Sprintf(`{"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "tls", "config": {"ca_certificate_file": %q, "certificate_file": %q, "private_key_file": %q}}]}],
		"node": {"id": "n", "metadata": {"GENERATOR": "grpc"}}}`, addr, ca, cert, key)
}

// TestTLSBootstrap: a bootstrap with tls channel credentials reaches a
// control plane that requires mutual TLS; the CA file is read at each
// connection, so fixing it on disk fixes the connection.
func TestTLSBootstrap(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.serverTLS)

	w, _ := connect(t, tlsBootstrap(addr, p.ca, p.clientCert, p.clientKey))
	if e := w.next(t); e != "changed" {
		t.Fatalf("event %q", e)
	}

	// Roots that do not verify the server: unreachable, until the file is
	// replaced with the right roots.
	roots := p.write(t, "rotating-ca.pem", mustRead(t, p.other))
	w2, _ := connect(t, tlsBootstrap(addr, roots, p.clientCert, p.clientKey))
	if e := w2.next(t); !strings.HasPrefix(e, "error: ") || !strings.Contains(e, "unreachable") {
		t.Fatalf("event %q", e)
	}
	p.write(t, "rotating-ca.pem", mustRead(t, p.ca))
	for e := w2.next(t); e != "changed"; e = w2.next(t) {
		if !strings.HasPrefix(e, "error: ") {
			t.Fatalf("event %q", e)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientConfigErrors: credential files that cannot be used are reported
// when the client is configured, naming the field.
func TestClientConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct{ name, ca, cert, key, want string }{
		{"missing CA", filepath.Join(p.dir, "absent.pem"), "", "", "config.ca_certificate_file: open "},
		{"CA not PEM", p.write(t, "junk.pem", []byte("junk")), "", "", "holds no PEM certificate"},
		{"key mismatch", p.ca, p.clientCert, p.serverKey, "config.certificate_file, private_key_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBootstrap([]byte(tlsBootstrap("x", tc.ca, tc.cert, tc.key)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.clientConfig(xdsclient.DefaultResourceTypes())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "xds_servers[0].channel_creds") {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	var b Bootstrap
	if _, err := b.clientConfig(nil); err == nil {
		t.Fatal("no server accepted")
	}
	b = Bootstrap{Servers: []Server{{URI: "x", Credentials: ChannelCredentials{Type: "insecure"}}}, Node: Node{Metadata: map[string]any{"bad": make(chan int)}}}
	if _, err := b.clientConfig(nil); err == nil || !strings.Contains(err.Error(), "node: metadata") {
		t.Fatalf("error %v", err)
	}
}

// TestClientConfig: the bootstrap's first server, its features and the node
// become the ADS client's configuration.
func TestClientConfig(t *testing.T) {
	b, err := ParseBootstrap([]byte(strings.Replace(istioBootstrap, `["xds_v3"]`, `["xds_v3", "ignore_resource_deletion"]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := b.clientConfig(xdsclient.DefaultResourceTypes())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.URI != "unix:///etc/istio/proxy/XDS" || !cfg.Server.IgnoreResourceDeletion || len(cfg.Server.DialOptions) != 1 {
		t.Fatalf("server %+v", cfg.Server)
	}
	if cfg.Node.GetId() != b.Node.ID || cfg.Node.GetMetadata().GetFields()["GENERATOR"].GetStringValue() != "grpc" || cfg.Node.GetLocality().GetRegion() != "us-central1" {
		t.Fatalf("node %v", cfg.Node)
	}
	if len(cfg.ResourceTypes) != 4 {
		t.Fatalf("%d resource types", len(cfg.ResourceTypes))
	}
}
