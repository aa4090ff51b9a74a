package switchyard

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/router"
)

// Gateway returns an HTTP server for one port of the Gateway called name
// ("namespace/name"; a bare name is in namespace "default"): an ingress
// that routes each request with the VirtualServices bound to the Gateway
// (their gateways list it), through the same engine as [Mesh.Transport] —
// match, split, retry, timeout, fault, mirror, outlier detection,
// connection pools, telemetry — as a reverse proxy.
//
// The server answers hosts its servers expose on the port (404 for
// others, and for hosts no bound VirtualService routes), redirects plain
// HTTP to HTTPS where tls.httpsRedirect is set, appends the client to
// X-Forwarded-For, sets X-Forwarded-Proto, sets X-Request-Id when absent,
// drops hop-by-hop headers, and passes WebSocket upgrades, streaming
// bodies, trailers and gRPC (sent upstream over h2c) through. It speaks
// HTTP/1.1, HTTP/2 and, on a plain port, h2c.
//
// When the port terminates TLS (SIMPLE or MUTUAL) the server's TLSConfig
// is set: serve it with ServeTLS(listener, "", ""), otherwise with
// Serve(listener). The listener is the caller's: its address need not be
// the Gateway's port number. Routes, hosts and certificates follow
// [Mesh.Update] (certificate files are read at each update); whether the
// port is TLS is fixed when Gateway is called. Set the server's timeouts
// as for any server; Shutdown it before closing the mesh.
func (m *Mesh) Gateway(name string, port uint32) (*http.Server, error) {
	key := name
	if !strings.Contains(key, "/") {
		key = "default/" + key
	}
	g := m.snap.Load().gateways[key]
	if g == nil {
		return nil, fmt.Errorf("switchyard: no Gateway %q", key)
	}
	p := g.ports[port]
	if p == nil {
		ports := make([]uint32, 0, len(g.ports))
		for n := range g.ports {
			ports = append(ports, n)
		}
		slices.Sort(ports)
		return nil, fmt.Errorf("switchyard: Gateway %q has no server on port %d (its ports: %v)", key, port, ports)
	}
	h := &gatewayHandler{m: m, key: key, port: port, tls: p.tls}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    &gatewayTransport{m: m},
		ErrorHandler: proxyError,
		ErrorLog:     log.New(io.Discard, "", 0),
		BufferPool:   proxyBuffers{},
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	if p.tls {
		srv.TLSConfig = &tls.Config{GetConfigForClient: h.tlsConfig, NextProtos: []string{"h2", "http/1.1"}}
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv, nil
}

type gatewayHandler struct {
	m     *Mesh
	key   string
	port  uint32
	tls   bool
	proxy *httputil.ReverseProxy
}

// gatewayPortKey carries the port's compiled servers from the handler to
// its transport, so that a request uses one snapshot throughout.
type gatewayPortKey struct{}

// current returns the port as the configuration in force defines it, or
// nil when it no longer serves it as it did.
func (h *gatewayHandler) current() *gatewayPort {
	g := h.m.snap.Load().gateways[h.key]
	if g == nil {
		return nil
	}
	if p := g.ports[h.port]; p != nil && p.tls == h.tls {
		return p
	}
	return nil
}

func (h *gatewayHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.m.closed.Load() {
		http.Error(w, ErrClosed.Error(), http.StatusServiceUnavailable)
		return
	}
	p := h.current()
	if p == nil {
		http.Error(w, fmt.Sprintf("Gateway %q no longer serves port %d this way", h.key, h.port), http.StatusNotFound)
		return
	}
	host, _ := router.SplitAuthority(r.Host, "http")
	s := p.server(host)
	if s == nil {
		w.WriteHeader(http.StatusNotFound) // Envoy: no virtual host
		return
	}
	if s.redirect && r.TLS == nil {
		// Envoy's require_tls: the same host and path over https.
		w.Header().Set("Location", "https://"+r.Host+r.URL.RequestURI())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), gatewayPortKey{}, p)))
}

