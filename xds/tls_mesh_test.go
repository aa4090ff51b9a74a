package xds

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

const (
	clientID = "spiffe://cluster.local/ns/default/sa/client"
	serverID = "spiffe://cluster.local/ns/default/sa/reviews"
)

// meshServer is a workload under STRICT mTLS on loopback: it accepts only
// clients with a certificate from the mesh's CA, and answers with the
// caller's SPIFFE ID. A plain-text request gets net/http's 400 "Client
// sent an HTTP request to an HTTPS server".
func meshServer(t testing.TB, ca *testCA) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: quietLog(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := mtls.PeerID(r)
		fmt.Fprintf(w, "peer=%s", id)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tls.NewListener(ln, ca.serverTLS(t, serverID)))
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// withTLS returns the canary's resources with u as cluster v1's transport
// socket (none when nil).
func withTLS(res map[string][]types.Resource, u *tlsv3.UpstreamTlsContext) map[string][]types.Resource {
	if u != nil {
		res[resourcev3.ClusterType][0].(*clusterv3.Cluster).TransportSocket = tlsSocket(u)
	}
	return res
}

// get sends one request to the service and returns the status and body, or
// the error.
func get(c *http.Client) (string, error) {
	resp, err := c.Get("http://" + listenerName + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), nil
}

