package switchyard_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/mtls"
)

// TestWorkloadRotationUnderLoad rotates the workload's certificate files
// while requests flow, every one on a new connection (a new handshake):
// none is lost, and the connections after the reload present the new
// certificate. The load is bounded: 4 workers, 50 requests each.
func TestWorkloadRotationUnderLoad(t *testing.T) {
	ca := newTestCA(t, "ca")
	dir := t.TempDir()
	first := ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller")
	writePEM(t, dir, "cert-chain.pem", first.chain)
	writePEM(t, dir, "key.pem", first.key)
	writePEM(t, dir, "root-cert.pem", ca.pem)
	clk := meshtest.NewClock(time.Now())
	reloaded := make(chan error, 1)
	src, err := mtls.NewFileSource(mtls.IstioFiles(dir), mtls.WithClock(clk), mtls.WithRefreshInterval(time.Minute),
		mtls.WithOnReload(func(err error) { reloaded <- err }))
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	server, err := mtls.ServerConfig(workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/svc")), mtls.ServerOptions{})
	require.NoError(t, err)
	b := startTLSBackend(t, server)
	m := tlsMesh(t, b, "HTTP", `{mode: ISTIO_MUTUAL}
    connectionPool: {http: {maxRequestsPerConnection: 1}}`, switchyard.WithWorkloadCertificates(src))
	rt := m.Transport(nil)

	const workers, perWorker = 4, 50
	start := make(chan struct{})
	var wg sync.WaitGroup
	bodies := make([][]string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range perWorker {
				bodies[w] = append(bodies[w], fetch(rt, "http://svc.test/"))
			}
		}()
	}
	close(start)
	// Rotate once the load runs: write the new pair, as the agent does,
	// and let the source's poll find it.
	second := ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller-rotated")
	writePEM(t, dir, "key.pem", second.key)
	writePEM(t, dir, "cert-chain.pem", second.chain)
	clk.Advance(time.Minute)
	require.NoError(t, <-reloaded)
	wg.Wait()

	for _, bs := range bodies {
		require.Len(t, bs, perWorker)
		for _, body := range bs {
			require.Regexp(t, `^200 HTTP/1.1 sni=outbound_.80_._.svc.test peer=spiffe://cluster.local/ns/default/sa/caller(-rotated)?$`, body)
		}
	}
	_, body := tlsGet(t, rt, "http://svc.test/")
	require.Contains(t, body, "peer=spiffe://cluster.local/ns/default/sa/caller-rotated")
}

// fetch returns the status and body of a GET, or the error, as one string;
// workers call it where require cannot stop the test.
func fetch(rt http.RoundTripper, url string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}
