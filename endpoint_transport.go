package switchyard

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/pool"
)

// transportSettings are the connection-level settings of Istio's
// ConnectionPoolSettings that the mesh's own transports apply.
type transportSettings struct {
	connectTimeout    time.Duration
	idleTimeout       time.Duration // 0: never close idle connections
	keepAlive         net.KeepAliveConfig
	disableKeepAlives bool
	maxConnDuration   time.Duration
	h2                string // "", "UPGRADE" (h2c prior knowledge) or "DO_NOT_UPGRADE"
	h2PingInterval    time.Duration
	h2PingTimeout     time.Duration
	// tls originates TLS on every connection, as the cluster's
	// DestinationRule says; nil for plaintext. A cluster whose TLS did not
	// change across an update keeps the same *cluster.TLS, so these
	// settings compare equal and its connections stay in use.
	tls   *cluster.TLS
	tlsH2 bool // over TLS, HTTP/2 (ALPN h2) rather than HTTP/1.1
}

// settingsFor returns the transport settings of cluster c's endpoints.
func settingsFor(c *cluster.Cluster) transportSettings {
	s := settingsOf(c.Policy.ConnectionPool)
	if c.TLS != nil {
		s.tls = c.TLS
		// Istio's isHttp2Cluster: an HTTP/2 or gRPC port, or an upgrade.
		switch c.Protocol {
		case "HTTP2", "GRPC", "GRPC-WEB":
			s.tlsH2 = s.h2 != "DO_NOT_UPGRADE"
		default:
			s.tlsH2 = s.h2 == "UPGRADE"
		}
	}
	return s
}

// settingsOf applies Istio's defaults: 10s connect timeout, 1h idle timeout.
func settingsOf(pool *pool.Settings) transportSettings {
	s := transportSettings{connectTimeout: 10 * time.Second, idleTimeout: time.Hour, keepAlive: net.KeepAliveConfig{Enable: true}}
	if pool == nil {
		return s
	}
	if t := pool.TCP; t != nil {
		if t.ConnectTimeout > 0 {
			s.connectTimeout = t.ConnectTimeout
		}
		if t.IdleTimeout != nil {
			s.idleTimeout = *t.IdleTimeout
		}
		if k := t.TCPKeepalive; k != nil {
			s.keepAlive = net.KeepAliveConfig{Enable: true, Idle: k.Time, Interval: k.Interval, Count: int(k.Probes)}
		}
		s.maxConnDuration = t.MaxConnectionDuration
	}
	if h := pool.HTTP; h != nil {
		if h.IdleTimeout != nil {
			s.idleTimeout = *h.IdleTimeout
		}
		s.disableKeepAlives = h.MaxRequestsPerConnection == 1
		if k := h.HTTP2KeepAlive; k != nil {
			s.h2PingInterval, s.h2PingTimeout = k.Interval, k.Timeout
		}
		if !h.UseClientProtocol {
			switch h.H2UpgradePolicy {
			case "UPGRADE", "DO_NOT_UPGRADE":
				s.h2 = h.H2UpgradePolicy
			}
		}
	}
	return s
}

// newTransport returns an HTTP transport with these settings. With dialAddr
// set, it connects to that address whatever the request's URL names, so a
// request keeps its URL, Host and TLS server name while going to a chosen
// endpoint. Its open connections are counted in conns.
func (s transportSettings) newTransport(dialAddr string, conns *atomic.Int64) *http.Transport {
	dialer := &net.Dialer{Timeout: s.connectTimeout, KeepAliveConfig: s.keepAlive}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dialAddr != "" {
			addr = dialAddr
		}
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conns.Add(1)
		return &countedConn{Conn: c, conns: conns}, nil
	}
	t := &http.Transport{
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       s.idleTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     s.disableKeepAlives,
	}
	if s.h2PingInterval > 0 {
		// Envoy's connection_keepalive: a PING after interval without a
		// frame, the connection closed if its answer takes timeout.
		t.HTTP2 = &http.HTTP2Config{SendPingTimeout: s.h2PingInterval, PingTimeout: s.h2PingTimeout}
	}
	if s.tls != nil {
		// TLS is the mesh's, whatever the request's scheme: an "http" URL
		// is originated over TLS (DialContext), an "https" one gets the
		// mesh's TLS rather than the transport's own (DialTLSContext).
		tlsDial := s.tlsDialer(dial, "")
		t.DialContext, t.DialTLSContext = tlsDial, tlsDial
		t.Protocols = new(http.Protocols)
		if s.tlsH2 {
			// Over an "http" URL the transport speaks HTTP/2 with prior
			// knowledge on the connection, which ALPN made h2.
			t.Protocols.SetHTTP2(true)
			t.Protocols.SetUnencryptedHTTP2(true)
		} else {
			t.Protocols.SetHTTP1(true)
			t.ForceAttemptHTTP2 = false
		}
		return t
	}
	switch s.h2 {
	case "UPGRADE":
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
		t.Protocols.SetHTTP2(true)
	case "DO_NOT_UPGRADE":
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
		t.ForceAttemptHTTP2 = false
	}
	return t
}

// countedConn is a connection counted among its mesh's open connections
// until it closes.
type countedConn struct {
	net.Conn
	conns  *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.conns.Add(-1)
	}
	return err
}

// rotatingTransport bounds connection age (tcp.maxConnectionDuration) the
// way Envoy drains: past the duration, new requests go to a fresh
// transport, and the old one's connections close as they fall idle.
type rotatingTransport struct {
	settings transportSettings
	addr     string
	clock    clock.Clock
	conns    *atomic.Int64

	mu      sync.Mutex
	current *http.Transport
	since   time.Time
	old     []*http.Transport
}

func (r *rotatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	now := r.clock.Now()
	if r.current == nil || now.Sub(r.since) >= r.settings.maxConnDuration {
		if r.current != nil {
			r.current.CloseIdleConnections()
			r.old = append(r.old[:0:0], r.current)
		}
		r.current, r.since = r.settings.newTransport(r.addr, r.conns), now
	}
	t := r.current
	for _, o := range r.old {
		o.CloseIdleConnections() // drain connections that fell idle
	}
	r.mu.Unlock()
	return t.RoundTrip(req)
}

func (r *rotatingTransport) CloseIdleConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		r.current.CloseIdleConnections()
	}
	for _, o := range r.old {
		o.CloseIdleConnections()
	}
}
