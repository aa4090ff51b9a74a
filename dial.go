package switchyard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/router"
)

// ErrNoRoute is the error of a connection through a gateway [Dialer] that
// no tcp or tls route of that gateway matches: as a gateway, the mesh does
// not pass unknown connections through.
var ErrNoRoute = errors.New("switchyard: no tcp or tls route matches the connection")

// Dialer makes connections through a mesh, for clients that take a dialer
// (database drivers, Redis, Kafka, plain net): its DialContext has the
// shape of [net.Dialer.DialContext]. The zero Dialer is not usable: get one
// from [Mesh.Dialer].
type Dialer struct {
	// Gateway is the gateway whose tcp and tls routes apply: "" (or
	// "mesh") for the VirtualServices bound to the mesh, as a sidecar
	// applies them; a Gateway's "name" or "namespace/name" for a process
	// that forwards the connections that gateway accepts (a connection no
	// route of the gateway matches then fails with ErrNoRoute).
	Gateway string

	mesh *Mesh
}

// Dialer returns a Dialer for the mesh's own (sidecar) routing.
func (m *Mesh) Dialer() *Dialer { return &Dialer{mesh: m} }

// DialContext connects to addr ("host:port") on network "tcp", "tcp4" or
// "tcp6" as a sidecar would route the connection: see [Dialer.DialContext].
func (m *Mesh) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return m.dial(ctx, router.MeshGateway, network, addr)
}

// Dial connects to addr without a context: see [Dialer.DialContext].
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr ("host:port") on network "tcp", "tcp4" or
// "tcp6", routed by the VirtualServices' tcp and tls routes whose hosts
// name host: the first route whose match fits the port, the dialled
// address (destinationSubnets, for an IP address), the caller's labels
// and namespace (WithSourceLabels, WithSourceNamespace) and the gateway
// picks a weighted destination, whose cluster's balancer picks an
// endpoint. A host with a ServiceEntry and no route is balanced over its
// endpoints at the port; a host the configuration does not know is
// dialled as it is. Other networks are dialled as they are.
//
// The cluster's connectionPool.tcp applies to each connection:
// maxConnections refuses a connection over it at once with an error that
// matches pool.ErrOverflow; connectTimeout (10s by default) bounds the
// connect; tcpKeepalive sets TCP keepalive; maxConnectionDuration closes
// the connection once that old; idleTimeout (1h by default, 0 for never)
// closes it after so long without a read or write. A connect failure or
// timeout counts for outlier detection as a local-origin failure of the
// endpoint (consecutive5xxErrors, consecutiveGatewayErrors). Each
// connection is one observation for [Mesh.Observe] and one span.
//
// When a tls route may apply, DialContext returns at once and the route is
// chosen from the server name (SNI) of the ClientHello the caller writes
// first — TLS is not terminated, the bytes are replayed to the endpoint —
// so a connect error then comes from that first Write, and later Reads.
// Until the caller writes, a Read waits: a protocol whose server speaks
// first must be routed by tcp routes only.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.mesh == nil {
		return nil, errors.New("switchyard: a Dialer must come from Mesh.Dialer")
	}
	g := d.Gateway
	if g == "" {
		g = router.MeshGateway
	}
	return d.mesh.dial(ctx, g, network, addr)
}

func (m *Mesh) dial(ctx context.Context, gateway, network, addr string) (net.Conn, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		n, lerr := net.DefaultResolver.LookupPort(ctx, network, p)
		if lerr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: lerr}
		}
		port = uint64(n)
	}
	c := router.Conn{Gateway: gateway, Host: strings.ToLower(strings.TrimSuffix(h, ".")), Port: uint32(port)}
	ip, _ := netip.ParseAddr(h)
	snap := m.snap.Load()
	if snap.tcp.HasTLS(c, ip) {
		return m.newHelloConn(ctx, snap, c, ip, network, addr), nil
	}
	return m.route(ctx, snap, c, ip, network, addr)
}

