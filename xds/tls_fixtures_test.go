package xds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-go/switchyard/mtls"
)

var serials atomic.Int64

// testCA is a root that issues SPIFFE certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate and key (PEM) for a SPIFFE ID.
func (ca *testCA) issue(t testing.TB, spiffe string) (chain, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(spiffe)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// source returns an in-memory workload source for spiffe, issued by ca.
func (ca *testCA) source(t testing.TB, spiffe string) *mtls.Source {
	t.Helper()
	chain, key := ca.issue(t, spiffe)
	m, err := mtls.ParsePEM(chain, key, ca.pem, nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := mtls.NewSource(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// provider writes a workload certificate for spiffe and ca's root into a
// temporary directory, as Istio's agent does, and returns the bootstrap's
// file_watcher provider for them.
func (ca *testCA) provider(t testing.TB, spiffe string) CertificateProvider {
	t.Helper()
	dir := t.TempDir()
	chain, key := ca.issue(t, spiffe)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return CertificateProvider{PluginName: "file_watcher", CertificateFile: write("cert-chain.pem", chain),
		PrivateKeyFile: write("key.pem", key), CACertificateFile: write("root-cert.pem", ca.pem), RefreshInterval: time.Hour}
}

// serverTLS is a mesh server's configuration: it presents a certificate
// for spiffe and requires a client certificate from ca.
func (ca *testCA) serverTLS(t testing.TB, spiffe string) *tls.Config {
	t.Helper()
	cfg, err := mtls.ServerConfig(ca.source(t, spiffe), mtls.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// quietLog discards the server's log of the handshakes the tests make fail.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
