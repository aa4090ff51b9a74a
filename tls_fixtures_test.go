package switchyard_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/mtls"
)

// The TLS tests' certificates: a CA and leaves they issue, valid around
// the wall clock (the mesh's SIMPLE verification reads it).

var tlsSerials atomic.Int64

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(tlsSerials.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// testLeaf is a certificate the CA issued, with its key, in PEM.
type testLeaf struct {
	chain, key []byte
}

func (l *testLeaf) tlsCert(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.chain, l.key)
	require.NoError(t, err)
	return c
}

// issue returns a leaf for the SPIFFE IDs or DNS names in sans ("spiffe:"
// prefixes are URIs), valid until notAfter (a day from now when zero).
func (ca *testCA) issue(t testing.TB, notAfter time.Time, sans ...string) *testLeaf {
	t.Helper()
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(tlsSerials.Add(1)), NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if u, err := url.Parse(s); err == nil && u.Scheme == "spiffe" {
			tmpl.URIs = append(tmpl.URIs, u)
		} else if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return &testLeaf{chain: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// workloadSource returns a source serving leaf with ca's root.
func workloadSource(t testing.TB, ca *testCA, leaf *testLeaf) *mtls.Source {
	t.Helper()
	m, err := mtls.ParsePEM(leaf.chain, leaf.key, ca.pem, nil)
	require.NoError(t, err)
	src, err := mtls.NewSource(m)
	require.NoError(t, err)
	return src
}

// writeFile writes data into dir/name and returns the path.
func writePEM(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p+".tmp", data, 0o600))
	require.NoError(t, os.Rename(p+".tmp", p))
	return p
}

// tlsBackend is an HTTPS server on loopback that answers with the protocol,
// the server name it was asked for and the client's SPIFFE ID.
type tlsBackend struct {
	addr string
	port int
}

func startTLSBackend(t testing.TB, cfg *tls.Config) *tlsBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{TLSConfig: cfg, ErrorLog: quietLog(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := mtls.PeerID(r)
		fmt.Fprintf(w, "%s sni=%s peer=%s", r.Proto, r.TLS.ServerName, id)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return &tlsBackend{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
}

// serverConfig is a plain TLS server presenting leaf; with clientCA set, it
// requires a client certificate from it.
func serverConfig(t testing.TB, leaf *testLeaf, clientCA *testCA) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.tlsCert(t)}, NextProtos: []string{"h2", "http/1.1"}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg
}

// quietLog discards the server's log of the handshakes the tests make fail.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
