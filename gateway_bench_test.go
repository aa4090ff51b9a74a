package switchyard_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-go/switchyard"
)

// BenchmarkGateway measures a GET of a small body on loopback, over
// HTTP/1.1 with kept-alive connections: straight to the backend ("direct"),
// through Mesh.Gateway ("gateway": match, a weighted split, the engine and
// a reverse-proxy hop), and through HAProxy ("haproxy", when the haproxy
// binary is installed). The serial runs give latency, the parallel ones
// throughput (-cpu sets the clients).
//
//	go test -run '^$' -bench BenchmarkGateway -benchtime 20000x -count 5 .
func BenchmarkGateway(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [bookinfo.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: [bookinfo.example.com]
  gateways: [gw]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
`, port, port)))
	if err != nil {
		b.Fatal(err)
	}
	m, err := switchyard.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	srv, err := m.Gateway("gw", 80)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	targets := map[string]string{"direct": backend.Listener.Addr().String(), "gateway": ln.Addr().String()}
	if addr, stop := startHAProxy(b, backend.Listener.Addr().String()); stop != nil {
		defer stop()
		targets["haproxy"] = addr
	}
	for _, name := range []string{"direct", "gateway", "haproxy"} {
		addr, ok := targets[name]
		if !ok {
			continue
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
		url := "http://" + addr + "/reviews/1"
		do := func() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = "bookinfo.example.com"
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: status %d", name, resp.StatusCode)
			}
		}
		b.Run(name+"/serial", func(b *testing.B) {
			for b.Loop() {
				do()
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do()
				}
			})
		})
		client.CloseIdleConnections()
	}
}

// startHAProxy runs haproxy in front of backend on loopback, if it is
// installed, and returns its address and how to stop it.
func startHAProxy(b *testing.B, backend string) (string, func()) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return "", nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(b.TempDir(), "haproxy.cfg")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind %s
  default_backend be
backend be
  server s1 %s
`, addr, backend)), 0o600)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", conf)
	if err := cmd.Start(); err != nil {
		cancel()
		b.Logf("haproxy: %v", err)
		return "", nil
	}
	stop := func() {
		cancel()
		cmd.Wait()
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop
		}
	}
	stop()
	b.Log("haproxy did not start listening")
	return "", nil
}
