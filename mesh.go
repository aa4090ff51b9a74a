package switchyard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// ErrClosed is returned for requests made through a mesh after Close.
var ErrClosed = errors.New("switchyard: mesh is closed")

// Mesh routes requests in-process as a client-side Istio sidecar would. It
// is safe for concurrent use; its configuration is replaced atomically by
// Update. Close releases its connections.
type Mesh struct {
	opts options
	env  route.Env

	mu     sync.Mutex // serialises Update and Close
	snap   atomic.Pointer[snapshot]
	closed atomic.Bool

	// endpoint transports (base == nil), copy-on-write by address
	transports atomic.Pointer[map[string]http.RoundTripper]
	extraMu    sync.Mutex
	extra      map[string]http.RoundTripper // created for addresses a snapshot race missed
	direct     *http.Transport              // for hosts the configuration does not know
}

// snapshot is one compiled configuration. Requests load it once and use it
// throughout, so an Update never changes a request midway.
type snapshot struct {
	cfg      Config
	registry *subset.Registry
	table    *route.Table
}

// New validates cfg and builds a mesh from it. Every problem in cfg is
// reported, each as a [ConfigError] naming the resource and field path.
func New(cfg Config, opts ...Option) (*Mesh, error) {
	m := &Mesh{}
	for _, o := range opts {
		if o != nil {
			o.apply(&m.opts)
		}
	}
	if m.opts.clock == nil {
		m.opts.clock = clock.Real{}
	}
	if m.opts.rand == nil {
		m.opts.rand = rng.Runtime{}
	}
	m.env = route.Env{Rand: m.opts.rand, Clock: m.opts.clock}
	m.direct = newTransport(nil)
	m.direct.Proxy = http.ProxyFromEnvironment
	s, err := m.compile(cfg, nil)
	if err != nil {
		return nil, err
	}
	m.install(s)
	return m, nil
}

// Update replaces the configuration atomically. Requests in flight finish on
// the configuration they started with; endpoint state (active requests)
// carries over for endpoints that remain. If cfg is invalid, Update returns
// every problem and the running configuration stays in place.
func (m *Mesh) Update(cfg Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	s, err := m.compile(cfg, m.snap.Load())
	if err != nil {
		return err
	}
	m.install(s)
	return nil
}

// Close releases the mesh's idle connections. Requests made afterwards fail
// with ErrClosed; requests in flight finish.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Swap(true) {
		return nil
	}
	if ts := m.transports.Load(); ts != nil {
		for _, t := range *ts {
			closeIdle(t)
		}
	}
	m.extraMu.Lock()
	for _, t := range m.extra {
		closeIdle(t)
	}
	m.extraMu.Unlock()
	m.direct.CloseIdleConnections()
	return nil
}

func (m *Mesh) compile(cfg Config, prev *snapshot) (*snapshot, error) {
	var prevReg *subset.Registry
	if prev != nil {
		prevReg = prev.registry
	}
	reg, err := subset.Compile(cfg.ServiceEntries, cfg.DestinationRules, subset.Options{Rand: m.opts.rand, Previous: prevReg})
	if err != nil {
		return nil, err
	}
	table, err := route.Compile(cfg.VirtualServices, reg, match.Source{Labels: m.opts.sourceLabels, Namespace: m.opts.sourceNamespace})
	if err != nil {
		return nil, err
	}
	return &snapshot{cfg: cfg, registry: reg, table: table}, nil
}

// install publishes s and brings the endpoint transports in line with it.
func (m *Mesh) install(s *snapshot) {
	old := m.transports.Load()
	next := map[string]http.RoundTripper{}
	for _, svc := range s.registry.All() {
		for _, c := range svc.Clusters() {
			for _, ep := range c.Endpoints() {
				if _, ok := next[ep.Address]; ok {
					continue
				}
				if old != nil {
					if t, ok := (*old)[ep.Address]; ok {
						next[ep.Address] = t
						continue
					}
				}
				next[ep.Address] = m.newEndpointTransport(ep.Address)
			}
		}
	}
	m.transports.Store(&next)
	m.snap.Store(s)
	if old != nil {
		for addr, t := range *old {
			if _, kept := next[addr]; !kept {
				closeIdle(t)
			}
		}
	}
	m.extraMu.Lock()
	for _, t := range m.extra {
		closeIdle(t)
	}
	m.extra = nil
	m.extraMu.Unlock()
}

// transportFor returns the transport of an endpoint address.
func (m *Mesh) transportFor(addr string) http.RoundTripper {
	if ts := m.transports.Load(); ts != nil {
		if t, ok := (*ts)[addr]; ok {
			return t
		}
	}
	// A request that started on an older snapshot picked an endpoint the
	// current one no longer has.
	m.extraMu.Lock()
	defer m.extraMu.Unlock()
	if t, ok := m.extra[addr]; ok {
		return t
	}
	if m.extra == nil {
		m.extra = map[string]http.RoundTripper{}
	}
	t := m.newEndpointTransport(addr)
	m.extra[addr] = t
	return t
}

func (m *Mesh) newEndpointTransport(addr string) http.RoundTripper {
	if m.opts.endpointTransport != nil {
		return m.opts.endpointTransport(addr)
	}
	return newTransport(&addr)
}

// newTransport returns an HTTP transport with Istio's connection defaults
// (10s connect timeout, 1h idle timeout). With dialAddr set, it connects to
// that address whatever the request's URL names, so a request keeps its URL,
// Host and TLS server name while going to a chosen endpoint.
func newTransport(dialAddr *string) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       time.Hour,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if dialAddr != nil {
		addr := *dialAddr
		t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}
	}
	return t
}

func closeIdle(t http.RoundTripper) {
	if c, ok := t.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
