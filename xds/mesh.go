package xds

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
	"github.com/switchyard-go/switchyard/mtls"
)

// Option configures NewMesh.
type Option interface{ apply(*meshOptions) }

type meshOptions struct {
	proxyless   bool
	meshOpts    []switchyard.Option
	clock       clock.Clock   // tests
	watchExpiry time.Duration // tests
}

type optionFunc func(*meshOptions)

func (f optionFunc) apply(o *meshOptions) { f(o) }

// Proxyless makes the mesh ask the control plane for the configuration of a
// proxyless gRPC client (node metadata GENERATOR=grpc) instead of a
// sidecar's. It then subscribes, on demand, only to the services the process
// calls: the first request to a host:port waits (within its context) for
// that service's listener, routes, clusters and endpoints. istiod gives such
// a client complete routes but lossy clusters: no outlier detection, of the
// connection pool only http2MaxRequests, no slow start, no retry budget, no
// locality weighting, no auto mTLS and, of TLS, only ISTIO_MUTUAL (see the
// package documentation).
func Proxyless() Option { return optionFunc(func(o *meshOptions) { o.proxyless = true }) }

// WithMeshOptions passes options to the switchyard.Mesh (clock, telemetry,
// source labels…). The node's locality is passed as switchyard.WithLocality
// first, so an option here may override it.
func WithMeshOptions(opts ...switchyard.Option) Option {
	return optionFunc(func(o *meshOptions) { o.meshOpts = append(o.meshOpts, opts...) })
}

// Mesh is a switchyard.Mesh whose configuration an xDS control plane pushes.
// Every method of switchyard.Mesh works on it (Explain, Observe, Config…);
// Update and Modify replace the pushed configuration until the next push
// (which is then translated whole). After a push of endpoints alone, Config
// still shows the endpoints of the last whole translation.
type Mesh struct {
	*switchyard.Mesh

	client    *xdsclient.Client
	proxyless bool
	template  string
	nodeID    string
	tlsEnv    *tlsEnv
	certs     *mtls.Source // the bootstrap's workload certificates, closed with the mesh
	inst      *instruments

	mu             sync.Mutex
	rs             *resources
	names          [nKinds]*xdsclient.NamesWatch // the named watches, one set per type
	wildcards      []func()                      // the wildcard watches' cancel funcs
	missing        map[watch]bool                // resources known not to exist
	changed        chan struct{}                 // closed and replaced at each change
	lastErr        error                         // the control plane unreachable, or a watch refused
	updateErr      error                         // the mesh refused the last translation
	rejected       map[string]error              // resources rejected (NACKed) now, by "type|name"
	wildcardSynced map[string]bool               // wildcard watches that have had their first answer
	pending        []func()                      // done funcs of the changes not yet applied
	applying       bool                          // an applier goroutine runs
	appliers       sync.WaitGroup
	closed         bool
	closeOnce      sync.Once

	// The endpoint fast path: what changed since the last application,
	// the translation in force (nil when the last one was refused) and the
	// token of the configuration it installed (meshopt.ConfigToken), and
	// the hosts whose endpoints were set since.
	full       bool            // something other than endpoints changed
	edsChanged map[string]bool // ClusterLoadAssignments changed, by name
	tr         *translation
	installed  any
	dirty      map[string]bool

	// What else changed since the last application, the translation
	// kept from push to push (update costs what changed), and the watches
	// the resources imply.
	chg changes
	inc *translation
	// The sidecar persona's initial sync, until it is whole: what changed
	// meanwhile, to translate and install at once.
	syncing   bool
	deferred  changes
	wants     wantIndex
	unwatched map[watch]bool // wanted watches the client refused to start: tried again at each application
}

// The types' keys: the prefix of a resource's "type|name" (in Err's
// order) and the type in the telemetry.
const (
	ldsKey = "lds|"
	rdsKey = "rds|"
	cdsKey = "cds|"
	edsKey = "eds|"
)

// kind is a resource type, as an index.
type kind uint8

const (
	kLDS kind = iota
	kRDS
	kCDS
	kEDS
	nKinds
)

// kindKeys are the kinds' keys.
var kindKeys = [nKinds]string{ldsKey, rdsKey, cdsKey, edsKey}

// kindOf is the kind of a type's key.
func kindOf(key string) kind {
	switch key {
	case ldsKey:
		return kLDS
	case rdsKey:
		return kRDS
	case cdsKey:
		return kCDS
	}
	return kEDS
}

// typeURLOf is the type URL of a type's key (ldsKey…).
func typeURLOf(key string) string {
	switch key {
	case ldsKey:
		return xdsclient.ListenerTypeURL
	case rdsKey:
		return xdsclient.RouteTypeURL
	case cdsKey:
		return xdsclient.ClusterTypeURL
	case edsKey:
		return xdsclient.EndpointTypeURL
	}
	return ""
}

// watch is a resource watched (or wanted) by name.
type watch struct {
	k    kind
	name string
}

// String is the watch's "type|name".
func (w watch) String() string { return kindKeys[w.k] + w.name }

