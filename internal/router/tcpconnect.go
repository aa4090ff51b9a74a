package router

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/route"
)

// errConnOverflow is the error of a connection refused by its cluster's
// maxConnections: as Envoy's TCP proxy, a connection never waits for
// another to close.
var errConnOverflow = &pool.OverflowError{Limit: "maxConnections"}

// EndpointDial connects to address addr for a connection to cluster c; ctx
// ends when the cluster's connectTimeout does.
type EndpointDial func(ctx context.Context, c *cluster.Cluster, network, addr string) (net.Conn, error)

// Upstream is a connection the mesh made to an endpoint, with what it holds
// until it closes.
type Upstream struct {
	net.Conn
	// Cluster is the cluster it was made to; Endpoint the endpoint picked
	// (nil for a passthrough cluster).
	Cluster  *cluster.Cluster
	Endpoint *balancer.Endpoint

	once sync.Once
	lim  *pool.Limiter
}

// Release gives back the connection's admission and its load on its
// endpoint; it is idempotent. Close calls it.
func (u *Upstream) Release() {
	u.once.Do(func() {
		if u.lim != nil {
			u.lim.Release()
		}
		if u.Endpoint != nil {
			u.Endpoint.State.End()
		}
	})
}

// Close closes the connection and releases what it holds.
func (u *Upstream) Close() error {
	err := u.Conn.Close()
	u.Release()
	return err
}

// ConnectTimeout is Istio's connectTimeout for cluster c: 10s by default.
func ConnectTimeout(c *cluster.Cluster) time.Duration {
	if p := c.Policy.ConnectionPool; p != nil && p.TCP != nil && p.TCP.ConnectTimeout > 0 {
		return p.TCP.ConnectTimeout
	}
	return 10 * time.Second
}

// Connect makes one connection to cluster c through the attempt engine:
// it picks an endpoint, passes the cluster's connection limit at once (an
// overflow is a *pool.OverflowError and counts against no endpoint),
// dials within the connect timeout, and records the outcome — a connect
// failure or timeout is a local-origin failure for outlier detection. A
// passthrough cluster dials addr, the address the caller asked for. The
// connection counts as load on its endpoint until it closes. routeName
// names the route for telemetry.
func Connect(ctx context.Context, env *Env, routeName string, c *cluster.Cluster, network, addr string, dial EndpointDial) (*Upstream, error) {
	var span trace.Span
	if tr := env.Telemetry.Tracer(); tr != nil {
		ctx, span = tr.Start(ctx, "connect "+c.Host, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			telemetry.KeyRoute.String(routeName), telemetry.KeyHost.String(c.Host), telemetry.KeySubset.String(c.Subset),
			telemetry.KeyCluster.String(c.Name)))
	}
	start := env.Clock.Now()
	u, err := connect(ctx, env, c, network, addr, dial)
	if span != nil {
		if u != nil && u.Endpoint != nil {
			span.SetAttributes(telemetry.KeyEndpoint.String(u.Endpoint.Address))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(telemetry.KeyErrorType.String(engine.Classify(ctx, err).String()))
			if errors.Is(err, pool.ErrOverflow) {
				span.AddEvent("overflow", trace.WithAttributes(attribute.String("limit", "maxConnections")))
			}
		}
		span.End()
	}
	if env.Observers.active() {
		env.Observers.notify(route.Observation{Host: c.Host, Subset: c.Subset, Failed: err != nil, Latency: env.Clock.Now().Sub(start)})
	}
	return u, err
}

func connect(ctx context.Context, env *Env, c *cluster.Cluster, network, addr string, dial EndpointDial) (*Upstream, error) {
	lim, err := admitNow(ctx, c)
	if err != nil {
		return nil, err
	}
	release := func() {
		if lim != nil {
			lim.Release()
		}
	}
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout(c))
	defer cancel()
	if c.Passthrough {
		conn, err := dial(cctx, c, network, addr)
		if err != nil {
			release()
			return nil, err
		}
		return &Upstream{Conn: conn, Cluster: c, lim: lim}, nil
	}
	var sel engine.Selection
	sel.Reset(c, engine.Rules{}, env.Clock)
	sel.Begin(1)
	ep, err := sel.Pick(nil)
	if err != nil {
		release()
		return nil, err
	}
	start := sel.Start(ep)
	conn, err := dial(cctx, c, network, ep.Address)
	if err != nil {
		release()
		r := engine.Result{Kind: engine.Unreachable}
		switch {
		case ctx.Err() != nil:
			r.Kind = engine.GaveUp // the caller gave up
		case cctx.Err() != nil:
			r.Kind = engine.TimedOut
			err = &ConnectTimeoutError{Cluster: c.Name, Endpoint: ep.Address, After: ConnectTimeout(c)}
		}
		sel.Done(ep, start, r)
		return nil, err
	}
	sel.Done(ep, start, engine.Result{Status: 200}) // connected: a local-origin success
	ep.State.Begin()                                // the connection is load on ep until it closes
	return &Upstream{Conn: conn, Cluster: c, Endpoint: ep, lim: lim}, nil
}

// ConnectTimeoutError is the error of a connection not made within its
// cluster's connectTimeout.
type ConnectTimeoutError struct {
	Cluster, Endpoint string
	After             time.Duration
}

func (e *ConnectTimeoutError) Error() string {
	return "connect to " + e.Endpoint + " of " + e.Cluster + " timed out after " + e.After.String() + " (connectTimeout)"
}

// Timeout reports true, as net.Error does for a timeout.
func (e *ConnectTimeoutError) Timeout() bool { return true }

// Temporary reports true.
func (e *ConnectTimeoutError) Temporary() bool { return true }

// admitNow passes a connection through c's limits without waiting: a full
// maxConnections is an overflow at once, as in Envoy's TCP proxy.
func admitNow(ctx context.Context, c *cluster.Cluster) (*pool.Limiter, error) {
	if c.Limiter() == nil {
		return nil, nil
	}
	// A context that has ended makes Acquire give up at once instead of
	// queueing, with errConnOverflow as its cause.
	now, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	cancel(errConnOverflow)
	return engine.Admit(now, c)
}
