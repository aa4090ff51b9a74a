package switchyard

import (
	"errors"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/router"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

// balancerName is the gRPC load-balancing policy that picks by the mesh's
// routing decisions.
const balancerName = "switchyard_mesh"

func init() { balancer.Register(balancerBuilder{}) }

// balancerBuilder builds the mesh's gRPC balancer. gRPC's base balancer
// would not do: it rebuilds its picker only when the set of ready
// connections changes, so a call waiting for a subset whose endpoints all
// fail to connect would wait for its deadline. This one tells the picker
// which connections fail, and rebuilds it whenever one starts or stops
// failing.
type balancerBuilder struct{}

func (balancerBuilder) Name() string { return balancerName }

func (balancerBuilder) Build(cc balancer.ClientConn, _ balancer.BuildOptions) balancer.Balancer {
	return &meshBalancer{cc: cc, conns: map[connKey]*endpointConn{}}
}

// connKey names the connection to one endpoint under one TLS policy: an
// address that two clusters reach with different tls settings gets a
// connection for each, never a shared one.
type connKey struct {
	addr string
	tls  *cluster.TLS // nil: the ClientConn's own credentials
}

// endpointConn is the connection to one endpoint address.
type endpointConn struct {
	sc    balancer.SubConn
	state connectivity.State
	// failure is the last connection error since the connection last was
	// READY: once in TRANSIENT_FAILURE, it counts as failing while it
	// retries (CONNECTING, IDLE) until it connects, as in gRPC's base
	// balancer.
	failure error
}

// meshBalancer keeps a connection to every endpoint the resolver lists and
// gives the ClientConn a picker over their states. gRPC calls its methods
// one at a time.
type meshBalancer struct {
	cc          balancer.ClientConn
	conns       map[connKey]*endpointConn
	resolverErr error
	last        connectivity.State // the state last reported, with a picker
	reported    bool
}

func (b *meshBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	b.resolverErr = nil
	listed := make(map[connKey]bool, len(s.ResolverState.Addresses))
	for _, a := range s.ResolverState.Addresses {
		key := connKey{a.Addr, addressTLS(a)}
		listed[key] = true
		if _, ok := b.conns[key]; ok {
			continue
		}
		e := &endpointConn{state: connectivity.Idle}
		//lint:ignore SA1019 the deprecation warns that SubConns will take one address each, as these do
		sc, err := b.cc.NewSubConn([]resolver.Address{a}, balancer.NewSubConnOptions{
			StateListener: func(st balancer.SubConnState) { b.updateState(e, st) },
		})
		if err != nil {
			continue
		}
		e.sc = sc
		b.conns[key] = e
		sc.Connect()
	}
	for key, e := range b.conns {
		if !listed[key] {
			e.sc.Shutdown()
			delete(b.conns, key)
		}
	}
	if len(s.ResolverState.Addresses) == 0 {
		b.ResolverError(errors.New("switchyard: the resolver listed no endpoints"))
		return balancer.ErrBadResolverState
	}
	b.publish(true)
	return nil
}

func (b *meshBalancer) ResolverError(err error) {
	b.resolverErr = err
	b.publish(true)
}

// UpdateSubConnState is not called: every SubConn has a StateListener.
func (b *meshBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

// updateState follows one connection's state; the picker is rebuilt when
// the connection becomes or stops being ready or failing.
func (b *meshBalancer) updateState(e *endpointConn, st balancer.SubConnState) {
	wasReady, wasFailing := e.state == connectivity.Ready, e.failure != nil
	switch st.ConnectivityState {
	case connectivity.Shutdown:
		return
	case connectivity.Idle:
		e.sc.Connect() // stay connected to every endpoint
	case connectivity.Ready:
		e.failure = nil
	case connectivity.TransientFailure:
		e.failure = st.ConnectionError
		if e.failure == nil {
			e.failure = errors.New("connection failed")
		}
	}
	e.state = st.ConnectivityState
	b.publish((e.state == connectivity.Ready) != wasReady || (e.failure != nil) != wasFailing)
}

// publish reports the aggregate state with a new picker when rebuild is
// true or the aggregate state changed: READY when a connection is,
// CONNECTING while one may connect, TRANSIENT_FAILURE when none can.
func (b *meshBalancer) publish(rebuild bool) {
	p := &picker{views: map[*cluster.TLS]*connView{}}
	state := connectivity.TransientFailure
	var last error
	for key, e := range b.conns {
		v := p.views[key.tls]
		if v == nil {
			v = &connView{ready: map[string]balancer.SubConn{}, failing: map[string]error{}}
			p.views[key.tls] = v
		}
		switch {
		case e.state == connectivity.Ready:
			v.ready[key.addr] = e.sc
			p.all = append(p.all, e.sc)
			state = connectivity.Ready
		case e.failure != nil:
			v.failing[key.addr] = e.failure
			last = e.failure
		case state != connectivity.Ready:
			state = connectivity.Connecting
		}
	}
	if state == connectivity.TransientFailure {
		switch {
		case len(b.conns) == 0 && b.resolverErr != nil:
			p.err = b.resolverErr
		case last != nil:
			p.err = errors.New("last connection error: " + last.Error())
		default:
			p.err = errors.New("switchyard: no endpoint to connect to")
		}
	}
	if !rebuild && b.reported && state == b.last {
		return
	}
	b.last, b.reported = state, true
	b.cc.UpdateState(balancer.State{ConnectivityState: state, Picker: p})
}

func (b *meshBalancer) Close() {}

// ExitIdle connects every idle connection.
func (b *meshBalancer) ExitIdle() {
	for _, e := range b.conns {
		if e.state == connectivity.Idle {
			e.sc.Connect()
		}
	}
}

// picker picks the connection of the endpoint the call's cluster chooses.
// It is immutable: the balancer builds a new one when a connection becomes
// or stops being ready or failing.
type picker struct {
	views map[*cluster.TLS]*connView // the connections under each TLS policy
	all   []balancer.SubConn
	err   error // why no connection can be made, when none can; else nil
	next  atomic.Uint32
}

// connView is the connections made under one TLS policy, by address: what
// the clusters with that policy can pick from.
type connView struct {
	ready   map[string]balancer.SubConn
	failing map[string]error // connections in TRANSIENT_FAILURE, by address
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	call := router.CallFromContext(info.Ctx)
	if call == nil || call.Cluster().Passthrough {
		// A call the interceptors did not route (or a passthrough host):
		// round robin over the ready connections.
		if len(p.all) == 0 {
			if p.err != nil {
				return balancer.PickResult{}, p.err // not a status: fails the call unless it waits for ready
			}
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		return balancer.PickResult{SubConn: p.all[int(p.next.Add(1))%len(p.all)]}, nil
	}
	v := p.views[call.Cluster().TLS]
	if v == nil {
		// No connection under this cluster's TLS policy yet: the resolver
		// has not listed them, or refused to (p.err says why).
		if p.err != nil {
			return balancer.PickResult{}, p.err
		}
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	ep, start, err := call.Pick(v)
	if err == engine.ErrNotReady {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	if err != nil {
		return balancer.PickResult{}, err
	}
	return balancer.PickResult{SubConn: v.ready[ep.Address], Done: func(di balancer.DoneInfo) {
		call.Done(info.Ctx, ep, start, di)
	}}, nil
}

// Ready reports whether the endpoint at addr has a ready connection.
func (v *connView) Ready(addr string) bool {
	_, ok := v.ready[addr]
	return ok
}

// Failure returns the error with which connections to addr fail, or nil.
func (v *connView) Failure(addr string) error { return v.failing[addr] }
