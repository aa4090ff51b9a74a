package xds

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// planeEnv, set in a test binary's environment to "services,endpoint
// address", makes it a control plane instead of running tests: it serves
// bigMesh on loopback, prints its address on a line of stdout, and then
// obeys the lines of its stdin (pushCommand) until stdin closes (the
// parent is done or dead), or for planeLifetime at most. A control plane
// in a process of its own is what a client meets in a mesh: its heap, its
// garbage collection and its goroutines are not the client's.
const planeEnv = "SWITCHYARD_XDS_TEST_PLANE"

// planeLifetime bounds a control-plane process whose parent never closes
// its stdin.
const planeLifetime = 10 * time.Minute

// The push of svc0's weights that the push-to-effect benchmarks watch:
// the RouteConfiguration it changes, and the version of the snapshot
// first served (the one the "routes" mode keeps for the other types).
const (
	pushedRoute = "outbound|8080||svc0.test"
	baseVersion = "1"
)

// pushSnapshot is the snapshot of version v that gives svc0 the weights
// 100-w/w over base (the n-service bigMesh first served, endpoints at
// addr), as mode does it. rebuilt: every resource a new object, which
// go-control-plane marshals anew (a control plane without a cache);
// cached: only svc0's RouteConfiguration is new, the other resources
// are re-sent as marshalled before (as istiod's cache does); both send
// every type again (the snapshot's version is the same for all). routes:
// as cached, but only the RouteConfigurations' version changes, so the
// server sends them alone (a control plane that versions each type and
// sends only the changed one).
func pushSnapshot(mode string, v int, base map[string][]types.Resource, n int, addr string, w uint32) (*cachev3.Snapshot, error) {
	var res map[string][]types.Resource
	switch mode {
	case "rebuilt":
		res = bigMesh(n, addr, 100-w, w)
	case "cached", "routes":
		res = maps.Clone(base)
		routes := slices.Clone(base[resourcev3.RouteType])
		routes[0] = bigMesh(1, addr, 100-w, w)[resourcev3.RouteType][0] // svc0's
		res[resourcev3.RouteType] = routes
	default:
		return nil, fmt.Errorf("push mode %q: want rebuilt, cached or routes", mode)
	}
	snap, err := cachev3.NewSnapshot(strconv.Itoa(v), res)
	if err != nil {
		return nil, err
	}
	if mode == "routes" {
		for t := range snap.Resources {
			if types.ResponseType(t) != types.Route {
				snap.Resources[t].Version = baseVersion
			}
		}
	}
	return snap, nil
}

// carriesPush reports whether r, a response the server sends, carries
// svc0's RouteConfiguration as pushed in the snapshot of version v.
func carriesPush(r proto.Message, v string) bool {
	switch r := r.(type) {
	case *discoveryv3.DiscoveryResponse:
		return r.GetTypeUrl() == resourcev3.RouteType && r.GetVersionInfo() == v
	case *discoveryv3.DeltaDiscoveryResponse:
		return r.GetTypeUrl() == resourcev3.RouteType && slices.ContainsFunc(r.GetResources(), func(res *discoveryv3.Resource) bool {
			return res.GetName() == pushedRoute
		})
	}
	return false
}

// runPlaneProcess is the control plane of planeEnv; it returns the exit
// code. Its commands, one a line:
//
//	push MODE W	set pushSnapshot(MODE, next version, …, W); print "sent NS" (the
//			wall clock in Unix nanoseconds) when the response carrying it
//			goes out
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
	var (
		outMu sync.Mutex
		out   = bufio.NewWriter(os.Stdout)
		want  string // the version whose send is awaited
	)
	printLine := func(s string) {
		outMu.Lock()
		defer outMu.Unlock()
		out.WriteString(s + "\n")
		out.Flush()
	}
	sent := func(r proto.Message) {
		now := time.Now()
		outMu.Lock()
		defer outMu.Unlock()
		if want != "" && carriesPush(r, want) {
			want = ""
			fmt.Fprintf(out, "sent %d\n", now.UnixNano())
			out.Flush()
		}
	}
	cb := serverv3.CallbackFuncs{
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryResponse) {
			sent(r)
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, r *discoveryv3.DeltaDiscoveryResponse) {
			sent(r)
		},
	}
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	base := bigMesh(n, addr, 90, 10)
	snap, err := cachev3.NewSnapshot(baseVersion, base)
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
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), cache, cb))
	go srv.Serve(lis)
	defer srv.Stop()
	printLine(lis.Addr().String())

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	lifetime := time.After(planeLifetime)
	version, _ := strconv.Atoi(baseVersion)
	for {
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				return 0
			}
			line = l
		case <-lifetime:
			return 0
		}
		var mode string
		var w uint32
		if _, err := fmt.Sscanf(line, "push %s %d", &mode, &w); err != nil {
			return fail(fmt.Errorf("command %q: %v", line, err))
		}
		version++
		snap, err := pushSnapshot(mode, version, base, n, addr, w)
		if err != nil {
			return fail(err)
		}
		outMu.Lock()
		want = strconv.Itoa(version)
		outMu.Unlock()
		if err := cache.SetSnapshot(context.Background(), testNode, snap); err != nil {
			return fail(err)
		}
	}
}

// planeProcess is a control plane in a process of its own (planeEnv).
type planeProcess struct {
	bs    *Bootstrap
	cmds  io.Writer
	lines chan string // what it prints after its address
}

// startPlaneProcess runs the test binary as the control plane of an
// n-service bigMesh (endpoints at addr), stopped when t ends, and returns
// a bootstrap for it.
func startPlaneProcess(t testing.TB, n int, addr string) *Bootstrap {
	return runPlaneProc(t, n, addr).bs
}

func runPlaneProc(t testing.TB, n int, addr string) *planeProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), planeEnv+"="+strconv.Itoa(n)+","+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(eventually):
			cmd.Process.Kill()
			<-exited
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			default: // nobody reads them (the heap benchmark)
			}
		}
		io.Copy(io.Discard, stdout) // until it exits
		exited <- cmd.Wait()
	}()
	var planeAddr string
	select {
	case planeAddr = <-lines:
	case <-time.After(eventually):
		t.Fatal("the control plane process printed no address")
	}
	if _, _, err := net.SplitHostPort(planeAddr); err != nil {
		t.Fatalf("the control plane process printed %q, not its address", planeAddr)
	}
	return &planeProcess{
		bs: &Bootstrap{
			Servers: []Server{{URI: planeAddr, Credentials: ChannelCredentials{Type: "insecure"}}},
			Node:    Node{ID: testNode, Metadata: map[string]any{"NAMESPACE": "default"}},
		},
		cmds:  stdin,
		lines: lines,
	}
}
