package mtls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/mtls"
)

// whoami answers each call with the caller's SPIFFE ID.
type whoami struct {
	testpb.UnimplementedTestServiceServer
}

func (whoami) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	id, ok := mtls.PeerIDFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no SPIFFE ID")
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: []byte(id.String())}}, nil
}

func startGRPC(t *testing.T, creds credentials.TransportCredentials) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(creds))
	testpb.RegisterTestServiceServer(srv, whoami{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ln.Addr().String()
}

func callGRPC(t *testing.T, addr string, cfg *tls.Config) (string, *peer.Peer, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	defer conn.Close()
	var p peer.Peer
	resp, err := testpb.NewTestServiceClient(conn).UnaryCall(context.Background(), &testpb.SimpleRequest{}, grpc.Peer(&p))
	if err != nil {
		return "", nil, err
	}
	return string(resp.GetPayload().GetBody()), &p, nil
}

func TestGRPCIstioMutual(t *testing.T) {
	p := newPKI(t)
	clk := clock.NewFake(t0)
	serverSrc := source(t, p.reviews, p.mesh.pem, nil, mtls.WithClock(clk))
	creds, err := mtls.ServerCredentials(serverSrc, mtls.ServerOptions{SubjectAltNames: []string{spiffe("default", "productpage")}})
	require.NoError(t, err)
	addr := startGRPC(t, creds)

	clientSrc := source(t, p.productpage, p.mesh.pem, nil, mtls.WithClock(clk))
	cfg, err := mtls.ClientConfig(mtls.ClientOptions{
		Mode: mtls.IstioMutual, Source: clientSrc,
		SNI:             mtls.IstioSNI(9080, "v1", "reviews.default.svc.cluster.local"),
		SubjectAltNames: []string{spiffe("default", "reviews")},
	})
	require.NoError(t, err)
	body, pr, err := callGRPC(t, addr, cfg)
	require.NoError(t, err)
	assert.Equal(t, spiffe("default", "productpage"), body, "the handler sees the client's ID")
	info := pr.AuthInfo.(credentials.TLSInfo)
	assert.Equal(t, "h2", info.State.NegotiatedProtocol)
	assert.Equal(t, "outbound_.9080_.v1_.reviews.default.svc.cluster.local", info.State.ServerName)
	serverID, err := mtls.IDFromCert(info.State.PeerCertificates[0])
	require.NoError(t, err)
	assert.Equal(t, spiffe("default", "reviews"), serverID.String())

	// The client refuses a server with another identity.
	cfg, err = mtls.ClientConfig(mtls.ClientOptions{Mode: mtls.IstioMutual, Source: clientSrc, SubjectAltNames: []string{spiffe("default", "ratings")}})
	require.NoError(t, err)
	_, _, err = callGRPC(t, addr, cfg)
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, err.Error(), "mtls: SAN mismatch")
	assert.Contains(t, err.Error(), "want one of")
	assert.Contains(t, err.Error(), spiffe("default", "ratings"))
}

func TestGRPCServerRefusesClients(t *testing.T) {
	p := newPKI(t)
	clk := clock.NewFake(t0)
	serverCfg, err := mtls.ServerConfig(source(t, p.reviews, p.mesh.pem, nil, mtls.WithClock(clk)), mtls.ServerOptions{SubjectAltNames: []string{spiffe("default", "productpage")}})
	require.NoError(t, err)
	refused := make(chan error, 16)
	inner := serverCfg.VerifyConnection
	serverCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := inner(cs)
		if err != nil {
			refused <- err
		}
		return err
	}
	addr := startGRPC(t, credentials.NewTLS(serverCfg))

	for _, tc := range []struct {
		name   string
		client mtls.ClientOptions
		cause  mtls.Cause
	}{
		{"no client certificate", mtls.ClientOptions{Mode: mtls.Simple, Source: source(t, nil, p.mesh.pem, nil, mtls.WithClock(clk)), SubjectAltNames: []string{spiffe("default", "reviews")}}, mtls.NoClientCert},
		{"identity not allowed", mtls.ClientOptions{Mode: mtls.IstioMutual, Source: source(t, p.mesh.leaf(t, leafSpec{id: spiffe("default", "ratings")}), p.mesh.pem, nil, mtls.WithClock(clk))}, mtls.SANMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := mtls.ClientConfig(tc.client)
			require.NoError(t, err)
			_, _, err = callGRPC(t, addr, cfg)
			require.Error(t, err)
			assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			var he *mtls.HandshakeError
			require.True(t, errors.As(<-refused, &he))
			assert.Equal(t, tc.cause, he.Cause)
		})
	}
}
