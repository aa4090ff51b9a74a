package switchyard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/patchlist"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/router"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// ErrClosed is returned for requests made through a mesh after Close.
var ErrClosed = errors.New("switchyard: mesh is closed")

// Mesh routes requests in-process as a client-side Istio sidecar would. It
// is safe for concurrent use; its configuration is replaced atomically by
// Update. Close releases its connections.
type Mesh struct {
	opts options
	env  router.Env

	mu     sync.Mutex // serialises Update and Close
	snap   atomic.Pointer[snapshot]
	closed atomic.Bool

	// endpoint transports (base == nil), one per endpoint of each cluster
	// (keyed by its live state), as Envoy's per-cluster connection pools:
	// made at an endpoint's first request, dropped when it leaves
	transports sync.Map // *balancer.State → *endpointTransport (a pointer: compared by CompareAndSwap)
	extraMu    sync.Mutex
	extra      map[*balancer.State]endpointTransport // for endpoints a snapshot race missed
	direct     *http.Transport                       // for hosts the configuration does not know
	gatewayH2  atomic.Pointer[http.Transport]        // for gRPC upstreams of gateways, made on first use
	conns      atomic.Int64                          // connections open on the mesh's own transports
	baseClones sync.Map                              // baseKey → *http.Transport: see baseTLS

	resolvers grpcResolvers // gRPC resolvers, told of updates

	// DNS resolution of ServiceEntries (dns.go): the watches by service
	// host, guarded by mu; the refreshers being stopped; the system
	// resolver, made when first needed.
	dns          map[string]*dnsWatch
	dnsStops     sync.WaitGroup
	system       *dnsresolve.System
	dialEndpoint router.EndpointDial // how DialContext connects to an endpoint; tests replace it

	tel     *telemetry.T
	history history // recent updates and ejections, for the admin handler
}

type endpointTransport struct {
	rt       http.RoundTripper
	settings transportSettings
}

// snapshot is one compiled configuration. Requests load it once and use it
// throughout, so an Update never changes a request midway.
type snapshot struct {
	// cfg is the configuration, but for its VirtualServices when vs is
	// set (after reviseVirtualServices): read it with config.
	cfg      Config
	vs       *patchlist.List[route.VirtualService]
	registry *cluster.Registry
	table    *router.Table
	gateways map[string]*compiledGateway // by "namespace/name"
	scope    *sidecarScope               // the Sidecar that applies to the process
	tcp      *router.TCPTable            // tcp and tls routes, for DialContext
	warnings []*ConfigError
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
	if m.opts.mirrorLimit <= 0 {
		m.opts.mirrorLimit = 64
	}
	m.tel = telemetry.New(m.opts.telemetry, m.observeEjected)
	m.tel.ObserveDNS(m.observeDNS)
	m.env = router.Env{Rand: m.opts.rand, Clock: m.opts.clock, BodyLimit: m.opts.bodyLimit, Mirrorer: router.NewMirrorer(m.opts.mirrorLimit),
		SourceIP: m.opts.sourceIP, Observers: &router.Observers{}, Telemetry: m.tel}
	m.direct = settingsOf(nil).newTransport("", &m.conns)
	m.direct.Proxy = http.ProxyFromEnvironment
	s, err := m.compile(cfg, nil)
	if err != nil {
		m.env.Mirrorer.Close()
		return nil, err
	}
	m.mu.Lock()
	m.install(s)
	m.mu.Unlock()
	m.recordUpdate(counts(cfg), nil)
	return m, nil
}

// Update replaces the configuration atomically. Requests in flight finish on
// the configuration they started with; endpoint state (active requests)
// carries over for endpoints that remain. If cfg is invalid, Update returns
// every problem and the running configuration stays in place.
func (m *Mesh) Update(cfg Config) error {
	return m.Modify(func(Config) (Config, error) { return cfg, nil })
}

// Warnings returns what the running configuration holds that Istio accepts
// but that will not do what its author probably meant, each naming its
// resource and field: a route to a host no ServiceEntry defines or to a
// subset no DestinationRule defines (requests routed there get 503, as
// Envoy answers for a cluster it does not have), a subset that selects no
// endpoint, a DestinationRule for an unknown host, a rule merged away.
// [WithWarningsAsErrors] makes them errors.
func (m *Mesh) Warnings() []*ConfigError {
	return slices.Clone(m.snap.Load().warnings)
}

// Config returns the configuration in force. Its values are shared with the
// running mesh: copy before changing them (Modify does).
func (m *Mesh) Config() Config { return m.snap.Load().config() }

