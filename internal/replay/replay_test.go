package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// source is a caller's body fed chunk by chunk through a pipe, which
// records whether it was closed.
type source struct {
	*io.PipeReader
	w      *io.PipeWriter
	closed atomic.Int32
}

func newSource() *source {
	pr, pw := io.Pipe()
	return &source{PipeReader: pr, w: pw}
}

func (s *source) Close() error {
	s.closed.Add(1)
	return s.PipeReader.Close()
}

func request(body io.ReadCloser, contentLength int64) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "http://svc/", nil)
	req.Body, req.ContentLength = body, contentLength
	return req
}

func read(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	require.NoError(t, err)
	return string(b)
}

func TestRetryReplaysWhatWasKeptThenReadsOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		first := b.First()
		go src.w.Write([]byte("abc"))
		assert.Equal(t, "abc", read(t, first, 3), "the first attempt reads the caller's body as it comes")
		require.True(t, b.Replayable())
		second, ok := b.Next()
		require.True(t, ok)
		_, err := first.Read(make([]byte, 1))
		assert.ErrorIs(t, err, ErrSuperseded, "the failed attempt's body is taken over")
		go func() {
			src.w.Write([]byte("def"))
			src.w.Close()
		}()
		rest, err := io.ReadAll(second)
		require.NoError(t, err)
		assert.Equal(t, "abcdef", string(rest), "what was kept, then the rest")
		first.Close()
		b.End(false)
		assert.Zero(t, src.closed.Load(), "the current attempt's transport has not closed its body yet")
		second.Close()
		assert.EqualValues(t, 1, src.closed.Load(), "closed once the last attempt is done")
	})
}

func TestReadUnderWayWhenSupersededIsKeptForTheRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		first := b.First()
		errs := make(chan error, 1)
		go func() {
			_, err := first.Read(make([]byte, 8)) // blocks: nothing written yet
			errs <- err
		}()
		synctest.Wait()
		assert.True(t, b.Replayable(), "a read under way below the limit is cut to fit it")
		second, ok := b.Next()
		require.True(t, ok)
		go src.w.Write([]byte("xyz"))
		assert.ErrorIs(t, <-errs, ErrSuperseded)
		assert.Equal(t, "xyz", read(t, second, 3), "the superseded read's bytes reach the retry")
		src.w.Close()
		b.End(true)
		assert.EqualValues(t, 1, src.closed.Load())
	})
}

func TestBodyPastTheLimitIsNotReplayable(t *testing.T) {
	src := io.NopCloser(strings.NewReader("0123456789"))
	b := New(request(src, -1), 4)
	got, err := io.ReadAll(b.First())
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(got), "the attempt gets the whole body")
	assert.False(t, b.Replayable())
	_, ok := b.Next()
	assert.False(t, ok)
	_, ok = b.Mirror(context.Background())
	assert.False(t, ok, "bytes were dropped: no copy")

	b = New(request(io.NopCloser(strings.NewReader("0123456789")), 10), 4)
	_, ok = b.Mirror(context.Background())
	assert.False(t, ok, "a known length past the limit is not kept at all")
	b.End(true)
}

func TestNothingKeptStillReplaysANotYetReadBody(t *testing.T) {
	b := New(request(io.NopCloser(strings.NewReader("body")), -1), 0)
	assert.True(t, b.Replayable(), "nothing read, nothing lost")
	next, ok := b.Next()
	require.True(t, ok)
	got, err := io.ReadAll(next)
	require.NoError(t, err)
	assert.Equal(t, "body", string(got))
	assert.False(t, b.Replayable())
	b.End(true)
}

func TestMirrorFollowsTheAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		dup, ok := b.Mirror(context.Background())
		require.True(t, ok)
		got := make(chan string)
		go func() {
			all, err := io.ReadAll(dup)
			assert.NoError(t, err)
			got <- string(all)
		}()
		synctest.Wait() // the copy waits: it never reads the caller's body itself
		go func() {
			src.w.Write([]byte("hello"))
			src.w.Close()
		}()
		all, err := io.ReadAll(b.First())
		require.NoError(t, err)
		assert.Equal(t, "hello", string(all))
		assert.Equal(t, "hello", <-got)
		b.End(false)
	})
}