// route chooses where connection c goes and connects to it.
func (m *Mesh) route(ctx context.Context, snap *snapshot, c router.Conn, ip netip.Addr, network, addr string) (net.Conn, error) {
	name := ""
	var cl *cluster.Cluster
	if r := snap.tcp.Route(c, ip); r != nil {
		var err error
		if cl, err = r.Pick(m.opts.rand, c.Port); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		name = r.Name
	} else if cl = snap.tcp.Default(c.Host, c.Port); cl != nil {
		name = c.Host + ".default"
	}
	if cl == nil {
		if c.Gateway != router.MeshGateway {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: gateway %s, %s", ErrNoRoute, c.Gateway, addr)}
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		return d.DialContext(ctx, network, addr) // a host the mesh does not know
	}
	dial := m.dialEndpoint
	if dial == nil {
		dial = dialEndpoint
	}
	u, err := router.Connect(ctx, &m.env, name, cl, network, addr, dial)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return newMeshConn(u, tcpSettingsOf(cl), m.opts.clock), nil
}

// dialEndpoint connects to an endpoint with the cluster's TCP keepalive;
// ctx carries its connect timeout.
func dialEndpoint(ctx context.Context, c *cluster.Cluster, network, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: tcpSettingsOf(c).keepAlive}
	return d.DialContext(ctx, network, addr)
}

// tcpSettings are the connection-level settings of a cluster's
// connectionPool.tcp for connections made by DialContext.
type tcpSettings struct {
	keepAlive       net.KeepAliveConfig
	idleTimeout     time.Duration // 0: never
	maxConnDuration time.Duration // 0: unbounded
}

// tcpSettingsOf applies Istio's defaults: keepalive as the system's, a
// 1h idle timeout.
func tcpSettingsOf(c *cluster.Cluster) tcpSettings {
	s := tcpSettings{keepAlive: net.KeepAliveConfig{Enable: true}, idleTimeout: time.Hour}
	if p := c.Policy.ConnectionPool; p != nil && p.TCP != nil {
		t := p.TCP
		if t.IdleTimeout != nil {
			s.idleTimeout = *t.IdleTimeout
		}
		if k := t.TCPKeepalive; k != nil {
			s.keepAlive = net.KeepAliveConfig{Enable: true, Idle: k.Time, Interval: k.Interval, Count: int(k.Probes)}
		}
		s.maxConnDuration = t.MaxConnectionDuration
	}
	return s
}

// meshConn is a connection made through the mesh: it closes itself after
// maxConnectionDuration and after idleTimeout without a read or write, and
// gives back its admission and endpoint load when closed.
type meshConn struct {
	*router.Upstream
	clock clock.Clock
	idle  time.Duration
	last  atomic.Int64 // clock nanoseconds of the last read or write

	mu     sync.Mutex
	closed bool
	timers [2]clock.Timer // idle, max duration
}

func newMeshConn(u *router.Upstream, s tcpSettings, clk clock.Clock) *meshConn {
	c := &meshConn{Upstream: u, clock: clk, idle: s.idleTimeout}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.idleTimeout > 0 {
		c.last.Store(clk.Now().UnixNano())
		c.timers[0] = clk.AfterFunc(s.idleTimeout, c.checkIdle)
	}
	if s.maxConnDuration > 0 {
		c.timers[1] = clk.AfterFunc(s.maxConnDuration, func() { c.Close() })
	}
	return c
}

func (c *meshConn) checkIdle() {
	idle := time.Duration(c.clock.Now().UnixNano() - c.last.Load())
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if idle < c.idle {
		c.timers[0] = c.clock.AfterFunc(c.idle-idle, c.checkIdle)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.Close()
}

func (c *meshConn) Read(b []byte) (int, error) {
	n, err := c.Upstream.Read(b)
	if c.idle > 0 && n > 0 {
		c.last.Store(c.clock.Now().UnixNano())
	}
	return n, err
}

func (c *meshConn) Write(b []byte) (int, error) {
	n, err := c.Upstream.Write(b)
	if c.idle > 0 && n > 0 {
		c.last.Store(c.clock.Now().UnixNano())
	}
	return n, err
}

// Close closes the connection; it is safe to call more than once.
func (c *meshConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, t := range c.timers {
		if t != nil {
			t.Stop()
		}
	}
	c.mu.Unlock()
	return c.Upstream.Close()
}

// CloseWrite shuts down the writing side, when the connection has one
// (a TCP connection does).
func (c *meshConn) CloseWrite() error {
	if cw, ok := c.Upstream.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
