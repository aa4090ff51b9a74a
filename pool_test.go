package switchyard_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

// loopbackServer is an HTTP server on 127.0.0.1 that counts the connections
// it accepts and answers with the request's protocol.
func loopbackServer(t *testing.T, h2c bool) (port string, conns *atomic.Int32) {
	conns = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, conns
}

func poolMesh(t *testing.T, port, pool string, opts ...switchyard.Option) *http.Client {
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy: {connectionPool: %s}
`, port, pool)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return &http.Client{Transport: m.Transport(nil)}
}

func getBody(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, err := c.Get("http://api/")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestConnectionPoolSettingsOnLoopback(t *testing.T) {
	t.Run("keep-alive by default", func(t *testing.T) {
		port, conns := loopbackServer(t, false)
		c := poolMesh(t, port, `{tcp: {connectTimeout: 2s, tcpKeepalive: {time: 60s, interval: 10s, probes: 3}}}`)
		for range 5 {
			assert.Equal(t, "HTTP/1.1", getBody(t, c))
		}
		assert.EqualValues(t, 1, conns.Load())
	})
	t.Run("maxRequestsPerConnection 1 disables keep-alive", func(t *testing.T) {
		port, conns := loopbackServer(t, false)
		c := poolMesh(t, port, `{http: {maxRequestsPerConnection: 1}}`)
		for range 5 {
			getBody(t, c)
		}
		assert.EqualValues(t, 5, conns.Load())
	})
	t.Run("h2UpgradePolicy UPGRADE speaks h2c", func(t *testing.T) {
		port, _ := loopbackServer(t, true)
		c := poolMesh(t, port, `{http: {h2UpgradePolicy: UPGRADE}}`)
		assert.Equal(t, "HTTP/2.0", getBody(t, c))
	})
	t.Run("maxConnectionDuration rotates connections", func(t *testing.T) {
		port, conns := loopbackServer(t, false)
		clk := meshtest.NewClock(time.Unix(0, 0))
		c := poolMesh(t, port, `{tcp: {maxConnectionDuration: 1m}}`, switchyard.WithClock(clk))
		getBody(t, c)
		clk.Advance(59 * time.Second)
		getBody(t, c)
		assert.EqualValues(t, 1, conns.Load())
		clk.Advance(time.Second)
		getBody(t, c)
		assert.EqualValues(t, 2, conns.Load(), "a connection older than 1m is not reused")
	})
}
