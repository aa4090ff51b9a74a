// Command loopback measures switchyard on real sockets against the proxy
// hop it replaces. Three net/http backends listen on 127.0.0.1 (v1 on two,
// v2 on one) and the same 90/10 split of v1/v2 is reached four ways:
//
//   - direct: the client picks a backend itself (90/10, no routing library);
//   - switchyard: the client's transport is Mesh.Transport, in-process;
//   - haproxy-1hop: through one HAProxy doing the split (a client sidecar);
//   - haproxy-2hop: through two, the second in front of each backend (the
//     client and server sidecars of a mesh).
//
// Each round runs every mode in turn (the order rotates between rounds):
// c=1 latency percentiles over a fixed count of requests, then c=32
// throughput for a fixed time, with the CPU the whole system spent per
// request (this process, which holds the client and the backends, plus the
// HAProxy processes). Ratios are computed within each round; the summary
// gives medians with min–max. Everything it starts it stops; it is bounded
// by -rounds, -n, -duration and a hard -deadline.
//
//	bench/loopback.sh                   # installs haproxy if missing, then runs this
//	go run ./bench/loopback -rounds 5 -n 2000 -duration 2s -csv out.csv
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard-go/switchyard"
)

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	n := flag.Int("n", 2000, "requests per c=1 latency run")
	conc := flag.Int("c", 32, "clients in the throughput run")
	duration := flag.Duration("duration", 2*time.Second, "length of each throughput run")
	deadline := flag.Duration("deadline", 10*time.Minute, "hard limit on the whole run")
	haproxy := flag.String("haproxy", "haproxy", "the haproxy binary; empty to skip the proxy modes")
	csvPath := flag.String("csv", "", "write every round's figures to this CSV file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	if err := run(ctx, *rounds, *n, *conc, *duration, *haproxy, *csvPath); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

// result is one mode's figures in one round.
type result struct {
	mode            string
	p50, p90, p99   time.Duration
	rps             float64
	cpuPerRequestUS float64
}

type mode struct {
	name   string
	client *http.Client
	url    string
	pick   func() string // the URL of one request; nil uses url
	procs  []*os.Process // proxies whose CPU counts
}

func run(ctx context.Context, rounds, n, conc int, duration time.Duration, haproxyBin, csvPath string) error {
	backends, stop, err := startBackends()
	if err != nil {
		return err
	}
	defer stop()

	transport := func() *http.Transport {
		return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	}
	var modes []*mode
	direct := &http.Client{Transport: transport()}
	modes = append(modes, &mode{name: "direct", client: direct, pick: func() string {
		if rand.IntN(100) < 10 {
			return "http://" + backends[2] + "/"
		}
		return "http://" + backends[rand.IntN(2)] + "/"
	}})

	mesh, err := switchyard.New(meshConfig(backends))
	if err != nil {
		return err
	}
	defer mesh.Close()
	modes = append(modes, &mode{name: "switchyard", client: &http.Client{Transport: mesh.Transport(nil)}, url: "http://reviews:9080/"})

	if haproxyBin != "" {
		dir, err := os.MkdirTemp("", "switchyard-loopback")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		one, two, procs, err := startHAProxies(ctx, haproxyBin, dir, backends)
		if err != nil {
			return err
		}
		defer func() {
			for _, p := range procs {
				p.Kill()
				p.Wait()
			}
		}()
		modes = append(modes,
			&mode{name: "haproxy-1hop", client: &http.Client{Transport: transport()}, url: "http://" + one + "/", procs: procs[:1]},
			&mode{name: "haproxy-2hop", client: &http.Client{Transport: transport()}, url: "http://" + two + "/", procs: procs[1:]})
	}

	fmt.Printf("loopback: %d rounds; c=1 latency over %d requests, c=%d throughput for %v; %s, %d CPUs, %s\n\n",
		rounds, n, conc, duration, runtime.Version(), runtime.NumCPU(), cpuModel())
	var all [][]result
	for r := range rounds {
		var round []result
		for i := range modes {
			m := modes[(i+r)%len(modes)]
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("deadline reached in round %d: %w", r+1, err)
			}
			res, err := measure(ctx, m, n, conc, duration)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, m.name, err)
			}
			round = append(round, res)
		}
		slices.SortFunc(round, func(a, b result) int { return modeIndex(modes, a.mode) - modeIndex(modes, b.mode) })
		all = append(all, round)
		fmt.Printf("round %d:", r+1)
		for _, res := range round {
			fmt.Printf("  %s p50 %v %.0f rps", res.mode, res.p50.Round(100*time.Nanosecond), res.rps)
		}
		fmt.Println()
	}
	summarise(os.Stdout, modes, all)
	if csvPath != "" {
		return writeCSV(csvPath, all)
	}
	return nil
}

