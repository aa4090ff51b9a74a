package retry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/retry"
)

// pipeRequest is a POST whose body is the read end of a pipe: a stream
// with no GetBody, as a full-duplex client sends.
func pipeRequest(ctx context.Context) (*http.Request, *io.PipeWriter) {
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://svc/upload", pr)
	return req, pw
}

// A streamed body goes out as it is written: the default policy (which
// retries) hands the request to the transport before reading any of it.
func TestStreamedBodyIsSentBeforeItIsRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := make(chan string)
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			for {
				b := make([]byte, 16)
				n, err := r.Body.Read(b)
				if n > 0 {
					got <- string(b[:n])
				}
				if err != nil {
					r.Body.Close()
					return resp(200), nil
				}
			}
		})
		req, pw := pipeRequest(context.Background())
		done := make(chan error)
		go func() {
			_, err := policy(t, nil).RoundTripper(next).RoundTrip(req)
			done <- err
		}()
		for _, chunk := range []string{"ping", "pong"} {
			go pw.Write([]byte(chunk))
			assert.Equal(t, chunk, <-got, "each chunk reaches the transport as it is written")
		}
		pw.Close()
		require.NoError(t, <-done)
	})
}

// The caller's deadline ends a request whose body never comes: the
// request is not stuck reading its body before it is sent.
func TestStreamedBodyCallerDeadlineInterrupts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			r.Body.Close()
			return nil, r.Context().Err()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, pw := pipeRequest(ctx)
		defer pw.Close()
		start := time.Now()
		_, err := policy(t, nil).RoundTripper(next).RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2*time.Second, time.Since(start), "at the caller's deadline")
	})
}

// A retry replays what the failed attempt sent (and kept), then reads on
// from the caller's stream.
func TestRetryReplaysWhatWasSentThenStreamsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var bodies []string
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if len(bodies) == 0 {
				b := make([]byte, 3)
				io.ReadFull(r.Body, b)
				bodies = append(bodies, string(b))
				return resp(503), nil // before the body has all been sent
			}
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			bodies = append(bodies, string(b))
			return resp(200), nil
		})
		p := policy(t, &retry.Config{Attempts: 1, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(0)))
		req, pw := pipeRequest(context.Background())
		go func() {
			pw.Write([]byte("abc"))
			pw.Write([]byte("def"))
			pw.Close()
		}()
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, r.StatusCode)
		assert.Equal(t, []string{"abc", "abcdef"}, bodies)
	})
}

// Once an attempt has sent more of the body than the limit keeps, the
// request is not retried: part of the body would be missing.
func TestNoRetryOnceBodyOutgrewTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		attempts := 0
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts++
			b := make([]byte, 8)
			io.ReadFull(r.Body, b)
			return resp(503), nil
		})
		p := policy(t, &retry.Config{Attempts: 2, RetryOn: "5xx"}, retry.WithBodyLimit(4), retry.WithRand(rng.NewSequence(0)))
		req, pw := pipeRequest(context.Background())
		go pw.Write([]byte("0123456789"))
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 503, r.StatusCode, "the failed attempt's response")
		assert.Equal(t, 1, attempts)
		pw.Close()
	})
}

// With buffering off (a negative limit), a body is never kept, yet an
// attempt that failed before reading any of it (a refused connection) is
// retried with the whole stream.
func TestNoBufferingStillRetriesWhatWasNotRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if len(got) == 0 {
				got = append(got, "")
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			}
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			got = append(got, string(b))
			return resp(200), nil
		})
		p := policy(t, nil, retry.WithBodyLimit(-1), retry.WithRand(rng.NewSequence(0)))
		req, pw := pipeRequest(context.Background())
		go func() {
			pw.Write([]byte("streamed"))
			pw.Close()
		}()
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, r.StatusCode)
		assert.Equal(t, []string{"", "streamed"}, got)
	})
}

