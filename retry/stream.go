package retry

import (
	"context"
	"io"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// OpenStream opens a client stream through open and retries it by the
// policy until its first response message arrives, as Envoy and gRPC do:
// the messages sent until then are kept (cloned, for protobuf messages) and
// replayed on the new attempt, whose context carries
// grpc-previous-rpc-attempts. onEnd, if not nil, is called once when the
// stream ends (an error or io.EOF from RecvMsg, or a failure to open).
// limits bounds concurrent retries.
func (p *Policy) OpenStream(ctx context.Context, limits Limits, open func(ctx context.Context) (grpc.ClientStream, error), onEnd func()) (grpc.ClientStream, error) {
	if onEnd == nil {
		onEnd = func() {}
	}
	s := &retryingStream{ctx: ctx, open: open, policy: p, clock: p.env.clock, limits: limits, finish: onEnd, backoff: schedule{p: p}}
	if err := s.start(); err != nil {
		s.end()
		return nil, err
	}
	return s, nil
}

// StreamClientInterceptor retries streams by the policy until their first
// response message arrives.
func (p *Policy) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return p.OpenStream(ctx, Unlimited{}, func(ctx context.Context) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, opts...)
		}, nil)
	}
}

// retryingStream is a client stream that can be reopened until its first
// response message has arrived.
type retryingStream struct {
	ctx     context.Context
	open    func(ctx context.Context) (grpc.ClientStream, error)
	policy  *Policy
	clock   clock.Clock
	limits  Limits
	finish  func()
	backoff schedule

	mu        sync.Mutex
	cur       grpc.ClientStream
	attempt   int
	sent      []any
	closeSent bool
	committed bool
	endOnce   sync.Once
}

// start opens the first attempt, retrying failures to open.
func (s *retryingStream) start() error {
	for {
		s.attempt++
		ctx := s.ctx
		if s.attempt > 1 {
			ctx = metadata.AppendToOutgoingContext(ctx, PreviousAttemptsKey, strconv.Itoa(s.attempt-1))
		}
		cs, err := s.open(ctx)
		if err == nil {
			s.cur = cs
			return nil
		}
		if !s.retry(err) {
			return err
		}
	}
}

// retry decides whether to make another attempt after err and waits out
// the back-off; it reports false when the stream must fail with err.
func (s *retryingStream) retry(err error) bool {
	if s.committed || s.ctx.Err() != nil || s.attempt > s.policy.Retries() || !s.policy.RetryGRPC(status.Code(err)) {
		return false
	}
	if !s.limits.AllowRetry() {
		return false
	}
	defer s.limits.RetryDone()
	wait, ok := s.backoff.next(s.ctx)
	return ok && clock.Sleep(s.ctx, s.clock, wait) == nil
}

// reopen opens a new attempt and replays what the caller sent. An attempt
// that ends while being replayed to (io.EOF) is left for RecvMsg, which
// reads its status.
func (s *retryingStream) reopen() error {
	if err := s.start(); err != nil {
		return err
	}
	for _, m := range s.sent {
		if err := s.cur.SendMsg(m); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	if s.closeSent {
		return s.cur.CloseSend()
	}
	return nil
}

func (s *retryingStream) end() { s.endOnce.Do(s.finish) }

// SendMsg sends m on the current attempt. Until the stream commits, m is
// also kept for replay, and io.EOF — the attempt has already ended, its
// status waiting for RecvMsg — is not the caller's error: RecvMsg decides
// whether a new attempt replays m or the stream fails with that status.
func (s *retryingStream) SendMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.committed {
		return s.cur.SendMsg(m)
	}
	if pm, ok := m.(proto.Message); ok {
		s.sent = append(s.sent, proto.Clone(pm))
	} else {
		s.sent = append(s.sent, m)
	}
	if err := s.cur.SendMsg(m); err != io.EOF {
		return err
	}
	return nil
}

func (s *retryingStream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeSent = true
	return s.cur.CloseSend()
}

func (s *retryingStream) RecvMsg(m any) error {
	s.mu.Lock()
	cur, committed := s.cur, s.committed
	s.mu.Unlock()
	err := cur.RecvMsg(m)
	for err != nil && !committed && err != io.EOF {
		s.mu.Lock()
		if !s.retry(err) {
			s.mu.Unlock()
			break
		}
		if rerr := s.reopen(); rerr != nil {
			err = rerr
			s.mu.Unlock()
			continue
		}
		cur = s.cur
		s.mu.Unlock()
		err = cur.RecvMsg(m)
	}
	if err == nil {
		s.mu.Lock()
		if !s.committed {
			s.committed, s.sent = true, nil
		}
		s.mu.Unlock()
		return nil
	}
	s.end()
	return err
}

func (s *retryingStream) Header() (metadata.MD, error) { return s.current().Header() }
func (s *retryingStream) Trailer() metadata.MD         { return s.current().Trailer() }
func (s *retryingStream) Context() context.Context     { return s.current().Context() }

func (s *retryingStream) current() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}