func modeIndex(modes []*mode, name string) int {
	return slices.IndexFunc(modes, func(m *mode) bool { return m.name == name })
}

// measure runs one mode: warm-up, c=1 latency, c=32 throughput.
func measure(ctx context.Context, m *mode, n, conc int, duration time.Duration) (result, error) {
	url := func() string {
		if m.pick != nil {
			return m.pick()
		}
		return m.url
	}
	get := func(c *http.Client) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url(), nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	for range 1000 { // warm connections and caches
		if err := get(m.client); err != nil {
			return result{}, err
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if err := get(m.client); err != nil {
			return result{}, err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	res := result{mode: m.name, p50: lat[n/2], p90: lat[n*9/10], p99: lat[n*99/100]}

	cpu0 := cpuTime(m.procs)
	tctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for tctx.Err() == nil {
				if err := get(m.client); err != nil {
					if tctx.Err() == nil {
						once.Do(func() { firstErr = err })
					}
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil && !errors.Is(firstErr, context.DeadlineExceeded) {
		return result{}, firstErr
	}
	res.rps = float64(done.Load()) / elapsed.Seconds()
	res.cpuPerRequestUS = (cpuTime(m.procs) - cpu0).Seconds() * 1e6 / float64(done.Load())
	return res, nil
}

// cpuTime is the CPU time this process and procs have used.
func cpuTime(procs []*os.Process) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name: utime and stime are the 12th
		// and 13th, in clock ticks (100 per second on Linux).
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// startBackends starts v1, v1 and v2 on loopback ports.
func startBackends() ([]string, func(), error) {
	var addrs []string
	var servers []*http.Server
	stop := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	for _, version := range []string{"v1", "v1", "v2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, err
		}
		body := []byte(version + "\n")
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})}
		go srv.Serve(ln)
		servers = append(servers, srv)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, stop, nil
}

func meshConfig(backends []string) switchyard.Config {
	var eps strings.Builder
	for i, b := range backends {
		host, port, _ := net.SplitHostPort(b)
		version := "v1"
		if i == 2 {
			version = "v2"
		}
		fmt.Fprintf(&eps, "  - {address: %s, ports: {http: %s}, labels: {version: %s}}\n", host, port, version)
	}
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
` + eps.String() + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
`))
	if err != nil {
		panic(err) // the manifest above is fixed
	}
	return cfg
}

// startHAProxies starts the one-hop proxy (the split) and the two-hop pair:
// a splitting proxy whose servers are a second proxy's per-backend
// frontends. It returns the two entry addresses and the processes (the
// one-hop proxy first).
func startHAProxies(ctx context.Context, bin, dir string, backends []string) (string, string, []*os.Process, error) {
	ports, err := freePorts(5)
	if err != nil {
		return "", "", nil, err
	}
	one, two := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	side := []string{"127.0.0.1:" + ports[2], "127.0.0.1:" + ports[3], "127.0.0.1:" + ports[4]}
	split := func(listen string, servers []string) string {
		return fmt.Sprintf(`frontend fe
  bind %s
  use_backend v2 if { rand(100) lt 10 }
  default_backend v1
backend v1
  balance leastconn
  server a %s
  server b %s
backend v2
  server c %s
`, listen, servers[0], servers[1], servers[2])
	}
	var sidecars strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&sidecars, "frontend side%d\n  bind %s\n  default_backend b%d\nbackend b%d\n  server s %s\n", i, side[i], i, i, b)
	}
	// The two-hop entry and its sidecars run in separate processes: the
	// client's and the server's.
	configs := []string{split(one, backends), split(two, side), sidecars.String()}
	var procs []*os.Process
	for i, body := range configs {
		path := filepath.Join(dir, fmt.Sprintf("haproxy%d.cfg", i))
		cfg := `global
  maxconn 4000
  nbthread 1
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
` + body
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return "", "", procs, err
		}
		cmd := exec.Command(bin, "-db", "-q", "-f", path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return "", "", procs, fmt.Errorf("starting %s: %w (install it: apt-get install haproxy)", bin, err)
		}
		procs = append(procs, cmd.Process)
	}
	for _, addr := range append([]string{one, two}, side...) {
		if err := waitListening(ctx, addr); err != nil {
			return "", "", procs, err
		}
	}
	return one, two, procs, nil
}

