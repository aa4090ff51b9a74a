package switchyard_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/switchyard-go/switchyard"
)

// A grpc-go endpoint stopped mid-load and started again on its port:
// retries on unavailable and outlier detection keep every call succeeding.
func TestChaosGRPCEndpointKilledAndRestarted(t *testing.T) {
	type node struct {
		addr string
		srv  *grpc.Server
	}
	start := func(addr string) *grpc.Server {
		var lis net.Listener
		var err error
		for range 50 {
			if lis, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, err)
		srv := grpc.NewServer()
		testpb.RegisterTestServiceServer(srv, &grpcBackend{name: addr})
		go srv.Serve(lis)
		return srv
	}
	var nodes []*node
	var eps string
	for range 3 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := lis.Addr().String()
		lis.Close()
		nodes = append(nodes, &node{addr: addr, srv: start(addr)})
		_, port, _ := net.SplitHostPort(addr)
		eps += fmt.Sprintf("  - {address: 127.0.0.1, ports: {grpc: %s}}\n", port)
	}
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			n.srv.Stop()
		}
	}()
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  ports: [{number: 9090, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
` + eps + `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, interval: 100ms, baseEjectionTime: 1s, maxEjectionPercent: 50}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api]
  http: [{retries: {attempts: 2, retryOn: "unavailable,cancelled"}, route: [{destination: {host: api}}]}]
`))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	conn, err := grpc.NewClient("api:9090", append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	const n = 3000
	var next, failed atomic.Int64
	var maxTook atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				switch i {
				case n / 3:
					mu.Lock()
					nodes[1].srv.Stop()
					mu.Unlock()
				case 2 * n / 3:
					mu.Lock()
					nodes[1].srv = start(nodes[1].addr)
					mu.Unlock()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				t0 := time.Now()
				_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
				cancel()
				took := time.Since(t0)
				for old := maxTook.Load(); took > time.Duration(old) && !maxTook.CompareAndSwap(old, int64(took)); old = maxTook.Load() {
				}
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("gRPC endpoint killed and restarted: %d calls, %d failed, max %v", n, failed.Load(), time.Duration(maxTook.Load()).Round(time.Millisecond))
	assert.LessOrEqual(t, float64(failed.Load())/n, 0.001, "success ≥ 99.9%%")
	assert.Less(t, time.Duration(maxTook.Load()), 3*time.Second, "no call hangs")
}
