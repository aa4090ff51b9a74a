package switchyard

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
)

type fakeSubConn struct{ balancer.SubConn }

// BenchmarkGRPCDecision measures what the mesh adds to a unary call: the
// interceptor's routing on a realistic table, the retry loop armed, and the
// picker's pick and Done, around a no-op invoker.
func BenchmarkGRPCDecision(b *testing.B) {
	bookinfo, err := os.ReadFile("testdata/bookinfo.yaml")
	require.NoError(b, err)
	table, err := os.ReadFile("testdata/realistic.yaml")
	require.NoError(b, err)
	cfg, err := Parse(append(bookinfo, append([]byte("\n---\n"), table...)...))
	require.NoError(b, err)
	m, err := New(cfg)
	require.NoError(b, err)
	defer m.Close()
	cc, err := grpc.NewClient("reviews:9080", grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(b, err)
	defer cc.Close()

	info := base.PickerBuildInfo{ReadySCs: map[balancer.SubConn]base.SubConnInfo{}}
	for _, a := range []string{"10.0.0.1:9080", "10.0.0.2:9080", "10.0.0.3:9080"} {
		info.ReadySCs[&fakeSubConn{}] = base.SubConnInfo{Address: resolver.Address{Addr: a}}
	}
	p := pickerBuilder{}.Build(info)
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		res, err := p.Pick(balancer.PickInfo{FullMethodName: method, Ctx: ctx})
		if err != nil {
			return err
		}
		res.Done(balancer.DoneInfo{})
		return nil
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.unaryInterceptor(ctx, "/reviews.Reviews/Get", nil, nil, cc, invoker); err != nil {
			b.Fatal(err)
		}
	}
}
