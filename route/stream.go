package route

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/retry"
)

// Stream opens a gRPC stream within virtual host vh, routed as Invoke routes
// a unary call. The route timeout and the cluster's admission cover the
// whole stream. The stream is retried by the route's retry policy only until
// its first response message arrives, as Envoy and gRPC do: the messages
// sent until then are kept (cloned, for protobuf messages) and replayed on
// the new attempt.
func (vh *VirtualHost) Stream(ctx context.Context, in *match.Input, env *Env, open func(ctx context.Context) (grpc.ClientStream, error)) (grpc.ClientStream, error) {
	r, _ := vh.Match(in)
	if r == nil {
		return nil, status.Error(codes.Unimplemented, "no route matched "+in.Path)
	}
	if r.kind != actionForward {
		return nil, status.Error(codes.Unimplemented, "the route answers with a redirect or a direct response, which gRPC streams cannot carry")
	}
	cancel := context.CancelFunc(func() {})
	if r.Timeout > 0 {
		ctx, cancel = withTimeout(ctx, env.Clock, r.Timeout)
	}
	fail := func(err error) (grpc.ClientStream, error) {
		err = deadlineStatus(ctx, err)
		cancel()
		return nil, err
	}
	if r.fault != nil {
		if err := r.fault.ApplyGRPC(ctx); err != nil {
			return fail(err)
		}
	}
	d := r.pick(env.Rand)
	c := d.target.Cluster(in.Port)
	if c == nil {
		return fail(status.Error(codes.Unavailable, "no cluster: "+d.host+" has several ports and neither the route nor the target names one of them"))
	}
	if len(d.reqOps) > 0 {
		ctx = appendMetadata(ctx, d.reqOps)
	}
	release := func() {}
	if lim := c.Limiter(); lim != nil {
		if err := lim.Acquire(ctx); err != nil {
			if errors.Is(err, outlier.ErrOverflow) {
				return fail(status.Error(codes.Unavailable, outlier.OverflowBody))
			}
			return fail(status.FromContextError(err).Err())
		}
		release = lim.Release
	}
	call := &Call{Cluster: c, avoid: r.retry.AvoidPreviousHosts(), tries: r.retry.HostSelectionAttempts(), clock: env.Clock}
	call.hash, call.hashed = grpcHash(ctx, c, env)
	limits := retry.GRPCAttempts(retry.Unlimited{})
	if lim := c.Limiter(); lim != nil {
		limits = lim
	}
	cs, err := r.retry.OpenStream(context.WithValue(ctx, callKey{}, call), limits, open, func() { release(); cancel() })
	if err != nil {
		return nil, deadlineStatus(ctx, err)
	}
	return deadlineStream{ClientStream: cs, ctx: ctx}, nil
}

// deadlineStream reports a route timeout as DEADLINE_EXCEEDED.
type deadlineStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (d deadlineStream) RecvMsg(m any) error { return deadlineStatus(d.ctx, d.ClientStream.RecvMsg(m)) }
