package retrypolicy_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// endedStream is an attempt whose server has already ended the stream with
// status: SendMsg reports io.EOF, as grpc-go does, and RecvMsg the status.
type endedStream struct {
	grpc.ClientStream
	status error
	sent   []any
}

func (s *endedStream) SendMsg(m any) error { s.sent = append(s.sent, m); return io.EOF }
func (s *endedStream) CloseSend() error    { return nil }
func (s *endedStream) RecvMsg(any) error   { return s.status }

// echoStream answers each message sent with itself, then io.EOF once the
// caller has closed its side. As a gRPC stream, it allows one sender and
// one receiver at once; RecvMsg waits for what it answers.
type echoStream struct {
	grpc.ClientStream
	msgs chan any
	once sync.Once
}

func newEchoStream() *echoStream { return &echoStream{msgs: make(chan any, 16)} }

func (s *echoStream) SendMsg(m any) error { s.msgs <- m; return nil }
func (s *echoStream) CloseSend() error    { s.once.Do(func() { close(s.msgs) }); return nil }
func (s *echoStream) RecvMsg(m any) error {
	sent, ok := <-s.msgs
	if !ok {
		return io.EOF
	}
	*m.(*string) = *sent.(*string)
	return nil
}

// A message sent after the attempt has already failed is kept and replayed:
// the failure surfaces (and is retried) in RecvMsg, never as io.EOF from
// SendMsg, whichever of the server's status and the caller's send comes
// first.
func TestStreamSendAfterTheAttemptEndedIsReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy(t, &retrypolicy.Config{Attempts: 2, RetryOn: "unavailable"})
		first := &endedStream{status: status.Error(codes.Unavailable, "down")}
		second := newEchoStream()
		attempts := []grpc.ClientStream{first, second}
		cs, err := p.OpenStream(context.Background(), retrypolicy.Unlimited{}, func(context.Context) (grpc.ClientStream, error) {
			next := attempts[0]
			attempts = attempts[1:]
			return next, nil
		}, nil)
		require.NoError(t, err)
		msg := "a"
		require.NoError(t, cs.SendMsg(&msg), "the attempt's end is not the caller's error")
		require.NoError(t, cs.CloseSend())
		var got string
		require.NoError(t, cs.RecvMsg(&got))
		assert.Equal(t, "a", got, "replayed on the second attempt")
		assert.ErrorIs(t, cs.RecvMsg(&got), io.EOF)
		assert.Len(t, first.sent, 1)
	})
}

// An attempt that ends while the kept messages are replayed to it fails the
// stream with its own status, never a clean io.EOF.
func TestStreamReplayToAnEndedAttemptReportsItsStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy(t, &retrypolicy.Config{Attempts: 1, RetryOn: "unavailable"})
		attempts := []grpc.ClientStream{
			&endedStream{status: status.Error(codes.Unavailable, "down")},
			&endedStream{status: status.Error(codes.Internal, "broken")},
		}
		cs, err := p.OpenStream(context.Background(), retrypolicy.Unlimited{}, func(context.Context) (grpc.ClientStream, error) {
			next := attempts[0]
			attempts = attempts[1:]
			return next, nil
		}, nil)
		require.NoError(t, err)
		msg := "a"
		require.NoError(t, cs.SendMsg(&msg))
		var got string
		assert.Equal(t, codes.Internal, status.Code(cs.RecvMsg(&got)))
		assert.Empty(t, attempts, "one retry")
	})
}

// Once a response has arrived the stream is committed: SendMsg reports the
// attempt's io.EOF as grpc-go does, and nothing is kept for replay.
func TestStreamSendAfterCommitReportsEOF(t *testing.T) {
	p := policy(t, &retrypolicy.Config{Attempts: 2, RetryOn: "unavailable"})
	s := &answeredThenEnded{}
	cs, err := p.OpenStream(context.Background(), retrypolicy.Unlimited{}, func(context.Context) (grpc.ClientStream, error) { return s, nil }, nil)
	require.NoError(t, err)
	var got string
	require.NoError(t, cs.RecvMsg(&got))
	msg := "late"
	assert.ErrorIs(t, cs.SendMsg(&msg), io.EOF)
	assert.Equal(t, codes.Unavailable, status.Code(cs.RecvMsg(&got)), "no retry after the first response")
}

// answeredThenEnded sends one response, then ends with UNAVAILABLE.
type answeredThenEnded struct {
	grpc.ClientStream
	answered bool
}

func (s *answeredThenEnded) SendMsg(any) error { return io.EOF }
func (s *answeredThenEnded) RecvMsg(m any) error {
	if !s.answered {
		s.answered = true
		*m.(*string) = "first"
		return nil
	}
	return status.Error(codes.Unavailable, "down")
}

// What a stream keeps for replay is bounded by the body limit, as gRPC's
// retry buffer: a stream that sends more before its first response is not
// retried, and keeps nothing.
func TestStreamKeepsForReplayOnlyUpToTheBodyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, c := range []struct {
			body  string
			retry bool
		}{{"small", true}, {strings.Repeat("x", 64), false}} {
			p := policy(t, &retrypolicy.Config{Attempts: 2, RetryOn: "unavailable"}, retrypolicy.WithBodyLimit(32))
			opened := 0
			cs, err := p.OpenStream(context.Background(), retrypolicy.Unlimited{}, func(context.Context) (grpc.ClientStream, error) {
				opened++
				if opened == 1 {
					return &endedStream{status: status.Error(codes.Unavailable, "down")}, nil
				}
				return answeringStream{}, nil
			}, nil)
			require.NoError(t, err)
			err = cs.SendMsg(wrapperspb.String(c.body))
			if c.retry {
				require.NoError(t, err, "kept: the attempt's end is not the caller's error")
			} else {
				require.ErrorIs(t, err, io.EOF, "not kept: the attempt has ended, as grpc-go says")
			}
			err = cs.RecvMsg(new(wrapperspb.StringValue))
			if c.retry {
				assert.Equal(t, 2, opened, "a message within the limit is replayed to a new attempt")
			} else {
				assert.Equal(t, codes.Unavailable, status.Code(err), "past the limit, the stream is not retried")
				assert.Equal(t, 1, opened)
			}
		}
	})
}

// answeringStream answers at once.
type answeringStream struct{ grpc.ClientStream }

func (answeringStream) SendMsg(any) error { return nil }
func (answeringStream) RecvMsg(any) error { return nil }
