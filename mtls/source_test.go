package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/mtls"
)

func TestParsePEMNamesThePartAndTheProblem(t *testing.T) {
	ca := newCA(t, "mesh-root")
	a := ca.leaf(t, leafSpec{id: spiffe("default", "a")})
	b := ca.leaf(t, leafSpec{id: spiffe("default", "b")})
	crl := ca.crl(t, t0.Add(-time.Hour), t0.Add(time.Hour))

	m, err := mtls.ParsePEM(a.chainPEM, a.keyPEM, ca.pem, crl)
	require.NoError(t, err)
	require.NotNil(t, m.Certificate)
	assert.Equal(t, a.cert.Raw, m.Certificate.Leaf.Raw)
	assert.Len(t, m.Roots, 1)
	assert.Len(t, m.CRLs, 1)

	m, err = mtls.ParsePEM(nil, nil, ca.pem, nil)
	require.NoError(t, err, "roots alone verify (SIMPLE)")
	assert.Nil(t, m.Certificate)

	for _, tc := range []struct {
		name                   string
		chain, key, roots, crl []byte
		want                   string
	}{
		{"key of another cert", a.chainPEM, b.keyPEM, nil, nil, `key does not match the leaf certificate "spiffe://cluster.local/ns/default/sa/a" of cert chain`},
		{"chain without key", a.chainPEM, nil, nil, nil, "cert chain is given without a private key"},
		{"key without chain", nil, a.keyPEM, nil, nil, "key is given without a certificate chain"},
		{"chain not PEM", []byte("garbage"), a.keyPEM, nil, nil, "cert chain: no PEM CERTIFICATE block found"},
		{"key block in chain", append(append([]byte{}, a.chainPEM...), a.keyPEM...), a.keyPEM, nil, nil, `cert chain: PEM block 2 is "PRIVATE KEY", want CERTIFICATE`},
		{"truncated chain", append(append([]byte{}, a.chainPEM...), a.chainPEM[:40]...), a.keyPEM, nil, nil, "cert chain: data after certificate 1 is not PEM (a truncated file?)"},
		{"cert as key", a.chainPEM, a.chainPEM, nil, nil, `key: PEM block is "CERTIFICATE", want PRIVATE KEY`},
		{"empty key", a.chainPEM, []byte{}, nil, nil, "key: no PEM private key block found"},
		{"empty roots", nil, nil, []byte{}, nil, "roots: no PEM CERTIFICATE block found"},
		{"bad root DER", nil, nil, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil, "roots: certificate 1: x509:"},
		{"cert as CRL", nil, nil, nil, ca.pem, `CRL: PEM block 1 is "CERTIFICATE", want X509 CRL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mtls.ParsePEM(tc.chain, tc.key, tc.roots, tc.crl)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewSourceFromTLSValues(t *testing.T) {
	ca := newCA(t, "mesh-root")
	a := ca.leaf(t, leafSpec{id: spiffe("default", "a")})
	b := ca.leaf(t, leafSpec{id: spiffe("default", "b")})
	pair, err := tls.X509KeyPair(a.chainPEM, a.keyPEM)
	require.NoError(t, err)
	pair.Leaf = nil
	src, err := mtls.NewSource(mtls.Material{Certificate: &pair, Roots: []*x509.Certificate{ca.cert}})
	require.NoError(t, err)
	require.NoError(t, src.Err())
	require.NoError(t, src.Close())

	other, err := tls.X509KeyPair(b.chainPEM, b.keyPEM)
	require.NoError(t, err)
	pair.PrivateKey = other.PrivateKey
	_, err = mtls.NewSource(mtls.Material{Certificate: &pair})
	assert.ErrorContains(t, err, "private key does not match the leaf certificate")
	mixed, err := tls.X509KeyPair(a.chainPEM, a.keyPEM)
	require.NoError(t, err)
	mixed.Leaf = b.cert
	_, err = mtls.NewSource(mtls.Material{Certificate: &mixed})
	assert.ErrorContains(t, err, "Leaf is not the first certificate of its chain")
	_, err = mtls.NewSource(mtls.Material{Certificate: &tls.Certificate{}})
	assert.ErrorContains(t, err, "needs a chain and a private key")
	_, err = mtls.NewSource(mtls.Material{Roots: []*x509.Certificate{nil}})
	assert.ErrorContains(t, err, "root 1 is nil")
}

func TestNewFileSourceNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "mesh-root")
	a := ca.leaf(t, leafSpec{id: spiffe("default", "a")})
	b := ca.leaf(t, leafSpec{id: spiffe("default", "b")})

	_, err := mtls.NewFileSource(mtls.IstioFiles(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "cert-chain.pem"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "the os error is kept: %v", err)

	writeIstioFiles(t, dir, a, ca.pem)
	write(t, filepath.Join(dir, "key.pem"), b.keyPEM)
	_, err = mtls.NewFileSource(mtls.IstioFiles(dir))
	assert.ErrorContains(t, err, filepath.Join(dir, "key.pem")+" does not match the leaf certificate")
	assert.ErrorContains(t, err, "of "+filepath.Join(dir, "cert-chain.pem"))

	write(t, filepath.Join(dir, "key.pem"), a.keyPEM)
	write(t, filepath.Join(dir, "root-cert.pem"), []byte("not pem"))
	_, err = mtls.NewFileSource(mtls.IstioFiles(dir))
	assert.ErrorContains(t, err, filepath.Join(dir, "root-cert.pem")+": no PEM CERTIFICATE block found")

	_, err = mtls.NewFileSource(mtls.Files{})
	assert.ErrorContains(t, err, "no files named")
	_, err = mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithRefreshInterval(0))
	assert.ErrorContains(t, err, "refresh interval 0s is not positive")

	assert.Equal(t, mtls.Files{
		CertChain: "/var/lib/istio/data/cert-chain.pem",
		Key:       "/var/lib/istio/data/key.pem",
		Roots:     "/var/lib/istio/data/root-cert.pem",
	}, mtls.IstioFiles(""))
}

// reloads records a file source's reload reports.
type reloads struct {
	mu   sync.Mutex
	errs []error
}

func (r *reloads) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *reloads) take() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs
	r.errs = nil
	return e
}

// servedLeaf is the leaf a source presents to a new handshake, seen through
// the tls.Config it builds.
func servedLeaf(t *testing.T, src *mtls.Source) *x509.Certificate {
	t.Helper()
	cfg, err := mtls.ServerConfig(src, mtls.ServerOptions{})
	require.NoError(t, err)
	c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	require.NoError(t, err)
	return c.Leaf
}

func TestFileSourceReloadsWholeRotationsAndKeepsTheLastGoodPair(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	ca := newCA(t, "mesh-root")
	a := ca.leaf(t, leafSpec{id: spiffe("default", "a")})
	b := ca.leaf(t, leafSpec{id: spiffe("default", "b")})
	writeIstioFiles(t, dir, a, ca.pem)

	var seen reloads
	src, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk), mtls.WithRefreshInterval(time.Minute), mtls.WithOnReload(seen.add))
	require.NoError(t, err)
	defer src.Close()
	assert.Equal(t, a.cert.Raw, servedLeaf(t, src).Raw)
	assert.Equal(t, 1, clk.Pending(), "one poll is scheduled")

	// Nothing changed: nothing reported.
	clk.Advance(time.Minute)
	assert.Empty(t, seen.take())

	// Half a rotation: the new chain beside the old key.
	write(t, filepath.Join(dir, "cert-chain.pem"), b.chainPEM)
	clk.Advance(59 * time.Second)
	assert.Equal(t, a.cert.Raw, servedLeaf(t, src).Raw, "no poll before the interval")
	clk.Advance(time.Second)
	errs := seen.take()
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], filepath.Join(dir, "key.pem")+" does not match the leaf certificate \"spiffe://cluster.local/ns/default/sa/b\"")
	assert.Equal(t, errs[0], src.Err())
	assert.Equal(t, a.cert.Raw, servedLeaf(t, src).Raw, "the last good pair is kept")

	// The same half-written state again: not reported twice.
	clk.Advance(time.Minute)
	assert.Empty(t, seen.take())
	assert.Error(t, src.Err())

	// The rotation completes.
	write(t, filepath.Join(dir, "key.pem"), b.keyPEM)
	clk.Advance(time.Minute)
	assert.Equal(t, []error{nil}, seen.take())
	require.NoError(t, src.Err())
	assert.Equal(t, b.cert.Raw, servedLeaf(t, src).Raw)

	// A file vanishing is reported once, and recovering from it too.
	require.NoError(t, os.Rename(filepath.Join(dir, "root-cert.pem"), filepath.Join(dir, "root-cert.bak")))
	clk.Advance(time.Minute)
	errs = seen.take()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], os.ErrNotExist)
	assert.ErrorContains(t, errs[0], filepath.Join(dir, "root-cert.pem"))
	clk.Advance(time.Minute)
	assert.Empty(t, seen.take())
	require.NoError(t, os.Rename(filepath.Join(dir, "root-cert.bak"), filepath.Join(dir, "root-cert.pem")))
	clk.Advance(time.Minute)
	assert.Equal(t, []error{nil}, seen.take())
	assert.NoError(t, src.Err())
	assert.Equal(t, b.cert.Raw, servedLeaf(t, src).Raw)

	// Close stops polling.
	require.NoError(t, src.Close())
	assert.Zero(t, clk.Pending())
	writeIstioFiles(t, dir, a, ca.pem)
	clk.Advance(time.Hour)
	assert.Empty(t, seen.take())
	assert.Equal(t, b.cert.Raw, servedLeaf(t, src).Raw)
}

func TestFileSourceOnReloadMayCloseTheSource(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	ca := newCA(t, "mesh-root")
	a := ca.leaf(t, leafSpec{id: spiffe("default", "a")})
	b := ca.leaf(t, leafSpec{id: spiffe("default", "b")})
	writeIstioFiles(t, dir, a, ca.pem)
	var src *mtls.Source
	calls := 0
	src, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk), mtls.WithOnReload(func(error) {
		calls++
		assert.NoError(t, src.Err())
		assert.NoError(t, src.Close())
	}))
	require.NoError(t, err)
	writeIstioFiles(t, dir, b, ca.pem)
	clk.Advance(mtls.DefaultRefreshInterval)
	assert.Equal(t, 1, calls)
	assert.Zero(t, clk.Pending(), "closed from the callback: no poll rescheduled")
}
