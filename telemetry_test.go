package switchyard_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/israce"
	"github.com/switchyard-go/switchyard/meshtest"
)

// otelRig is an OpenTelemetry SDK recording in memory: spans as they end,
// metrics when read.
type otelRig struct {
	t      *testing.T
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newOtelRig(t *testing.T) *otelRig {
	r := &otelRig{t: t, spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = r.mp.Shutdown(context.Background())
	})
	return r
}

func (r *otelRig) options() []switchyard.Option {
	return []switchyard.Option{switchyard.WithTracerProvider(r.tp), switchyard.WithMeterProvider(r.mp)}
}

func (r *otelRig) collect() metricdata.ResourceMetrics {
	r.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(r.t, r.reader.Collect(context.Background(), &rm))
	return rm
}

func find(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds the points of counter or gauge name whose attributes include
// want.
func (r *otelRig) sum(name string, want ...attribute.KeyValue) int64 {
	r.t.Helper()
	m, ok := find(r.collect(), name)
	if !ok {
		return 0
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		return addPoints(d.DataPoints, want)
	case metricdata.Gauge[int64]:
		return addPoints(d.DataPoints, want)
	}
	r.t.Fatalf("%s is a %T", name, m.Data)
	return 0
}

func addPoints(points []metricdata.DataPoint[int64], want []attribute.KeyValue) int64 {
	var n int64
	for _, p := range points {
		if hasAll(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

// count adds the counts of histogram name's points whose attributes
// include want.
func (r *otelRig) count(name string, want ...attribute.KeyValue) uint64 {
	r.t.Helper()
	m, ok := find(r.collect(), name)
	if !ok {
		return 0
	}
	var n uint64
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if hasAll(p.Attributes, want) {
			n += p.Count
		}
	}
	return n
}

// ended returns the ended spans named name.
func (r *otelRig) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func events(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

var (
	kRoute  = attribute.Key("switchyard.route")
	kHost   = attribute.Key("switchyard.destination.host")
	kSubset = attribute.Key("switchyard.destination.subset")
	kStatus = attribute.Key("http.response.status_code")
)

const toV2 = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: to-v2
    route: [{destination: {host: reviews, subset: v2}}]
`

func TestTelemetryRoutedRequest(t *testing.T) {
	rig := newOtelRig(t)
	f := newFixture(t, toV2, rig.options()...)
	resp, _ := f.get("http://reviews:9080/x")
	require.Equal(t, 200, resp.StatusCode)

	routeSpans, attempts := rig.ended("route to-v2"), rig.ended("GET")
	require.Len(t, routeSpans, 1)
	require.Len(t, attempts, 1)
	rs, as := routeSpans[0], attempts[0]
	assert.Equal(t, trace.SpanKindInternal, rs.SpanKind())
	assert.Equal(t, "to-v2", attr(rs, "switchyard.route").AsString())
	assert.Equal(t, "reviews", attr(rs, "switchyard.destination.host").AsString())
	assert.Equal(t, "v2", attr(rs, "switchyard.destination.subset").AsString())
	assert.Equal(t, "outbound|9080|v2|reviews", attr(rs, "switchyard.cluster").AsString())
	assert.Equal(t, int64(200), attr(rs, "http.response.status_code").AsInt64())

	assert.Equal(t, trace.SpanKindClient, as.SpanKind())
	assert.Equal(t, rs.SpanContext().SpanID(), as.Parent().SpanID(), "the attempt is a child of the request")
	assert.Equal(t, "10.0.0.2:9080", attr(as, "switchyard.endpoint").AsString())
	assert.Equal(t, int64(1), attr(as, "switchyard.attempt").AsInt64())
	assert.Equal(t, int64(200), attr(as, "http.response.status_code").AsInt64())

	// W3C trace context reaches the backend, naming the attempt span.
	reqs := f.backend["v2"].Requests()
	require.Len(t, reqs, 1)
	want := "00-" + as.SpanContext().TraceID().String() + "-" + as.SpanContext().SpanID().String() + "-01"
	assert.Equal(t, want, reqs[0].Header.Get("Traceparent"))

	assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("to-v2"), kHost.String("reviews"), kSubset.String("v2"), kStatus.Int(200)))
	assert.Equal(t, uint64(1), rig.count("switchyard.request.duration", kSubset.String("v2")))
	assert.Equal(t, uint64(1), rig.count("http.client.request.duration",
		attribute.String("http.request.method", "GET"), attribute.String("server.address", "reviews"), kSubset.String("v2"), kStatus.Int(200)))
	assert.Equal(t, int64(1), rig.sum("switchyard.config.updates", attribute.String("switchyard.update.result", "applied")))
}

// The caller's own span is the parent of the request span, and the trace
// continues upstream.
func TestTelemetryContinuesTheCallersTrace(t *testing.T) {
	rig := newOtelRig(t)
	f := newFixture(t, toV2, rig.options()...)
	ctx, parent := rig.tp.Tracer("caller").Start(context.Background(), "handler")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://reviews:9080/", nil)
	require.NoError(t, err)
	f.do(req)
	parent.End()
	rs := rig.ended("route to-v2")
	require.Len(t, rs, 1)
	assert.Equal(t, parent.SpanContext().TraceID(), rs[0].SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), rs[0].Parent().SpanID())
}

func TestTelemetryRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newOtelRig(t)
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: retried
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v1}}]
`, rig.options()...)
		f.backend["v1"].FailFirst(2, 503)
		resp, _ := f.get("http://reviews:9080/")
		require.Equal(t, 200, resp.StatusCode)

		attempts := rig.ended("GET")
		require.Len(t, attempts, 3)
		slices.SortFunc(attempts, func(a, b sdktrace.ReadOnlySpan) int {
			return int(attr(a, "switchyard.attempt").AsInt64() - attr(b, "switchyard.attempt").AsInt64())
		})
		for i, a := range attempts {
			assert.Equal(t, int64(i+1), attr(a, "switchyard.attempt").AsInt64())
		}
		assert.Equal(t, int64(503), attr(attempts[0], "http.response.status_code").AsInt64())
		assert.Empty(t, events(attempts[0]))
		for _, a := range attempts[1:] {
			assert.Equal(t, "503", attr(a, "switchyard.retry.reason").AsString())
			assert.Equal(t, []string{"retry"}, events(a))
		}
		assert.Equal(t, int64(2), attr(attempts[2], "http.request.resend_count").AsInt64())

		assert.Equal(t, int64(2), rig.sum("switchyard.retries", kRoute.String("retried"), attribute.String("switchyard.retry.reason", "503")))
		assert.Equal(t, uint64(2), rig.count("http.client.request.duration", kStatus.Int(503)))
		assert.Equal(t, uint64(1), rig.count("http.client.request.duration", kStatus.Int(200)))
		assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("retried")), "one request, three attempts")
	})
}

func TestTelemetryFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newOtelRig(t)
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: aborted
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: delayed
    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
`, rig.options()...)
		resp, _ := f.get("http://reviews:9080/abort")
		require.Equal(t, 418, resp.StatusCode)
		resp, _ = f.get("http://reviews:9080/slow")
		require.Equal(t, 200, resp.StatusCode)

		aborted := rig.ended("route aborted")
		require.Len(t, aborted, 1)
		assert.Equal(t, []string{"fault"}, events(aborted[0]))
		assert.Equal(t, "abort", attr(aborted[0], "switchyard.fault").AsString())
		assert.Equal(t, int64(418), attr(aborted[0], "http.response.status_code").AsInt64())
		delayed := rig.ended("route delayed")
		require.Len(t, delayed, 1)
		assert.Equal(t, "delay", attr(delayed[0], "switchyard.fault").AsString())
		assert.Equal(t, 2*time.Second, delayed[0].EndTime().Sub(delayed[0].StartTime()), "the span covers the delay")
		assert.Len(t, rig.ended("GET"), 1, "the aborted request sent no attempt")

		assert.Equal(t, int64(1), rig.sum("switchyard.faults", kRoute.String("aborted"), attribute.String("switchyard.fault", "abort"), kStatus.Int(418)))
		assert.Equal(t, int64(1), rig.sum("switchyard.faults", kRoute.String("delayed"), attribute.String("switchyard.fault", "delay")))
		assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("aborted"), kStatus.Int(418)))
	})
}

func TestTelemetryOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newOtelRig(t)
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  ports: [{number: 8000, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, ports: {http: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}
`, rig.options()...)
		f.backend["v1"].Delay(time.Second)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { f.get("http://httpbin:8000/") })
			synctest.Wait()
		}
		resp, _ := f.get("http://httpbin:8000/")
		require.Equal(t, 503, resp.StatusCode)
		wg.Wait()

		assert.Equal(t, int64(1), rig.sum("switchyard.overflows", kHost.String("httpbin"), kSubset.String("")))
		assert.Equal(t, int64(1), rig.sum("switchyard.requests", kStatus.Int(503), attribute.String("error.type", "overflow")))
		var overflowed int
		for _, a := range rig.ended("GET") {
			if slices.Contains(events(a), "overflow") {
				overflowed++
				assert.Equal(t, "overflow", attr(a, "error.type").AsString())
			}
		}
		assert.Equal(t, 1, overflowed)
	})
}

func TestTelemetryEjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newOtelRig(t)
		opts := append(rig.options(), switchyard.WithRand(meshtest.NewRand(4)))
		f := newFixture(t, ejectionMesh, opts...)
		f.backend["v2"].Respond(500)
		for range 30 {
			f.get("http://ratings:9080/")
		}
		ratings := []attribute.KeyValue{kHost.String("ratings"), kSubset.String("")}
		assert.Equal(t, int64(1), rig.sum("switchyard.ejections", append(ratings, attribute.String("switchyard.ejection.reason", "consecutive-5xx"))...))
		assert.Equal(t, int64(1), rig.sum("switchyard.endpoints.ejected", ratings...))
		var ejecting []string
		for _, a := range rig.ended("GET") {
			if slices.Contains(events(a), "ejected") {
				ejecting = append(ejecting, attr(a, "switchyard.endpoint").AsString())
			}
		}
		assert.Equal(t, []string{"10.0.0.2:9080"}, ejecting, "the attempt whose 5xx ejected its endpoint says so")

		time.Sleep(30 * time.Second) // the sweep returns it
		synctest.Wait()
		assert.Equal(t, int64(0), rig.sum("switchyard.endpoints.ejected", ratings...))
	})
}

func TestTelemetryCountsUpdates(t *testing.T) {
	rig := newOtelRig(t)
	f := newFixture(t, toV2, rig.options()...)
	bad := f.mesh.Config()
	bad.VirtualServices = slices.Clone(bad.VirtualServices)
	bad.VirtualServices[0].HTTP = nil
	require.Error(t, f.mesh.Update(bad))
	require.NoError(t, f.mesh.Update(f.mesh.Config()))
	result := attribute.Key("switchyard.update.result")
	assert.Equal(t, int64(2), rig.sum("switchyard.config.updates", result.String("applied")))
	assert.Equal(t, int64(1), rig.sum("switchyard.config.updates", result.String("rejected")))
}

// No-op providers cost a request nothing, and the SDK's metrics add no
// allocation of ours: the allocation budget holds.
func TestTelemetryNoopProvidersKeepTheAllocationBudget(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	bare := newBare()
	req := benchRequest()
	floor := testing.AllocsPerRun(1000, func() { bare.RoundTrip(req) })
	for name, opts := range map[string][]switchyard.Option{
		"global defaults": nil,
		"no-op providers": {switchyard.WithTracerProvider(tracenoop.NewTracerProvider()), switchyard.WithMeterProvider(metricnoop.NewMeterProvider())},
		"SDK metrics":     {switchyard.WithMeterProvider(newOtelRig(t).mp)},
	} {
		rt := realisticMesh(t, append(opts, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare }))...).Transport(nil)
		allocs := testing.AllocsPerRun(1000, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatal(resp, err)
			}
		})
		assert.Zero(t, allocs-floor, "%s: 0 allocations", name)
	}
}

