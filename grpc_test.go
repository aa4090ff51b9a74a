package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/retry"
)

// grpcBackend is a real grpc-go TestService that answers with its name.
type grpcBackend struct {
	testpb.UnimplementedTestServiceServer
	name string

	mu        sync.Mutex
	calls     int
	failFirst int
	failCode  codes.Code
	fail      codes.Code // every call, when not OK
	hang      bool
	attempts  []string // grpc-previous-rpc-attempts seen
	parents   []string // traceparent seen
}

func (b *grpcBackend) script() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.failFirst > 0 {
		b.failFirst--
		return status.Error(b.failCode, "scripted failure")
	}
	if b.fail != codes.OK {
		return status.Error(b.fail, "scripted failure")
	}
	return nil
}

func (b *grpcBackend) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.mu.Lock()
	b.attempts = append(b.attempts, append(md.Get("grpc-previous-rpc-attempts"), "")[0])
	b.parents = append(b.parents, append(md.Get("traceparent"), "")[0])
	hang := b.hang
	b.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err := b.script(); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: []byte(b.name)}}, nil
}

func (b *grpcBackend) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := b.script(); err != nil {
		return err
	}
	b.mu.Lock()
	hang := b.hang
	b.mu.Unlock()
	if hang {
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		body := append([]byte(b.name+":"), req.GetPayload().GetBody()...)
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
}

// failNext makes the next n calls or streams fail with code.
func (b *grpcBackend) failNext(n int, code codes.Code) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failFirst, b.failCode = n, code
}

// failAll makes every call and stream fail with code (OK: none).
func (b *grpcBackend) failAll(code codes.Code) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = code
}

// hangAll makes calls and streams wait for their context to end.
func (b *grpcBackend) hangAll(hang bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hang = hang
}

func (b *grpcBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// grpcFixture runs one grpc-go server per endpoint, in memory on bufconn
// or on real loopback TCP, and a ClientConn through the mesh.
type grpcFixture struct {
	mesh    *switchyard.Mesh
	conn    *grpc.ClientConn
	client  testpb.TestServiceClient
	backend map[string]*grpcBackend
	dial    []grpc.DialOption // what dials another ClientConn to the same endpoints
	tcp     map[string]string // on loopback: each version's real address
}

// grpcSetup varies a grpcFixture.
type grpcSetup struct {
	// loopback serves the endpoints on 127.0.0.1 over TCP (the mesh still
	// knows them as 10.0.0.{1,2,3}:9080); otherwise they are on bufconn.
	loopback bool
	server   []grpc.ServerOption
	dial     []grpc.DialOption // after the mesh's
	// refuse names the versions whose endpoint refuses connections.
	refuse []string
	// gate holds each dial to a version's endpoint until its channel is
	// closed.
	gate map[string]chan struct{}
}

// name is how the setup's network is named in subtests.
func (s grpcSetup) name() string {
	if s.loopback {
		return "loopback"
	}
	return "bufconn"
}

// bothNetworks are the two networks streaming and cancellation tests run
// over: in memory, and real loopback sockets.
var bothNetworks = []grpcSetup{{}, {loopback: true}}

func newGRPCFixture(t *testing.T, manifests string, opts ...switchyard.Option) *grpcFixture {
	t.Helper()
	return newGRPCFixtureWith(t, grpcSetup{}, manifests, opts...)
}

func newGRPCFixtureWith(t *testing.T, setup grpcSetup, manifests string, opts ...switchyard.Option) *grpcFixture {
	t.Helper()
	cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+manifests)...))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	f := &grpcFixture{mesh: m, backend: map[string]*grpcBackend{}, tcp: map[string]string{}}
	listeners := map[string]*bufconn.Listener{}
	tcp := map[string]string{}
	gates := map[string]chan struct{}{}
	for i, v := range []string{"v1", "v2", "v3"} {
		addr := fmt.Sprintf("10.0.0.%d:9080", i+1)
		if g, ok := setup.gate[v]; ok {
			gates[addr] = g
		}
		b := &grpcBackend{name: v}
		f.backend[v] = b
		if slices.Contains(setup.refuse, v) {
			if setup.loopback {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				tcp[addr], f.tcp[v] = lis.Addr().String(), lis.Addr().String()
				require.NoError(t, lis.Close()) // nothing listens there now
			}
			continue
		}
		srv := grpc.NewServer(setup.server...)
		testpb.RegisterTestServiceServer(srv, b)
		t.Cleanup(srv.Stop)
		if setup.loopback {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			tcp[addr], f.tcp[v] = lis.Addr().String(), lis.Addr().String()
			go srv.Serve(lis)
			continue
		}
		lis := bufconn.Listen(1 << 20)
		listeners[addr] = lis
		go srv.Serve(lis)
	}
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		if g, ok := gates[addr]; ok {
			select {
			case <-g:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if setup.loopback {
			if real, ok := tcp[addr]; ok {
				return (&net.Dialer{}).DialContext(ctx, "tcp", real)
			}
		} else if lis, ok := listeners[addr]; ok {
			return lis.DialContext(ctx)
		}
		return nil, fmt.Errorf("dial %s: %w", addr, syscall.ECONNREFUSED)
	}
	f.dial = append(append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dialer)), setup.dial...)
	conn, err := grpc.NewClient("reviews:9080", f.dial...)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		m.Close()
	})
	f.conn = conn
	f.client = testpb.NewTestServiceClient(conn)
	return f
}

