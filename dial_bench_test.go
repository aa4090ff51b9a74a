package switchyard_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"

	"github.com/switchyard-go/switchyard"
)

// BenchmarkDial compares a connection made through the mesh (route match,
// weighted pick, balancer pick, admission, outlier bookkeeping, timers)
// with a plain net.Dialer to the same loopback server: each op dials,
// echoes one line and closes.
func BenchmarkDial(b *testing.B) {
	one, two := newEchoServer(b, "one"), newEchoServer(b, "two")
	m := newDialMesh(b, tcpEchoEntry(one, two)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1000, connectTimeout: 1s, idleTimeout: 1m, maxConnectionDuration: 1h}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
`)
	direct := one.ln.Addr().String()
	var d net.Dialer
	run := func(b *testing.B, dial func() (net.Conn, error)) {
		line := []byte("hello\n")
		buf := make([]byte, 64)
		b.ReportAllocs()
		for b.Loop() {
			c, err := dial()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Write(line); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadAtLeast(c, buf, 10); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	}
	b.Run("direct", func(b *testing.B) {
		run(b, func() (net.Conn, error) { return d.DialContext(b.Context(), "tcp", direct) })
	})
	b.Run("mesh", func(b *testing.B) {
		run(b, func() (net.Conn, error) { return m.DialContext(b.Context(), "tcp", "tcp-echo:9000") })
	})
}

// BenchmarkDialEcho compares echo round trips on one connection made
// through the mesh with one made directly: the cost the mesh adds to each
// read and write (idle-timeout bookkeeping).
func BenchmarkDialEcho(b *testing.B) {
	one := newEchoServer(b, "one")
	m := newDialMesh(b, tcpEchoEntry(one))
	run := func(b *testing.B, c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		line := []byte("hello\n")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Write(line); err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadSlice('\n'); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", one.ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
	b.Run("mesh", func(b *testing.B) {
		c, err := m.DialContext(b.Context(), "tcp", "tcp-echo:9000")
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
}

// nopConn is a connection that does nothing, for BenchmarkDialDecision.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// BenchmarkDialDecision measures what the mesh adds to a dial without the
// socket: route match, weighted pick, balancer pick, admission, outlier
// bookkeeping, the connection's timers, and its close.
func BenchmarkDialDecision(b *testing.B) {
	one, two := newEchoServer(b, "one"), newEchoServer(b, "two")
	m := newDialMesh(b, tcpEchoEntry(one, two)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1000, connectTimeout: 1s, idleTimeout: 1m, maxConnectionDuration: 1h}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
`)
	switchyard.SetEndpointDial(m, func(context.Context, string, string) (net.Conn, error) { return nopConn{}, nil })
	b.ReportAllocs()
	for b.Loop() {
		c, err := m.DialContext(b.Context(), "tcp", "tcp-echo:9000")
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
