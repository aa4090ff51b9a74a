// Command observe is the canary example with its telemetry switched on: the
// OpenTelemetry SDK records the mesh's spans and metrics in memory, and the
// mesh's admin page is served on a loopback port while traffic flows. Half
// way through, one v1 endpoint starts failing (outlier detection ejects it)
// and the canary's weight is raised from 10% to 50% with Mesh.Modify. At the
// end it prints one retried request's trace and the metrics.
//
//	go run ./examples/observe                # 3 seconds of traffic, then exit
//	go run ./examples/observe -hold 5m       # keep the admin page up afterwards
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sync/errgroup"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

//go:embed mesh.yaml
var manifests []byte

func main() {
	duration := flag.Duration("for", 3*time.Second, "how long to send traffic")
	hold := flag.Duration("hold", 0, "how long to keep the admin page up after the traffic")
	addr := flag.String("addr", "127.0.0.1:0", "loopback address for the admin page")
	flag.Parse()
	if err := run(*duration, *hold, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "observe:", err)
		os.Exit(1)
	}
}

func run(duration, hold time.Duration, addr string) error {
	spans := &traceKeeper{byName: map[string]int{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())

	cfg, err := switchyard.Parse(manifests)
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg, switchyard.WithTracerProvider(tp), switchyard.WithMeterProvider(mp))
	if err != nil {
		return err
	}
	defer mesh.Close()

	// The admin page, on loopback only.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/switchyard/", http.StripPrefix("/debug/switchyard", mesh.AdminHandler()))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("admin page: http://%s/debug/switchyard/\n\n", ln.Addr())

	backends := meshtest.NewNetwork()
	backends.Add("10.0.0.1:9080", "v1", nil)
	flaky := backends.Add("10.0.0.2:9080", "v1", nil)
	backends.Add("10.0.0.3:9080", "v2", nil)
	client := &http.Client{Transport: mesh.Transport(backends.Transport())}

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var sent atomic.Int64
	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return load(ctx, client, &sent) })
	}
	// Half way: 10.0.0.2 fails, and the canary gets half the traffic.
	time.Sleep(duration / 2)
	flaky.Respond(http.StatusInternalServerError)
	if err := mesh.Modify(shiftCanary(50)); err != nil {
		return err
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Printf("sent %d requests in %v\n\n", sent.Load(), duration)

	spans.print(os.Stdout)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	printMetrics(os.Stdout, rm)

	if hold > 0 {
		fmt.Printf("\nholding the admin page at http://%s/debug/switchyard/ for %v\n", ln.Addr(), hold)
		time.Sleep(hold)
	}
	return nil
}

// load sends requests, about one per millisecond, until ctx ends.
func load(ctx context.Context, client *http.Client, sent *atomic.Int64) error {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://reviews:9080/reviews/1", nil)
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent.Add(1)
		time.Sleep(time.Millisecond)
	}
	return nil
}

// shiftCanary sets the canary route's v2 weight to percent.
func shiftCanary(percent int32) func(switchyard.Config) (switchyard.Config, error) {
	return func(c switchyard.Config) (switchyard.Config, error) {
		c = c.Clone()
		route := c.VirtualServices[0].HTTP[0].Route
		route[0].Weight, route[1].Weight = 100-percent, percent
		return c, nil
	}
}

// traceKeeper is a span processor that counts spans by name and keeps the
// spans of one request that was retried.
type traceKeeper struct {
	mu     sync.Mutex
	byName map[string]int
	traces map[[16]byte][]sdktrace.ReadOnlySpan
	kept   []sdktrace.ReadOnlySpan
}

func (k *traceKeeper) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (k *traceKeeper) Shutdown(context.Context) error                  { return nil }
func (k *traceKeeper) ForceFlush(context.Context) error                { return nil }

func (k *traceKeeper) OnEnd(s sdktrace.ReadOnlySpan) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byName[s.Name()]++
	if k.kept != nil {
		return
	}
	if k.traces == nil {
		k.traces = map[[16]byte][]sdktrace.ReadOnlySpan{}
	}
	id := s.SpanContext().TraceID()
	k.traces[id] = append(k.traces[id], s)
	if strings.HasPrefix(s.Name(), "route ") {
		// The request span ends last: keep its trace if it was retried.
		if len(k.traces[id]) > 2 {
			k.kept = k.traces[id]
		}
		delete(k.traces, id)
	}
}

func (k *traceKeeper) print(w io.Writer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	names := make([]string, 0, len(k.byName))
	for n := range k.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "spans:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %6d\n", n, k.byName[n])
	}
	if k.kept == nil {
		return
	}
	fmt.Fprintln(w, "\none retried request's trace:")
	spans := slices.Clone(k.kept)
	slices.SortFunc(spans, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	for _, s := range spans {
		indent := "    "
		if strings.HasPrefix(s.Name(), "route ") {
			indent = "  "
		}
		fmt.Fprintf(w, "%s%s %s [%s]", indent, s.Name(), s.EndTime().Sub(s.StartTime()).Round(time.Microsecond), attrs(s.Attributes()))
		for _, e := range s.Events() {
			fmt.Fprintf(w, " event %s", e.Name)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func attrs(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, " ")
}

// printMetrics prints every data point, one line each.
func printMetrics(w io.Writer, rm metricdata.ResourceMetrics) {
	fmt.Fprintln(w, "metrics:")
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var lines []string
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%6d  %s", p.Value, set(p.Attributes)))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%6d  %s", p.Value, set(p.Attributes)))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%6d  mean %.3fms  %s", p.Count, p.Sum/float64(p.Count)*1000, set(p.Attributes)))
				}
			}
			sort.Strings(lines)
			fmt.Fprintf(w, "  %s (%s)\n", m.Name, m.Unit)
			for _, l := range lines {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}

func set(s attribute.Set) string { return attrs(s.ToSlice()) }