// NewMesh connects to the first control plane of the bootstrap and returns
// a mesh that follows what it pushes. By default it subscribes as a sidecar
// (every listener and cluster, with full cluster fidelity) and returns once
// the initial configuration has arrived, or with ctx's error. With
// Proxyless it returns at once and subscribes per service called. The ctx
// bounds only the initial sync; Close stops the mesh.
//
// The mesh's workload certificates (for the clusters the control plane
// sends with mesh mTLS) are the files of the bootstrap's certificate
// provider "default" (or its only one), which NewMesh reads (an error if
// they cannot be) and then re-reads every refresh_interval, unless a
// switchyard.WithWorkloadCertificates among WithMeshOptions supplies them.
func NewMesh(ctx context.Context, b *Bootstrap, opts ...Option) (*Mesh, error) {
	if b == nil {
		return nil, errors.New("xds: NewMesh: nil bootstrap")
	}
	var o meshOptions
	for _, opt := range opts {
		opt.apply(&o)
	}
	bb := *b
	bb.Node.Metadata = maps.Clone(b.Node.Metadata)
	if bb.Node.Metadata == nil {
		bb.Node.Metadata = map[string]any{}
	}
	if o.proxyless {
		bb.Node.Metadata["GENERATOR"] = "grpc"
	} else {
		delete(bb.Node.Metadata, "GENERATOR")
	}

	m := &Mesh{
		proxyless: o.proxyless,
		template:  b.ClientDefaultListenerResourceNameTemplate,
		nodeID:    b.Node.ID,
		rs:        newResources(),
		missing:   map[watch]bool{},
		changed:   make(chan struct{}),
		full:      true,
		inc:       newTranslation(),
		syncing:   !o.proxyless,
	}
	var meshOpts []switchyard.Option
	if l := b.Node.Locality; l.Region != "" {
		loc := l.Region
		if l.Zone != "" {
			loc += "/" + l.Zone
			if l.SubZone != "" {
				loc += "/" + l.SubZone
			}
		}
		meshOpts = append(meshOpts, switchyard.WithLocality(loc))
	}
	env, src, err := workloadCertificates(b, o)
	if err != nil {
		return nil, err
	}
	m.tlsEnv, m.certs = env, src
	if src != nil {
		meshOpts = append(meshOpts, switchyard.WithWorkloadCertificates(src))
	}
	mesh, err := switchyard.New(switchyard.Config{}, append(meshOpts, o.meshOpts...)...)
	if err != nil {
		if src != nil {
			src.Close()
		}
		return nil, err
	}
	m.Mesh = mesh

	cfg, err := bb.clientConfig(m.resourceTypes())
	if err != nil {
		m.closeMeshAndCerts()
		return nil, err
	}
	cfg.Clock = o.clock
	cfg.WatchExpiryTimeout = o.watchExpiry
	// The proxyless persona subscribes to listeners and clusters by name,
	// which istiod's Delta server does not keep track of (see
	// xdsclient.Config.StateOfTheWorld); the sidecar persona's wildcard
	// subscription is what it is built for.
	cfg.StateOfTheWorld = o.proxyless
	c, err := xdsclient.New(cfg)
	if err != nil {
		m.closeMeshAndCerts()
		return nil, fmt.Errorf("xds: %w", err)
	}
	m.client = c
	m.inst = m.newInstruments(meterProvider(o.meshOpts), cfg.Server.URI)
	m.wants.init()
	m.mu.Lock()
	var errs []error
	for k, key := range kindKeys {
		var err error
		m.names[k], err = c.WatchNames(typeURLOf(key), &named{m: m, key: key})
		errs = append(errs, err)
	}
	if !o.proxyless {
		lc, err1 := c.WatchWildcard(xdsclient.ListenerTypeURL, &wildcard{m: m, key: ldsKey})
		cc, err2 := c.WatchWildcard(xdsclient.ClusterTypeURL, &wildcard{m: m, key: cdsKey})
		errs = append(errs, err1, err2)
		for _, cancel := range []func(){lc, cc} {
			if cancel != nil {
				m.wildcards = append(m.wildcards, cancel)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.mu.Unlock()
		m.Close()
		return nil, fmt.Errorf("xds: %w", err)
	}
	m.mu.Unlock()
	if o.proxyless {
		return m, nil
	}
	if err := m.wait(ctx, func() bool { return m.syncedLocked("") }); err != nil {
		m.Close()
		return nil, fmt.Errorf("xds: initial configuration: %w", err)
	}
	return m, nil
}

// workloadCertificates returns what clusters' TLS may name and, unless the
// caller passed switchyard.WithWorkloadCertificates, the workload's
// certificates from the bootstrap's certificate provider: the instance
// Istio names "default", or the only one.
func workloadCertificates(b *Bootstrap, o meshOptions) (*tlsEnv, *mtls.Source, error) {
	env := &tlsEnv{providers: b.CertificateProviders, workload: workloadProvider(b.CertificateProviders)}
	caller := false
	for _, opt := range o.meshOpts {
		if src, ok := meshopt.WorkloadCertificates(opt); ok {
			caller, env.certs = true, src != nil // the last one counts, as in switchyard.New
		}
	}
	if caller || env.workload == "" {
		return env, nil, nil
	}
	cp := b.CertificateProviders[env.workload]
	opts := []mtls.Option{mtls.WithRefreshInterval(cp.RefreshInterval)}
	if o.clock != nil {
		opts = append(opts, mtls.WithClock(o.clock))
	}
	src, err := mtls.NewFileSource(mtls.Files{CertChain: cp.CertificateFile, Key: cp.PrivateKeyFile, Roots: cp.CACertificateFile}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("xds: certificate_providers[%q]: %w", env.workload, err)
	}
	env.certs, env.own = true, true
	return env, src, nil
}

// closeMeshAndCerts closes the switchyard.Mesh, then the workload
// certificates the mesh read from the bootstrap.
func (m *Mesh) closeMeshAndCerts() error {
	err := m.Mesh.Close()
	if m.certs != nil {
		err = errors.Join(err, m.certs.Close())
	}
	return err
}

// Close stops following the control plane and closes the mesh.
func (m *Mesh) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		cancels := m.wildcards
		m.wildcards = nil
		for _, nw := range m.names {
			if nw != nil {
				cancels = append(cancels, nw.Cancel)
			}
		}
		close(m.changed)
		m.mu.Unlock()
		for _, c := range cancels {
			c()
		}
		m.inst.close()
		if m.client != nil {
			err = m.client.Close()
		}
		m.appliers.Wait()
		err = errors.Join(err, m.closeMeshAndCerts())
	})
	return err
}

