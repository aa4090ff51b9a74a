package mtls_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/israce"
	"github.com/switchyard-go/switchyard/mtls"
)

// TestRotationUnderLoadLosesNoRequest rotates both workloads' files twice
// while 4 goroutines make 2,000 requests (600 under the race detector, which
// makes each full handshake five times dearer) over fresh connections
// (HTTP/1.1 and HTTP/2). Each rotation is first caught half written (new chain, old
// key) by a poll, which must keep the old pair, then completed. No request
// may fail, and every request that starts after a rotation completed must
// see the new certificates at both ends.
func TestRotationUnderLoadLosesNoRequest(t *testing.T) {
	const (
		workers  = 4
		interval = time.Minute
	)
	perWorker := 500
	if israce.Enabled {
		perWorker = 150
	}
	clk := clock.NewFake(t0)
	ca := newCA(t, "cluster.local")
	var serverLeaves, clientLeaves [3]*testLeaf
	for i := range serverLeaves {
		serverLeaves[i] = ca.leaf(t, leafSpec{id: spiffe("default", "reviews")})
		clientLeaves[i] = ca.leaf(t, leafSpec{id: spiffe("default", "productpage")})
	}
	generation := func(leaves [3]*testLeaf, serial *big.Int) int {
		for i, l := range leaves {
			if l.cert.SerialNumber.Cmp(serial) == 0 {
				return i
			}
		}
		return -1
	}

	serverDir, clientDir := t.TempDir(), t.TempDir()
	writeIstioFiles(t, serverDir, serverLeaves[0], ca.pem)
	writeIstioFiles(t, clientDir, clientLeaves[0], ca.pem)
	var reports atomic.Int32
	open := func(dir string) *mtls.Source {
		s, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk), mtls.WithRefreshInterval(interval),
			mtls.WithOnReload(func(error) { reports.Add(1) }))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	serverSrc, clientSrc := open(serverDir), open(clientDir)

	serverCfg, err := mtls.ServerConfig(serverSrc, mtls.ServerOptions{SubjectAltNames: []string{spiffe("default", "productpage")}})
	require.NoError(t, err)
	ts := startHTTPSHandler(t, serverCfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.PeerCertificates[0].SerialNumber.String())
	}))

	var gen atomic.Int32 // the rotations completed
	milestones := make(chan struct{}, 2)
	var done atomic.Int32
	var failures []string
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}

	var wg sync.WaitGroup
	for w := range workers {
		h2 := w%2 == 1
		cfg, err := mtls.ClientConfig(mtls.ClientOptions{Mode: mtls.IstioMutual, Source: clientSrc, SubjectAltNames: []string{spiffe("default", "reviews")}})
		require.NoError(t, err)
		cfg.NextProtos = []string{"http/1.1"}
		if h2 {
			cfg.NextProtos = []string{"h2"}
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		wg.Go(func() {
			for range perWorker {
				before := int(gen.Load())
				resp, err := client.Get(ts.url)
				if err != nil {
					fail("request failed: %v", err)
				} else {
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					serial, _ := new(big.Int).SetString(string(body), 10)
					switch {
					case err != nil || resp.StatusCode != http.StatusOK || serial == nil:
						fail("bad response %d %q %v", resp.StatusCode, body, err)
					case generation(serverLeaves, resp.TLS.PeerCertificates[0].SerialNumber) < before:
						fail("a handshake after rotation %d saw the server's old certificate", before)
					case generation(clientLeaves, serial) < before:
						fail("a handshake after rotation %d presented the client's old certificate", before)
					}
				}
				if n := int(done.Add(1)); n == workers*perWorker/3 || n == 2*workers*perWorker/3 {
					milestones <- struct{}{}
				}
			}
		})
	}

	for g := 1; g <= 2; g++ {
		<-milestones
		// Half written: the new chains beside the old keys.
		write(t, filepath.Join(serverDir, "cert-chain.pem"), serverLeaves[g].chainPEM)
		write(t, filepath.Join(clientDir, "cert-chain.pem"), clientLeaves[g].chainPEM)
		clk.Advance(interval)
		assert.ErrorContains(t, serverSrc.Err(), "does not match the leaf certificate")
		assert.ErrorContains(t, clientSrc.Err(), "does not match the leaf certificate")
		// Whole.
		write(t, filepath.Join(serverDir, "key.pem"), serverLeaves[g].keyPEM)
		write(t, filepath.Join(clientDir, "key.pem"), clientLeaves[g].keyPEM)
		clk.Advance(interval)
		require.NoError(t, serverSrc.Err())
		require.NoError(t, clientSrc.Err())
		gen.Store(int32(g))
	}
	wg.Wait()

	assert.Empty(t, failures, "%d failures, first: %s", len(failures), strings.Join(failures[:min(len(failures), 3)], "; "))
	assert.Equal(t, workers*perWorker, int(done.Load()))
	assert.Equal(t, int32(8), reports.Load(), "each source reported each half-written and each whole rotation")
	assert.Empty(t, drain(ts.errs), "the server refused no client")
}

func drain(c chan error) []error {
	var errs []error
	for {
		select {
		case err := <-c:
			errs = append(errs, err)
		default:
			return errs
		}
	}
}

