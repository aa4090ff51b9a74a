package router

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	grpcbalancer "google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/pool"
)

// Call is the routing decision of one gRPC call, carried in the context of
// each attempt so that the ClientConn's picker picks within the chosen
// cluster, avoiding endpoints already tried.
type Call struct {
	// Cluster is the destination cluster drawn for the call.
	Cluster *cluster.Cluster
	avoid   bool
	tries   int
	tried   [maxTried]*balancer.Endpoint
	ntried  int
	// a consistent-hash key, when the cluster hashes and the call has one
	hash      uint64
	hashed    bool
	hashAvoid bool // retryIgnorePreviousHosts: true moves retries along the ring
	remote    bool // retryRemoteLocalities
	clock     clock.Clock
	traced    bool // the attempt contexts carry the mesh's attempt spans
	mirror    bool // a mirrored copy: its outcome never ejects an endpoint
	attempt   int  // the current attempt's number, from 1
	// how the current attempt went: whether it reached the picker, and
	// whether it failed by the call's own doing
	picked atomic.Bool
	own    atomic.Bool
}

// Start notes the start of an attempt to ep, for latency-aware balancing;
// the returned time goes to Record.
func (c *Call) Start() time.Time {
	if c.Cluster.PeakEWMA() == nil || c.clock == nil {
		return time.Time{}
	}
	return c.clock.Now()
}

// begin starts attempt n; attempts are sequential.
func (c *Call) begin(n int) {
	c.attempt = n
	c.picked.Store(false)
	c.own.Store(false)
}

type callKey struct{}