// Err returns the problems with the pushed configuration now: each
// resource rejected (and NACKed, its previous version, if any, staying in
// force) until a version of it is accepted or it is removed, a
// configuration the mesh refused until one is installed, and the control
// plane unreachable until it answers again (the last good configuration
// staying in force). It is nil when there are none.
func (m *Mesh) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs := []error{m.lastErr, m.updateErr}
	for _, k := range slices.Sorted(maps.Keys(m.rejected)) {
		errs = append(errs, m.rejected[k])
	}
	return errors.Join(errs...)
}

// noteLocked records err, heard by the watch of type key (and resource
// name, "" for a wildcard watch): a rejected resource under its name until
// it is accepted, anything else as the last error.
func (m *Mesh) noteLocked(key, name string, err error) {
	var invalid *xdsclient.InvalidResourceError
	switch {
	case errors.As(err, &invalid):
		m.inst.rejected(key)
		if m.rejected == nil {
			m.rejected = map[string]error{}
		}
		m.rejected[key+invalid.Name] = err
	case errors.Is(err, xdsclient.ErrResourceNotFound):
		m.unrejectLocked(key, name)
	default:
		m.lastErr = err
	}
}

// acceptedLocked notes that a version of the resource was accepted (or it
// was removed): it is no longer rejected, and the control plane answers.
func (m *Mesh) acceptedLocked(key, name string) {
	m.unrejectLocked(key, name)
	m.lastErr = nil
}

// unrejectLocked notes that the resource is not rejected (any longer).
func (m *Mesh) unrejectLocked(key, name string) {
	if len(m.rejected) > 0 { // usually none: no key to build
		delete(m.rejected, key+name)
	}
}

// Transport is switchyard.Mesh's Transport. With Proxyless, the first
// request to a host:port subscribes to its configuration and waits for it
// within the request's context.
func (m *Mesh) Transport(base http.RoundTripper) http.RoundTripper {
	inner := m.Mesh.Transport(base)
	if !m.proxyless {
		return inner
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		host := req.Host
		if host == "" {
			host = req.URL.Host
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			port := "80"
			if req.URL.Scheme == "https" {
				port = "443"
			}
			host = net.JoinHostPort(strings.Trim(host, "[]"), port)
		}
		if _, err := m.ensure(req.Context(), host); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
		return inner.RoundTrip(req)
	})
}