// waitTLS waits until cluster v1's TLS in force is want ("" for plain
// text).
func waitTLS(t testing.TB, m *Mesh, want string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)
	got := func() string {
		for _, d := range m.Explain(req).Destinations {
			if d.Subset == "v1" {
				return d.TLS
			}
		}
		return "(no v1)"
	}
	deadline := time.Now().Add(eventually)
	for got() != want {
		if time.Now().After(deadline) {
			t.Fatalf("v1 TLS %q, want %q (last error: %v)", got(), want, m.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMeshTLSFromControlPlane: istiod's ISTIO_MUTUAL, as each persona
// receives it, makes the mesh present the workload certificate of the
// bootstrap's certificate provider and verify the server's SPIFFE
// identity; a SAN the server does not have fails the request with the
// handshake's reason; pushes switch TLS off and on again; a provider
// instance the bootstrap lacks is NACKed by name.
func TestMeshTLSFromControlPlane(t *testing.T) {
	for _, ps := range personas {
		t.Run(ps.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			ca := newCA(t, "cluster.local")
			secure := meshServer(t, ca)
			mutual := func(san string) *tlsv3.UpstreamTlsContext {
				if ps.name == "proxyless" {
					return proxylessMutual("default", san)
				}
				return sidecarMutual("outbound_.8080_.v1_.reviews.test", san)
			}
			// Istio's SNI: istiod's for the sidecar, the mesh's default
			// for the proxyless persona (which istiod sends none).
			const sni = " sni=outbound_.8080_.v1_.reviews.test"
			p := startPlane(t)
			cn := canary{v1: secure, v2: backend(t, "v2")}
			p.push(withTLS(cn.resources(100, 0), mutual(serverID)))
			b := p.bootstrap()
			b.CertificateProviders = map[string]CertificateProvider{"default": ca.provider(t, clientID)}
			ctx, cancel := context.WithTimeout(context.Background(), eventually)
			defer cancel()
			m, err := NewMesh(ctx, b, ps.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := &http.Client{Transport: m.Transport(nil)}
			defer c.CloseIdleConnections()
			if got, err := get(c); err != nil || got != "200 peer="+clientID {
				t.Fatalf("ISTIO_MUTUAL: %q, %v; want the server to see %s", got, err, clientID)
			}
			waitTLS(t, m, "ISTIO_MUTUAL"+sni+" san=["+serverID+"]")

			// The server is not who the cluster says.
			other := "spiffe://cluster.local/ns/default/sa/ratings"
			p.push(withTLS(cn.resources(100, 0), mutual(other)))
			waitTLS(t, m, "ISTIO_MUTUAL"+sni+" san=["+other+"]")
			got, err := get(c)
			msg := got
			if err != nil {
				msg = err.Error()
			}
			t.Logf("SAN mismatch: %s", msg)
			if !strings.Contains(msg, "SAN mismatch") || !strings.Contains(msg, other) || !strings.Contains(msg, serverID) {
				t.Errorf("SAN mismatch: %q, want the handshake's reason naming %s and %s", msg, other, serverID)
			}

			// TLS off: plain text reaches the TLS server, which says so.
			p.push(cn.resources(100, 0))
			waitTLS(t, m, "")
			if got, err := get(c); err != nil || !strings.HasPrefix(got, "400 Client sent an HTTP request to an HTTPS server") {
				t.Errorf("TLS off: %q, %v; want plain text", got, err)
			}
			// And on again.
			p.push(withTLS(cn.resources(100, 0), mutual(serverID)))
			waitTLS(t, m, "ISTIO_MUTUAL"+sni+" san=["+serverID+"]")
			if got, err := get(c); err != nil || got != "200 peer="+clientID {
				t.Errorf("TLS on again: %q, %v", got, err)
			}

			// A provider instance the bootstrap does not have.
			if ps.name == "proxyless" {
				p.push(withTLS(cn.resources(100, 0), proxylessMutual("spire", serverID)))
				waitNACK(t, p, `certificate provider instance "spire" is not in the bootstrap's certificate_providers (it has "default")`)
				if got, err := get(c); err != nil || got != "200 peer="+clientID {
					t.Errorf("after the NACK: %q, %v; want the last good configuration", got, err)
				}
			}
		})
	}
}

// waitNACK waits for a NACK whose detail contains want.
func waitNACK(t testing.TB, p *testPlane, want string) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		for _, d := range p.nackDetails() {
			if strings.Contains(d, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NACK saying %q; got %q", want, p.nackDetails())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMeshAutoMTLS: a sidecar's cluster without TLS rule (istiod's
// transport_socket_matches) originates mTLS to endpoints labelled
// tlsMode: istio and plain text to the others.
func TestMeshAutoMTLS(t *testing.T) {
	ca := newCA(t, "cluster.local")
	secure := meshServer(t, ca)
	p := startPlane(t)
	cn := canary{v1: secure, v2: backend(t, "v2")}
	res := cn.resources(50, 50)
	res[resourcev3.ClusterType] = []types.Resource{autoMTLS(clusterV1), autoMTLS(clusterV2)}
	res[resourcev3.EndpointType] = []types.Resource{
		tlsModeCLA(clusterV1, map[string]bool{secure: true}),
		tlsModeCLA(clusterV2, map[string]bool{cn.v2: false}),
	}
	p.push(res)
	b := p.bootstrap()
	b.CertificateProviders = map[string]CertificateProvider{"default": ca.provider(t, clientID)}
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	m, err := NewMesh(ctx, b, WithMeshOptions(switchyard.WithRand(new(seqRand))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := &http.Client{Transport: m.Transport(nil)}
	defer c.CloseIdleConnections()
	seen := map[string]int{}
	for range 40 {
		got, err := get(c)
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if seen["200 peer="+clientID] == 0 || seen["200 v2"] == 0 || len(seen) != 2 {
		t.Errorf("answers %v: want mTLS to v1 (tlsMode: istio) and plain text to v2", seen)
	}

	// An endpoint-only push that drops the label: plain text to v1 (which
	// the TLS server refuses, showing what was sent).
	res[resourcev3.EndpointType][0] = tlsModeCLA(clusterV1, map[string]bool{secure: false})
	p.push(res)
	waitTLS(t, m, "")
	res[resourcev3.EndpointType][0] = tlsModeCLA(clusterV1, map[string]bool{secure: true})
	p.push(res)
	waitTLS(t, m, "ISTIO_MUTUAL sni=outbound_.8080_._.reviews.test")
}

// TestCallerCertificatesWin: switchyard.WithWorkloadCertificates replaces
// the bootstrap's provider, whose files are then not read.
func TestCallerCertificatesWin(t *testing.T) {
	ca := newCA(t, "cluster.local")
	secure := meshServer(t, ca)
	p := startPlane(t)
	cn := canary{v1: secure, v2: backend(t, "v2")}
	p.push(withTLS(cn.resources(100, 0), proxylessMutual("default", serverID)))
	b := p.bootstrap()
	b.CertificateProviders = map[string]CertificateProvider{"default": {PluginName: "file_watcher",
		CertificateFile: "/nonexistent/cert-chain.pem", PrivateKeyFile: "/nonexistent/key.pem", CACertificateFile: "/nonexistent/root-cert.pem", RefreshInterval: time.Hour}}
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	if _, err := NewMesh(ctx, b); err == nil || !strings.Contains(err.Error(), `certificate_providers["default"]`) || !strings.Contains(err.Error(), "/nonexistent/") {
		t.Fatalf("unreadable provider files: %v, want an error naming the provider and the file", err)
	}
	// An explicit nil: no workload certificates, and the files are not
	// read; the ISTIO_MUTUAL cluster is rejected with the reason.
	none, err := NewMesh(ctx, b, Proxyless(), WithMeshOptions(switchyard.WithWorkloadCertificates(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(&http.Client{Transport: none.Transport(nil)}); err != nil {
		t.Fatal(err)
	}
	waitNACK(t, p, `certificate provider instance "default" is the workload's, which this mesh does not have`)
	none.Close()

	const callerID = "spiffe://cluster.local/ns/default/sa/caller"
	m, err := NewMesh(ctx, b, Proxyless(), WithMeshOptions(switchyard.WithWorkloadCertificates(ca.source(t, callerID))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := &http.Client{Transport: m.Transport(nil)}
	defer c.CloseIdleConnections()
	if got, err := get(c); err != nil || got != "200 peer="+callerID {
		t.Errorf("%q, %v; want the caller's certificate (%s)", got, err, callerID)
	}
}

// peerEcho answers UnaryCall with the caller's SPIFFE ID.
type peerEcho struct {
	testpb.UnimplementedTestServiceServer
}

func (peerEcho) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	id, _ := mtls.PeerIDFromContext(ctx)
	return &testpb.SimpleResponse{Username: id.String()}, nil
}

// TestProxylessGRPCMutualTLS: a proxyless gRPC client gets istiod's
// ISTIO_MUTUAL through the mesh's transport credentials, presenting the
// bootstrap's workload certificate to a STRICT gRPC server.
func TestProxylessGRPCMutualTLS(t *testing.T) {
	ca := newCA(t, "cluster.local")
	creds, err := mtls.ServerCredentials(ca.source(t, serverID), mtls.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(creds))
	testpb.RegisterTestServiceServer(s, peerEcho{})
	go s.Serve(lis)
	t.Cleanup(s.Stop)

	p := startPlane(t)
	cn := canary{v1: lis.Addr().String(), v2: grpcBackend(t, "v2"), http2: true}
	p.push(withTLS(cn.resources(100, 0), proxylessMutual("default", serverID)))
	b := p.bootstrap()
	b.CertificateProviders = map[string]CertificateProvider{"default": ca.provider(t, clientID)}
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	m, err := NewMesh(ctx, b, Proxyless())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cc, err := grpc.NewClient(listenerName, append(m.DialOptions(), grpc.WithTransportCredentials(m.TransportCredentials(insecure.NewCredentials())))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil {
		t.Fatalf("call: %v (mesh error %v)", err, m.Err())
	}
	if resp.GetUsername() != clientID {
		t.Errorf("the server saw %q, want %s", resp.GetUsername(), clientID)
	}
}
