package router

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	grpcbalancer "google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/pool"
)

// Call is the routing decision of one gRPC call, carried in the context of
// each attempt so that the ClientConn's picker picks within the chosen
// cluster through the attempt engine, as HTTP requests pick. Attempts are
// sequential.
type Call struct {
	sel engine.Selection
	// how the current attempt went: whether it reached the picker, and
	// whether it failed by the call's own doing
	picked atomic.Bool
	own    atomic.Bool
	// what the current attempt did, for its telemetry
	ep      atomic.Pointer[balancer.Endpoint]
	ejected atomic.Bool
}

// Cluster returns the destination cluster drawn for the call.
func (c *Call) Cluster() *cluster.Cluster { return c.sel.Cluster() }

// begin starts attempt n.
func (c *Call) begin(n int) {
	c.sel.Begin(n)
	c.picked.Store(false)
	c.own.Store(false)
	c.ep.Store(nil)
	c.ejected.Store(false)
}

type callKey struct{}

// CallFromContext returns the call state the mesh's interceptors put in an
// attempt's context, or nil.
func CallFromContext(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// Pick returns an endpoint of the call's cluster with a ready connection
// (conns are the ClientConn's), picked by the attempt engine as HTTP
// requests pick, and the time to give Done. Errors are the engine's:
// engine.ErrNotReady while an endpoint it could use may still connect
// (gRPC waits for the next picker), an *engine.UnreachableError once none
// can (not a status: gRPC fails the call with UNAVAILABLE unless it waits
// for ready), and UNAVAILABLE "no healthy upstream" when every endpoint is
// ejected.
func (c *Call) Pick(conns engine.Conns) (*balancer.Endpoint, time.Time, error) {
	ep, err := c.sel.Pick(conns)
	if err != nil {
		if err == engine.ErrNoHealthyUpstream {
			err = status.Error(codes.Unavailable, "no healthy upstream")
		}
		return nil, time.Time{}, err
	}
	c.picked.Store(true)
	c.ep.Store(ep)
	return ep, c.sel.Start(ep), nil
}

// Done reports the end of an attempt to ep that started at start (from
// Pick), as gRPC reports it to the picker; ctx is the attempt's.
//
// Nothing is recorded of an attempt that failed by the call's own doing
// (see ownError) — it is returned as it is and never retried — nor of one
// the caller gave up on (its context ended, not by a route or per-try
// timeout); a pick gRPC abandoned because the connection stopped being
// ready is undone.
func (c *Call) Done(ctx context.Context, ep *balancer.Endpoint, start time.Time, di grpcbalancer.DoneInfo) {
	err := di.Err
	switch {
	case err == nil && !di.BytesSent:
		// gRPC abandoned the pick (its connection was no longer ready) and
		// picks again: no attempt was made.
		c.sel.Abandon(ep)
		c.ep.Store(nil)
	case err != nil && ownError(err, di.BytesSent, di.BytesReceived, sending(ctx)):
		c.own.Store(true)
		c.sel.Done(ep, start, engine.Result{Kind: engine.Own})
	default:
		if c.sel.Done(ep, start, engine.GRPCResult(ctx, err)) {
			c.ejected.Store(true)
		}
	}
}

// sending reports whether ctx is a stream attempt's with a SendMsg in
// progress.
func sending(ctx context.Context) bool {
	a := streamAttemptFrom(ctx)
	return a != nil && a.sending.Load() > 0
}

// ownError reports whether an attempt that ended with err failed by the
// call's own doing — its metadata, its message, its call options — rather
// than at the endpoint; sent and received are gRPC's DoneInfo.BytesSent and
// BytesReceived, sending whether a SendMsg was in progress. grpc-go (1.85)
// makes such errors itself, in three places:
//
//   - before picking an endpoint (newClientStream): metadata it rejects, a
//     compressor or codec not registered (INTERNAL). The picker never hears
//     of these; classify catches them.
//   - after the pick, refusing to create the stream on the connection
//     (http2Client.NewStream): metadata over the header-list size the
//     server advertised (INTERNAL), per-RPC credentials that fail
//     (UNAUTHENTICATED). BytesSent is then false, as for a connection that
//     closed under the pick — which is UNAVAILABLE.
//   - in SendMsg, before writing (prepareMsg and the size check): a message
//     that does not marshal or compress (INTERNAL) or exceeds the send limit
//     (RESOURCE_EXHAUSTED), with texts of its own; it finishes the stream
//     with them. A server's status has reached the client (received) unless
//     the failure happened while sending.
//
// UNAVAILABLE, CANCELLED and DEADLINE_EXCEEDED are never the call's own.
func ownError(err error, sent, received, sending bool) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.OK, codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return false
	}
	if !sent {
		return true
	}
	return (!received || sending) && localSendFailure(s.Message())
}

