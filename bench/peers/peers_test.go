// Package peers benchmarks switchyard beside peer libraries on the same
// in-memory workload. It is a module of its own so that the peers never
// enter switchyard's dependencies:
//
//	cd bench/peers && go test -run '^$' -bench . -benchmem -count 6 -cpu 1
package peers

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/test/bufconn"

	"github.com/switchyard-go/switchyard"
)

// bare answers every request with a new 200: the floor. Each response is
// its own (one allocation, in the floor), because a stack may wrap the
// body of the response it returns, as switchyard's route timeout does.
type bare struct{ header http.Header }

func newBare() *bare { return &bare{header: http.Header{}} }

func (b *bare) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: b.header, Body: http.NoBody}, nil
}

func request() *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/1?page=2", nil)
	req.Header.Set("User-Agent", "Go-http-client/1.1")
	req.Header.Set("Accept", "application/json")
	return req
}

// meshConfig is DESIGN.md's realistic table (ten routes ahead of a
// 3-subset weighted split, least request) with everything armed: outlier
// detection and a connection-pool limit on the DestinationRule, and on the
// catch-all route a 1s timeout and 2 retries on 5xx, reset and
// connect-failure. Nothing fires: the cost of being ready to.
func meshConfig(tb testing.TB) switchyard.Config {
	tb.Helper()
	book, err := os.ReadFile("../../testdata/bookinfo.yaml")
	require.NoError(tb, err)
	table, err := os.ReadFile("../../testdata/realistic.yaml")
	require.NoError(tb, err)
	dr := strings.Replace(string(book), "spec:\n  host: reviews\n  subsets:", `spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
    connectionPool: {http: {http2MaxRequests: 100000}}
  subsets:`, 1)
	vs := strings.Replace(string(table), "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 80}", `  - timeout: 1s
    retries: {attempts: 2, retryOn: "5xx,reset,connect-failure"}
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}`, 1)
	if dr == string(book) || vs == string(table) {
		tb.Fatal("the fixtures changed: update meshConfig")
	}
	cfg, err := switchyard.Parse([]byte(dr + "\n---\n" + vs))
	require.NoError(tb, err)
	return cfg
}

// gobreakerTransport puts one sony/gobreaker circuit breaker in front of a
// transport, counting 5xx as failures.
type gobreakerTransport struct {
	cb   *gobreaker.CircuitBreaker[*http.Response]
	next http.RoundTripper
}

func (t gobreakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.cb.Execute(func() (*http.Response, error) {
		resp, err := t.next.RoundTrip(req)
		if err == nil && resp.StatusCode >= 500 {
			return resp, errServer
		}
		return resp, err
	})
}

type serverError struct{}

func (serverError) Error() string { return "server error" }

var errServer error = serverError{}

// BenchmarkHTTP runs one request through each stack over the same
// in-memory transport. switchyard does the most: route matching on ten
// routes, a weighted split, least-request picks, outlier detection and
// admission armed, a route timeout and retries armed. The peers do
// resilience only, on one fixed destination.
func BenchmarkHTTP(b *testing.B) {
	floor := newBare()
	own := switchyard.WithEndpointTransport(func(string) http.RoundTripper { return floor })
	mesh, err := switchyard.New(meshConfig(b), own)
	require.NoError(b, err)
	defer mesh.Close()
	untimed := meshConfig(b)
	for i := range untimed.VirtualServices[0].HTTP {
		untimed.VirtualServices[0].HTTP[i].Timeout = 0
	}
	meshUntimed, err := switchyard.New(untimed, own)
	require.NoError(b, err)
	defer meshUntimed.Close()

	retry := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(2).WithBackoff(25*time.Millisecond, 250*time.Millisecond).Build()
	breaker := circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(func(r *http.Response, err error) bool { return err != nil || r.StatusCode >= 500 }).
		WithFailureThreshold(5).WithDelay(30 * time.Second).Build()
	failsafe := failsafehttp.NewRoundTripper(floor, retry, breaker, timeout.New[*http.Response](time.Second))

	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: floor}
	rc.RetryMax = 2
	rc.Logger = nil
	retryable := &retryablehttp.RoundTripper{Client: rc}

	gb := gobreakerTransport{cb: gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{Name: "reviews"}), next: floor}

	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", floor},
		{"switchyard/route+split+LB+outlier+pool+timeout+retries", mesh.Transport(nil)},
		{"switchyard/route+split+LB+outlier+pool+retries", meshUntimed.Transport(nil)},
		{"failsafe-go/retry+circuitbreaker+timeout", failsafe},
		{"go-retryablehttp/retries", retryable},
		{"gobreaker/circuitbreaker", gb},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := request()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.rt.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(resp, err)
				}
				resp.Body.Close() // as a client does: it releases the route timeout
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := request()
				for pb.Next() {
					resp, err := c.rt.RoundTrip(req)
					if err != nil || resp.StatusCode != 200 {
						b.Error(resp, err)
						return
					}
					resp.Body.Close()
				}
			})
		})
	}
}

type testServer struct {
	testpb.UnimplementedTestServiceServer
}

func (testServer) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

// BenchmarkGRPC compares a unary call over bufconn through gRPC-Go's own
// round_robin over the three endpoints with the same call through
// switchyard's DialOptions on the armed realistic table.
func BenchmarkGRPC(b *testing.B) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testServer{})
	go srv.Serve(lis)
	defer srv.Stop()
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())

	r := manual.NewBuilderWithScheme("peers")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: "10.0.0.1:9080"}, {Addr: "10.0.0.2:9080"}, {Addr: "10.0.0.3:9080"}}})
	rr, err := grpc.NewClient("peers:///reviews", grpc.WithResolvers(r), creds, dial,
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin":{}}]}`))
	require.NoError(b, err)
	defer rr.Close()

	mesh, err := switchyard.New(meshConfig(b))
	require.NoError(b, err)
	defer mesh.Close()
	meshed, err := grpc.NewClient("reviews:9080", append(mesh.DialOptions(), creds, dial)...)
	require.NoError(b, err)
	defer meshed.Close()

	for _, c := range []struct {
		name string
		conn *grpc.ClientConn
	}{{"grpc-go/round_robin", rr}, {"switchyard/route+split+LB+outlier+pool+timeout+retries", meshed}} {
		client := testpb.NewTestServiceClient(c.conn)
		ctx := context.Background()
		if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := &testpb.SimpleRequest{}
			for b.Loop() {
				if _, err := client.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := &testpb.SimpleRequest{}
				for pb.Next() {
					if _, err := client.UnaryCall(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		// The same call with the caller's own deadline (1 s, the mesh's
		// route timeout): as Go callers usually call, and the fair
		// comparison of the two, which then pay for the same context.
		b.Run(c.name+"/deadline", func(b *testing.B) {
			b.ReportAllocs()
			req := &testpb.SimpleRequest{}
			for b.Loop() {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				_, err := client.UnaryCall(ctx, req)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