// config returns the snapshot's configuration.
func (s *snapshot) config() Config {
	c := s.cfg
	if s.vs != nil {
		c.VirtualServices = s.vs.Slice()
	}
	return c
}

// virtualServices returns the snapshot's VirtualServices, without
// flattening a list revised by reviseVirtualServices.
func (s *snapshot) virtualServices() *patchlist.List[route.VirtualService] {
	if s.vs != nil {
		return s.vs
	}
	return patchlist.Of(s.cfg.VirtualServices)
}

// Modify replaces the configuration with f's change to the one in force, as
// one atomic step: no Update can slip between the read and the write. If f
// or the new configuration fails, nothing changes. f must not modify its
// argument's slices or pointed-to values in place; Config.Clone gives a
// copy it may change.
func (m *Mesh) Modify(f func(Config) (Config, error)) error {
	_, err := m.modify(f)
	return err
}

// modify is Modify, returning the snapshot installed.
func (m *Mesh) modify(f func(Config) (Config, error)) (*snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	cur := m.snap.Load()
	next, err := f(cur.config())
	if err != nil {
		return nil, err
	}
	s, err := m.compile(next, cur)
	m.recordUpdate(counts(next), err)
	if err != nil {
		return nil, err
	}
	m.install(s)
	return s, nil
}

// Explanation says how the mesh would route a request: see [Mesh.Explain].
type Explanation = route.Explanation

// Explain says how the mesh would route req, without sending it: the routes
// tried in order and why each one before the match did not match, the
// action, the destinations with their share of traffic, their clusters'
// endpoints with their live state (active requests, ejected or not), and
// the endpoint an attempt would pick now. Its String method renders it for
// a person. For a gRPC call, describe it as a request: POST to
// "/package.Service/Method" with the metadata as headers.
func (m *Mesh) Explain(req *http.Request) Explanation {
	if req.URL == nil {
		return Explanation{Action: "invalid request (no URL)"} // RoundTrip refuses it
	}
	authority := router.Authority(req)
	host, port := router.SplitAuthority(authority, req.URL.Scheme)
	s := m.snap.Load()
	vh := s.table.Lookup(host)
	if vh == nil {
		return Explanation{Host: host, Port: port, Action: s.scope.unknownHostAction()}
	}
	in := router.NewInput(req, authority, port)
	e := vh.Explain(&in)
	e.Host, e.Port = host, port
	return e
}

// ExplainGRPC says how the mesh would route a unary or streaming call of
// method ("/package.Service/Method") on a ClientConn for target
// ("reviews:9080"), with ctx's outgoing metadata as its headers: the gRPC
// form of [Mesh.Explain].
func (m *Mesh) ExplainGRPC(ctx context.Context, target, method string) Explanation {
	req := &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "http", Host: targetHost(target), Path: method},
		Header: http.Header{"Content-Type": {"application/grpc"}}}
	req.Host = req.URL.Host
	md, _ := metadata.FromOutgoingContext(ctx)
	for k, vs := range md {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return m.Explain(req.WithContext(ctx))
}

// Observation is the outcome of one request forwarded by the mesh: the
// destination host and subset, the status the caller got (0 for an error),
// whether it failed (5xx or error) and the time to the response headers.
type Observation = route.Observation

// Observe calls f with the outcome of every HTTP request the mesh forwards,
// until the returned function is called. f runs on the request's goroutine
// and must be quick and safe for concurrent use. Without observers the
// request path pays one atomic load.
func (m *Mesh) Observe(f func(Observation)) (stop func()) { return m.env.Observers.Add(f) }

// Close stops outlier detection's sweeps, cancels mirrored copies in flight
// and waits for them, and releases the mesh's idle connections. Requests
// made afterwards fail with ErrClosed; requests in flight finish, but
// nothing more is sent for them (a retry, a mirror), so nothing dials
// after Close, and the connections they hold close as they fall idle.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.waitDNS() // after Unlock: a refresher's last answer may wait for mu
	defer m.mu.Unlock()
	if m.closed.Swap(true) {
		return nil
	}
	m.closeDNS()
	m.snap.Load().registry.Stop()
	m.env.Mirrorer.Close()
	m.closeIdleConnections()
	if m.conns.Load() > 0 {
		// Connections busy now close as they fall idle: an HTTP/1.1
		// connection does so by itself after CloseIdleConnections, an
		// HTTP/2 one only when asked again once its streams have ended.
		time.AfterFunc(closeSweep, func() { m.sweepAfterClose(closeSweep) })
	}
	m.tel.Close()
	return nil
}

