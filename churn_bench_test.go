package switchyard_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// fleetCache keeps the parsed fleet meshes (meshYAML) of each size, which
// take seconds to build at 5000 services.
var fleetCache sync.Map // int → switchyard.Config

func fleetConfig(tb testing.TB, n int) switchyard.Config {
	if c, ok := fleetCache.Load(n); ok {
		return c.(switchyard.Config)
	}
	cfg, err := switchyard.Parse(meshYAML(n))
	if err != nil {
		tb.Fatal(err)
	}
	fleetCache.Store(n, cfg)
	return cfg
}

// withVSTimeout returns cfg with the timeout of the first route of
// VirtualService i set to d: one VirtualService changed.
func withVSTimeout(cfg switchyard.Config, i int, d time.Duration) switchyard.Config {
	out := cfg
	out.VirtualServices = append(cfg.VirtualServices[:0:0], cfg.VirtualServices...)
	vs := &out.VirtualServices[i]
	vs.HTTP = append(vs.HTTP[:0:0], vs.HTTP...)
	vs.HTTP[0].Timeout = d
	return out
}

// withEndpoints returns cfg with the endpoints of ServiceEntry i moved to
// the addresses 10.250.x.(gen+e): one host's endpoints changed.
func withEndpoints(cfg switchyard.Config, i, gen int) switchyard.Config {
	out := cfg
	out.ServiceEntries = append(cfg.ServiceEntries[:0:0], cfg.ServiceEntries...)
	se := &out.ServiceEntries[i]
	se.Endpoints = append(se.Endpoints[:0:0], se.Endpoints...)
	for e := range se.Endpoints {
		se.Endpoints[e].Address = fmt.Sprintf("10.250.%d.%d", gen%200, e+1)
	}
	return out
}

var fleetSizes = []int{100, 1000, 5000}