// DialOptions is switchyard.Mesh's DialOptions. With Proxyless, each call
// first makes sure the target's configuration has arrived; a call to a
// target the control plane has no listener for fails with UNAVAILABLE,
// naming the listener, as it does through gRPC's own xDS resolver. (An
// HTTP request to such a host goes to the base transport: HTTP has no
// xds:/// scheme to say which hosts the mesh should know.)
func (m *Mesh) DialOptions() []grpc.DialOption {
	opts := m.Mesh.DialOptions()
	if !m.proxyless {
		return opts
	}
	ensure := func(ctx context.Context, cc *grpc.ClientConn) error {
		t := cc.Target()
		if i := strings.Index(t, ":///"); i >= 0 {
			t = t[i+4:]
		}
		missing, err := m.ensure(ctx, t)
		if err != nil {
			return status.FromContextError(err).Err()
		}
		if missing {
			return status.Errorf(codes.Unavailable, "xds: the control plane has no listener %q for target %q (node %q)", m.listenerName(t), t, m.nodeID)
		}
		return nil
	}
	return append([]grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if err := ensure(ctx, cc); err != nil {
				return err
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if err := ensure(ctx, cc); err != nil {
				return nil, err
			}
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}, opts...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// listenerName is the LDS name of a host:port (gRPC's
// client_default_listener_resource_name_template).
func (m *Mesh) listenerName(hostport string) string {
	if m.template == "" {
		return hostport
	}
	return strings.ReplaceAll(m.template, "%s", hostport)
}

// ensure subscribes to a service's listener and waits until its whole
// configuration has arrived, or the listener is known not to exist
// (missing).
func (m *Mesh) ensure(ctx context.Context, hostport string) (missing bool, err error) {
	name := m.listenerName(hostport)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, switchyard.ErrClosed
	}
	if !m.names[kLDS].Has(name) {
		m.watchLocked(watch{kLDS, name})
	}
	m.mu.Unlock()
	err = m.wait(ctx, func() bool {
		missing = m.missing[watch{kLDS, name}]
		return m.syncedLocked(name)
	})
	if err != nil {
		return false, fmt.Errorf("xds: waiting for the configuration of %s: %w", hostport, err)
	}
	return missing, nil
}

// wait blocks until done (called with m.mu held) holds, ctx ends or the mesh
// closes.
func (m *Mesh) wait(ctx context.Context, done func() bool) error {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return switchyard.ErrClosed
		}
		if done() {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// syncedLocked reports whether every resource the listener (or, for "",
// every listener) implies has arrived and is in force.
func (m *Mesh) syncedLocked(listener string) bool {
	if m.applying || m.syncing {
		return false // received, not yet in force
	}
	return m.receivedLocked(listener)
}

// receivedLocked is syncedLocked but for what is in force: whether
// everything listener (every listener: "") implies has been received or is
// known not to exist.
func (m *Mesh) receivedLocked(listener string) bool {
	rs := m.rs
	if listener == "" {
		if !m.wildcardSynced[ldsKey] || !m.wildcardSynced[cdsKey] {
			return false
		}
	}
	var ls []*listenerIR
	if listener != "" {
		if m.missing[watch{kLDS, listener}] {
			return true
		}
		l := rs.listeners[listener]
		if l == nil {
			return false
		}
		ls = append(ls, l)
	} else {
		for _, l := range rs.listeners {
			ls = append(ls, l)
		}
	}
	for _, l := range ls {
		rc := l.inline
		if rc == nil && l.rdsName != "" {
			if rc = rs.routes[l.rdsName]; rc == nil && !m.missing[watch{kRDS, l.rdsName}] {
				return false
			}
		}
		if rc == nil {
			continue
		}
		for _, vh := range rc.vhosts {
			for _, x := range vh.extra {
				for _, cn := range x.clusters {
					if !m.clusterSyncedLocked(cn) {
						return false
					}
				}
			}
		}
	}
	if listener == "" {
		for name := range rs.clusters {
			if !m.clusterSyncedLocked(name) {
				return false
			}
		}
	}
	return true
}

func (m *Mesh) clusterSyncedLocked(name string) bool {
	c := m.rs.clusters[name]
	if c == nil {
		return m.missing[watch{kCDS, name}] || (!m.proxyless && m.wildcardSynced[cdsKey])
	}
	if c.edsName == "" || c.ignored {
		return true
	}
	return m.rs.endpoints[c.edsName] != nil || m.missing[watch{kEDS, c.edsName}]
}

// watchLocked starts watching w: its name joins its type's set.
func (m *Mesh) watchLocked(w watch) {
	if err := m.names[w.k].Add(w.name); err != nil {
		m.lastErr = fmt.Errorf("xds: watch of %q: %w", w.name, err)
		if m.unwatched == nil {
			m.unwatched = map[watch]bool{}
		}
		m.unwatched[w] = true
		return
	}
	delete(m.unwatched, w)
}

// applyLocked updates the watches the resources imply, translates them and
// installs the result.
func (m *Mesh) applyLocked() {
	if m.closed {
		return
	}
	if !m.full && m.applyEndpointsLocked() {
		m.edsChanged = nil // not clear: the initial sync's table would stay
		close(m.changed)
		m.changed = make(chan struct{})
		return
	}
	m.full = false
	ch := m.chg
	ch.endpoints = m.edsChanged
	m.chg, m.edsChanged = changes{}, nil
	m.updateWatchesLocked(&ch)
	if m.syncing {
		// The initial sync: translated and installed once whole, not at
		// each step of the LDS→RDS→CDS→EDS walk (each would compile the
		// mesh for nothing: NewMesh returns only once it is whole).
		m.deferred.add(&ch)
		if !m.receivedLocked("") {
			m.full = true
			close(m.changed)
			m.changed = make(chan struct{})
			return
		}
		ch, m.deferred, m.syncing = m.deferred, changes{}, false
	}
	tr := m.inc
	rev := tr.update(m.rs, &ch)
	var token any
	var err error
	revised := false
	if rev != nil && m.tr != nil {
		// Some services' routes, over the translation in force: those
		// VirtualServices replaced, the list not copied. Unless an Update
		// or Modify installed another configuration since: then
		// translated whole.
		token, revised, err = meshopt.ReviseVirtualServices(m.Mesh, m.installed, rev.at, rev.vals)
	}
	if !revised {
		token, err = meshopt.Update(m.Mesh, tr.config())
	}
	if err != nil {
		m.updateErr = fmt.Errorf("xds: the mesh refused the pushed configuration (the previous one stays in force): %w", err)
		m.tr = nil
	} else {
		m.updateErr = nil
		m.tr, m.installed = tr, token
		// The endpoints the fast path set hold over an Update that leaves
		// their entry as it was in the configuration, which may be older
		// than they are: set them again.
		for h := range m.dirty {
			if se, _ := tr.entry(h); se != nil && se.Resolution == "STATIC" {
				_ = m.Mesh.SetEndpoints(h, se.Endpoints) // in the configuration just accepted
			}
		}
		m.dirty = nil
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

// wantIndex counts, for each resource watched by name, the resources
// that imply it, so that a push updates the watches its resources imply,
// not those of every resource. It is keyed per type by the names the
// resources hold: a watch costs an entry of its type's map, no key built.
// (Whether a resource is watched is its type's NamesWatch's to say.)
//
// What a listener implies, and a cluster of the sidecar, is counted when
// it is set (setLocked), from the resource replaced and the one replacing
// it: a function of the resource alone, it needs no record. A sidecar's
// cluster that implies its own ClusterLoadAssignment (as every cluster
// istiod sends) counts without an entry (wantedLocked). What a
// RouteConfiguration (Proxyless) implies is recorded in byRoute, and
// whether a proxyless cluster's ClusterLoadAssignment is counted in the
// cluster's entry: both also depend on whether something names them.
type wantIndex struct {
	refs    [nKinds]map[string]want
	byRoute map[string][]watch
	touched map[watch]bool // watches whose count changed since they were last updated
}

// want is a resource's entry in a wantIndex.
type want struct {
	n   int32 // the resources that imply it (but a sidecar cluster's own)
	eds bool  // (a proxyless cluster) the ClusterLoadAssignment it implies is counted
}

// init makes the index's maps.
func (w *wantIndex) init() {
	for k := range w.refs {
		w.refs[k] = map[string]want{}
	}
	w.byRoute = map[string][]watch{}
}

// count adds d to the count of k.
func (w *wantIndex) count(k watch, d int) {
	e := w.refs[k.k][k.name]
	e.n += int32(d)
	w.put(k, e)
	w.touch(k)
}

// touch notes that whether k is wanted may have changed.
func (w *wantIndex) touch(k watch) {
	if w.touched == nil {
		w.touched = map[watch]bool{}
	}
	w.touched[k] = true
}

// n is the count of k.
func (w *wantIndex) n(k watch) int32 { return w.refs[k.k][k.name].n }

// put stores k's entry, or drops it when it holds nothing.
func (w *wantIndex) put(k watch, e want) {
	if e == (want{}) {
		delete(w.refs[k.k], k.name)
		return
	}
	w.refs[k.k][k.name] = e
}

// replace counts keys instead of old.
func (w *wantIndex) replace(old, keys []watch) {
	if slices.Equal(old, keys) {
		return
	}
	for _, k := range old {
		w.count(k, -1)
	}
	for _, k := range keys {
		w.count(k, 1)
	}
}

// set records the watches that resource src implies now, in by (byRoute).
func (w *wantIndex) set(by map[string][]watch, src string, keys []watch) {
	if slices.Equal(by[src], keys) {
		return
	}
	w.replace(by[src], keys)
	if len(keys) == 0 {
		delete(by, src)
	} else {
		by[src] = keys
	}
}

// listenerWatches appends the watches listener l, called name, implies (none
// for nil).
func (m *Mesh) listenerWatches(keys []watch, name string, l *listenerIR) []watch {
	if l == nil {
		return keys
	}
	if m.proxyless {
		keys = append(keys, watch{kLDS, name})
	}
	if l.rdsName != "" {
		keys = append(keys, watch{kRDS, l.rdsName})
	}
	if m.proxyless && l.inline != nil {
		keys = appendClusterWatches(keys, l.inline)
	}
	return keys
}

// edsOf is the ClusterLoadAssignment cluster c implies by itself ("" for
// none, or for nil).
func edsOf(c *clusterIR) string {
	if c == nil || c.edsName == "" || c.ignored {
		return ""
	}
	return c.edsName
}

// setClusterLocked counts the ClusterLoadAssignment of cluster name
// replacing old by c (before rs.clusters has c): the sidecar's at once (its
// own by its name alone: see wantedLocked); a proxyless cluster's old one
// goes, and clusterWatchesLocked counts the new one if a route names it.
func (m *Mesh) setClusterLocked(name string, old, c *clusterIR) {
	w := &m.wants
	if !m.proxyless {
		if o, n := edsOf(old), edsOf(c); o != n {
			for _, x := range []struct {
				eds string
				d   int
			}{{o, -1}, {n, 1}} {
				switch x.eds {
				case "":
				case name:
					w.touch(watch{kEDS, name})
				default:
					w.count(watch{kEDS, x.eds}, x.d)
				}
			}
		}
		return
	}
	if e := w.refs[kCDS][name]; e.eds && old != c {
		w.count(watch{kEDS, edsOf(old)}, -1)
		e.eds = false
		w.put(watch{kCDS, name}, e)
	}
}

// updateWatchesLocked starts the watches the resources ch names imply now
// and cancels those nothing implies any longer, dropping their resources
// (which it adds to ch). A listener implies its RouteConfiguration, a
// cluster its ClusterLoadAssignment; with Proxyless, a listener also its
// own watch (kept once asked for) and a RouteConfiguration a listener names
// the clusters its routes name. (The sidecar's listeners and clusters are
// watched by wildcard, for good.)
func (m *Mesh) updateWatchesLocked(ch *changes) {
	w, rs := &m.wants, m.rs
	if m.proxyless {
		for r := range ch.routes {
			m.routeWatchesLocked(r)
		}
		for c := range ch.clusters {
			m.clusterWatchesLocked(c)
		}
	}
	// First what the resources imply, settled: a RouteConfiguration
	// implies clusters only while a listener names it, and (Proxyless) a
	// cluster its endpoints only while a route names it. Only then the
	// watches, so that none is cancelled that the settled count keeps.
	final := map[watch]bool{}
	for k := range m.unwatched {
		final[k] = true
	}
	for len(w.touched) > 0 {
		touched := w.touched
		w.touched = nil // a map does not shrink: a new one for each push
		for k := range touched {
			final[k] = true
			if m.proxyless {
				switch k.k {
				case kRDS:
					m.routeWatchesLocked(k.name)
				case kCDS:
					m.clusterWatchesLocked(k.name)
				}
			}
		}
	}
	for k := range final {
		watched := m.names[k.k].Has(k.name)
		if m.wantedLocked(k) {
			if !watched {
				m.watchLocked(k)
			}
			continue
		}
		delete(m.unwatched, k)
		if !watched || (m.proxyless && k.k == kLDS) {
			continue // listeners the process asked for stay watched
		}
		m.names[k.k].Remove(k.name)
		// What the resource implied is already out of the count: nothing
		// names it.
		switch k.k {
		case kRDS:
			delete(rs.routes, k.name)
			ch.note(&ch.routes, k.name)
		case kCDS:
			delete(rs.clusters, k.name)
			ch.note(&ch.clusters, k.name)
		case kEDS:
			delete(rs.endpoints, k.name)
			ch.note(&ch.endpoints, k.name)
		}
		delete(m.missing, k)
		m.unrejectLocked(kindKeys[k.k], k.name)
	}
}

// wantedLocked reports whether something implies k: its count, or (the
// sidecar) the cluster of its name, implying its own ClusterLoadAssignment.
func (m *Mesh) wantedLocked(k watch) bool {
	if m.wants.n(k) > 0 {
		return true
	}
	return !m.proxyless && k.k == kEDS && edsOf(m.rs.clusters[k.name]) == k.name
}

// routeWatchesLocked records the clusters RouteConfiguration name implies
// (Proxyless): those its routes name, if a listener names it.
func (m *Mesh) routeWatchesLocked(name string) {
	var keys []watch
	if rc := m.rs.routes[name]; rc != nil && m.wants.n(watch{kRDS, name}) > 0 {
		keys = appendClusterWatches(nil, rc)
	}
	m.wants.set(m.wants.byRoute, name, keys)
}

// clusterWatchesLocked counts the ClusterLoadAssignment proxyless cluster
// name implies, if a route names the cluster (one delivered after its
// watch was cancelled implies nothing), and no longer counts it if none
// does.
func (m *Mesh) clusterWatchesLocked(name string) {
	w, k := &m.wants, watch{kCDS, name}
	e := w.refs[kCDS][name]
	eds := ""
	if e.n > 0 {
		eds = edsOf(m.rs.clusters[name])
	}
	if e.eds == (eds != "") {
		return // the cluster in force is the one counted (setClusterLocked)
	}
	if e.eds {
		w.count(watch{kEDS, edsOf(m.rs.clusters[name])}, -1)
	} else {
		w.count(watch{kEDS, eds}, 1)
	}
	e.eds = !e.eds
	w.put(k, e)
}

// appendClusterWatches appends the watches of the clusters rc's routes
// name.
func appendClusterWatches(keys []watch, rc *routeIR) []watch {
	for _, vh := range rc.vhosts {
		for _, x := range vh.extra {
			for _, cn := range x.clusters {
				keys = append(keys, watch{kCDS, cn})
			}
		}
	}
	return keys
}

// applyEndpointsLocked applies a change of endpoints alone through the
// mesh's endpoint fast path, in O(the endpoints of the hosts it touches):
// it translates again only those hosts, and sets their endpoints if
// nothing else of them changed. It reports false, having changed nothing
// the full path would not redo, whenever in doubt: something else of a
// host changed (a subset or the host itself gained or lost its last
// endpoint, which changes the routes), a ClusterLoadAssignment arrived
// that the translation in force did not have or one it had went (the
// initial sync: a configuration compiled without endpoints, then given
// them, would keep the warnings of its empty subsets, and the mesh would
// hold both), a host resolves by DNS, or the configuration in force is not
// the translation's (an Update or Modify since).
func (m *Mesh) applyEndpointsLocked() bool {
	tr := m.tr
	if tr == nil || m.installed != meshopt.ConfigToken(m.Mesh) {
		return false
	}
	hosts := map[string]bool{}
	for name := range m.edsChanged {
		for _, h := range tr.edsHosts(m.rs, name) {
			hosts[h] = true
		}
	}
	next := make(map[string]*hostState, len(hosts))
	for h := range hosts {
		cs := tr.clustersOf(h)
		old, in := tr.hosts[h], hostInputs(m.rs, cs, tr.hashes)
		if len(in) != len(old.inputs) {
			return false
		}
		for i := range in {
			if (in[i].endpoints == nil) != (old.inputs[i].endpoints == nil) {
				return false // arrived or went
			}
		}
		hs := buildHost(m.rs, h, cs, tr.hashes)
		hs.inputs = in
		if hs.live != old.live {
			return false
		}
		if !hs.live {
			continue
		}
		ose, odr := tr.entry(h)
		if hs.se.Resolution != "STATIC" || ose.Resolution != "STATIC" || !reflect.DeepEqual(hs.dr, odr) {
			return false
		}
		a, b := *hs.se, *ose
		a.Endpoints, b.Endpoints = nil, nil
		if !reflect.DeepEqual(a, b) {
			return false
		}
		// Share what is unchanged with the configuration in force: one
		// copy of the host's DestinationRule (its entry in the lists) and
		// of its ServiceEntry but the endpoints, not two (values are never
		// modified once built).
		se := *ose
		se.Endpoints = hs.se.Endpoints
		hs.se, hs.dr = &se, nil
		next[h] = hs
	}
	if m.dirty == nil {
		m.dirty = map[string]bool{}
	}
	for h, hs := range next {
		m.dirty[h] = true
		// Only on the translation's configuration: an Update or Modify
		// may have got in since the check above.
		if ok, err := meshopt.SetEndpoints(m.Mesh, m.installed, h, hs.se.Endpoints); !ok || err != nil {
			return false // the full path sets the dirty hosts again
		}
		tr.hosts[h] = hs
		tr.stale[h] = true // its entry in the lists is the last whole translation's
	}
	return true
}

// sameSlice reports whether a and b are the same slice value: they share
// their array.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// set stores (or, for nil, removes) a decoded resource, and notes what
// changed for the next application.
func (m *Mesh) setLocked(key, name string, v any) {
	rs := m.rs
	switch key {
	case edsKey:
		if m.edsChanged == nil {
			m.edsChanged = map[string]bool{}
		}
		m.edsChanged[name] = true
	case ldsKey:
		m.chg.note(&m.chg.listeners, name)
	case rdsKey:
		m.chg.note(&m.chg.routes, name)
	case cdsKey:
		m.chg.note(&m.chg.clusters, name)
	}
	if key != edsKey {
		m.full = true
	}
	switch key {
	case ldsKey:
		l, _ := v.(*listenerIR)
		var a, b [2]watch
		m.wants.replace(m.listenerWatches(a[:0], name, rs.listeners[name]), m.listenerWatches(b[:0], name, l))
		if v == nil {
			delete(rs.listeners, name)
		} else {
			rs.listeners[name] = l
		}
	case rdsKey:
		if v == nil {
			delete(rs.routes, name)
		} else {
			rs.routes[name] = v.(*routeIR)
		}
	case cdsKey:
		c, _ := v.(*clusterIR)
		m.setClusterLocked(name, rs.clusters[name], c)
		if v == nil {
			delete(rs.clusters, name)
		} else {
			rs.clusters[name] = c
		}
	case edsKey:
		if v == nil {
			delete(rs.endpoints, name)
		} else {
			rs.endpoints[name] = v.(*endpointsIR)
		}
	}
}

// named hears of the resources of one type watched by name.
type named struct {
	m   *Mesh
	key string
}

// watchingLocked reports whether the name is in the watch's set: a call
// that passed the client's check (xdsclient.NamesWatch.Remove) before an
// application removed the name, then waited for m.mu, is about a resource
// no longer watched, which must not come back among the resources.
func (w *named) watchingLocked(name string) bool {
	return w.m.names[kindOf(w.key)].Has(name)
}

func (w *named) ResourceChanged(name string, r xdsclient.ResourceData, done func()) {
	m := w.m
	m.mu.Lock()
	if !w.watchingLocked(name) {
		m.mu.Unlock()
		done()
		return
	}
	defer m.mu.Unlock()
	delete(m.missing, watch{kindOf(w.key), name})
	m.setLocked(w.key, name, r)
	m.acceptedLocked(w.key, name)
	m.scheduleLocked(done)
}

func (w *named) ResourceError(name string, err error, done func()) {
	m := w.m
	m.mu.Lock()
	if !w.watchingLocked(name) {
		m.mu.Unlock()
		done()
		return
	}
	defer m.mu.Unlock()
	m.missing[watch{kindOf(w.key), name}] = true
	m.setLocked(w.key, name, nil)
	m.noteLocked(w.key, name, err)
	m.scheduleLocked(done)
}

// scheduleLocked applies the resources as they stand, soon, then calls
// done. Changes that arrive meanwhile (the other resources of one
// response, delivered one callback each) are applied together: one
// translation per batch, not per resource. The client reads the next
// response only after every done, so nothing is applied out of order.
func (m *Mesh) scheduleLocked(done func()) {
	m.pending = append(m.pending, done)
	if m.applying {
		return
	}
	m.applying = true
	m.appliers.Add(1)
	go func() {
		defer m.appliers.Done()
		for {
			m.mu.Lock()
			dones := m.pending
			m.pending = nil
			if len(dones) == 0 {
				m.applying = false
				if !m.closed {
					// Waiters check that nothing is left to apply.
					close(m.changed)
					m.changed = make(chan struct{})
				}
				m.mu.Unlock()
				return
			}
			m.applyLocked()
			m.mu.Unlock()
			for _, d := range dones {
				d()
			}
		}
	}()
}

func (w *named) AmbientError(name string, err error, done func()) {
	defer done()
	w.m.mu.Lock()
	if w.watchingLocked(name) {
		w.m.noteLocked(w.key, name, err)
	}
	w.m.mu.Unlock()
}

// wildcard watches every listener or cluster.
type wildcard struct {
	m   *Mesh
	key string
}

func (w *wildcard) ResourcesChanged(changed map[string]xdsclient.ResourceData, removed []string, done func()) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range changed {
		m.setLocked(w.key, name, r)
		m.acceptedLocked(w.key, name)
	}
	for _, name := range removed {
		m.setLocked(w.key, name, nil)
		m.acceptedLocked(w.key, name)
	}
	if m.wildcardSynced == nil {
		m.wildcardSynced = map[string]bool{}
	}
	m.wildcardSynced[w.key] = true
	m.scheduleLocked(done)
}

func (w *wildcard) AmbientError(err error, done func()) {
	defer done()
	w.m.mu.Lock()
	w.m.noteLocked(w.key, "", err)
	w.m.mu.Unlock()
}

// decoder deserialises, checks Envoy's field rules, and translates; a
// resource the translation cannot represent is rejected with the reason,
// which becomes the NACK's detail. The ResourceData of a resource is its
// translation (*listenerIR, *routeIR, *clusterIR or *endpointsIR): neither
// its bytes (the client recognises a re-sent resource by their digest) nor
// its message are kept.
type decoder[M interface {
	proto.Message
	ValidateAll() error
}] struct {
	newMsg    func() M
	name      func(M) string
	translate func(M) (any, error)
}

// Decode decodes and translates one resource. (A resource re-sent as the
// client caches it is not decoded again: the client recognises its bytes.)
func (d *decoder[M]) Decode(raw *anypb.Any, _ xdsclient.DecodeOptions) (*xdsclient.DecodeResult, error) {
	msg := d.newMsg()
	if err := proto.Unmarshal(raw.GetValue(), msg); err != nil {
		return nil, fmt.Errorf("cannot deserialise %s: %v", raw.GetTypeUrl(), err)
	}
	name := d.name(msg)
	if name == "" {
		return nil, fmt.Errorf("%s has no name", raw.GetTypeUrl())
	}
	res := &xdsclient.DecodeResult{Name: name}
	if err := msg.ValidateAll(); err != nil {
		return res, err
	}
	ir, err := d.translate(msg)
	if err != nil {
		// The client names the resource already.
		for _, prefix := range []string{"Listener ", "RouteConfiguration ", "Cluster ", "ClusterLoadAssignment "} {
			if p := prefix + strconv.Quote(name); strings.HasPrefix(err.Error(), p) {
				return res, errors.New(strings.TrimPrefix(strings.TrimPrefix(err.Error(), p), ": "))
			}
		}
		return res, err
	}
	res.Resource = ir
	return res, nil
}

func (m *Mesh) resourceTypes() []xdsclient.ResourceType {
	proxyless, env := m.proxyless, m.tlsEnv
	return []xdsclient.ResourceType{
		{TypeURL: xdsclient.ListenerTypeURL, TypeName: "Listener", AllResourcesRequiredInSotW: true,
			Decoder: &decoder[*listenerv3.Listener]{
				newMsg: func() *listenerv3.Listener { return new(listenerv3.Listener) }, name: (*listenerv3.Listener).GetName,
				translate: func(l *listenerv3.Listener) (any, error) { return translateListener(l) },
			}},
		{TypeURL: xdsclient.RouteTypeURL, TypeName: "RouteConfiguration",
			Decoder: &decoder[*routev3.RouteConfiguration]{
				newMsg: func() *routev3.RouteConfiguration { return new(routev3.RouteConfiguration) }, name: (*routev3.RouteConfiguration).GetName,
				translate: func(r *routev3.RouteConfiguration) (any, error) { return translateRouteConfig(r) },
			}},
		{TypeURL: xdsclient.ClusterTypeURL, TypeName: "Cluster", AllResourcesRequiredInSotW: true,
			Decoder: &decoder[*clusterv3.Cluster]{
				newMsg: func() *clusterv3.Cluster { return new(clusterv3.Cluster) }, name: (*clusterv3.Cluster).GetName,
				translate: func(c *clusterv3.Cluster) (any, error) { return translateCluster(c, proxyless, env) },
			}},
		{TypeURL: xdsclient.EndpointTypeURL, TypeName: "ClusterLoadAssignment",
			Decoder: &decoder[*endpointv3.ClusterLoadAssignment]{
				newMsg: func() *endpointv3.ClusterLoadAssignment { return new(endpointv3.ClusterLoadAssignment) }, name: (*endpointv3.ClusterLoadAssignment).GetClusterName,
				translate: func(c *endpointv3.ClusterLoadAssignment) (any, error) {
					return translateCLA(c, "ClusterLoadAssignment \""+c.GetClusterName()+"\"", false)
				},
			}},
	}
}
