package switchyard_test

import (
	"context"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
)

// sidecarMesh builds a mesh of two services in namespace shop (reviews.shop
// and ratings.shop, each a real loopback server) and the given Sidecars.
func sidecarMesh(t *testing.T, sidecars string, opts ...switchyard.Option) (*switchyard.Mesh, *http.Client) {
	t.Helper()
	var addrs [2]string
	for i, name := range []string{"reviews", "ratings"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) }))
		t.Cleanup(srv.Close)
		_, addrs[i], _ = net.SplitHostPort(srv.Listener.Addr().String())
	}
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]
%s`, addrs[0], addrs[1], sidecars)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m, &http.Client{Transport: m.Transport(nil)}
}

func sidecarYAML(namespace, body string) string {
	return fmt.Sprintf("---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: sc-%s, namespace: %s}\nspec:\n%s\n", namespace, namespace, body)
}

// status returns the status of a GET of url through c, or -1 on error.
func statusOf(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSidecarRegistryOnlyBlocksUnknownHost: under REGISTRY_ONLY a request
// to a host the mesh does not know gets Envoy's BlackHoleCluster 502 and
// reaches nothing; under ALLOW_ANY (and without a Sidecar) it passes
// through to the real server.
func TestSidecarRegistryOnlyBlocksUnknownHost(t *testing.T) {
	var hits atomic.Int32
	external := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "external")
	}))
	defer external.Close()
	for _, tt := range []struct {
		name, sidecars string
		want           int
	}{
		{"no Sidecar", "", 200},
		{"ALLOW_ANY", sidecarYAML("shop", "  outboundTrafficPolicy: {mode: ALLOW_ANY}"), 200},
		{"REGISTRY_ONLY", sidecarYAML("shop", "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"), 502},
		{"REGISTRY_ONLY from the root namespace", sidecarYAML("istio-system", "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"), 502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, c := sidecarMesh(t, tt.sidecars, switchyard.WithSourceNamespace("shop"))
			before := hits.Load()
			code, body := statusOf(t, c, external.URL+"/")
			assert.Equal(t, tt.want, code, body)
			if tt.want == 502 {
				assert.Equal(t, before, hits.Load(), "nothing is sent to the blocked host")
				assert.Contains(t, m.Explain(httptest.NewRequest("GET", external.URL, nil)).Action, "BlackHoleCluster")
			}
			code, body = statusOf(t, c, "http://reviews.shop:9080/")
			assert.Equal(t, 200, code)
			assert.Equal(t, "reviews", body, "a known host is routed whatever the policy")
		})
	}
}

// TestSidecarRegistryOnlyGRPC fails a gRPC call to an unknown target with
// Unavailable naming the BlackHoleCluster, and lets it through under
// ALLOW_ANY.
func TestSidecarRegistryOnlyGRPC(t *testing.T) {
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, &grpcBackend{name: "external"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	defer gs.Stop()
	for _, mode := range []string{"ALLOW_ANY", "REGISTRY_ONLY"} {
		t.Run(mode, func(t *testing.T) {
			m, _ := sidecarMesh(t, sidecarYAML("default", "  outboundTrafficPolicy: {mode: "+mode+"}"))
			conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			require.NoError(t, err)
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err = testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
			if mode == "ALLOW_ANY" {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Contains(t, status.Convert(err).Message(), "BlackHoleCluster")
			_, err = testpb.NewTestServiceClient(conn).FullDuplexCall(ctx)
			assert.Equal(t, codes.Unavailable, status.Code(err), "streams too")
		})
	}
}

// TestSidecarEgressHostsScopeServices: the process sees only the egress
// hosts of its Sidecar; a hidden service is an unknown host.
func TestSidecarEgressHostsScopeServices(t *testing.T) {
	for _, tt := range []struct {
		hosts                string
		reviewsOK, ratingsOK bool
	}{
		{"[./reviews.shop]", true, false},
		{"[shop/*]", true, true},
		{"[\"*/ratings.shop\"]", false, true},
		{"[other/*]", false, false},
		{"[\"~/*\"]", false, false},
		// "~namespace/host" excludes what it covers, whatever imports it.
		{"[shop/*, \"~shop/ratings.shop\"]", true, false},
		{"[\"*/*\", \"~*/reviews.shop\"]", false, true},
		{"[\"~./*\", \"*/*\"]", false, false},
		{"[\"*/*\", \"~other/*\"]", true, true},
	} {
		t.Run(tt.hosts, func(t *testing.T) {
			_, c := sidecarMesh(t, sidecarYAML("shop", "  egress: [{hosts: "+tt.hosts+"}]\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"),
				switchyard.WithSourceNamespace("shop"))
			for host, ok := range map[string]bool{"reviews.shop": tt.reviewsOK, "ratings.shop": tt.ratingsOK} {
				code, _ := statusOf(t, c, "http://"+host+":9080/")
				if ok {
					assert.Equal(t, 200, code, host)
				} else {
					assert.Equal(t, 502, code, "%s is hidden: an unknown host under REGISTRY_ONLY", host)
				}
			}
		})
	}
}

// TestSidecarWorkloadSelector prefers the Sidecar whose selector the
// process's labels satisfy to the namespace-wide one.
func TestSidecarWorkloadSelector(t *testing.T) {
	sidecars := sidecarYAML("shop", "  outboundTrafficPolicy: {mode: ALLOW_ANY}") + `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: web-only, namespace: shop}
spec:
  workloadSelector: {labels: {app: web}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`
	external := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer external.Close()
	for labels, want := range map[string]int{"web": 502, "api": 200} {
		_, c := sidecarMesh(t, sidecars, switchyard.WithSourceNamespace("shop"), switchyard.WithSourceLabels(map[string]string{"app": labels}))
		code, _ := statusOf(t, c, external.URL)
		assert.Equal(t, want, code, "app=%s", labels)
	}
	// In another namespace neither applies.
	_, c := sidecarMesh(t, sidecars, switchyard.WithSourceNamespace("other"), switchyard.WithSourceLabels(map[string]string{"app": "web"}))
	code, _ := statusOf(t, c, external.URL)
	assert.Equal(t, 200, code)
}

// TestSidecarAdmitsShortVirtualServiceHost: a VirtualService's short host
// ("reviews" in namespace shop) is the full name reviews.shop.svc.<domain>
// that a Sidecar's egress imports, as Istio resolves it; its routes apply
// (found by the live comparison with istiod in conformance/).
func TestSidecarAdmitsShortVirtualServiceHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "reviews") }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    headers: {response: {set: {x-routed: by-vs}}}
`, port) + sidecarYAML("shop", "  egress: [{hosts: [./reviews.shop.svc.cluster.local]}]\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}")))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithSourceNamespace("shop"))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	resp, err := (&http.Client{Transport: m.Transport(nil)}).Get("http://reviews.shop.svc.cluster.local:9080/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "by-vs", resp.Header.Get("X-Routed"), "the VirtualService's routes apply")
}