// The caller's own body failing is the caller's error, returned as it is:
// not retried, not an ExhaustedError.
func TestFailingRequestBodyIsReturnedAsIs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBoom := errors.New("client gave up writing")
		attempts := 0
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts++
			_, err := io.ReadAll(r.Body) // as net/http's transport returns a body's read error
			r.Body.Close()
			return nil, err
		})
		p := policy(t, &retry.Config{Attempts: 2, RetryOn: "5xx,reset,connect-failure"}, retry.WithRand(rng.NewSequence(0)))
		req, pw := pipeRequest(context.Background())
		go pw.CloseWithError(errBoom)
		_, err := p.RoundTripper(next).RoundTrip(req)
		assert.ErrorIs(t, err, errBoom)
		var exhausted *retry.ExhaustedError
		assert.False(t, errors.As(err, &exhausted), "returned as it is: %v", err)
		assert.Equal(t, 1, attempts)
	})
}

// A request net/http refuses to send (a header value with CR/LF) fails
// with net/http's own error, at once: no retry, no dial.
func TestInvalidRequestIsNotRetried(t *testing.T) {
	var dials atomic.Int32
	next := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}}
	p := policy(t, nil, retry.WithRand(rng.NewSequence(0)))
	req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
	req.Header["X-Note"] = []string{"line\r\nX-Injected: 1"}
	_, err := p.RoundTripper(next).RoundTrip(req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `net/http: invalid header field value for "X-Note"`)
	var exhausted *retry.ExhaustedError
	assert.False(t, errors.As(err, &exhausted), "returned as net/http returned it: %v", err)
	assert.Zero(t, dials.Load())
}

// stalledBody is a response body whose data never comes: Read blocks until
// Close, as a net/http body does when the server stalls.
type stalledBody struct {
	closed chan struct{}
	once   atomic.Bool
}

func newStalledBody() *stalledBody { return &stalledBody{closed: make(chan struct{})} }

func (b *stalledBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, errors.New("body closed")
}

func (b *stalledBody) Close() error {
	if b.once.CompareAndSwap(false, true) {
		close(b.closed)
	}
	return nil
}

func (b *stalledBody) isClosed() bool { return b.once.Load() }

// A 5xx whose body stalls does not delay its retry: it is drained in the
// background, and closed undrained when it does not arrive in time.
func TestStalledBodyDoesNotDelayRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stalled := newStalledBody()
		n := 0
		next := roundTripFunc(func(*http.Request) (*http.Response, error) {
			if n++; n == 1 {
				return &http.Response{StatusCode: 503, Header: http.Header{}, Body: stalled}, nil
			}
			return resp(200), nil
		})
		p := policy(t, &retry.Config{Attempts: 1, RetryOn: "5xx"}, retry.WithRand(rng.NewSequence(0)))
		req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
		start := time.Now()
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, r.StatusCode)
		assert.Zero(t, time.Since(start), "the retry went at once (a zero back-off was drawn)")
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		assert.True(t, stalled.isClosed(), "closed undrained after the drain's time bound")
	})
}

// Draining never outlives the attempt's per-try timeout.
func TestDrainEndsWithThePerTryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stalled := newStalledBody()
		n := 0
		next := roundTripFunc(func(*http.Request) (*http.Response, error) {
			if n++; n == 1 {
				time.Sleep(10 * time.Millisecond)
				return &http.Response{StatusCode: 503, Header: http.Header{}, Body: stalled}, nil
			}
			return resp(200), nil
		})
		p := policy(t, &retry.Config{Attempts: 1, RetryOn: "5xx", PerTryTimeout: 30 * time.Millisecond}, retry.WithRand(rng.NewSequence(0)))
		req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
		r, err := p.RoundTripper(next).RoundTrip(req)
		require.NoError(t, err)
		r.Body.Close()
		time.Sleep(20*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		assert.False(t, stalled.isClosed(), "the attempt's per-try timeout has not run out")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.True(t, stalled.isClosed(), "closed when the per-try timeout runs out, 30ms after the attempt began")
	})
}
