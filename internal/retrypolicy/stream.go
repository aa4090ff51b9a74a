package retrypolicy

import (
	"context"
	"errors"
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
// grpc-previous-rpc-attempts. What is kept is bounded by the policy's body
// limit (WithBodyLimit, measured with proto.Size; other messages are kept
// as they are and not counted): a stream that sends more before its first
// response is no longer retried, as gRPC's retry buffer does.
//
// One goroutine may send while another receives, as gRPC allows: neither
// waits for the other, and a replay to a new attempt runs beside the
// receiver, which reads the new attempt's responses meanwhile.
//
// onEnd, if not nil, is called once when the stream ends, with the error it
// ended with (nil for a clean end): an error or io.EOF from RecvMsg, an
// error other than io.EOF from SendMsg or Header, its context ending, or a
// failure to open. limits bounds concurrent retries. An error whose
// Retriable method returns false is never retried; a stream whose context
// ends during a back-off fails with the context's status.
func (p *Policy) OpenStream(ctx context.Context, limits Limits, open func(ctx context.Context) (grpc.ClientStream, error), onEnd func(error)) (grpc.ClientStream, error) {
	s := &retryingStream{ctx: ctx, open: open, policy: p, clock: p.env.clock, limits: limits, finish: onEnd, backoff: schedule{p: p}}
	if err := s.start(); err != nil {
		s.end(err)
		return nil, err
	}
	if onEnd != nil {
		stop := context.AfterFunc(ctx, func() { s.end(status.FromContextError(ctx.Err()).Err()) })
		s.mu.Lock()
		s.stopWatch = stop
		s.mu.Unlock()
	}
	return s, nil
}

// retryingStream is a client stream that can be reopened until its first
// response message has arrived.
//
// It never holds its mutex across a call that can block: the receiver
// (RecvMsg, which alone opens attempts), the sender (SendMsg, CloseSend)
// and a replay each call the current attempt without it.
type retryingStream struct {
	ctx     context.Context
	open    func(ctx context.Context) (grpc.ClientStream, error)
	policy  *Policy
	clock   clock.Clock
	limits  Limits
	finish  func(error)
	backoff schedule
	endOnce sync.Once
	attempt int // attempts opened; the receiver's alone once the stream is open

	mu        sync.Mutex
	cur       grpc.ClientStream
	sent      []any // kept for replay until the stream commits
	kept      int64 // bytes in sent
	closeSent bool  // the caller has called CloseSend
	closed    bool  // CloseSend has reached cur
	committed bool
	replaying chan struct{} // closed when the replay to cur has finished; nil when none runs
	stopWatch func() bool
}

// start opens the first attempt, retrying failures to open.
func (s *retryingStream) start() error {
	cs, err := s.openNext()
	if err != nil {
		return s.retry(err)
	}
	s.cur = cs
	return nil
}

// openNext opens the next attempt.
func (s *retryingStream) openNext() (grpc.ClientStream, error) {
	s.attempt++
	ctx := s.ctx
	if s.attempt > 1 {
		ctx = metadata.AppendToOutgoingContext(ctx, PreviousAttemptsKey, strconv.Itoa(s.attempt-1))
	}
	return s.open(ctx)
}

// retry makes another attempt after err, as the policy allows: it waits
// out the back-off, opens the attempt (retrying failures to open) and
// starts replaying what the caller sent. It returns the error the stream
// must fail with when there is no new attempt.
func (s *retryingStream) retry(err error) error {
	for {
		s.mu.Lock()
		committed := s.committed
		s.mu.Unlock()
		var r interface{ Retriable() bool }
		if committed || s.ctx.Err() != nil || s.attempt > s.policy.Retries() ||
			errors.As(err, &r) && !r.Retriable() || !s.policy.RetryGRPC(status.Code(err)) || !s.limits.AllowRetry() {
			return err
		}
		wait, ok := s.backoff.next(s.ctx)
		if !ok {
			s.limits.RetryDone()
			return err
		}
		if clock.Sleep(s.ctx, s.clock, wait) != nil {
			s.limits.RetryDone()
			return status.FromContextError(s.ctx.Err()).Err()
		}
		s.waitReplay()
		cs, oerr := s.openNext()
		s.limits.RetryDone()
		if oerr != nil {
			err = oerr
			continue
		}
		s.mu.Lock()
		s.cur, s.closed = cs, false
		if len(s.sent) > 0 || s.closeSent {
			done := make(chan struct{})
			s.replaying = done
			go s.replay(cs, s.sent, done)
		}
		s.mu.Unlock()
		return nil
	}
}

// replay sends msgs, and CloseSend if the caller has called it, to cs,
// while the receiver reads cs. It stops at the first failed send: the
// attempt has ended, and RecvMsg reads its status.
func (s *retryingStream) replay(cs grpc.ClientStream, msgs []any, done chan struct{}) {
	defer close(done)
	for _, m := range msgs {
		if err := cs.SendMsg(m); err != nil {
			s.mu.Lock()
			s.replaying = nil
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	closeNow := s.closeSent && !s.closed
	s.closed = s.closed || closeNow
	s.replaying = nil
	s.mu.Unlock()
	if closeNow {
		cs.CloseSend()
	}
}

// waitReplay waits until no replay runs.
func (s *retryingStream) waitReplay() {
	s.mu.Lock()
	done := s.replaying
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (s *retryingStream) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		stop := s.stopWatch
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
		if s.finish != nil {
			s.finish(err)
		}
	})
}

// SendMsg sends m on the current attempt, after any replay to it. Until the
// stream commits, m is also kept for replay, and io.EOF — the attempt has
// already ended, its status waiting for RecvMsg — is not the caller's
// error: RecvMsg decides whether a new attempt replays m or the stream
// fails with that status. Any other error ends the stream, as in grpc-go.
func (s *retryingStream) SendMsg(m any) error {
	s.mu.Lock()
	for s.replaying != nil {
		done := s.replaying
		s.mu.Unlock()
		select {
		case <-done:
		case <-s.ctx.Done():
			return io.EOF // the stream has ended; RecvMsg reads its status
		}
		s.mu.Lock()
	}
	kept := false
	if !s.committed {
		kept = s.keep(m)
	}
	cur := s.cur
	s.mu.Unlock()
	err := cur.SendMsg(m)
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		if kept {
			return nil
		}
		return io.EOF
	}
	s.end(err)
	return err
}

