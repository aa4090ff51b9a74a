package switchyard_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

// peerBackend answers a UnaryCall with the caller's SPIFFE ID.
type peerBackend struct {
	testpb.UnimplementedTestServiceServer
}

func (peerBackend) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	id, _ := mtls.PeerIDFromContext(ctx)
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: []byte(id.String())}}, nil
}

// startMeshGRPC serves peerBackend over mesh mTLS from src on loopback and
// returns its port.
func startMeshGRPC(t *testing.T, src *mtls.Source) int {
	t.Helper()
	creds, err := mtls.ServerCredentials(src, mtls.ServerOptions{})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(creds))
	testpb.RegisterTestServiceServer(srv, peerBackend{})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().(*net.TCPAddr).Port
}

// TestGRPCTLSOrigination calls a gRPC server that accepts mesh mTLS only,
// through a ClientConn with the mesh's credentials: ISTIO_MUTUAL reaches it
// and the server sees the caller's identity; a SAN mismatch fails the call
// with its cause; a ClientConn without the mesh's credentials is refused
// rather than sent in plaintext.
func TestGRPCTLSOrigination(t *testing.T) {
	ca := newTestCA(t, "ca")
	workload := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	port := startMeshGRPC(t, workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/ratings")))
	mesh := func(tlsYAML string) *switchyard.Mesh {
		cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {tls: %s}
`, port, tlsYAML)))
		require.NoError(t, err)
		m, err := switchyard.New(cfg, switchyard.WithWorkloadCertificates(workload))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		return m
	}
	call := func(m *switchyard.Mesh, withMeshCreds bool) (string, error) {
		creds := grpc.WithTransportCredentials(insecure.NewCredentials())
		if withMeshCreds {
			creds = grpc.WithTransportCredentials(m.TransportCredentials(insecure.NewCredentials()))
		}
		conn, err := grpc.NewClient("ratings:9080", append(m.DialOptions(), creds)...)
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
		return string(resp.GetPayload().GetBody()), err
	}

	got, err := call(mesh(`{mode: ISTIO_MUTUAL}`), true)
	require.NoError(t, err)
	require.Equal(t, "spiffe://cluster.local/ns/default/sa/caller", got)

	_, err = call(mesh(`{mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/db"]}`), true)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "tls handshake: mtls: SAN mismatch")

	_, err = call(mesh(`{mode: ISTIO_MUTUAL}`), false)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "originates TLS (ISTIO_MUTUAL), which this ClientConn's transport credentials cannot do")

	// DISABLE: the mesh's credentials hand the connection to the fallback,
	// which a server accepting mTLS only refuses.
	_, err = call(mesh(`{mode: DISABLE}`), true)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

// TestGRPCTLSPerCluster: one ClientConn reaches one address through two
// clusters with different tls, and each call goes out under its own
// cluster's: subset v1 (ISTIO_MUTUAL) reaches the mTLS-only server, the
// whole service (DISABLE) goes in plaintext and is refused by it.
func TestGRPCTLSPerCluster(t *testing.T) {
	ca := newTestCA(t, "ca")
	workload := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	port := startMeshGRPC(t, workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/ratings")))
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {x-mtls: {exact: "yes"}}}]
    route: [{destination: {host: ratings, subset: v1}}]
    retries: {attempts: 0}
  - route: [{destination: {host: ratings}}]
    retries: {attempts: 0}
`, port)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithWorkloadCertificates(workload))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	conn, err := grpc.NewClient("ratings:9080", append(m.DialOptions(),
		grpc.WithTransportCredentials(m.TransportCredentials(insecure.NewCredentials())))...)
	require.NoError(t, err)
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	resp, err := client.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-mtls", "yes"), &testpb.SimpleRequest{})
	require.NoError(t, err)
	require.Equal(t, "spiffe://cluster.local/ns/default/sa/caller", string(resp.GetPayload().GetBody()))
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	resp, err = client.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-mtls", "yes"), &testpb.SimpleRequest{})
	require.NoError(t, err, "the plaintext connection's failure leaves the mTLS one alone")
	require.Equal(t, "spiffe://cluster.local/ns/default/sa/caller", string(resp.GetPayload().GetBody()))
}