// warm calls until every backend has answered, then forgets those calls: a
// cluster of several endpoints picks only among those whose connection is
// ready, and a test that counts calls per endpoint needs them all ready.
func (f *grpcFixture) warm(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range f.backend {
		for b.count() == 0 {
			require.True(t, time.Now().Before(deadline), "backend %s never answered", b.name)
			_, err := f.call(t)
			require.NoError(t, err)
		}
	}
	for _, b := range f.backend {
		b.mu.Lock()
		b.calls, b.attempts, b.parents = 0, nil, nil
		b.mu.Unlock()
	}
}

func (f *grpcFixture) call(t *testing.T, kv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	resp, err := f.client.UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil {
		return "", err
	}
	return string(resp.GetPayload().GetBody()), nil
}

func grpcVS(http string) string { return vs(http) }

func TestGRPCRoutesByMetadataAndMethod(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /grpc.testing.TestService/Full}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`))
	for range 20 {
		got, err := f.call(t)
		require.NoError(t, err)
		require.Equal(t, "v1", got)
		got, err = f.call(t, "end-user", "jason")
		require.NoError(t, err)
		require.Equal(t, "v2", got, "metadata are headers")
	}
	stream, err := f.client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("hi")}}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, "v3:hi", string(resp.GetPayload().GetBody()), "the method path is the uri")
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)
}

func TestGRPCWeightedSplit(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
`), switchyard.WithRand(meshtest.NewRand(21)))
	const n = 2000
	for range n {
		_, err := f.call(t)
		require.NoError(t, err)
	}
	lo, hi := stat.BinomialInterval(n, 0.1)
	got := f.backend["v2"].count()
	assert.True(t, got >= lo && got <= hi, "v2 got %d of %d, want %d..%d", got, n, lo, hi)
	assert.Equal(t, n, got+f.backend["v1"].count())
}

func TestGRPCFaultAborts(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - match: [{headers: {end-user: {exact: a}}}]
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{headers: {end-user: {exact: b}}}]
    fault: {abort: {httpStatus: 404, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	_, err := f.call(t, "end-user", "a")
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	_, err = f.call(t, "end-user", "b")
	assert.Equal(t, codes.Unimplemented, status.Code(err), "httpStatus 404 maps to UNIMPLEMENTED")
	_, err = f.call(t, "end-user", "c")
	assert.Equal(t, codes.Unimplemented, status.Code(err), "no route matched: Envoy's 404")
	assert.Zero(t, f.backend["v1"].count())
}

func TestGRPCRouteTimeoutIsDeadlineExceeded(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - timeout: 50ms
    route: [{destination: {host: reviews, subset: v1}}]
`))
	f.backend["v1"].hangAll(true)
	start := time.Now()
	_, err := f.call(t)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestGRPCRetriesWithExactAttempts(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	b := f.backend["v1"]
	b.failFirst, b.failCode = 2, codes.Unavailable
	got, err := f.call(t)
	require.NoError(t, err)
	assert.Equal(t, "v1", got)
	assert.Equal(t, 3, b.count())
	assert.Equal(t, []string{"", "1", "2"}, b.attempts, "grpc-previous-rpc-attempts on retries")

	b.failFirst, b.failCode = 1, codes.Internal
	_, err = f.call(t)
	assert.Equal(t, codes.Internal, status.Code(err), "INTERNAL is not in retryOn")
	assert.Equal(t, 4, b.count())
}

// grpcEjectingRatings is ratings over the three gRPC backends, ejecting an
// endpoint at its third consecutive 5xx, routed without retries.
var grpcEjectingRatings = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, interval: 1m, baseEjectionTime: 1m, maxEjectionPercent: 100}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}]
---
` + grpcVS(`
  - name: rated
    retries: {attempts: 0}
    route: [{destination: {host: ratings}}]
`)

func TestGRPCOutlierEjection(t *testing.T) {
	f := newGRPCFixture(t, grpcEjectingRatings, switchyard.WithRand(meshtest.NewRand(6)))
	f.warm(t)
	f.backend["v2"].failAll(codes.Internal) // INTERNAL counts as 500
	failures := 0
	for range 60 {
		if _, err := f.call(t); err != nil {
			failures++
		}
	}
	assert.Equal(t, 3, failures, "ejected at its third consecutive INTERNAL")
	assert.Equal(t, 3, f.backend["v2"].count())
}

func TestGRPCPoolOverflowIsUnavailableAndNotRetried(t *testing.T) {
	f := newGRPCFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}
---
`+grpcVS(`
  - retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: ratings}}]