// closeSweep is the first interval at which, after Close, idle connections
// are closed again until none is left open; it doubles up to a second.
const closeSweep = 10 * time.Millisecond

func (m *Mesh) sweepAfterClose(d time.Duration) {
	m.closeIdleConnections()
	if m.conns.Load() > 0 {
		d = min(2*d, time.Second)
		time.AfterFunc(d, func() { m.sweepAfterClose(d) })
	}
}

// closeIdleConnections closes the idle connections of every transport of
// the mesh.
func (m *Mesh) closeIdleConnections() {
	m.transports.Range(func(_, t any) bool {
		closeIdle(t.(*endpointTransport).rt)
		return true
	})
	m.extraMu.Lock()
	for _, t := range m.extra {
		closeIdle(t.rt)
	}
	m.extraMu.Unlock()
	m.direct.CloseIdleConnections()
	if t := m.gatewayH2.Load(); t != nil {
		t.CloseIdleConnections()
	}
	m.closeBaseClones(false, nil)
}

func (m *Mesh) compile(cfg Config, prev *snapshot) (*snapshot, error) {
	if prev != nil {
		if s, ok, err := m.revise(cfg, prev); ok {
			return s, err
		}
	}
	var prevReg *cluster.Registry
	var prevTable *router.Table
	if prev != nil {
		prevReg, prevTable = prev.registry, prev.table
	}
	reg, err := cluster.Compile(cfg.ServiceEntries, cfg.DestinationRules, cluster.Options{Rand: m.opts.rand, Clock: m.opts.clock, Previous: prevReg,
		Client: cluster.Client{Locality: m.opts.locality, Labels: m.opts.sourceLabels, Namespace: m.opts.sourceNamespace, Domain: m.opts.domain}, OnEjection: m.recordEjection, Workload: m.opts.workload})
	if err != nil {
		return nil, err
	}
	scope, err := compileSidecars(cfg.Sidecars, m.opts.sourceNamespace, m.opts.sourceLabels)
	if err != nil {
		return nil, err
	}
	src := match.Source{Labels: m.opts.sourceLabels, Namespace: m.opts.sourceNamespace}
	table, err := router.CompileFrom(cfg.VirtualServices, reg, src, &m.env,
		router.Binding{Admit: scope.admitVirtualService, AdmitService: scope.admitService}, prevTable)
	tcp, tcpErr := router.CompileTCP(cfg.VirtualServices, reg, src)
	if err != nil || tcpErr != nil {
		var errs fielderr.List
		errs.Merge("", err)
		errs.Merge("", tcpErr)
		return nil, errs.Err()
	}
	gateways, err := compileGateways(cfg.Gateways, cfg.VirtualServices, reg, src, &m.env)
	if err != nil {
		return nil, err
	}
	return m.finish(&snapshot{cfg: cfg, registry: reg, table: table, tcp: tcp, gateways: gateways, scope: scope})
}

// finish gives a compiled snapshot its warnings, which are errors under
// WithWarningsAsErrors.
func (m *Mesh) finish(s *snapshot) (*snapshot, error) {
	var warnings []*ConfigError
	for _, ws := range [][]*ConfigError{s.registry.Warnings(), s.table.Warnings(), s.tcp.Warnings()} {
		warnings = append(warnings, ws...)
	}
	if m.opts.strict && len(warnings) > 0 {
		errs := make([]error, len(warnings))
		for i, w := range warnings {
			errs[i] = w
		}
		return nil, errors.Join(errs...)
	}
	s.warnings = warnings
	return s, nil
}

// install publishes s, puts its registry to work and brings the endpoint
// transports in line with it: those of endpoints that left are closed, and
// those of the clusters it rebuilt whose connection-pool settings changed
// are replaced at their next request. Its cost is in what changed.
func (m *Mesh) install(s *snapshot) {
	var prev *cluster.Registry
	if p := m.snap.Load(); p != nil {
		prev = p.registry
	}
	if s.registry == prev {
		// Revised routes over the same clusters: no endpoint came or
		// went, and no cluster changed.
		m.snap.Store(s)
		m.updateResolvers()
		m.closeExtra()
		return
	}
	replaced := s.registry.Activate(prev)
	m.snap.Store(s)
	m.watchDNS(s.registry, replaced)
	m.updateResolvers()
	live := map[*balancer.State]bool{}
	for _, svc := range s.registry.Fresh() {
		for _, c := range svc.Clusters() {
			settings := settingsFor(c)
			for _, ep := range c.Endpoints() {
				live[ep.State] = true
				if t, ok := m.transports.Load(ep.State); ok && t.(*endpointTransport).settings != settings {
					m.dropTransport(ep.State)
				}
			}
		}
	}
	for _, svc := range replaced {
		for _, c := range svc.Clusters() {
			for _, ep := range c.Endpoints() {
				if !live[ep.State] {
					m.dropTransport(ep.State)
				}
			}
		}
	}
	m.closeExtra()
	m.closeBaseClones(false, m.tlsInUse(s.registry))
}

