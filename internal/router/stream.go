package router

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/pool"
)

// Stream opens a gRPC stream within virtual host vh, routed as Invoke routes
// a unary call. The route timeout covers the whole stream; each attempt is
// admitted by the cluster's limits and holds its admission until it ends.
// The stream is retried by the route's retry policy only until its first
// response message arrives, as Envoy and gRPC do: the messages sent until
// then are kept (cloned, for protobuf messages) and replayed on the new
// attempt.
//
// open opens one attempt with the given context; it must arrange for
// finished to be called once when that attempt ends, whichever way (the
// mesh's interceptor passes it to gRPC as grpc.OnFinish). Whatever ends the
// stream — RecvMsg's error or io.EOF, a failed SendMsg or Header, the
// context ending (grpc-go's documented way, with no further calls), its
// ClientConn closing, or a failure to open — gives back each attempt's
// admission and ends the stream's spans and metrics exactly once.
func (vh *VirtualHost) Stream(ctx context.Context, in *match.Input, env *Env, open func(ctx context.Context, finished func(error)) (grpc.ClientStream, error)) (grpc.ClientStream, error) {
	tr, ms := env.Telemetry.Tracer(), env.Telemetry.Metrics()
	if tr == nil && ms == nil {
		return vh.stream(ctx, in, env, open, nil)
	}
	rec := newGRPCRecorder(in, env, tr, ms)
	return vh.stream(rec.begin(ctx), in, env, open, rec)
}

// stream is Stream, reporting to rec (nil: nobody listens).
func (vh *VirtualHost) stream(ctx context.Context, in *match.Input, env *Env, open func(ctx context.Context, finished func(error)) (grpc.ClientStream, error), rec *grpcRecorder) (grpc.ClientStream, error) {
	dec, err := vh.decideGRPC(ctx, in, env)
	if rec != nil {
		rec.decided(&dec, err)
	}
	if err != nil {
		if rec != nil {
			rec.end(err)
		}
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithValue(dec.ctx, callKey{}, dec.call))
	s := &meshStream{dec: dec, cancel: cancel, rec: rec, open: open}
	cs, err := dec.route.retry.OpenStream(sctx, dec.limits, s.openAttempt, s.end)
	if err != nil {
		return nil, deadlineStatus(dec.ctx, unwrapCallError(err))
	}
	return deadlineStream{ClientStream: cs, ctx: dec.ctx}, nil
}

// meshStream is one routed stream: its routing decision, its attempts and
// its end.
type meshStream struct {
	dec    grpcDecision
	cancel context.CancelFunc // ends the attempts' context
	rec    *grpcRecorder      // nil unless someone listens
	open   func(ctx context.Context, finished func(error)) (grpc.ClientStream, error)
	n      int // attempts opened; opens are sequential
	ended  atomic.Bool

	mu  sync.Mutex
	cur *streamAttempt
}

// openAttempt opens the stream's next attempt: its telemetry, its
// admission, then the upstream stream.
func (s *meshStream) openAttempt(ctx context.Context) (grpc.ClientStream, error) {
	s.n++
	c := s.dec.call.Cluster()
	s.dec.call.begin(s.n)
	a := &streamAttempt{s: s, n: s.n}
	if s.rec != nil {
		ctx, a.endTelemetry = s.rec.attempt(ctx, s.n, s.dec.call)
	}
	lim, err := admit(ctx, c)
	if err != nil {
		a.finish(err)
		return nil, err
	}
	a.lim = lim
	s.mu.Lock()
	s.cur = a
	s.mu.Unlock()
	cs, err := s.open(context.WithValue(ctx, attemptKey{}, a), a.finish)
	if err != nil {
		err = s.dec.call.classify(err)
		a.finish(err) // in case open failed before gRPC knew of the attempt
		return nil, err
	}
	a.ClientStream = cs
	return a, nil
}

// retriable reports whether the retry policy could make another attempt
// after attempt n ended with err before the stream committed.
func (s *meshStream) retriable(n int, err error) bool {
	p := s.dec.route.retry
	var r interface{ Retriable() bool }
	return n <= p.Retries() && !(errors.As(err, &r) && !r.Retriable()) && p.RetryGRPC(status.Code(err))
}

// end ends the stream once: the current attempt (if still open), the
// attempts' context, the route timeout and the telemetry.
func (s *meshStream) end(err error) {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a != nil {
		a.finish(err)
	}
	s.cancel()
	s.dec.cancel()
	if s.rec != nil {
		s.rec.end(deadlineStatus(s.dec.ctx, err))
	}
}

type attemptKey struct{}

// streamAttempt is one attempt of a routed stream. It ends once, at the
// first of: gRPC's report that the stream finished (grpc.OnFinish), an
// error from RecvMsg, SendMsg or Header, or the end of the whole stream;
// ending gives back its admission and ends its telemetry.
type streamAttempt struct {
	grpc.ClientStream
	s            *meshStream
	n            int
	lim          *pool.Limiter // the admission to release; nil for none
	endTelemetry func(error)   // nil unless someone listens
	ended        atomic.Bool
	received     atomic.Bool  // a response message arrived: the stream has committed
	sending      atomic.Int32 // SendMsg calls in progress
}

// finish ends the attempt once. When no other attempt can follow — a
// response had arrived, or the retry policy would not retry err — the
// stream ends too, so that a stream abandoned after its attempt ended (its
// ClientConn closed) holds nothing.
func (a *streamAttempt) finish(err error) {
	if !a.ended.CompareAndSwap(false, true) {
		return
	}
	if err == io.EOF {
		err = nil
	}
	if a.lim != nil {
		a.lim.Release()
	}
	if a.endTelemetry != nil {
		a.endTelemetry(err)
	}
	if err == nil || a.received.Load() || !a.s.retriable(a.n, err) {
		a.s.end(err)
	}
}

func (a *streamAttempt) RecvMsg(m any) error {
	err := a.ClientStream.RecvMsg(m)
	if err != nil {
		a.finish(err)
		return err
	}
	a.received.Store(true)
	return nil
}

func (a *streamAttempt) SendMsg(m any) error {
	a.sending.Add(1)
	err := a.ClientStream.SendMsg(m)
	a.sending.Add(-1)
	if err != nil && err != io.EOF {
		a.finish(err)
	}
	return err
}

func (a *streamAttempt) Header() (metadata.MD, error) {
	md, err := a.ClientStream.Header()
	if err != nil {
		a.finish(err)
	}
	return md, err
}

// deadlineStream reports a route timeout as DEADLINE_EXCEEDED.
type deadlineStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (d deadlineStream) RecvMsg(m any) error { return deadlineStatus(d.ctx, d.ClientStream.RecvMsg(m)) }

// streamAttemptFrom returns the stream attempt whose context ctx is, or
// nil (a unary call's).
func streamAttemptFrom(ctx context.Context) *streamAttempt {
	a, _ := ctx.Value(attemptKey{}).(*streamAttempt)
	return a
}