`))
	f.backend["v1"].hangAll(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.client.UnaryCall(ctx, &testpb.SimpleRequest{})
		done <- err
	}()
	require.Eventually(t, func() bool {
		f.backend["v1"].mu.Lock()
		defer f.backend["v1"].mu.Unlock()
		return len(f.backend["v1"].attempts) == 1
	}, 5*time.Second, time.Millisecond)
	_, err := f.call(t)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), "overflow")
	f.backend["v1"].mu.Lock()
	assert.Len(t, f.backend["v1"].attempts, 1, "the overflow was neither sent nor retried")
	f.backend["v1"].mu.Unlock()
	cancel()
	<-done
}

func TestGRPCStreamRetriedBeforeFirstResponse(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	b := f.backend["v1"]
	b.failNext(1, codes.Unavailable)
	stream, err := f.client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("a")}}))
	resp, err := stream.Recv()
	require.NoError(t, err, "the failed first attempt is retried and the sent message replayed")
	assert.Equal(t, "v1:a", string(resp.GetPayload().GetBody()))
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 2, b.count())
}

func TestGRPCOnLoopbackTCP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &grpcBackend{name: "loopback"})
	go srv.Serve(lis)
	defer srv.Stop()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {grpc: %s}}]
`, port)))
	require.NoError(t, err)
	m, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer m.Close()
	conn, err := grpc.NewClient("ratings:9080", append(m.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, "loopback", string(resp.GetPayload().GetBody()))
}

func TestGRPCMirrorsUnaryCalls(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`))
	for range 5 {
		got, err := f.call(t)
		require.NoError(t, err)
		require.Equal(t, "v1", got, "the caller gets the primary's answer")
	}
	require.Eventually(t, func() bool { return f.backend["v2"].count() == 5 }, 5*time.Second, time.Millisecond,
		"every call was mirrored to v2")
}

func TestGRPCUpdateReachesALiveClientConn(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - route: [{destination: {host: reviews, subset: v1}}]
`))
	got, err := f.call(t)
	require.NoError(t, err)
	require.Equal(t, "v1", got)
	require.NoError(t, f.mesh.Update(parse(t, grpcVS(`
  - route: [{destination: {host: reviews, subset: v3}}]
`))))
	got, err = f.call(t)
	require.NoError(t, err)
	assert.Equal(t, "v3", got, "the same ClientConn routes by the new configuration")
}

