package switchyard

import (
	"context"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/switchyard-go/switchyard/internal/israce"
)

type fakeSubConn struct{ balancer.SubConn }

// grpcDecisionFixture is a mesh on the realistic table, a ClientConn to
// reviews, and an invoker that picks and finishes through the mesh's picker.
func grpcDecisionFixture(tb testing.TB, opts ...Option) (*Mesh, *grpc.ClientConn, grpc.UnaryInvoker) {
	bookinfo, err := os.ReadFile("testdata/bookinfo.yaml")
	require.NoError(tb, err)
	table, err := os.ReadFile("testdata/realistic.yaml")
	require.NoError(tb, err)
	cfg, err := Parse(append(bookinfo, append([]byte("\n---\n"), table...)...))
	require.NoError(tb, err)
	m, err := New(cfg, opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { m.Close() })
	cc, err := grpc.NewClient("reviews:9080", grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(tb, err)
	tb.Cleanup(func() { cc.Close() })
	v := &connView{ready: map[string]balancer.SubConn{}}
	p := &picker{views: map[*cluster.TLS]*connView{nil: v}}
	for _, a := range []string{"10.0.0.1:9080", "10.0.0.2:9080", "10.0.0.3:9080"} {
		sc := &fakeSubConn{}
		v.ready[a] = sc
		p.all = append(p.all, sc)
	}
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		res, err := p.Pick(balancer.PickInfo{FullMethodName: method, Ctx: ctx})
		if err != nil {
			return err
		}
		res.Done(balancer.DoneInfo{BytesSent: true, BytesReceived: true})
		return nil
	}
	return m, cc, invoker
}

// TestGRPCDecisionAllocationBudget holds the gRPC path to its budget:
// DESIGN.md allows 5 allocations per unary call; the path makes 4. With the
// OTel SDK's metrics, the attribute sets are cached: 3 more (the call's
// telemetry record and its attempt's).
func TestGRPCDecisionAllocationBudget(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	for _, c := range []struct {
		name   string
		opts   []Option
		budget float64
	}{
		{"telemetry off", nil, 4},
		{"SDK metrics", []Option{WithMeterProvider(mp)}, 7},
	} {
		m, cc, invoker := grpcDecisionFixture(t, c.opts...)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if err := m.unaryInterceptor(ctx, "/reviews.Reviews/Get", nil, nil, cc, invoker); err != nil {
				t.Fatal(err)
			}
		})
		assert.LessOrEqual(t, allocs, c.budget, c.name)
	}
}

// BenchmarkGRPCDecision measures what the mesh adds to a unary call: the
// interceptor's routing on a realistic table, the retry loop armed, and the
// picker's pick and Done, around a no-op invoker.
func BenchmarkGRPCDecision(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"telemetry-off", nil},
		{"metrics", []Option{WithMeterProvider(mp)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, cc, invoker := grpcDecisionFixture(b, c.opts...)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := m.unaryInterceptor(ctx, "/reviews.Reviews/Get", nil, nil, cc, invoker); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
