package switchyard

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/internal/router"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// DialOptions returns the options that make a grpc.ClientConn obey the
// mesh, for grpc.NewClient(target, mesh.DialOptions()...). The target's
// host (say "reviews:9080") names the service.
//
// The integration follows gRPC's own xDS design without a control plane: a
// resolver, registered for this ClientConn only, lists the endpoints of the
// target's ServiceEntry; a balancer keeps a SubConn per endpoint, each
// dialled through the ClientConn's own options (credentials, context
// dialer) with the endpoint's "host:port" as address; interceptors make the
// route decision once per call (match on "/pkg.Service/Method" and metadata,
// fault, timeout, weighted destination, admission) and run the retry loop;
// and the picker picks each attempt's endpoint within the chosen cluster,
// avoiding endpoints tried and ejected, and reports how the attempt ended to
// outlier detection. Targets the configuration does not know resolve
// through DNS as usual. For the TLS that DestinationRules originate, dial
// with [Mesh.TransportCredentials] as the ClientConn's credentials.
func (m *Mesh) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithResolvers(&resolverBuilder{m: m, scheme: "dns"}, &resolverBuilder{m: m, scheme: "passthrough"}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"` + balancerName + `":{}}]}`),
		grpc.WithChainUnaryInterceptor(m.unaryInterceptor),
		grpc.WithChainStreamInterceptor(m.streamInterceptor),
	}
}

// targetHost returns the host:port part of a ClientConn's target.
func targetHost(target string) string {
	if i := strings.Index(target, "://"); i >= 0 {
		target = target[i+3:]
		if j := strings.IndexByte(target, '/'); j >= 0 {
			target = target[j+1:]
		}
	}
	return target
}

// routeFor looks up the virtual host of a ClientConn's target.
func (m *Mesh) routeFor(cc *grpc.ClientConn) (*router.VirtualHost, string, uint32) {
	authority := targetHost(cc.Target())
	host, port := router.SplitAuthority(authority, "http")
	return m.snap.Load().table.Lookup(host), authority, port
}

func (m *Mesh) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if m.closed.Load() {
		return status.Error(codes.Unavailable, ErrClosed.Error())
	}
	vh, authority, port := m.routeFor(cc)
	if vh == nil {
		if err := m.blackHoleGRPC(authority); err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	in := router.GRPCInput(ctx, method, authority, port)
	err := vh.Invoke(ctx, &in, &m.env, func(ctx context.Context) error {
		return connClosed(cc, invoker(ctx, method, req, reply, cc, opts...))
	}, func() func(context.Context) error {
		// A mirrored copy gets messages of its own, made before the call
		// starts: it must share nothing the call or the caller writes.
		rq, rp := cloneMessage(req), newMessageLike(reply)
		return func(ctx context.Context) error { return invoker(ctx, method, rq, rp, cc, opts...) }
	})
	return unwrapClosed(err)
}

// cloneMessage copies a protobuf message; other messages are shared.
func cloneMessage(m any) any {
	if pm, ok := m.(proto.Message); ok {
		return proto.Clone(pm)
	}
	return m
}

// newMessageLike returns a new empty message of m's type.
func newMessageLike(m any) any {
	if pm, ok := m.(proto.Message); ok {
		return pm.ProtoReflect().New().Interface()
	}
	if t := reflect.TypeOf(m); t != nil && t.Kind() == reflect.Pointer {
		return reflect.New(t.Elem()).Interface()
	}
	return m
}

func (m *Mesh) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if m.closed.Load() {
		return nil, status.Error(codes.Unavailable, ErrClosed.Error())
	}
	vh, authority, port := m.routeFor(cc)
	if vh == nil {
		if err := m.blackHoleGRPC(authority); err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
	in := router.GRPCInput(ctx, method, authority, port)
	cs, err := vh.Stream(ctx, &in, &m.env, func(ctx context.Context, finished func(error)) (grpc.ClientStream, error) {
		// gRPC tells the stream's end, whichever way it comes, through
		// OnFinish: the mesh gives back the attempt's admission then.
		onFinish := grpc.OnFinish(func(err error) { finished(connClosed(cc, err)) })
		cs, err := streamer(ctx, desc, cc, method, append(opts[:len(opts):len(opts)], onFinish)...)
		return cs, connClosed(cc, err)
	})
	return cs, unwrapClosed(err)
}

// connClosed marks err final when cc has been closed: no retry can follow.
func connClosed(cc *grpc.ClientConn, err error) error {
	if err != nil && cc.GetState() == connectivity.Shutdown {
		return closedError{err}
	}
	return err
}

// closedError is the error of a call or stream whose ClientConn has been
// closed: it is never retried.
type closedError struct{ err error }

func (e closedError) Error() string              { return e.err.Error() }
func (e closedError) Unwrap() error              { return e.err }
func (e closedError) GRPCStatus() *status.Status { return status.Convert(e.err) }
func (closedError) Retriable() bool              { return false }

// unwrapClosed returns the error a closedError wraps, or err.
func unwrapClosed(err error) error {
	if ce, ok := err.(closedError); ok {
		return ce.err
	}
	return err
}

// resolverBuilder resolves the mesh's hosts to their endpoints and hands
// other targets to gRPC's own resolver of the same scheme.
type resolverBuilder struct {
	m      *Mesh
	scheme string
}

func (b *resolverBuilder) Scheme() string { return b.scheme }

func (b *resolverBuilder) Build(target resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	authority := target.Endpoint()
	host, _ := router.SplitAuthority(authority, "http")
	if b.m.snap.Load().registry.Lookup(host) == nil {
		if fallback := resolver.Get(b.scheme); fallback != nil {
			return fallback.Build(target, cc, opts)
		}
	}
	_, secure := opts.DialCreds.(*meshCredentials)
	r := &meshResolver{m: b.m, host: host, authority: authority, cc: cc, secure: secure}
	b.m.addResolver(r)
	r.update()
	return r, nil
}

// meshResolver lists the endpoints of every cluster of one host, and lists
// them again when the mesh's configuration changes.
type meshResolver struct {
	m         *Mesh
	host      string
	authority string
	cc        resolver.ClientConn
	secure    bool // the ClientConn's credentials are the mesh's, which originate TLS
	closed    atomic.Bool
}

func (r *meshResolver) update() {
	if r.closed.Load() {
		return
	}
	svc := r.m.snap.Load().registry.Lookup(r.host)
	var addrs []resolver.Address
	seen := map[connKey]bool{}
	if svc != nil {
		for _, c := range svc.Clusters() {
			if c.TLS != nil && !r.secure {
				r.cc.ReportError(status.Errorf(codes.Unavailable, "switchyard: cluster %s originates TLS (%s), which this ClientConn's transport credentials cannot do: dial with grpc.WithTransportCredentials(mesh.TransportCredentials(fallback))", c.Name, c.TLS.Mode))
				return
			}
			if c.Passthrough && !seen[connKey{addr: r.authority}] {
				seen[connKey{addr: r.authority}] = true
				addrs = append(addrs, resolver.Address{Addr: r.authority})
			}
			for _, ep := range c.Endpoints() {
				// An endpoint is listed once per TLS policy that reaches
				// it: the balancer connects to it under each.
				if k := (connKey{ep.Address, c.TLS}); !seen[k] {
					seen[k] = true
					addrs = append(addrs, withTLS(resolver.Address{Addr: ep.Address}, c.TLS))
				}
			}
		}
	}
	if len(addrs) == 0 {
		r.cc.ReportError(status.Error(codes.Unavailable, "switchyard: host "+r.host+" has no endpoints"))
		return
	}
	r.cc.UpdateState(resolver.State{Addresses: addrs})
}

func (r *meshResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (r *meshResolver) Close() {
	r.closed.Store(true)
	r.m.removeResolver(r)
}

// grpcResolvers are the mesh's live resolvers, told of every Update.
type grpcResolvers struct {
	mu  sync.Mutex
	set map[*meshResolver]struct{}
}

func (m *Mesh) addResolver(r *meshResolver) {
	m.resolvers.mu.Lock()
	defer m.resolvers.mu.Unlock()
	if m.resolvers.set == nil {
		m.resolvers.set = map[*meshResolver]struct{}{}
	}
	m.resolvers.set[r] = struct{}{}
}

func (m *Mesh) removeResolver(r *meshResolver) {
	m.resolvers.mu.Lock()
	defer m.resolvers.mu.Unlock()
	delete(m.resolvers.set, r)
}

// updateResolversOf relists the endpoints of the live resolvers of host.
func (m *Mesh) updateResolversOf(host string) {
	m.resolvers.mu.Lock()
	var rs []*meshResolver
	for r := range m.resolvers.set {
		if r.host == host {
			rs = append(rs, r)
		}
	}
	m.resolvers.mu.Unlock()
	for _, r := range rs {
		r.update()
	}
}

// updateResolvers relists the endpoints of every live resolver.
func (m *Mesh) updateResolvers() {
	m.resolvers.mu.Lock()
	rs := make([]*meshResolver, 0, len(m.resolvers.set))
	for r := range m.resolvers.set {
		rs = append(rs, r)
	}
	m.resolvers.mu.Unlock()
	for _, r := range rs {
		r.update()
	}
}