// tlsInUse returns the TLS settings of reg's clusters if some transport
// cloned from the base one holds TLS settings, for closeBaseClones to
// drop those no cluster uses any more; else nil, without going through
// every cluster.
func (m *Mesh) tlsInUse(reg *cluster.Registry) map[*cluster.TLS]bool {
	withTLS := false
	m.baseClones.Range(func(k, _ any) bool {
		withTLS = k.(baseKey).tls != nil
		return !withTLS
	})
	if !withTLS {
		return nil
	}
	inUse := map[*cluster.TLS]bool{}
	reg.Each(func(svc *cluster.Service) {
		for _, c := range svc.Clusters() {
			inUse[c.TLS] = true
		}
	})
	return inUse
}

// closeExtra closes the idle connections of the transports made for
// endpoints that requests on older snapshots picked, and forgets them.
func (m *Mesh) closeExtra() {
	m.extraMu.Lock()
	for _, t := range m.extra {
		closeIdle(t.rt)
	}
	m.extra = nil
	m.extraMu.Unlock()
}

// dropTransport closes the idle connections of the transport of an
// endpoint and forgets it.
func (m *Mesh) dropTransport(st *balancer.State) {
	if t, ok := m.transports.LoadAndDelete(st); ok {
		closeIdle(t.(*endpointTransport).rt)
	}
}

// transportFor returns the transport of an endpoint of cluster c, making
// it at the endpoint's first request.
func (m *Mesh) transportFor(c *cluster.Cluster, ep *balancer.Endpoint) http.RoundTripper {
	cur, ok := m.transports.Load(ep.State)
	if ok && cur.(*endpointTransport).settings.tls == c.TLS {
		return cur.(*endpointTransport).rt
	}
	settings := settingsFor(c)
	if m.current(c, ep) {
		nt := &endpointTransport{rt: m.newEndpointTransport(ep.Address, settings), settings: settings}
		for ok {
			// install publishes a snapshot before it retires the
			// transports whose settings changed: a request in between
			// must not originate the TLS the cluster had (or plain text
			// where it now requires TLS).
			if m.transports.CompareAndSwap(ep.State, cur, nt) {
				closeIdle(cur.(*endpointTransport).rt)
				return nt.rt
			}
			if cur, ok = m.transports.Load(ep.State); ok && cur.(*endpointTransport).settings.tls == c.TLS {
				return cur.(*endpointTransport).rt
			}
		}
		cur, _ = m.transports.LoadOrStore(ep.State, nt)
		return cur.(*endpointTransport).rt
	}
	// A request that started on an older snapshot picked an endpoint the
	// current one no longer has.
	m.extraMu.Lock()
	defer m.extraMu.Unlock()
	if t, ok := m.extra[ep.State]; ok {
		return t.rt
	}
	if m.extra == nil {
		m.extra = map[*balancer.State]endpointTransport{}
	}
	t := endpointTransport{rt: m.newEndpointTransport(ep.Address, settings), settings: settings}
	m.extra[ep.State] = t
	return t.rt
}

// current reports whether ep is an endpoint of c and c a cluster of the
// configuration in force.
func (m *Mesh) current(c *cluster.Cluster, ep *balancer.Endpoint) bool {
	svc := m.snap.Load().registry.Lookup(c.Host)
	if svc == nil || svc.Cluster(c.Subset, c.Port) != c {
		return false
	}
	for _, e := range c.Endpoints() {
		if e.State == ep.State {
			return true
		}
	}
	return false
}

func (m *Mesh) newEndpointTransport(addr string, s transportSettings) http.RoundTripper {
	if m.opts.endpointTransport != nil {
		return m.opts.endpointTransport(addr)
	}
	if s.maxConnDuration > 0 {
		return &rotatingTransport{settings: s, addr: addr, clock: m.opts.clock, conns: &m.conns}
	}
	return s.newTransport(addr, &m.conns)
}

func closeIdle(t http.RoundTripper) {
	if c, ok := t.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
