// Command scaling measures what a routed request costs as the
// configuration and the load grow — routes, endpoints, subsets,
// concurrency — and renders each curve as an SVG plot beside a CSV of the
// data. Each point is the median of -reps runs of testing.Benchmark over a
// bare in-memory transport, with min–max as error bars.
//
//	go run ./bench/scaling                    # measure, write bench/results/scaling.csv and scaling-*.svg
//	go run ./bench/scaling -plot-only         # re-render the plots from the CSV
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-go/switchyard"
)

// point is one measured x of one curve.
type point struct {
	curve         string
	x             float64
	med, min, max float64 // ns per request
	allocs        int64
}

// curve describes one question: how the cost moves with x.
type curve struct {
	name, title, xlabel string
	xs                  []int
	// bench returns the benchmark of x and a function that releases what
	// it built, called once testing.Benchmark is done with it (which runs
	// the benchmark function several times).
	bench func(x int) (func(b *testing.B), func())
}

func main() {
	out := flag.String("out", "bench/results", "directory for scaling.csv and the plots")
	reps := flag.Int("reps", 5, "benchmark runs per point")
	benchtime := flag.String("benchtime", "300ms", "testing benchtime per run")
	plotOnly := flag.Bool("plot-only", false, "render the plots from the CSV without measuring")
	flag.Parse()
	testing.Init()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		fail(err)
	}
	csvPath := filepath.Join(*out, "scaling.csv")
	var points []point
	var err error
	if *plotOnly {
		points, err = readCSV(csvPath)
	} else {
		points, err = measure(*reps)
		if err == nil {
			err = writeCSV(csvPath, points)
		}
	}
	if err != nil {
		fail(err)
	}
	for _, c := range curves() {
		path := filepath.Join(*out, "scaling-"+c.name+".svg")
		if err := os.WriteFile(path, []byte(plot(c, points)), 0o644); err != nil {
			fail(err)
		}
		fmt.Println("wrote", path)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scaling:", err)
	os.Exit(1)
}

func curves() []curve {
	return []curve{
		{name: "routes", title: "RoundTrip vs routes in the virtual host (request matches the last)", xlabel: "routes",
			xs: []int{1, 10, 100, 1000, 10000}, bench: routesBench},
		{name: "endpoints", title: "RoundTrip vs endpoints in the cluster (least request)", xlabel: "endpoints",
			xs: []int{2, 10, 100, 1000, 10000}, bench: endpointsBench},
		{name: "subsets", title: "RoundTrip vs subsets in the weighted split", xlabel: "subsets",
			xs: []int{1, 2, 4, 8, 16, 32}, bench: subsetsBench},
		{name: "concurrency", title: fmt.Sprintf("RoundTrip vs concurrent callers: wall time per request over %d CPUs", runtime.NumCPU()), xlabel: "goroutines",
			xs: []int{1, 2, 4, 16, 64, 256}, bench: concurrencyBench},
	}
}

func measure(reps int) ([]point, error) {
	var points []point
	for _, c := range curves() {
		for _, x := range c.xs {
			var ns []float64
			var allocs int64
			for range reps {
				f, release := c.bench(x)
				r := testing.Benchmark(f)
				release()
				if r.N == 0 {
					return nil, fmt.Errorf("%s x=%d: the benchmark failed", c.name, x)
				}
				ns = append(ns, float64(r.T.Nanoseconds())/float64(r.N))
				allocs = r.AllocsPerOp()
			}
			slices.Sort(ns)
			p := point{curve: c.name, x: float64(x), med: ns[len(ns)/2], min: ns[0], max: ns[len(ns)-1], allocs: allocs}
			fmt.Printf("%-12s %6d  %8.1f ns/op (%.1f–%.1f)  %d allocs/op\n", c.name, x, p.med, p.min, p.max, p.allocs)
			points = append(points, p)
		}
	}
	return points, nil
}

// bare answers every request with one preallocated 200.
type bare struct{ resp *http.Response }

func (b *bare) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

func newMesh(manifests string) (http.RoundTripper, func()) {
	cfg, err := switchyard.Parse([]byte(manifests))
	if err != nil {
		fail(err)
	}
	floor := &bare{resp: &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	m, err := switchyard.New(cfg, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return floor }))
	if err != nil {
		fail(err)
	}
	return m.Transport(nil), func() { m.Close() }
}

// serviceEntry lists n endpoints, labelled version v0, v1, … round robin
// over subsets.
func serviceEntry(n, subsets int) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n" +
		"  ports: [{number: 9080, name: http}]\n  resolution: STATIC\n  endpoints:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {address: 10.%d.%d.%d, labels: {version: v%d}}\n", i>>16&255, i>>8&255, i&255, i%subsets)
	}
	b.WriteString("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  subsets:\n")
	for i := range subsets {
		fmt.Fprintf(&b, "  - {name: v%d, labels: {version: v%d}}\n", i, i)
	}
	return b.String()
}