// CallFromContext returns the call state the mesh's interceptors put in an
// attempt's context, or nil.
func CallFromContext(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// ErrNotReady is returned by Call.Pick when no endpoint of the cluster has
// a ready connection yet, but one may get one: gRPC waits for the next
// picker.
var ErrNotReady = errors.New("route: no endpoint of the cluster has a ready connection")

// maxRingWalk bounds the ring entries a hashed call steps over to leave an
// endpoint that cannot connect.
const maxRingWalk = 64

// Pick returns an endpoint of the call's cluster with a ready connection,
// as the route's retry policy asks: on a consistent-hash cluster, the key's
// endpoint on every attempt (retryIgnorePreviousHosts: true moves retries
// along the ring), as HTTP requests pick; otherwise one not tried by
// earlier attempts when the policy avoids previous hosts, in another
// locality on a retry under retryRemoteLocalities. It remembers the
// endpoint as tried.
//
// ready reports whether an address has a ready connection; failure returns
// the connection error of an address whose connection attempts fail (gRPC's
// TRANSIENT_FAILURE, until it connects again), nil for one that is
// connecting for the first time or reconnecting after an idle spell. As in
// gRPC's balancers, Pick returns ErrNotReady while an endpoint it could use
// may still connect, and an error (not a status: gRPC fails the call with
// UNAVAILABLE unless it waits for ready) naming the cluster once none can.
// Every endpoint ejected is UNAVAILABLE "no healthy upstream".
func (c *Call) Pick(ready func(addr string) bool, failure func(addr string) error) (*balancer.Endpoint, error) {
	ep, err := c.pick(ready, failure)
	if err != nil {
		return nil, err
	}
	if c.ntried < maxTried {
		c.tried[c.ntried] = ep
		c.ntried++
	}
	c.picked.Store(true)
	return ep, nil
}

func (c *Call) pick(ready func(addr string) bool, failure func(addr string) error) (*balancer.Endpoint, error) {
	cl := c.Cluster
	if c.hashed {
		offset := 0
		if c.hashAvoid {
			offset = max(c.attempt-1, 0)
		}
		ep, err := cl.PickHash(c.hash, offset)
		if err != nil {
			return nil, status.Error(codes.Unavailable, "no healthy upstream")
		}
		if ready(ep.Address) {
			return ep, nil
		}
		if failure(ep.Address) == nil {
			return nil, ErrNotReady // the key's endpoint is connecting: wait for it
		}
		// The key's endpoint cannot connect: as gRPC's ring hash, the first
		// ready endpoint further along the ring.
		for i := 1; i <= maxRingWalk; i++ {
			if e, err := cl.PickHash(c.hash, offset+i); err == nil && ready(e.Address) {
				return e, nil
			}
		}
		return c.pickReady(nil, ready, failure)
	}
	var tried []*balancer.Endpoint
	if c.avoid {
		tried = c.tried[:c.ntried]
	}
	if c.remote && c.attempt > 1 {
		if ep, ok := cl.PickRemote(c.tried[:c.ntried]); ok && ready(ep.Address) {
			return ep, nil
		}
	}
	var avoid [2 * maxTried]*balancer.Endpoint
	n := copy(avoid[:], tried)
	for range maxTried {
		ep, err := cl.PickAvoiding(avoid[:n], c.tries)
		if err != nil {
			return nil, status.Error(codes.Unavailable, "no healthy upstream")
		}
		if ready(ep.Address) {
			return ep, nil
		}
		if n < len(avoid) {
			avoid[n] = ep
			n++
		}
	}
	return c.pickReady(tried, ready, failure)
}

// pickReady looks through every endpoint the cluster balances over for one
// the balancer did not offer: a ready one not in tried, else a ready one.
// Without one, it returns ErrNotReady while an endpoint may still connect,
// and the cluster's connection failure once none can.
func (c *Call) pickReady(tried []*balancer.Endpoint, ready func(addr string) bool, failure func(addr string) error) (*balancer.Endpoint, error) {
	var again *balancer.Endpoint
	var last error
	for _, e := range c.Cluster.Available() {
		if ready(e.Address) {
			if !triedBefore(tried, e) {
				return e, nil
			}
			again = e
		} else if err := failure(e.Address); err == nil {
			last = ErrNotReady
		} else if last != ErrNotReady {
			last = err
		}
	}
	switch {
	case again != nil:
		return again, nil
	case last == ErrNotReady:
		return nil, ErrNotReady
	case last == nil:
		return nil, status.Error(codes.Unavailable, "no healthy upstream")
	}
	return nil, &unreachableError{cluster: c.Cluster.Name, last: last}
}

// triedBefore reports whether ep is in tried, by live state (warm-up
// re-creates Endpoint values with other weights).
func triedBefore(tried []*balancer.Endpoint, ep *balancer.Endpoint) bool {
	for _, e := range tried {
		if e.State == ep.State {
			return true
		}
	}
	return false
}

// unreachableError is the picker's answer when no endpoint of a cluster
// can connect: gRPC fails the call with UNAVAILABLE and this text, as HTTP
// answers 503 "no healthy upstream", unless the call waits for ready.
type unreachableError struct {
	cluster string
	last    error
}

func (e *unreachableError) Error() string {
	return "no healthy upstream: no endpoint of " + e.cluster + " can connect; last connection error: " + e.last.Error()
}

// Picked notes on the attempt's span, in ctx, the endpoint the attempt goes
// to, when the mesh traces the call.
func (c *Call) Picked(ctx context.Context, ep *balancer.Endpoint) {
	if c.traced {
		trace.SpanFromContext(ctx).SetAttributes(telemetry.KeyEndpoint.String(ep.Address))
	}
}

// Record reports the end of an attempt to ep that started at start (from
// Start), as gRPC reports it to the picker. ctx is the attempt's: when the
// mesh traces the call and this outcome ejects ep, its span gets an
// "ejected" event.
//
// A mirrored copy's outcome marks a failure for least-request balancing,
// as an HTTP copy's does, but never reaches outlier detection: mirroring
// changes nothing for the requests the cluster serves.
//
// Nothing is recorded of an attempt that failed by the call's own doing
// (see ownError) — it is returned as it is and never retried — nor, as for
// HTTP, of one the caller gave up on (its context ended, not by a route or
// per-try timeout); nor of a pick gRPC abandoned because the connection
// stopped being ready.
func (c *Call) Record(ctx context.Context, ep *balancer.Endpoint, start time.Time, di grpcbalancer.DoneInfo) {
	err := di.Err
	if err == nil && !di.BytesSent {
		// gRPC abandoned the pick (its connection was no longer ready) and
		// picks again: no attempt was made.
		if c.ntried > 0 && c.tried[c.ntried-1] == ep {
			c.ntried--
		}
		return
	}
	if err != nil && ownError(err, di.BytesSent, di.BytesReceived, sending(ctx)) {
		c.own.Store(true)
		return
	}
	if pe := c.Cluster.PeakEWMA(); pe != nil && !start.IsZero() {
		now := c.clock.Now()
		ep.State.Observe(now.Sub(start), err != nil && status.Code(err) != codes.Canceled, now, *pe)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(context.Cause(ctx), retrypolicy.ErrPerTryTimeout) && !errors.Is(context.Cause(ctx), ErrRouteTimeout) {
		return // the caller gave up: nothing to say about the endpoint
	}
	if err != nil {
		if s, ok := status.FromError(err); !ok || s.Code() != codes.Canceled && grpccode.HTTPStatus(int(s.Code())) >= 500 {
			ep.State.Fail()
		}
	}
	d := c.Cluster.Detector()
	if d == nil || c.mirror {
		return
	}
	var o ejection.Outcome
	if err == nil {
		o.Status = 200
	} else if s, ok := status.FromError(err); !ok {
		o.Local = ejection.LocalConnect
	} else if s.Code() == codes.Canceled {
		return // cancelled: nothing to say about the endpoint
	} else {
		o.Status = grpccode.HTTPStatus(int(s.Code()))
	}
	if !c.traced || err == nil {
		c.Cluster.Record(ep, o)
		return
	}
	was := d.Ejected(ep)
	c.Cluster.Record(ep, o)
	if !was && d.Ejected(ep) {
		trace.SpanFromContext(ctx).AddEvent("ejected", trace.WithAttributes(telemetry.KeyEndpoint.String(ep.Address)))
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
		if tctx, tcancel := withTimeout(ctx, env.Clock, r.Timeout); tcancel != nil {
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
	call := &Call{Cluster: c, avoid: r.retry.AvoidPreviousHosts(), tries: r.retry.HostSelectionAttempts(),
		hashAvoid: r.retry.AvoidPreviousHostsWhenHashing(), remote: r.retry.RetryRemoteLocalities(), clock: env.Clock}
	call.hash, call.hashed = grpcHash(ctx, c, env)
	dec := grpcDecision{ctx: ctx, cancel: cancel, route: r, dest: d, call: call, limits: retrypolicy.Unlimited{}}
	if lim := c.Limiter(); lim != nil {
		dec.limits = lim
	}
	return dec, nil
}

// admit passes the cluster's admission limits; an overflow is UNAVAILABLE
// and never retried. release must be called when the call or stream ends.
func admit(ctx context.Context, c *cluster.Cluster) (release func(), err error) {
	lim := c.Limiter()
	if lim == nil {
		return func() {}, nil
	}
	if err := lim.Acquire(ctx); err != nil {
		if errors.Is(err, pool.ErrOverflow) {
			return nil, overflowStatus{status.New(codes.Unavailable, pool.OverflowBody)}
		}
		return nil, status.FromContextError(err).Err()
	}
	return lim.Release, nil
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
			ctx, end = rec.attempt(ctx, n, dec.call.Cluster)
			err := invokeAdmitted(ctx, dec.call, invoke)
			end(err)
			return err
		}
		return invokeAdmitted(ctx, dec.call, invoke)
	})
	return deadlineStatus(ctx, unwrapCallError(err))
}

// mirrorCopy wraps prepare, which prepares the sender of a mirrored copy:
// the copy is admitted by its cluster's limits, as an HTTP copy is, and its
// Call is a mirror's, whose outcome never reaches outlier detection.
func mirrorCopy(prepare func() func(ctx context.Context) error) func() func(ctx context.Context) error {
	return func() func(ctx context.Context) error {
		send := prepare()
		return func(ctx context.Context) error {
			call := CallFromContext(ctx)
			if call == nil {
				return send(ctx)
			}
			call.mirror = true
			release, err := admit(ctx, call.Cluster)
			if err != nil {
				return err
			}
			defer release()
			return send(ctx)
		}
	}
}

// invokeAdmitted sends one attempt of call once the cluster admits it.
func invokeAdmitted(ctx context.Context, call *Call, invoke func(ctx context.Context) error) error {
	release, err := admit(ctx, call.Cluster)
	if err != nil {
		return err
	}
	defer release()
	return call.classify(invoke(ctx))
}

// deadlineStatus reports a route timeout as DEADLINE_EXCEEDED.
func deadlineStatus(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrRouteTimeout) {
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
