package switchyard_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a mesh over the Bookinfo reviews backends plus extra YAML.
type fixture struct {
	t       *testing.T
	mesh    *switchyard.Mesh
	net     *meshtest.Network
	client  *http.Client
	backend map[string]*meshtest.Backend
}

func bookinfo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/bookinfo.yaml")
	require.NoError(t, err)
	return b
}

// newFixture builds a mesh from the Bookinfo fixture and extra manifests,
// with backends v1, v2, v3 at 10.0.0.{1,2,3}:9080.
func newFixture(t *testing.T, extra string, opts ...switchyard.Option) *fixture {
	t.Helper()
	cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+extra)...))
	require.NoError(t, err)
	f := &fixture{t: t, net: meshtest.NewNetwork(), backend: map[string]*meshtest.Backend{}}
	for i, v := range []string{"v1", "v2", "v3"} {
		f.backend[v] = f.net.Add("10.0.0."+string(rune('1'+i))+":9080", v, map[string]string{"version": v})
	}
	f.mesh, err = switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { f.mesh.Close() })
	f.client = &http.Client{Transport: f.mesh.Transport(f.net.Transport()), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// get sends a GET with headers given as name, value pairs and returns the
// response with its body read.
func (f *fixture) get(url string, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(f.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return f.do(req)
}

func (f *fixture) do(req *http.Request) (*http.Response, string) {
	f.t.Helper()
	resp, err := f.client.Do(req)
	require.NoError(f.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	require.NoError(f.t, resp.Body.Close())
	return resp, string(b)
}

func lines(s ...string) string { return strings.Join(s, "\n") }

// vs is a VirtualService for reviews with the given http routes.
func vs(http string) string {
	return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
` + http
}

// hashedMesh is a ratings service on three endpoints whose DestinationRule
// has the given traffic policy.
func hashedMesh(lb string) string {
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
` + lb
}

// Istio's "Request Routing" task: route all traffic to v1, then send user
// jason to v2 by the end-user header.
const requestRouting = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
        subset: v1
`

func distinct(m map[string]string) int {
	seen := map[string]bool{}
	for _, v := range m {
		seen[v] = true
	}
	return len(seen)
}
