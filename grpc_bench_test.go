package switchyard_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"
)

// BenchmarkGRPCUnary compares a unary call over bufconn through a plain
// ClientConn with the same call through the mesh on DESIGN.md's realistic
// table: the difference is the interceptor's routing and the picker.
func BenchmarkGRPCUnary(b *testing.B) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &grpcBackend{name: "v"})
	go srv.Serve(lis)
	defer srv.Stop()
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())

	plain, err := grpc.NewClient("passthrough:///reviews:9080", creds, dial)
	require.NoError(b, err)
	defer plain.Close()
	m := realisticMesh(b)
	meshed, err := grpc.NewClient("reviews:9080", append(m.DialOptions(), creds, dial)...)
	require.NoError(b, err)
	defer meshed.Close()

	for _, c := range []struct {
		name string
		conn *grpc.ClientConn
	}{{"plain", plain}, {"mesh", meshed}} {
		client := testpb.NewTestServiceClient(c.conn)
		req := &testpb.SimpleRequest{}
		ctx := context.Background()
		if _, err := client.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
