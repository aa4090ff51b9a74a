package mtls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/mtls"
)

// t0 is the time of the tests' fake clocks: certificates are issued around
// it, whatever the wall clock says.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

var serials atomic.Int64

// testCA is a certificate authority the tests generate: ECDSA P-256, as
// Istio's default.
type testCA struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	pem   []byte
	chain []byte // PEM of the intermediates from this CA up to, excluding, the root
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newCA returns a self-signed root valid for a year either side of t0.
func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{Organization: []string{name}, CommonName: name},
		NotBefore:             t0.Add(-365 * 24 * time.Hour),
		NotAfter:              t0.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pemCert(der)}
}

// intermediate returns a CA signed by ca, valid from notBefore to notAfter
// (a year either side of t0 when zero).
func (ca *testCA) intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	if notBefore.IsZero() {
		notBefore, notAfter = t0.Add(-365*24*time.Hour), t0.Add(365*24*time.Hour)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: ca.pem, chain: append(pemCert(der), ca.chain...)}
}

// leafSpec describes a workload certificate.
type leafSpec struct {
	id        string // SPIFFE ID, the URI SAN
	uris      []string
	dns       []string
	ips       []net.IP
	notBefore time.Time // zero: an hour before t0
	notAfter  time.Time // zero: a day after t0 (Istio's default TTL)
}

// testLeaf is an issued workload certificate.
type testLeaf struct {
	cert     *x509.Certificate
	chainPEM []byte // leaf then intermediates
	keyPEM   []byte
}

func (ca *testCA) leaf(t testing.TB, s leafSpec) *testLeaf {
	t.Helper()
	if s.notBefore.IsZero() {
		s.notBefore = t0.Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = t0.Add(24 * time.Hour)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
	}
	uris := s.uris
	if s.id != "" {
		uris = append([]string{s.id}, uris...)
	}
	for _, u := range uris {
		pu, err := url.Parse(u)
		require.NoError(t, err)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return &testLeaf{
		cert:     cert,
		chainPEM: append(pemCert(der), ca.chain...),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// crl returns ca's revocation list in PEM, valid from thisUpdate to
// nextUpdate, listing revoked.
func (ca *testCA) crl(t testing.TB, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(serials.Add(1)), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// source returns a static source of the leaf (if any), roots and CRL on
// the clock.
func source(t testing.TB, l *testLeaf, roots []byte, crl []byte, opts ...mtls.Option) *mtls.Source {
	t.Helper()
	var chain, key []byte
	if l != nil {
		chain, key = l.chainPEM, l.keyPEM
	}
	m, err := mtls.ParsePEM(chain, key, roots, crl)
	require.NoError(t, err)
	s, err := mtls.NewSource(m, opts...)
	require.NoError(t, err)
	return s
}

// writeIstioFiles writes the files Istio's agent writes into dir.
func writeIstioFiles(t testing.TB, dir string, l *testLeaf, roots []byte) {
	t.Helper()
	write(t, filepath.Join(dir, "cert-chain.pem"), l.chainPEM)
	write(t, filepath.Join(dir, "key.pem"), l.keyPEM)
	write(t, filepath.Join(dir, "root-cert.pem"), roots)
}

// write replaces path's content atomically, as Istio's agent does.
func write(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func spiffe(ns, sa string) string { return "spiffe://cluster.local/ns/" + ns + "/sa/" + sa }
