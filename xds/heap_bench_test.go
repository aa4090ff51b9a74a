package xds

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/switchyard-go/switchyard"
)

// planeEnv, set in a test binary's environment to "services,endpoint
// address", makes it a control plane instead of running tests: it serves
// bigMesh on loopback, prints its address on a line of stdout, and exits
// when stdin closes (the parent is done or dead), or after planeLifetime.
const planeEnv = "SWITCHYARD_XDS_TEST_PLANE"

// planeLifetime bounds a control-plane process whose parent never closes
// its stdin.
const planeLifetime = 10 * time.Minute

// runPlaneProcess is the control plane of planeEnv; it returns the exit
// code.
func runPlaneProcess(spec string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "control plane %q: %v\n", spec, err)
		return 2
	}
	ns, addr, ok := strings.Cut(spec, ",")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return fail(fmt.Errorf("want %s=services,address", planeEnv))
	}
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	snap, err := cachev3.NewSnapshot("1", bigMesh(n, addr, 90, 10))
	if err != nil {
		return fail(err)
	}
	if err := cache.SetSnapshot(context.Background(), testNode, snap); err != nil {
		return fail(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), cache, nil))
	go srv.Serve(lis)
	fmt.Println(lis.Addr())
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-time.After(planeLifetime):
	}
	srv.Stop()
	return 0
}

// startPlaneProcess runs the test binary as the control plane of an
// n-service bigMesh (endpoints at addr), stopped when b ends, and returns
// a bootstrap for it. Its heap is not the benchmark's.
func startPlaneProcess(b testing.TB, n int, addr string) *Bootstrap {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), planeEnv+"="+strconv.Itoa(n)+","+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	b.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(eventually):
			cmd.Process.Kill()
			<-exited
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout) // until it exits
		exited <- cmd.Wait()
	}()
	var planeAddr string
	select {
	case planeAddr = <-line:
	case <-time.After(eventually):
		b.Fatal("the control plane process printed no address")
	}
	if _, _, err := net.SplitHostPort(planeAddr); err != nil {
		b.Fatalf("the control plane process printed %q, not its address", planeAddr)
	}
	return &Bootstrap{
		Servers: []Server{{URI: planeAddr, Credentials: ChannelCredentials{Type: "insecure"}}},
		Node:    Node{ID: testNode, Metadata: map[string]any{"NAMESPACE": "default"}},
	}
}

// liveHeap is the heap in use after garbage collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeap compares the live heap of an xDS-fed mesh of
// -xds.services services (sidecar persona) with the same mesh read from
// YAML (yamlMeshHeap): heap-xds-B and heap-yaml-B per service, and their
// ratio. The control plane runs in a process of its own, so that only the
// client's side is measured. The xDS mesh also keeps what it received (to
// recognise resources re-sent unchanged) and its translation (to translate
// pushes incrementally).
func BenchmarkHeap(b *testing.B) {
	bs := startPlaneProcess(b, *benchServices, "127.0.0.1:9")
	var xdsB, yamlB float64
	for b.Loop() {
		before := liveHeap()
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		m, err := NewMesh(ctx, bs)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		xdsB = float64(liveHeap() - before)
		y, n := yamlMeshHeap(b, m)
		yamlB = float64(n)
		y.Close()
		m.Close()
	}
	n := float64(*benchServices)
	b.ReportMetric(xdsB/n, "heap-xds-B/service")
	b.ReportMetric(yamlB/n, "heap-yaml-B/service")
	b.ReportMetric(xdsB/yamlB, "xds/yaml")
}

// yamlMeshHeap builds the mesh a process holds that reads m's
// configuration from YAML: the configuration rendered as Istio's documents
// (the admin handler's config dump, one document each), parsed, and built
// by switchyard.New. It returns that mesh and the heap it holds, the
// documents' bytes dropped after parsing (whatever the parse keeps of them
// counts).
func yamlMeshHeap(t testing.TB, m *Mesh) (*switchyard.Mesh, uint64) {
	t.Helper()
	before := liveHeap()
	rec := httptest.NewRecorder()
	m.Mesh.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	var dump map[string][]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &dump); err != nil {
		t.Fatalf("config dump: %v", err)
	}
	var docs [][]byte
	for _, kind := range slices.Sorted(maps.Keys(dump)) {
		for _, d := range dump[kind] {
			docs = append(docs, d)
		}
	}
	rec, dump = nil, nil
	cfg, err := switchyard.Parse(bytes.Join(docs, []byte("\n---\n")))
	if err != nil {
		t.Fatalf("the configuration as YAML: %v", err)
	}
	docs = nil
	y, err := switchyard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = switchyard.Config{}
	return y, liveHeap() - before
}