func loop(rt http.RoundTripper, url string) func(b *testing.B) {
	return func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rt.RoundTrip(req); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func routesBench(n int) (func(b *testing.B), func()) {
	var vs strings.Builder
	vs.WriteString("---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n")
	for i := range n {
		fmt.Fprintf(&vs, "  - match: [{uri: {prefix: /r%d/}}]\n    route: [{destination: {host: reviews, subset: v0}}]\n", i)
	}
	rt, closeMesh := newMesh(serviceEntry(3, 1) + vs.String())
	return loop(rt, fmt.Sprintf("http://reviews:9080/r%d/x", n-1)), closeMesh
}

func endpointsBench(n int) (func(b *testing.B), func()) {
	rt, closeMesh := newMesh(serviceEntry(n, 1))
	return loop(rt, "http://reviews:9080/"), closeMesh
}

func subsetsBench(n int) (func(b *testing.B), func()) {
	var vs strings.Builder
	vs.WriteString("---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n")
	for i := range n {
		fmt.Fprintf(&vs, "    - {destination: {host: reviews, subset: v%d}, weight: %d}\n", i, 1+i%5)
	}
	rt, closeMesh := newMesh(serviceEntry(3*n, n) + vs.String())
	return loop(rt, "http://reviews:9080/"), closeMesh
}

// concurrencyBench runs the 3-subset split from n goroutines at once
// (RunParallel with n/GOMAXPROCS goroutines per CPU, at least one).
func concurrencyBench(n int) (func(b *testing.B), func()) {
	vs := "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n" +
		"    - {destination: {host: reviews, subset: v0}, weight: 80}\n    - {destination: {host: reviews, subset: v1}, weight: 15}\n" +
		"    - {destination: {host: reviews, subset: v2}, weight: 5}\n"
	rt, closeMesh := newMesh(serviceEntry(9, 3) + vs)
	return func(b *testing.B) {
		b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
			for pb.Next() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}, closeMesh
}

func writeCSV(path string, points []point) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"curve", "x", "ns_per_op_median", "ns_per_op_min", "ns_per_op_max", "allocs_per_op"})
	for _, p := range points {
		w.Write([]string{p.curve, strconv.Itoa(int(p.x)), fmt.Sprintf("%.1f", p.med), fmt.Sprintf("%.1f", p.min), fmt.Sprintf("%.1f", p.max), strconv.FormatInt(p.allocs, 10)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readCSV(path string) ([]point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var points []point
	for _, r := range rows[1:] {
		var p point
		p.curve = r[0]
		vals := make([]float64, 4)
		for i := range vals {
			if vals[i], err = strconv.ParseFloat(r[i+1], 64); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
		}
		p.x, p.med, p.min, p.max = vals[0], vals[1], vals[2], vals[3]
		p.allocs, _ = strconv.ParseInt(r[5], 10, 64)
		points = append(points, p)
	}
	return points, nil
}

// plot renders one curve as an SVG line chart: x on a log scale, ns/op on
// a linear one from 0, min–max as error bars, each point labelled.
func plot(c curve, all []point) string {
	var ps []point
	for _, p := range all {
		if p.curve == c.name {
			ps = append(ps, p)
		}
	}
	const w, h, left, right, top, bottom = 760.0, 420.0, 90.0, 70.0, 50.0, 60.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", 20.0, escape(c.title))
	if len(ps) == 0 {
		b.WriteString("</svg>\n")
		return b.String()
	}
	ymax := 0.0
	for _, p := range ps {
		ymax = math.Max(ymax, p.max)
	}
	ymax = niceCeil(ymax * 1.1)
	x0, x1 := math.Log10(ps[0].x), math.Log10(ps[len(ps)-1].x)
	if x1 == x0 {
		x1 = x0 + 1
	}
	sx := func(x float64) float64 { return left + (math.Log10(x)-x0)/(x1-x0)*(w-left-right) }
	sy := func(y float64) float64 { return h - bottom - y/ymax*(h-top-bottom) }
	// axes and grid
	for i := 0; i <= 5; i++ {
		y := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e6eb"/>`+"\n", left, sy(y), w-right, sy(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left-6, sy(y)+4, y)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", left, top, left, h-bottom)
	for _, p := range ps {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", sx(p.x), h-bottom+18, p.x)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s (log scale)</text>`+"\n", (left+w-right)/2, h-14, escape(c.xlabel))
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">ns per request (median, min–max)</text>`+"\n", (top+h-bottom)/2)
	// line, error bars, points
	var line []string
	for _, p := range ps {
		line = append(line, fmt.Sprintf("%.1f,%.1f", sx(p.x), sy(p.med)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1565c0" stroke-width="2" points="%s"/>`+"\n", strings.Join(line, " "))
	for _, p := range ps {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1565c0"/>`+"\n", sx(p.x), sy(p.min), sx(p.x), sy(p.max))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1565c0"/>`+"\n", sx(p.x), sy(p.med))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%.0f ns · %d alloc</text>`+"\n", sx(p.x), sy(p.max)-8, p.med, p.allocs)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