func TestGRPCFaultDelayAgainstRouteTimeout(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - fault: {delay: {fixedDelay: 5s, percentage: {value: 100}}}
    timeout: 30ms
    route: [{destination: {host: reviews, subset: v1}}]
`))
	start := time.Now()
	_, err := f.call(t)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Zero(t, f.backend["v1"].count())
}

// Standalone interceptors on a plain ClientConn, without a mesh.
func TestStandaloneGRPCInterceptors(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	b := &grpcBackend{name: "plain"}
	testpb.RegisterTestServiceServer(srv, b)
	go srv.Serve(lis)
	defer srv.Stop()
	p, err := retry.New(&retry.Config{Attempts: 2, RetryOn: "unavailable"})
	require.NoError(t, err)
	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{GRPCStatus: "ABORTED", Percentage: &fault.Percent{Value: 100}}})
	require.NoError(t, err)
	dial := func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }
	conn, err := grpc.NewClient("passthrough:///svc", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial), grpc.WithChainUnaryInterceptor(p.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(p.StreamClientInterceptor()))
	require.NoError(t, err)
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	b.failFirst, b.failCode = 2, codes.Unavailable
	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, 3, b.count(), "retry.UnaryClientInterceptor: 1+2 attempts")

	b.failFirst, b.failCode = 1, codes.Unavailable
	stream, err := client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}))
	resp, err := stream.Recv()
	require.NoError(t, err, "retry.StreamClientInterceptor retries before the first response")
	assert.Equal(t, "plain:x", string(resp.GetPayload().GetBody()))
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)

	faulty, err := grpc.NewClient("passthrough:///svc", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial), grpc.WithChainUnaryInterceptor(inj.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(inj.StreamClientInterceptor()))
	require.NoError(t, err)
	defer faulty.Close()
	before := b.count()
	_, err = testpb.NewTestServiceClient(faulty).UnaryCall(context.Background(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Aborted, status.Code(err))
	_, err = testpb.NewTestServiceClient(faulty).FullDuplexCall(context.Background())
	assert.Equal(t, codes.Aborted, status.Code(err))
	assert.Equal(t, before, b.count(), "fault interceptors abort before the server")
}

func TestExplainGRPC(t *testing.T) {
	f := newGRPCFixture(t, grpcVS(`
  - name: jason
    match: [{headers: {end-user: {exact: jason}}, uri: {prefix: /grpc.testing.TestService/}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
`))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "end-user", "jason")
	matched := func(e switchyard.Explanation) string {
		last := e.Routes[len(e.Routes)-1]
		require.True(t, last.Matched, e.String())
		return last.Name
	}
	e := f.mesh.ExplainGRPC(ctx, "reviews:9080", "/grpc.testing.TestService/UnaryCall")
	assert.Equal(t, "jason", matched(e), e.String())
	e = f.mesh.ExplainGRPC(context.Background(), "dns:///reviews:9080", "/grpc.testing.TestService/UnaryCall")
	assert.Equal(t, "rest", matched(e), e.String())
	assert.Contains(t, e.String(), "end-user")
}

// ratingsEndpoint returns the admin state of ratings' endpoint.
func ratingsEndpoint(t *testing.T, m *switchyard.Mesh) switchyard.AdminEndpoint {
	t.Helper()
	for _, c := range m.AdminState().Clusters {
		if c.Host == "ratings" && c.Subset == "" {
			require.Len(t, c.Endpoints, 1)
			return c.Endpoints[0]
		}
	}
	t.Fatal("no ratings cluster")
	return switchyard.AdminEndpoint{}
}

// grpcMirroredRatings mirrors reviews' calls to ratings (v3's endpoint),
// which admits one request at a time and ejects at the first failure; a
// call with x-direct: 1 goes to ratings itself.
var grpcMirroredRatings = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    connectionPool: {http: {http2MaxRequests: 1}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1h, baseEjectionTime: 1h, maxEjectionPercent: 100}
---
` + grpcVS(`
  - match: [{headers: {x-direct: {exact: "1"}}}]
    retries: {attempts: 0}
    route: [{destination: {host: ratings}}]
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: ratings}
`)

// A mirrored copy's failure never ejects an endpoint, as an HTTP copy's
// does not: mirroring changes nothing for the calls the cluster serves.
func TestGRPCMirrorOutcomeEjectsNothing(t *testing.T) {
	f := newGRPCFixture(t, grpcMirroredRatings)
	shadow := f.backend["v3"]
	shadow.failAll(codes.Internal)
	got, err := f.call(t)
	require.NoError(t, err)
	require.Equal(t, "v1", got)
	require.Eventually(t, func() bool { return ratingsEndpoint(t, f.mesh).Failures == 1 }, 10*time.Second, time.Millisecond,
		"the copy failed")
	assert.Equal(t, "healthy", ratingsEndpoint(t, f.mesh).Health, "a copy's failure ejects nothing")
	shadow.failAll(codes.OK)
	// The copy's outcome is counted before it gives back its place under
	// ratings' limit of one request: wait for that, or the direct call
	// below may overflow (as it did on a loaded machine).
	require.Eventually(t, func() bool { a, _ := switchyard.Outstanding(f.mesh, "ratings"); return a == 0 }, 10*time.Second, time.Millisecond)
	got, err = f.call(t, "x-direct", "1")
	require.NoError(t, err)
	assert.Equal(t, "v3", got)
}

// A mirrored copy of a gRPC call is admitted by its cluster's limits, as
// an HTTP copy is.
func TestGRPCMirrorIsAdmittedByTheClusterLimits(t *testing.T) {
	f := newGRPCFixture(t, grpcMirroredRatings)
	f.backend["v3"].hangAll(true)
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "x-direct", "1"))
	held := make(chan error, 1)
	go func() {
		_, err := f.client.UnaryCall(ctx, &testpb.SimpleRequest{})
		held <- err
	}()
	require.Eventually(t, func() bool { a, _ := switchyard.Outstanding(f.mesh, "ratings"); return a == 1 }, 10*time.Second, time.Millisecond)
	got, err := f.call(t)
	require.NoError(t, err)
	require.Equal(t, "v1", got)
	require.Eventually(t, func() bool { return switchyard.Overflows(f.mesh, "ratings") == 1 }, 10*time.Second, time.Millisecond,
		"the copy overflows the limit the direct call fills")
	cancel()
	<-held
}