func TestTelemetryGRPC(t *testing.T) {
	rig := newOtelRig(t)
	f := newGRPCFixture(t, grpcVS(`
  - name: grpc-retried
    match: [{uri: {prefix: /grpc.testing.TestService/Unary}}]
    retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: grpc-aborted
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
`), rig.options()...)
	b := f.backend["v1"]
	b.failFirst, b.failCode = 2, codes.Unavailable
	got, err := f.call(t)
	require.NoError(t, err)
	require.Equal(t, "v1", got)

	rs := rig.ended("route grpc-retried")
	require.Len(t, rs, 1)
	assert.Equal(t, "v1", attr(rs[0], "switchyard.destination.subset").AsString())
	assert.Equal(t, int64(0), attr(rs[0], "rpc.grpc.status_code").AsInt64())
	attempts := rig.ended("/grpc.testing.TestService/UnaryCall")
	require.Len(t, attempts, 3)
	for _, a := range attempts {
		assert.Equal(t, rs[0].SpanContext().SpanID(), a.Parent().SpanID())
		assert.Equal(t, "10.0.0.1:9080", attr(a, "switchyard.endpoint").AsString(), "the endpoint the picker chose")
	}
	// Each attempt's trace context reached the server.
	b.mu.Lock()
	parents := slices.Clone(b.parents)
	b.mu.Unlock()
	require.Len(t, parents, 3)
	for _, a := range attempts {
		assert.Contains(t, parents, "00-"+a.SpanContext().TraceID().String()+"-"+a.SpanContext().SpanID().String()+"-01")
	}
	assert.Equal(t, int64(2), rig.sum("switchyard.retries", kRoute.String("grpc-retried"), attribute.String("switchyard.retry.reason", "Unavailable")))
	assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("grpc-retried"), kSubset.String("v1"), attribute.Int("rpc.grpc.status_code", 0)))
	// Each attempt is a point of OTel's rpc.client.call.duration.
	attempt := []attribute.KeyValue{kRoute.String("grpc-retried"), attribute.String("server.address", "reviews"), kSubset.String("v1"),
		attribute.String("rpc.method", "/grpc.testing.TestService/UnaryCall")}
	assert.Equal(t, uint64(2), rig.count("rpc.client.call.duration", append(attempt, attribute.Int("rpc.grpc.status_code", int(codes.Unavailable)))...))
	assert.Equal(t, uint64(1), rig.count("rpc.client.call.duration", append(attempt, attribute.Int("rpc.grpc.status_code", 0))...))

	_, err = f.client.EmptyCall(context.Background(), &testpb.Empty{})
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	ab := rig.ended("route grpc-aborted")
	require.Len(t, ab, 1)
	assert.Equal(t, []string{"fault"}, events(ab[0]))
	assert.Equal(t, int64(1), rig.sum("switchyard.faults", kRoute.String("grpc-aborted"), attribute.String("switchyard.fault", "abort")))
	assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("grpc-aborted"), attribute.Int("rpc.grpc.status_code", int(codes.ResourceExhausted))))
}

func TestTelemetryGRPCEjection(t *testing.T) {
	rig := newOtelRig(t)
	f := newGRPCFixture(t, grpcEjectingRatings, append(rig.options(), switchyard.WithRand(meshtest.NewRand(6)))...)
	f.warm(t)
	rig.spans.Reset()
	f.backend["v2"].fail = codes.Internal // INTERNAL counts as 500
	for range 30 {
		f.call(t)
	}
	attempts := rig.ended("/grpc.testing.TestService/UnaryCall")
	require.Len(t, attempts, 30)
	var ejecting []string
	toV2 := 0
	for _, a := range attempts {
		ep := attr(a, "switchyard.endpoint").AsString()
		assert.Contains(t, []string{"10.0.0.1:9080", "10.0.0.2:9080", "10.0.0.3:9080"}, ep)
		if ep == "10.0.0.2:9080" {
			toV2++
			assert.Equal(t, int64(codes.Internal), attr(a, "rpc.grpc.status_code").AsInt64())
		}
		if slices.Contains(events(a), "ejected") {
			ejecting = append(ejecting, ep)
		}
	}
	assert.Equal(t, 3, toV2, "ejected at its third consecutive INTERNAL")
	assert.Equal(t, []string{"10.0.0.2:9080"}, ejecting, "the attempt whose INTERNAL ejected its endpoint says so")
	assert.Equal(t, int64(1), rig.sum("switchyard.ejections", kHost.String("ratings"), kSubset.String(""),
		attribute.String("switchyard.ejection.reason", "consecutive-5xx")))
}

