package mtls_test

import (
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
