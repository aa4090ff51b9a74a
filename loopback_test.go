package switchyard_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// TestOwnTransportsOnLoopback routes through the mesh's own per-endpoint
// transports to real servers on 127.0.0.1: each request keeps its URL and
// Host while the connection goes to the chosen endpoint.
func TestOwnTransportsOnLoopback(t *testing.T) {
	servers := map[string]*httptest.Server{}
	ports := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", v, r.Host, r.URL.Path)
		}))
		t.Cleanup(srv.Close)
		servers[v] = srv
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		ports[v] = port
	}
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`, ports["v1"], ports["v2"])))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	client := &http.Client{Transport: m.Transport(nil)}

	get := func(user string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/7", nil)
		if user != "" {
			req.Header.Set("End-User", user)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	for range 3 {
		assert.Equal(t, "v1 reviews:9080 /reviews/7", get(""))
		assert.Equal(t, "v2 reviews:9080 /reviews/7", get("jason"))
	}
}
