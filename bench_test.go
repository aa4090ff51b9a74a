package switchyard_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/israce"
)

// realisticTable is DESIGN.md's benchmark table (testdata/realistic.yaml):
// ten routes with header, prefix and regex matches ahead of a weighted split
// over three subsets, least-request balancing.
var realisticTable = func() string {
	b, err := os.ReadFile("testdata/realistic.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// bareTransport answers every request with one preallocated response: the
// floor against which the mesh's overhead is measured.
type bareTransport struct{ resp *http.Response }

func newBare() *bareTransport {
	return &bareTransport{resp: &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
}

func (b *bareTransport) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

// resettingBare is bareTransport for routes with a timeout, whose mesh
// wraps the response body to release the timeout on Close: it restores the
// shared response's body each time, so that wrappers do not pile up.
type resettingBare struct{ *bareTransport }

func (b resettingBare) RoundTrip(*http.Request) (*http.Response, error) {
	b.resp.Body = http.NoBody
	return b.resp, nil
}

// armedTable is realisticTable with the catch-all route's resilience armed
// but idle: explicit retries that do not fire and faults at 0%.
var armedTable = strings.Replace(realisticTable, `  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}`, `  - retries: {attempts: 3, retryOn: "5xx,reset,connect-failure"}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 0}}
      abort: {httpStatus: 503, percentage: {value: 0}}
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}`, 1)

func realisticMesh(tb testing.TB, opts ...switchyard.Option) *switchyard.Mesh {
	return tableMesh(tb, realisticTable, opts...)
}

func tableMesh(tb testing.TB, table string, opts ...switchyard.Option) *switchyard.Mesh {
	tb.Helper()
	b, err := os.ReadFile("testdata/bookinfo.yaml")
	require.NoError(tb, err)
	cfg, err := switchyard.Parse(append(b, []byte("\n---\n"+table)...))
	require.NoError(tb, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { m.Close() })
	return m
}

// spreadMesh is the realistic table over nine endpoints, three per subset,
// where realisticMesh has one per subset: fewer requests share one
// endpoint's counters.
func spreadMesh(tb testing.TB, opts ...switchyard.Option) *switchyard.Mesh {
	m := realisticMesh(tb, opts...)
	cfg := m.Config().Clone()
	se := cfg.ServiceEntries[0]
	eps := slices.Clone(se.Endpoints)
	for i := 4; i <= 9; i++ {
		e := eps[(i-1)%3]
		e.Address = fmt.Sprintf("10.0.0.%d", i)
		eps = append(eps, e)
	}
	se.Endpoints = eps
	cfg.ServiceEntries[0] = se
	require.NoError(tb, m.Update(cfg))
	return m
}

func benchRequest() *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/1?page=2", nil)
	req.Header.Set("User-Agent", "Go-http-client/1.1")
	req.Header.Set("Accept", "application/json")
	return req
}

// TestTransportAllocationBudget enforces DESIGN.md's budget for the
// decision overhead: 0 allocations with the mesh's own per-endpoint
// transports, at most 2 with a base transport (the request copy is 1).
func TestTransportAllocationBudget(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	bare := newBare()
	req := benchRequest()
	floor := testing.AllocsPerRun(1000, func() { bare.RoundTrip(req) })

	own := realisticMesh(t, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil)
	allocs := testing.AllocsPerRun(1000, func() {
		resp, err := own.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
	})
	assert.Zero(t, allocs-floor, "own transports, no header operations: 0 allocations")

	armed := tableMesh(t, armedTable, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil)
	allocs = testing.AllocsPerRun(1000, func() {
		resp, err := armed.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
	})
	assert.Zero(t, allocs-floor, "retries armed but not firing, faults at 0%: 0 allocations")

	withBase := realisticMesh(t).Transport(bare)
	allocs = testing.AllocsPerRun(1000, func() {
		resp, err := withBase.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
	})
	assert.LessOrEqual(t, allocs-floor, 2.0, "with a base transport: at most 2 allocations")
}

// timedTable is realisticTable with a one-hour route timeout on the
// catch-all route (long enough never to fire while a benchmark runs).
var timedTable = strings.Replace(realisticTable, `  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}`, `  - timeout: 1h
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}`, 1)

// A route timeout costs a timer, a context and the request copy that
// carries it — unless the caller's own deadline comes first, when the route
// timeout could never fire and the mesh adds nothing.
func TestRouteTimeoutUnderAnEarlierCallerDeadlineAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	bare := resettingBare{newBare()}
	rt := tableMesh(t, timedTable, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil)
	allocs := func(deadline time.Duration) float64 {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		req := benchRequest().WithContext(ctx)
		return testing.AllocsPerRun(1000, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatal(resp, err)
			}
			resp.Body.Close()
		})
	}
	assert.Zero(t, allocs(time.Minute), "the caller's deadline comes before the route's hour")
	assert.Positive(t, allocs(2*time.Hour), "the route's hour comes first: its timer and context")
}