// BenchmarkUpdate measures Update on the fleet mesh of meshYAML: with
// nothing changed (the same configuration, or an equal one parsed again,
// as a file watcher gives), with one VirtualService changed, and with the
// endpoints of one host changed.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range fleetSizes {
		cfg := fleetConfig(b, n)
		b.Run(fmt.Sprintf("unchanged/N=%d", n), func(b *testing.B) {
			m, err := switchyard.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if err := m.Update(cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
		if n <= 1000 { // parsing 5000 services again takes seconds
			b.Run(fmt.Sprintf("unchanged-reparsed/N=%d", n), func(b *testing.B) {
				m, err := switchyard.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				again, err := switchyard.Parse(meshYAML(n)) // equal, sharing no memory with cfg
				if err != nil {
					b.Fatal(err)
				}
				alt := [2]switchyard.Config{again, cfg}
				b.ReportAllocs()
				defer reportCPU(b)()
				i := 0
				for b.Loop() {
					i++
					if err := m.Update(alt[i&1]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("oneVS/N=%d", n), func(b *testing.B) {
			m, err := switchyard.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			alt := [2]switchyard.Config{withVSTimeout(cfg, n/2, 3*time.Second), withVSTimeout(cfg, n/2, 4*time.Second)}
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				i++
				if err := m.Update(alt[i&1]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("oneHostEndpoints/N=%d", n), func(b *testing.B) {
			m, err := switchyard.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			alt := [2]switchyard.Config{withEndpoints(cfg, n/2, 1), withEndpoints(cfg, n/2, 2)}
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				i++
				if err := m.Update(alt[i&1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew measures building the fleet mesh from a parsed config.
func BenchmarkNew(b *testing.B) {
	for _, n := range []int{1000} {
		cfg := fleetConfig(b, n)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				m, err := switchyard.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
			}
		})
	}
}

// BenchmarkHeapPerEndpoint reports the heap a built fleet mesh holds per
// endpoint (10 per service; the parsed Config excluded) as bytes/endpoint.
func BenchmarkHeapPerEndpoint(b *testing.B) {
	for _, n := range fleetSizes {
		cfg := fleetConfig(b, n)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = float64(meshHeap(b, cfg)) / float64(endpointCount(cfg))
			}
			b.ReportMetric(per, "bytes/endpoint")
		})
	}
}

func endpointCount(cfg switchyard.Config) (n int) {
	for _, se := range cfg.ServiceEntries {
		n += len(se.Endpoints)
	}
	return n
}

// meshHeap returns the heap a mesh built from cfg holds.
func meshHeap(tb testing.TB, cfg switchyard.Config) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := switchyard.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	m.Close()
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkSetEndpoints measures the endpoint fast path: one host of the
// fleet mesh, 10 endpoints, one of which changes address each time.
func BenchmarkSetEndpoints(b *testing.B) {
	for _, n := range fleetSizes {
		cfg := fleetConfig(b, n)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			m, err := switchyard.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			se := cfg.ServiceEntries[n/2]
			a := se.Endpoints
			c := append([]subset.WorkloadEntry(nil), a...)
			c[0].Address = "10.251.0.1"
			alt := [2][]subset.WorkloadEntry{a, c}
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				i++
				if err := m.SetEndpoints(se.Hosts[0], alt[i&1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withMoreEndpoints returns cfg with k more endpoints per ServiceEntry,
// alternately v1 and v2.
func withMoreEndpoints(cfg switchyard.Config, k int) switchyard.Config {
	out := cfg
	out.ServiceEntries = append(cfg.ServiceEntries[:0:0], cfg.ServiceEntries...)
	for i := range out.ServiceEntries {
		se := &out.ServiceEntries[i]
		eps := append(se.Endpoints[:0:0], se.Endpoints...)
		for e := range k {
			eps = append(eps, subset.WorkloadEntry{Address: fmt.Sprintf("10.%d.%d.%d", 128+i>>8&127, i&255, e+1),
				Labels: se.Endpoints[e%len(se.Endpoints)].Labels})
		}
		se.Endpoints = eps
	}
	return out
}

// withMoreRoutes returns cfg with k more routes per VirtualService, each
// matching a header and going to a subset.
func withMoreRoutes(cfg switchyard.Config, k int) switchyard.Config {
	out := cfg
	out.VirtualServices = append(cfg.VirtualServices[:0:0], cfg.VirtualServices...)
	for i := range out.VirtualServices {
		vs := &out.VirtualServices[i]
		extra := make([]route.HTTPRoute, 0, len(vs.HTTP)+k)
		for r := range k {
			hr := vs.HTTP[0]
			hr.Name = fmt.Sprintf("extra%d", r)
			hr.Match = []match.Request{{Headers: map[string]*match.StringMatch{"x-route": match.Exact(fmt.Sprint(r))}}}
			extra = append(extra, hr)
		}
		vs.HTTP = append(extra, vs.HTTP...)
	}
	return out
}

// BenchmarkHeapMarginal reports what one more endpoint and one more route
// cost in heap: the difference between the fleet mesh with 10 more
// endpoints per service (resp. 10 more routes per VirtualService) and
// without, divided by their number.
func BenchmarkHeapMarginal(b *testing.B) {
	for _, n := range fleetSizes {
		cfg := fleetConfig(b, n)
		more, routes := withMoreEndpoints(cfg, 10), withMoreRoutes(cfg, 10)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var perEndpoint, perRoute float64
			for b.Loop() {
				base := meshHeap(b, cfg)
				perEndpoint = float64(meshHeap(b, more)-base) / float64(10*n)
				perRoute = float64(meshHeap(b, routes)-base) / float64(10*n)
			}
			b.ReportMetric(perEndpoint, "bytes/endpoint")
			b.ReportMetric(perRoute, "bytes/route")
		})
	}
}

// reportCPU reports the process CPU time per operation (user and system)
// from now until the returned function runs: on a machine shared with
// other work, a steadier measure than the wall time. It includes the
// garbage collector's and any background goroutine's time.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((processCPU(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// withLoopbackEndpoints returns cfg with the endpoints of ServiceEntry i
// replaced by two on loopback, one per version, at the ports of v1 and v2.
func withLoopbackEndpoints(cfg switchyard.Config, i int, v1, v2 uint32) switchyard.Config {
	out := cfg
	out.ServiceEntries = append(cfg.ServiceEntries[:0:0], cfg.ServiceEntries...)
	se := &out.ServiceEntries[i]
	se.Endpoints = []subset.WorkloadEntry{
		{Address: "127.0.0.1", Ports: map[string]uint32{"http": v1}, Labels: map[string]string{"version": "v1"}},
		{Address: "127.0.0.1", Ports: map[string]uint32{"http": v2}, Labels: map[string]string{"version": "v2"}},
	}
	return out
}

// BenchmarkRequestLatencyUnderUpdates measures the latency of requests
// through the mesh (N=1000, the mesh's own transports, two backends on
// loopback), one after another, in alternating blocks of 100 ms: quiet,
// and while an Update with one VirtualService changed arrives every 10 ms. Both are measured in one run,
// block by block, so that the machine's load weighs on both alike. It
// reports p50 and p99 of each and the ratio of the p99s (goal: ≤ 1.10).
// Bounded: b.N requests, each with a 5 s timeout; the updater stops
// before the benchmark returns.
func BenchmarkRequestLatencyUnderUpdates(b *testing.B) {
	const n, block = 1000, 100 * time.Millisecond
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	s1, s2 := httptest.NewServer(ok), httptest.NewServer(ok)
	defer s1.Close()
	defer s2.Close()
	cfg := withLoopbackEndpoints(fleetConfig(b, n), 0, serverPort(b, s1), serverPort(b, s2))
	m, err := switchyard.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: m.Transport(nil), Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	alt := [2]switchyard.Config{withVSTimeout(cfg, n/2, 3*time.Second), withVSTimeout(cfg, n/2, 4*time.Second)}

	var churning atomic.Bool
	var updates atomic.Int64
	var updateErr atomic.Pointer[error] // the first failed update, reported at the end
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if churning.Load() {
				if err := m.Update(alt[i&1]); err != nil {
					updateErr.CompareAndSwap(nil, &err)
					return
				}
				updates.Add(1)
			}
		}
	}()
	defer wg.Wait()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop) // on a failure before the end
		}
	}()

	get := func() time.Duration {
		start := time.Now()
		resp, err := client.Get("http://svc0.mesh.svc.cluster.local:8080/")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	get() // connections made before measuring
	var quiet, churn []time.Duration
	b.ResetTimer()
	on, switched := false, time.Now()
	for range b.N {
		if time.Since(switched) >= block {
			on, switched = !on, time.Now()
			churning.Store(on)
		}
		d := get()
		if on {
			churn = append(churn, d)
		} else {
			quiet = append(quiet, d)
		}
	}
	b.StopTimer()
	churning.Store(false)
	close(stop)
	wg.Wait()
	if err := updateErr.Load(); err != nil {
		b.Fatal(*err)
	}
	if len(quiet) == 0 || len(churn) == 0 {
		return // b.N too small for both
	}
	q50, q99 := percentiles(quiet)
	c50, c99 := percentiles(churn)
	b.ReportMetric(float64(q50.Microseconds()), "quiet-p50-µs")
	b.ReportMetric(float64(q99.Microseconds()), "quiet-p99-µs")
	b.ReportMetric(float64(c50.Microseconds()), "updating-p50-µs")
	b.ReportMetric(float64(c99.Microseconds()), "updating-p99-µs")
	b.ReportMetric(float64(c99)/float64(q99), "p99-ratio")
	b.ReportMetric(float64(updates.Load()), "updates")
}

// percentiles returns the 50th and 99th percentiles of ds (not empty),
// which it sorts, by the nearest rank (the p99 of 100 values is the 99th).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	return ds[(len(ds)+1)/2-1], ds[(len(ds)*99+99)/100-1]
}

func serverPort(tb testing.TB, s *httptest.Server) uint32 {
	_, p, err := net.SplitHostPort(s.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		tb.Fatal(err)
	}
	return uint32(port)
}
