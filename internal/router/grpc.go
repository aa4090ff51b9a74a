package router

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/match"
)

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
		if why := d.target.Missing(); why != "" {
			return grpcDecision{}, status.Error(codes.Unavailable, "no cluster: "+why)
		}
		return grpcDecision{}, status.Error(codes.Unavailable, "no cluster: "+d.host+" has several ports and neither the route nor the target names one of them")
	}
	if len(d.reqOps) > 0 {
		ctx = appendMetadata(ctx, d.reqOps, env)
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