func TestMirrorIsCutWhenTheBodyOutgrowsTheLimit(t *testing.T) {
	b := New(request(io.NopCloser(strings.NewReader("0123456789")), -1), 4)
	dup, ok := b.Mirror(context.Background())
	require.True(t, ok)
	io.ReadAll(b.First())
	_, err := io.ReadAll(dup)
	assert.ErrorIs(t, err, ErrNotKept)
	var own *Error
	assert.ErrorAs(t, err, &own, "the copy's own failure, not its endpoint's")
}

func TestMirrorOfABodyNeverReadToTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		dup, _ := b.Mirror(context.Background())
		go src.w.Write([]byte("ab"))
		read(t, b.First(), 2)
		b.First().Close()
		b.End(false) // the request is over; the rest of the body never comes
		assert.Equal(t, "ab", read(t, dup, 2))
		_, err := dup.Read(make([]byte, 1))
		assert.ErrorIs(t, err, ErrIncomplete)
	})
}

func TestWatchEndsABlockedReadWithTheContextsCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		ctx, cancel := context.WithCancelCause(context.Background())
		b.Watch(ctx)
		errs := make(chan error, 1)
		go func() {
			_, err := b.First().Read(make([]byte, 4))
			errs <- err
		}()
		synctest.Wait()
		cause := errors.New("route timeout")
		cancel(cause)
		assert.ErrorIs(t, <-errs, cause)
		assert.EqualValues(t, 1, src.closed.Load())
		assert.False(t, b.Replayable())
		b.End(true)
		assert.EqualValues(t, 1, src.closed.Load(), "closed once")
	})
}

func TestAbortReadOnlyAbortsAReadUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		ctx, cancel := context.WithCancel(context.Background())
		stop := b.AbortReadOn(ctx)
		cancel()
		synctest.Wait()
		assert.Zero(t, src.closed.Load(), "no read under way: the body is left for a retry")
		stop()

		ctx, cancel = context.WithCancel(context.Background())
		b.AbortReadOn(ctx)
		errs := make(chan error, 1)
		go func() {
			_, err := b.First().Read(make([]byte, 4))
			errs <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-errs, context.Canceled)
		assert.False(t, b.Replayable(), "the rest of the body is lost")
		b.End(true)
	})
}

func TestLengthError(t *testing.T) {
	b := New(request(io.NopCloser(strings.NewReader("abc")), 10), 16)
	io.ReadAll(b.First())
	assert.EqualError(t, b.LengthError(), "http: ContentLength=10 with Body length 3")
	b = New(request(io.NopCloser(strings.NewReader("0123456789abc")), 10), 16)
	io.ReadAll(b.First())
	assert.EqualError(t, b.LengthError(), "http: ContentLength=10 with Body length 13")
	b = New(request(io.NopCloser(strings.NewReader("abc")), 3), 16)
	io.ReadAll(b.First())
	assert.NoError(t, b.LengthError())
}

func TestGetBodyGivesEachAttemptAndCopyItsOwnBody(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 100)
	req, _ := http.NewRequest(http.MethodPost, "http://svc/", bytes.NewReader(payload))
	b := New(req, 4) // the limit does not apply: nothing is kept
	assert.Same(t, b, From(b.First()))
	dup, ok := b.Mirror(context.Background())
	require.True(t, ok)
	got, _ := io.ReadAll(b.First())
	assert.Equal(t, payload, got)
	next, ok := b.Next()
	require.True(t, ok)
	got, _ = io.ReadAll(next)
	assert.Equal(t, payload, got)
	got, _ = io.ReadAll(dup)
	assert.Equal(t, payload, got)
	b.End(false)
}

func TestFailingSourceIsTheRequestsError(t *testing.T) {
	src := newSource()
	boom := errors.New("boom")
	src.w.CloseWithError(boom)
	b := New(request(src, -1), 16)
	_, err := b.First().Read(make([]byte, 4))
	var own *Error
	require.ErrorAs(t, err, &own)
	assert.ErrorIs(t, err, boom)
	assert.False(t, b.Replayable())
	b.End(true)
}

func TestMirrorWaitEndsWithTheCopysContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		b := New(request(src, -1), 16)
		ctx, cancel := context.WithCancel(context.Background())
		dup, ok := b.Mirror(ctx)
		require.True(t, ok)
		errs := make(chan error, 1)
		go func() {
			_, err := dup.Read(make([]byte, 4)) // the attempts read nothing: it waits
			errs <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-errs, context.Canceled)
		src.w.Close()
		b.End(true)
	})
}
