package route

import (
	"context"

	"google.golang.org/grpc"

	"github.com/switchyard-go/switchyard/match"
)

// Stream opens a gRPC stream within virtual host vh, routed as Invoke routes
// a unary call. The route timeout and the cluster's admission cover the
// whole stream. The stream is retried by the route's retry policy only until
// its first response message arrives, as Envoy and gRPC do: the messages
// sent until then are kept (cloned, for protobuf messages) and replayed on
// the new attempt.
func (vh *VirtualHost) Stream(ctx context.Context, in *match.Input, env *Env, open func(ctx context.Context) (grpc.ClientStream, error)) (grpc.ClientStream, error) {
	dec, err := vh.decideGRPC(ctx, in, env)
	if err != nil {
		return nil, err
	}
	release, err := admit(dec.ctx, dec.call.Cluster)
	if err != nil {
		err = deadlineStatus(dec.ctx, err)
		dec.cancel()
		return nil, err
	}
	cs, err := dec.route.retry.OpenStream(context.WithValue(dec.ctx, callKey{}, dec.call), dec.limits, open, func() { release(); dec.cancel() })
	if err != nil {
		return nil, deadlineStatus(dec.ctx, err)
	}
	return deadlineStream{ClientStream: cs, ctx: dec.ctx}, nil
}

// deadlineStream reports a route timeout as DEADLINE_EXCEEDED.
type deadlineStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (d deadlineStream) RecvMsg(m any) error { return deadlineStatus(d.ctx, d.ClientStream.RecvMsg(m)) }