func freePorts(n int) ([]string, error) {
	var ports []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}

func waitListening(ctx context.Context, addr string) error {
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if i > 100 || ctx.Err() != nil {
			return fmt.Errorf("haproxy did not listen on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}

func median(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m, s[0], s[len(s)-1]
}

func summarise(w io.Writer, modes []*mode, all [][]result) {
	fmt.Fprintf(w, "\nmedians over %d rounds (min–max)\n", len(all))
	fmt.Fprintf(w, "%-13s %-22s %-22s %-22s %-24s %-18s\n", "mode", "p50 µs", "p90 µs", "p99 µs", "throughput rps (c=32)", "CPU µs/request")
	col := func(f func(result) float64, i int) string {
		var v []float64
		for _, round := range all {
			v = append(v, f(round[i]))
		}
		m, lo, hi := median(v)
		return fmt.Sprintf("%.1f (%.1f–%.1f)", m, lo, hi)
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	for i, m := range modes {
		fmt.Fprintf(w, "%-13s %-22s %-22s %-22s %-24s %-18s\n", m.name,
			col(func(r result) float64 { return us(r.p50) }, i), col(func(r result) float64 { return us(r.p90) }, i),
			col(func(r result) float64 { return us(r.p99) }, i), col(func(r result) float64 { return r.rps }, i),
			col(func(r result) float64 { return r.cpuPerRequestUS }, i))
	}
	fmt.Fprintln(w, "\nwithin each round, then the median (min–max):")
	ratio := func(label string, f func(round []result) float64) {
		var v []float64
		for _, round := range all {
			v = append(v, f(round))
		}
		m, lo, hi := median(v)
		fmt.Fprintf(w, "  %-52s %.3f (%.3f–%.3f)\n", label, m, lo, hi)
	}
	get := func(round []result, name string) result { return round[modeIndex(modes, name)] }
	ratio("switchyard added p50 over direct, µs", func(r []result) float64 { return us(get(r, "switchyard").p50 - get(r, "direct").p50) })
	ratio("switchyard throughput / direct", func(r []result) float64 { return get(r, "switchyard").rps / get(r, "direct").rps })
	if modeIndex(modes, "haproxy-1hop") >= 0 {
		ratio("haproxy-1hop added p50 over direct, µs", func(r []result) float64 { return us(get(r, "haproxy-1hop").p50 - get(r, "direct").p50) })
		ratio("haproxy-2hop added p50 over direct, µs", func(r []result) float64 { return us(get(r, "haproxy-2hop").p50 - get(r, "direct").p50) })
		ratio("switchyard throughput / haproxy-1hop", func(r []result) float64 { return get(r, "switchyard").rps / get(r, "haproxy-1hop").rps })
		ratio("switchyard throughput / haproxy-2hop", func(r []result) float64 { return get(r, "switchyard").rps / get(r, "haproxy-2hop").rps })
		ratio("switchyard CPU per request / haproxy-1hop", func(r []result) float64 {
			return get(r, "switchyard").cpuPerRequestUS / get(r, "haproxy-1hop").cpuPerRequestUS
		})
	}
}

func writeCSV(path string, all [][]result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"round", "mode", "p50_us", "p90_us", "p99_us", "rps", "cpu_us_per_request"})
	for i, round := range all {
		for _, r := range round {
			w.Write([]string{strconv.Itoa(i + 1), r.mode, fmt.Sprintf("%.2f", float64(r.p50)/1e3), fmt.Sprintf("%.2f", float64(r.p90)/1e3),
				fmt.Sprintf("%.2f", float64(r.p99)/1e3), fmt.Sprintf("%.0f", r.rps), fmt.Sprintf("%.2f", r.cpuPerRequestUS)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