func TestTelemetryGRPCStream(t *testing.T) {
	rig := newOtelRig(t)
	f := newGRPCFixture(t, grpcVS(`
  - name: streamed
    retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`), rig.options()...)
	b := f.backend["v1"]
	b.failFirst, b.failCode = 1, codes.Unavailable
	stream, err := f.client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("a")}}))
	_, err = stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)

	rs := rig.ended("route streamed")
	require.Len(t, rs, 1, "the request span ends with the stream")
	assert.Equal(t, int64(0), attr(rs[0], "rpc.grpc.status_code").AsInt64())
	attempts := rig.ended("/grpc.testing.TestService/FullDuplexCall")
	require.Len(t, attempts, 2)
	slices.SortFunc(attempts, func(a, b sdktrace.ReadOnlySpan) int {
		return int(attr(a, "switchyard.attempt").AsInt64() - attr(b, "switchyard.attempt").AsInt64())
	})
	assert.Equal(t, int64(codes.Unavailable), attr(attempts[0], "rpc.grpc.status_code").AsInt64())
	assert.Equal(t, "Unavailable", attr(attempts[1], "switchyard.retry.reason").AsString())
	assert.Equal(t, int64(0), attr(attempts[1], "rpc.grpc.status_code").AsInt64())
	for _, a := range attempts {
		assert.Equal(t, rs[0].SpanContext().SpanID(), a.Parent().SpanID())
	}
	assert.Equal(t, int64(1), rig.sum("switchyard.retries", kRoute.String("streamed")))
	assert.Equal(t, uint64(2), rig.count("rpc.client.call.duration", kRoute.String("streamed")), "each open is an attempt")
	assert.Equal(t, int64(1), rig.sum("switchyard.requests", kRoute.String("streamed"), attribute.Int("rpc.grpc.status_code", 0)))
}

// A stream's request span, attempt span and metrics end however the stream
// ends — its context cancelled with nothing more called, a failed SendMsg,
// its ClientConn closed — once each.
func TestTelemetryGRPCStreamEndsHoweverItEnds(t *testing.T) {
	ends := []func(t *testing.T, f *grpcFixture){
		func(t *testing.T, f *grpcFixture) {
			ctx, cancel := context.WithCancel(context.Background())
			s, err := f.client.FullDuplexCall(ctx)
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			_, err = s.Recv()
			require.NoError(t, err)
			cancel()
		},
		func(t *testing.T, f *grpcFixture) {
			s, err := f.client.FullDuplexCall(context.Background(), grpc.MaxCallSendMsgSize(4))
			require.NoError(t, err)
			require.Error(t, s.Send(msg("larger than four bytes")))
		},
		func(t *testing.T, f *grpcFixture) {
			conn, err := grpc.NewClient("reviews:9080", f.dial...)
			require.NoError(t, err)
			s, err := testpb.NewTestServiceClient(conn).FullDuplexCall(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			require.NoError(t, conn.Close())
		},
	}
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			rig := newOtelRig(t)
			f := newGRPCFixtureWith(t, setup, grpcVS(`
  - name: streamed
    retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`), rig.options()...)
			for _, end := range ends {
				end(t, f)
			}
			n := len(ends)
			require.Eventually(t, func() bool { return len(rig.ended("route streamed")) == n }, 10*time.Second, time.Millisecond,
				"every stream's request span ends")
			require.Eventually(t, func() bool { return len(rig.ended("/grpc.testing.TestService/FullDuplexCall")) == n }, 10*time.Second, time.Millisecond,
				"every attempt span ends")
			assert.Equal(t, int64(n), rig.sum("switchyard.requests", kRoute.String("streamed")), "each stream counted once")
			assert.Equal(t, uint64(n), rig.count("rpc.client.call.duration", kRoute.String("streamed")), "each attempt measured once")
		})
	}
}
