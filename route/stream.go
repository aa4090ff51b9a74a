package route

import (
	"context"
	"io"
	"sync"

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
	tr, ms := env.Telemetry.Tracer(), env.Telemetry.Metrics()
	if tr == nil && ms == nil {
		return vh.stream(ctx, in, env, open, nil)
	}
	rec := newGRPCRecorder(in, env, tr, ms)
	ctx = rec.begin(ctx)
	cs, err := vh.stream(ctx, in, env, open, rec)
	if err != nil {
		rec.end(err)
		return nil, err
	}
	return &tracedStream{ClientStream: cs, end: rec.end}, nil
}

// stream is Stream, reporting to rec (nil: nobody listens).
func (vh *VirtualHost) stream(ctx context.Context, in *match.Input, env *Env, open func(ctx context.Context) (grpc.ClientStream, error), rec *grpcRecorder) (grpc.ClientStream, error) {
	dec, err := vh.decideGRPC(ctx, in, env)
	if rec != nil {
		rec.decided(&dec, err)
	}
	if err != nil {
		return nil, err
	}
	if rec != nil {
		open = rec.tracedOpen(open, dec.call.Cluster)
	}
	n, attempt := 0, open // opens are sequential
	open = func(ctx context.Context) (grpc.ClientStream, error) {
		n++
		dec.call.begin(n)
		return attempt(ctx)
	}
	release, err := admit(dec.ctx, dec.call.Cluster)
	if err != nil {
		err = deadlineStatus(dec.ctx, err)
		dec.cancel()
		return nil, err
	}
	cs, err := dec.route.retry.OpenStream(context.WithValue(dec.ctx, callKey{}, dec.call), dec.limits, open, func(error) { release(); dec.cancel() })
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

// tracedStream ends a telemetry record when the stream ends: the first
// error RecvMsg returns, io.EOF counting as OK.
type tracedStream struct {
	grpc.ClientStream
	end  func(error)
	once sync.Once
}

func (t *tracedStream) RecvMsg(m any) error {
	err := t.ClientStream.RecvMsg(m)
	if err != nil {
		t.once.Do(func() {
			if err == io.EOF {
				t.end(nil)
			} else {
				t.end(err)
			}
		})
	}
	return err
}