// localSendFailure reports whether msg is one of grpc-go's own texts for a
// message it could not send (rpc_util.go encode and compress, stream.go
// SendMsg).
func localSendFailure(msg string) bool {
	for _, prefix := range []string{
		"grpc: error while marshaling: ",
		"grpc: error while compressing: ",
		"grpc: message too large (",
		"trying to send message larger than max (",
		"SendMsg called after CloseSend",
	} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// classify marks err, with which the current attempt ended, as the call's
// own when it is (see ownError): it is then never retried. An attempt that
// never reached the picker failed by the call's own doing unless it found
// no connection or its context ended.
func (c *Call) classify(err error) error {
	if err == nil {
		return nil
	}
	if !c.own.Load() {
		if c.picked.Load() {
			return err
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
			return err
		}
		var r interface{ Retriable() bool }
		if errors.As(err, &r) {
			return err // the mesh's own (an overflow), already final
		}
	}
	return callError{err}
}

// callError is an error of the call's own making, never retried; the
// caller gets the error it wraps.
type callError struct{ err error }

func (e callError) Error() string              { return e.err.Error() }
func (e callError) Unwrap() error              { return e.err }
func (e callError) GRPCStatus() *status.Status { return status.Convert(e.err) }
func (callError) Retriable() bool              { return false }

// unwrapCallError returns the error a callError wraps, or err.
func unwrapCallError(err error) error {
	if ce, ok := err.(callError); ok {
		return ce.err
	}
	return err
}

// GRPCInput describes a gRPC call for matching: its method path is the URI,
// its outgoing metadata the headers, its target the authority.
func GRPCInput(ctx context.Context, method, authority string, port uint32) match.Input {
	return match.Input{Method: "POST", Scheme: "http", Authority: authority, Path: method, Port: port, Header: outgoingMD{ctx}}
}

type outgoingMD struct{ ctx context.Context }

func (m outgoingMD) Lookup(name match.HeaderName) (string, bool) {
	if name.Lower == "content-type" {
		return "application/grpc", true
	}
	vs := metadata.ValueFromOutgoingContext(m.ctx, name.Lower)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// overflowStatus is a pool overflow as a gRPC status: UNAVAILABLE, never
// retried.
type overflowStatus struct{ *status.Status }

func (o overflowStatus) Error() string              { return o.Err().Error() }
func (o overflowStatus) GRPCStatus() *status.Status { return o.Status }
func (o overflowStatus) Retriable() bool            { return false }

// grpcDecision is the routing decision of a gRPC call or stream: the
// route, the destination cluster, and the context its attempts run in
// (route timeout, metadata operations, the Call the picker reads).
type grpcDecision struct {
	ctx    context.Context
	cancel context.CancelFunc
	route  *Route
	dest   *destination
	call   *Call
	limits retrypolicy.Limits
}

// decideGRPC routes a call within vh as RoundTrip routes a request: the
// first matching route (a known host without one answers UNIMPLEMENTED, as
// Envoy's 404 maps), its route timeout (DEADLINE_EXCEEDED), its fault
// (delay, then abort as a status), one weighted destination. On success
// the caller must call cancel when the call ends.
func (vh *VirtualHost) decideGRPC(ctx context.Context, in *match.Input, env *Env) (grpcDecision, error) {
	r, _ := vh.Match(in)
	if r == nil {
		return grpcDecision{}, status.Error(codes.Unimplemented, "no route matched "+in.Path)
	}
	switch r.kind {
	case actionRedirect:
		return grpcDecision{}, status.Error(codes.Unimplemented, "the route answers with a redirect, which gRPC cannot follow")
	case actionDirect:
		if r.direct.status == 200 {
			return grpcDecision{}, status.Error(codes.Unknown, "the route answers with a direct response, which carries no gRPC message")
		}
		return grpcDecision{}, status.Error(codes.Code(grpccode.ForHTTP(r.direct.status)), string(r.direct.body))
	}
	cancel := context.CancelFunc(func() {})
	if r.Timeout > 0 {
		if tctx, tcancel := engine.WithTimeout(ctx, env.Clock, r.Timeout); tcancel != nil {
			ctx, cancel = tctx, tcancel
		}
	}
	if r.fault != nil {
		if err := r.fault.ApplyGRPC(ctx); err != nil {
			err = deadlineStatus(ctx, err)
			cancel()
			return grpcDecision{route: r}, err // the route, for telemetry
		}
	}
	d := r.pick(env.Rand)
	c := d.target.Cluster(in.Port)
	if c == nil {
		cancel()
		return grpcDecision{}, status.Error(codes.Unavailable, "no cluster: "+d.host+" has several ports and neither the route nor the target names one of them")
	}
	if len(d.reqOps) > 0 {
		ctx = appendMetadata(ctx, d.reqOps)
	}
	call := &Call{}
	call.sel.Reset(c, r.rules, env.Clock)
	if h, ok := grpcHash(ctx, c, env); ok {
		call.sel.SetHash(h)
	}
	dec := grpcDecision{ctx: ctx, cancel: cancel, route: r, dest: d, call: call, limits: retrypolicy.Unlimited{}}
	if lim := c.Limiter(); lim != nil {
		dec.limits = lim
	}
	return dec, nil
}

// admit passes the cluster's admission limits; an overflow is UNAVAILABLE
// and never retried. The limiter returned (nil for none) must be released
// when the attempt ends.
func admit(ctx context.Context, c *cluster.Cluster) (*pool.Limiter, error) {
	lim, err := engine.Admit(ctx, c)
	if err != nil {
		if errors.Is(err, pool.ErrOverflow) {
			return nil, overflowStatus{status.New(codes.Unavailable, reply.OverflowBody)}
		}
		return nil, status.FromContextError(err).Err()
	}
	return lim, nil
}

// Invoke carries out a unary gRPC call within virtual host vh: the routing
// decision of decideGRPC, mirrors, then the retry policy's attempt loop on
// the gRPC retry conditions, each attempt admitted by the cluster's limits.
// invoke sends one attempt with the given context, in which the picker
// finds the Call; mirrorCall, called before the call starts, prepares a copy
// of it (its own request and reply messages) for a mirror.
func (vh *VirtualHost) Invoke(ctx context.Context, in *match.Input, env *Env, invoke func(ctx context.Context) error, mirrorCall func() func(ctx context.Context) error) error {
	if tr, ms := env.Telemetry.Tracer(), env.Telemetry.Metrics(); tr != nil || ms != nil {
		return vh.invokeObserved(ctx, in, env, invoke, mirrorCall, tr, ms)
	}
	return vh.invoke(ctx, in, env, invoke, mirrorCall, nil)
}

// invoke is Invoke, reporting attempts to rec (nil: nobody listens).
func (vh *VirtualHost) invoke(ctx context.Context, in *match.Input, env *Env, invoke func(ctx context.Context) error, mirrorCall func() func(ctx context.Context) error, rec *grpcRecorder) error {
	dec, err := vh.decideGRPC(ctx, in, env)
	if rec != nil {
		rec.decided(&dec, err)
	}
	if err != nil {
		return err
	}
	defer dec.cancel()
	if len(dec.route.mirrors) > 0 && env.Mirrorer != nil {
		env.Mirrorer.sendGRPC(dec.ctx, dec.route.mirrors, in.Port, mirrorCopy(mirrorCall), env)
	}
	ctx = context.WithValue(dec.ctx, callKey{}, dec.call)
	err = dec.route.retry.InvokeGRPC(ctx, dec.limits, func(ctx context.Context, n int) error {
		dec.call.begin(n)
		if rec != nil {
			var end func(error)
			ctx, end = rec.attempt(ctx, n, dec.call)
			err := invokeAdmitted(ctx, dec.call, invoke)
			end(err)
			return err
		}
		return invokeAdmitted(ctx, dec.call, invoke)
	})
	return deadlineStatus(ctx, unwrapCallError(err))
}

// mirrorCopy wraps prepare, which prepares the sender of a mirrored copy:
// the copy is admitted by its cluster's limits, as an HTTP copy is (its
// Call, from the Mirrorer, is a mirror's: its outcome never reaches outlier
// detection).
func mirrorCopy(prepare func() func(ctx context.Context) error) func() func(ctx context.Context) error {
	return func() func(ctx context.Context) error {
		send := prepare()
		return func(ctx context.Context) error {
			call := CallFromContext(ctx)
			if call == nil {
				return send(ctx)
			}
			lim, err := admit(ctx, call.Cluster())
			if err != nil {
				return err
			}
			if lim != nil {
				defer lim.Release()
			}
			return send(ctx)
		}
	}
}

// invokeAdmitted sends one attempt of call once the cluster admits it.
func invokeAdmitted(ctx context.Context, call *Call, invoke func(ctx context.Context) error) error {
	lim, err := admit(ctx, call.Cluster())
	if err != nil {
		return err
	}
	if lim != nil {
		defer lim.Release()
	}
	return call.classify(invoke(ctx))
}

// deadlineStatus reports a route timeout as DEADLINE_EXCEEDED.
func deadlineStatus(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), engine.ErrRouteTimeout) {
		return status.Error(codes.DeadlineExceeded, "upstream request timeout")
	}
	return err
}

// appendMetadata applies request header operations to the outgoing
// metadata: removes and sets replace, adds append.
func appendMetadata(ctx context.Context, ops headerOps) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	if md == nil {
		md = metadata.MD{}
	}
	for _, op := range ops {
		k := strings.ToLower(op.name)
		switch op.kind {
		case opRemove:
			delete(md, k)
		case opSet:
			md[k] = []string{op.value}
		case opAdd:
			md[k] = append(md[k], op.value)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// grpcHash returns the consistent-hash key of a call: a metadata value for
// httpHeaderName, the caller's address for useSourceIp. Cookies and query
// parameters do not exist in gRPC.
func grpcHash(ctx context.Context, c *cluster.Cluster, env *Env) (uint64, bool) {
	h := c.Hash()
	switch {
	case h == nil:
		return 0, false
	case h.HTTPHeaderName != "":
		if vs := metadata.ValueFromOutgoingContext(ctx, strings.ToLower(h.HTTPHeaderName)); len(vs) > 0 {
			return balancer.Hash(vs[0]), true
		}
	case h.UseSourceIP && env.SourceIP != "":
		return balancer.Hash(env.SourceIP), true
	}
	return 0, false
}