// tlsConfig picks the termination of the server whose hosts cover the
// client's SNI, else the port's first.
func (h *gatewayHandler) tlsConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	p := h.current()
	if p == nil || len(p.servers) == 0 {
		return nil, fmt.Errorf("switchyard: Gateway %q no longer terminates TLS on port %d", h.key, h.port)
	}
	if s := p.server(strings.ToLower(hello.ServerName)); s != nil && s.tls != nil {
		return s.tls, nil
	}
	return p.servers[0].tls, nil
}

// rewrite makes the upstream request as Envoy's HTTP connection manager
// does at an edge: X-Forwarded-For appended, X-Forwarded-Proto set,
// X-Request-Id generated when absent, the Host kept.
func (h *gatewayHandler) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = pr.In.Host
	pr.Out.Host = pr.In.Host
	if prior, ok := pr.In.Header["X-Forwarded-For"]; ok {
		pr.Out.Header["X-Forwarded-For"] = slices.Clone(prior)
	}
	pr.SetXForwarded()
	pr.Out.Header.Del("X-Forwarded-Host") // Envoy does not set it
	if pr.Out.Header.Get("X-Request-Id") == "" {
		pr.Out.Header.Set("X-Request-Id", h.requestID())
	}
}

// requestID returns a random UUID (version 4), as Envoy generates.
func (h *gatewayHandler) requestID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h.m.opts.rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], h.m.opts.rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// proxyError answers a request the transport returned an error for: the
// client went away (nothing to answer) or the request itself was at fault.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	status := http.StatusBadGateway
	if errors.Is(err, ErrClosed) {
		status = http.StatusServiceUnavailable
	}
	http.Error(w, err.Error(), status)
}

// gatewayTransport routes the proxy's upstream requests with the port's
// table.
type gatewayTransport struct{ m *Mesh }

func (t *gatewayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	p, _ := req.Context().Value(gatewayPortKey{}).(*gatewayPort)
	if p == nil || p.table == nil {
		httpbody.CloseRequest(req)
		return nil, errors.New("switchyard: gateway request without its port")
	}
	authority := req.Host
	host, _ := router.SplitAuthority(authority, "http")
	vh := p.table.Lookup(host)
	if vh == nil {
		httpbody.CloseRequest(req)
		return reply.New(req, http.StatusNotFound, nil, ""), nil // Envoy: route not found
	}
	in := router.NewInput(req, authority, p.number)
	if req.TLS != nil {
		in.Scheme = "https"
	}
	return vh.RoundTrip(req, &in, gatewaySender{&meshTransport{m: t.m}}, &t.m.env)
}

// gatewaySender sends attempts with the mesh's own transports, and gRPC
// over h2c: a gateway speaks HTTP/2 to gRPC upstreams whatever the client
// spoke to it.
type gatewaySender struct{ mt *meshTransport }

func (s gatewaySender) Send(req *http.Request, c *cluster.Cluster, ep *balancer.Endpoint) (*http.Response, error) {
	if ep == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc") || req.URL.Scheme != "http" {
		return s.mt.Send(req, c, ep)
	}
	m := s.mt.m
	if m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, reqerr.Wrap(ErrClosed)
	}
	cp := &requestCopy{req: *req, url: *req.URL}
	cp.url.Host = ep.Address
	cp.req.URL = &cp.url
	resp, err := m.h2cTransport().RoundTrip(&cp.req)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// h2cTransport returns the mesh's transport for gRPC upstreams of its
// gateways, making it on first use.
func (m *Mesh) h2cTransport() *http.Transport {
	if t := m.gatewayH2.Load(); t != nil {
		return t
	}
	s := settingsOf(nil)
	s.h2 = "UPGRADE"
	t := s.newTransport("", &m.conns)
	if !m.gatewayH2.CompareAndSwap(nil, t) {
		return m.gatewayH2.Load()
	}
	return t
}

// proxyBuffers lends the reverse proxy its 32 KiB copy buffers, which it
// would otherwise allocate for every request.
type proxyBuffers struct{}

var proxyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (proxyBuffers) Get() []byte { return proxyBufferPool.Get().(*[32 << 10]byte)[:] }

func (proxyBuffers) Put(b []byte) {
	if cap(b) == 32<<10 {
		proxyBufferPool.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}