// TestRootRotationAppliesToNewHandshakes moves both ends to a new CA as
// Istio does: first both trust old and new roots, then the workloads get
// certificates from the new CA, then the old root goes. Each step applies
// to the next handshake with no new tls.Config.
func TestRootRotationAppliesToNewHandshakes(t *testing.T) {
	clk := clock.NewFake(t0)
	oldCA, newCA := newCA(t, "old-root"), newCA(t, "new-root")
	both := append(append([]byte{}, oldCA.pem...), newCA.pem...)
	serverOld, serverNew := oldCA.leaf(t, leafSpec{id: spiffe("default", "reviews")}), newCA.leaf(t, leafSpec{id: spiffe("default", "reviews")})
	clientOld, clientNew := oldCA.leaf(t, leafSpec{id: spiffe("default", "productpage")}), newCA.leaf(t, leafSpec{id: spiffe("default", "productpage")})
	serverDir, clientDir := t.TempDir(), t.TempDir()
	writeIstioFiles(t, serverDir, serverOld, oldCA.pem)
	writeIstioFiles(t, clientDir, clientOld, oldCA.pem)
	open := func(dir string) *mtls.Source {
		s, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	serverSrc, clientSrc := open(serverDir), open(clientDir)
	serverCfg, err := mtls.ServerConfig(serverSrc, mtls.ServerOptions{})
	require.NoError(t, err)
	ts := startHTTPS(t, serverCfg)
	clientCfg, err := mtls.ClientConfig(mtls.ClientOptions{Mode: mtls.IstioMutual, Source: clientSrc})
	require.NoError(t, err)
	request := func() (issuer string, err error) {
		_, state, err := get(t, ts.url, clientCfg.Clone(), false)
		if err != nil {
			return "", err
		}
		return state.PeerCertificates[0].Issuer.CommonName, nil
	}
	poll := func() { clk.Advance(mtls.DefaultRefreshInterval) }

	issuer, err := request()
	require.NoError(t, err)
	assert.Equal(t, "old-root", issuer)

	// The server moves to the new CA before the client trusts it: refused.
	writeIstioFiles(t, serverDir, serverNew, both)
	poll()
	_, err = request()
	var he *mtls.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, mtls.UnknownAuthority, he.Cause)

	// The client trusts both roots: accepted, and the server accepts the
	// client's old certificate.
	write(t, filepath.Join(clientDir, "root-cert.pem"), both)
	poll()
	issuer, err = request()
	require.NoError(t, err)
	assert.Equal(t, "new-root", issuer)

	// Both drop the old root; the client still has its old certificate.
	write(t, filepath.Join(serverDir, "root-cert.pem"), newCA.pem)
	write(t, filepath.Join(clientDir, "root-cert.pem"), newCA.pem)
	poll()
	_, err = request()
	require.Error(t, err)
	select {
	case serr := <-ts.errs:
		require.ErrorAs(t, serr, &he)
		assert.Equal(t, mtls.UnknownAuthority, he.Cause)
	default:
		t.Fatal("the server refused nothing")
	}
	writeIstioFiles(t, clientDir, clientNew, newCA.pem)
	poll()
	issuer, err = request()
	require.NoError(t, err)
	assert.Equal(t, "new-root", issuer)
}

// TestHandshakeInFlightKeepsItsMaterial rotates both ends' files in the
// middle of a handshake — after the server sent its certificate, before the
// client sent its own or the server verified it. The handshake completes
// with the pairs each end started with; the next one uses the new pairs.
func TestHandshakeInFlightKeepsItsMaterial(t *testing.T) {
	clk := clock.NewFake(t0)
	ca := newCA(t, "cluster.local")
	server := [2]*testLeaf{ca.leaf(t, leafSpec{id: spiffe("default", "reviews")}), ca.leaf(t, leafSpec{id: spiffe("default", "reviews")})}
	client := [2]*testLeaf{ca.leaf(t, leafSpec{id: spiffe("default", "productpage")}), ca.leaf(t, leafSpec{id: spiffe("default", "productpage")})}
	serverDir, clientDir := t.TempDir(), t.TempDir()
	writeIstioFiles(t, serverDir, server[0], ca.pem)
	writeIstioFiles(t, clientDir, client[0], ca.pem)
	open := func(dir string) *mtls.Source {
		s, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	serverSrc, clientSrc := open(serverDir), open(clientDir)
	serverCfg, err := mtls.ServerConfig(serverSrc, mtls.ServerOptions{})
	require.NoError(t, err)
	ts := startHTTPSHandler(t, serverCfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.PeerCertificates[0].SerialNumber.String())
	}))
	clientCfg, err := mtls.ClientConfig(mtls.ClientOptions{Mode: mtls.IstioMutual, Source: clientSrc})
	require.NoError(t, err)

	var rotated bool
	verify := clientCfg.VerifyConnection
	clientCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if !rotated { // the server's certificate is in; rotate before going on
			rotated = true
			writeIstioFiles(t, serverDir, server[1], ca.pem)
			writeIstioFiles(t, clientDir, client[1], ca.pem)
			clk.Advance(mtls.DefaultRefreshInterval)
		}
		return verify(cs)
	}
	body, state, err := get(t, ts.url, clientCfg, false)
	require.NoError(t, err)
	assert.True(t, rotated)
	assert.Equal(t, server[0].cert.SerialNumber, state.PeerCertificates[0].SerialNumber, "the server finished with the pair it started with")
	assert.Equal(t, client[1].cert.SerialNumber.String(), body, "the client had not yet chosen its certificate: it sent the new one")

	body, state, err = get(t, ts.url, clientCfg, false)
	require.NoError(t, err)
	assert.Equal(t, server[1].cert.SerialNumber, state.PeerCertificates[0].SerialNumber)
	assert.Equal(t, client[1].cert.SerialNumber.String(), body)
	assert.Empty(t, drain(ts.errs))
}