// keep keeps m for replay, or commits the stream when m would take the
// kept messages past the body limit (a limit of 0 or less keeps nothing);
// s.mu is held.
func (s *retryingStream) keep(m any) bool {
	limit := s.policy.env.bodyLimit
	if pm, ok := m.(proto.Message); ok {
		if size := int64(proto.Size(pm)); s.kept+size <= limit {
			s.sent = append(s.sent, proto.Clone(pm))
			s.kept += size
			return true
		}
	} else if limit > 0 {
		s.sent = append(s.sent, m) // not measurable: kept as it is
		return true
	}
	s.committed, s.sent, s.kept = true, nil, 0
	return false
}

func (s *retryingStream) CloseSend() error {
	s.mu.Lock()
	s.closeSent = true
	if s.replaying != nil || s.closed {
		s.mu.Unlock()
		return nil // the replay closes the attempt when it has finished
	}
	s.closed = true
	cur := s.cur
	s.mu.Unlock()
	return cur.CloseSend()
}

func (s *retryingStream) RecvMsg(m any) error {
	for {
		cur := s.current()
		err := cur.RecvMsg(m)
		if err == nil {
			s.mu.Lock()
			if !s.committed {
				s.committed, s.sent, s.kept = true, nil, 0
			}
			s.mu.Unlock()
			return nil
		}
		if err == io.EOF {
			s.end(nil)
			return err
		}
		if err = s.retry(err); err != nil {
			s.end(err)
			return err
		}
	}
}

// Header returns the current attempt's header; an error ends the stream.
func (s *retryingStream) Header() (metadata.MD, error) {
	md, err := s.current().Header()
	if err != nil {
		s.end(err)
	}
	return md, err
}

func (s *retryingStream) Trailer() metadata.MD     { return s.current().Trailer() }
func (s *retryingStream) Context() context.Context { return s.current().Context() }

func (s *retryingStream) current() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}