func BenchmarkTransport(b *testing.B) {
	bare := newBare()
	callerDeadline, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cases := []struct {
		name string
		rt   http.RoundTripper
		ctx  context.Context // the request's, if not Background
	}{
		{"bare", bare, nil},
		{"mesh/own-transports", realisticMesh(b, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil), nil},
		{"mesh/base", realisticMesh(b).Transport(bare), nil},
		{"mesh/own-transports/armed", tableMesh(b, armedTable, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil), nil},
		{"mesh/own-transports/spread", spreadMesh(b, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare })).Transport(nil), nil},
		{"mesh/own-transports/metrics", realisticMesh(b, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare }),
			switchyard.WithMeterProvider(benchMeterProvider(b))).Transport(nil), nil},
		{"mesh/own-transports/traces+metrics", realisticMesh(b, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare }),
			switchyard.WithMeterProvider(benchMeterProvider(b)), switchyard.WithTracerProvider(benchTracerProvider(b))).Transport(nil), nil},
		{"mesh/own-transports/route-timeout", tableMesh(b, timedTable, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return resettingBare{newBare()} })).Transport(nil), nil},
		{"mesh/own-transports/route-timeout/caller-deadline-first", tableMesh(b, timedTable, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return resettingBare{newBare()} })).Transport(nil), callerDeadline},
	}
	request := func(ctx context.Context) *http.Request {
		if ctx == nil {
			return benchRequest()
		}
		return benchRequest().WithContext(ctx)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := request(c.ctx)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close() // releases a route timeout
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := request(c.ctx)
				for pb.Next() {
					resp, err := c.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			})
		})
	}
}

func BenchmarkRouteMatch(b *testing.B) {
	// Where in a long table the matching route sits, against a table of
	// exact-path routes: the cost of a linear scan.
	for _, n := range []int{1, 10, 100, 1000, 10000} {
		var sb strings.Builder
		sb.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n")
		for i := range n {
			fmt.Fprintf(&sb, "  - match: [{uri: {prefix: /r%d/}}]\n    route: [{destination: {host: reviews, subset: v1}}]\n", i)
		}
		src, err := os.ReadFile("testdata/bookinfo.yaml")
		require.NoError(b, err)
		cfg, err := switchyard.Parse(append(src, []byte("\n---\n"+sb.String())...))
		require.NoError(b, err)
		bare := newBare()
		m, err := switchyard.New(cfg, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return bare }))
		require.NoError(b, err)
		rt := m.Transport(nil)
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://reviews:9080/r%d/x", n-1), nil)
		b.Run(fmt.Sprintf("routes=%d/last", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rt.RoundTrip(req)
			}
		})
		b.Run(fmt.Sprintf("routes=%d/last/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := req.Clone(context.Background())
				for pb.Next() {
					rt.RoundTrip(req)
				}
			})
		})
		m.Close()
	}
}

// benchMeterProvider is the OTel SDK's meter provider with a reader that is
// never collected: the cost of recording.
func benchMeterProvider(b *testing.B) *sdkmetric.MeterProvider {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

// benchTracerProvider is the OTel SDK's tracer provider sampling every span
// into a batch processor with an exporter that drops them: the cost of
// making spans, as a production setup pays it on the request's goroutine.
func benchTracerProvider(b *testing.B) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
