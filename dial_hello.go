package switchyard

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard/internal/router"
)

// maxHello bounds the bytes a helloConn keeps while it waits for a whole
// ClientHello: beyond it, the connection is routed as not TLS.
const maxHello = 64 << 10

// helloConn is a connection that may be routed by a tls route: it keeps
// what the caller writes until it holds a whole TLS ClientHello (or bytes
// that are not one), picks the route by its server name, connects, and
// replays the bytes. TLS is not terminated.
type helloConn struct {
	m       *Mesh
	snap    *snapshot
	c       router.Conn
	ip      netip.Addr
	network string
	addr    string
	ctx     context.Context // the dial's values, not its cancellation
	cancel  context.CancelFunc

	mu        sync.Mutex
	buf       []byte
	resolving bool          // a Write is connecting
	ready     chan struct{} // closed once conn or err is set
	conn      net.Conn
	err       error
	rd, wd    time.Time // deadlines set before the connection was made
}

func (m *Mesh) newHelloConn(ctx context.Context, snap *snapshot, c router.Conn, ip netip.Addr, network, addr string) *helloConn {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &helloConn{m: m, snap: snap, c: c, ip: ip, network: network, addr: addr, ctx: cctx, cancel: cancel, ready: make(chan struct{})}
}

// Write keeps b until the ClientHello is whole, then connects and sends
// everything kept; afterwards it writes to the connection.
func (h *helloConn) Write(b []byte) (int, error) {
	h.mu.Lock()
	select {
	case <-h.ready:
		h.mu.Unlock()
		if h.err != nil {
			return 0, h.err
		}
		return h.conn.Write(b)
	default:
	}
	if h.resolving { // another Write is connecting: wait for it
		h.mu.Unlock()
		<-h.ready
		if h.err != nil {
			return 0, h.err
		}
		return h.conn.Write(b)
	}
	h.buf = append(h.buf, b...)
	sni, tlsHello, whole := parseHello(h.buf)
	if !whole {
		h.mu.Unlock()
		return len(b), nil
	}
	buf := h.buf
	h.buf = nil
	h.resolving = true
	rd, wd := h.rd, h.wd
	h.mu.Unlock()

	c := h.c
	c.TLS, c.SNI = tlsHello, sni
	conn, err := h.m.route(h.ctx, h.snap, c, h.ip, h.network, h.addr)
	if err == nil {
		if !rd.IsZero() {
			conn.SetReadDeadline(rd)
		}
		if !wd.IsZero() {
			conn.SetWriteDeadline(wd)
		}
		if _, err = conn.Write(buf); err != nil {
			conn.Close()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.ready: // closed meanwhile
		if conn != nil {
			conn.Close()
		}
		return 0, net.ErrClosed
	default:
	}
	if err != nil {
		h.err = err
	} else {
		h.conn = conn
	}
	close(h.ready)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// Read waits for the connection to be made, then reads from it.
func (h *helloConn) Read(b []byte) (int, error) {
	h.mu.Lock()
	rd := h.rd
	h.mu.Unlock()
	var expired <-chan time.Time
	if !rd.IsZero() {
		t := time.NewTimer(time.Until(rd))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-h.ready:
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	}
	if h.err != nil {
		return 0, h.err
	}
	return h.conn.Read(b)
}

// Close closes the connection, or abandons making it.
func (h *helloConn) Close() error {
	h.cancel()
	h.mu.Lock()
	select {
	case <-h.ready:
		h.mu.Unlock()
		if h.conn != nil {
			return h.conn.Close()
		}
		return nil
	default:
	}
	h.err = net.ErrClosed
	close(h.ready)
	h.mu.Unlock()
	return nil
}

// LocalAddr returns the connection's local address once it is made.
func (h *helloConn) LocalAddr() net.Addr {
	if c := h.made(); c != nil {
		return c.LocalAddr()
	}
	return &net.TCPAddr{}
}

// RemoteAddr returns the endpoint's address once the connection is made,
// and the dialled address before.
func (h *helloConn) RemoteAddr() net.Addr {
	if c := h.made(); c != nil {
		return c.RemoteAddr()
	}
	if ap, err := netip.ParseAddrPort(h.addr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.TCPAddr{}
}

func (h *helloConn) made() net.Conn {
	select {
	case <-h.ready:
		if h.err == nil {
			return h.conn
		}
	default:
	}
	return nil
}

func (h *helloConn) SetDeadline(t time.Time) error {
	if err := h.SetReadDeadline(t); err != nil {
		return err
	}
	return h.SetWriteDeadline(t)
}

func (h *helloConn) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	h.rd = t
	h.mu.Unlock()
	if c := h.made(); c != nil {
		return c.SetReadDeadline(t)
	}
	return nil
}

func (h *helloConn) SetWriteDeadline(t time.Time) error {
	h.mu.Lock()
	h.wd = t
	h.mu.Unlock()
	if c := h.made(); c != nil {
		return c.SetWriteDeadline(t)
	}
	return nil
}

// CloseWrite shuts down the writing side once the connection is made.
func (h *helloConn) CloseWrite() error {
	if c, ok := h.made().(interface{ CloseWrite() error }); ok {
		return c.CloseWrite()
	}
	return errors.ErrUnsupported
}

// errHelloRead stops the handshake parseHello runs once it has the
// ClientHello.
var errHelloRead = errors.New("switchyard: ClientHello read")

// parseHello reads the start of a connection: whole is false while b may
// be the beginning of a TLS ClientHello; once whole, tlsHello reports
// whether b began with one, and sni is its server name (lower-case, ""
// if none). crypto/tls parses the ClientHello: a server handshake that
// stops at its first callback.
func parseHello(b []byte) (sni string, tlsHello, whole bool) {
	if len(b) == 0 {
		return "", false, false
	}
	if b[0] != 0x16 { // not a TLS handshake record
		return "", false, true
	}
	if len(b) < 5 {
		return "", false, false
	}
	var info *tls.ClientHelloInfo
	srv := tls.Server(&helloReader{r: bytes.NewReader(b)}, &tls.Config{
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			info = hi
			return nil, errHelloRead
		},
	})
	err := srv.Handshake()
	switch {
	case info != nil:
		return lower(info.ServerName), true, true
	case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && len(b) < maxHello:
		return "", false, false // more to come
	}
	return "", false, true // not a ClientHello crypto/tls accepts
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return string(bytes.ToLower([]byte(s)))
		}
	}
	return s
}

// helloReader is the connection parseHello's handshake reads b from; what
// it writes (an alert) goes nowhere.
type helloReader struct{ r io.Reader }

func (c *helloReader) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *helloReader) Write(b []byte) (int, error)      { return len(b), nil }
func (c *helloReader) Close() error                     { return nil }
func (c *helloReader) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *helloReader) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *helloReader) SetDeadline(time.Time) error      { return nil }
func (c *helloReader) SetReadDeadline(time.Time) error  { return nil }
func (c *helloReader) SetWriteDeadline(time.Time) error { return nil }
