package meshtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// A handler runs like a server's: when the caller gives up, the round trip
// ends at once with the context's error, whatever the handler is doing, and
// the handler's own context ends.
func TestHandlerEndsWhenTheRequestContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		handlerDone := make(chan error, 1)
		n.Add("slow:80", "slow", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * time.Second) // a handler that ignores its context
			_, err := io.WriteString(w, "late")
			handlerDone <- errors.Join(r.Context().Err(), err)
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://slow/", nil)
		start := time.Now()
		_, err := n.Transport().RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2*time.Second, time.Since(start), "the round trip ends with its context, not with the handler")
		err = <-handlerDone
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the handler's context ended with the request's")
		assert.Equal(t, 3*time.Second, time.Since(start))

		waited := make(chan error, 1)
		n.Add("patient:80", "patient", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			waited <- r.Context().Err()
		}))
		ctx, cancel = context.WithCancel(context.Background())
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://patient/", nil)
		time.AfterFunc(time.Second, cancel)
		_, err = n.Transport().RoundTrip(req)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, <-waited, context.Canceled, "a handler that watches its context sees the cancellation")
	})
}

// The case: a 3 s handler behind a 2 s route timeout is cut with a
// 504 at 2 s, as over real sockets.
func TestHandlerBehindARouteTimeoutIsCutAtTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		handlerDone := make(chan struct{})
		b := n.Add("10.0.0.1:9080", "v1", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(handlerDone)
			time.Sleep(3 * time.Second)
			io.WriteString(w, "too late")
		}))
		m, err := switchyard.New(switchyard.Config{
			ServiceEntries: []subset.ServiceEntry{meshtest.ServiceEntry("reviews", 9080, b)},
			VirtualServices: []route.VirtualService{{Name: "reviews", Hosts: []string{"reviews"}, HTTP: []route.HTTPRoute{{
				Timeout: 2 * time.Second,
				Route:   []route.RouteDestination{{Destination: route.Destination{Host: "reviews"}}},
			}}}},
		})
		require.NoError(t, err)
		defer m.Close()
		client := &http.Client{Transport: m.Transport(n.Transport())}
		start := time.Now()
		resp, err := client.Get("http://reviews:9080/")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, "upstream request timeout", string(body))
		assert.Equal(t, 2*time.Second, time.Since(start))
		<-handlerDone // it runs on, as on a server, until it returns
	})
}

// A response body read after the request's context ended fails with the
// context's error, for scripted answers and handlers alike; a handler
// streaming its body sees its writes fail and its context end.
func TestResponseBodiesObserveCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		n.Add("scripted:80", "scripted", nil)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://scripted/", nil)
		resp, err := n.Transport().RoundTrip(req)
		require.NoError(t, err)
		cancel()
		_, err = io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, context.Canceled)
		resp.Body.Close()

		streamed := make(chan error, 1)
		n.Add("stream:80", "stream", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var err error
			for i := 0; err == nil && i < 10; i++ { // a bounded stream
				_, err = io.WriteString(w, "tick\n")
				w.(http.Flusher).Flush()
				time.Sleep(time.Second)
			}
			streamed <- errors.Join(err, r.Context().Err())
		}))
		ctx, cancel = context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://stream/", nil)
		resp, err = n.Transport().RoundTrip(req)
		require.NoError(t, err, "headers arrive at the first flush")
		body, err := io.ReadAll(resp.Body)
		assert.Equal(t, "tick\ntick\ntick\n", string(body), "the body streams as it is written")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "and its read ends with the request's context")
		resp.Body.Close()
		assert.ErrorIs(t, <-streamed, context.DeadlineExceeded, "the handler's writes fail once the caller is gone")
	})
}

// A request body that the caller is still writing cannot hold a backend
// past the request's context.
func TestStreamingRequestBodyEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		n.Add("a:80", "a", nil)
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("partial"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://a/", pr)
		start := time.Now()
		_, err := n.Transport().RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))
		_, err = pw.Write([]byte("more"))
		assert.ErrorIs(t, err, io.ErrClosedPipe, "the round trip closed the request body")
	})
}

// A handler's body larger than the logged 1 MiB reaches it whole; the log
// keeps the first 1 MiB.
func TestHandlerReadsTheWholeRequestBody(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("a:80", "a", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("x", int(got%7)))
		w.Header().Set("X-Ignored", "after the body")
	}))
	const size = 3<<20 + 5
	req, _ := http.NewRequest(http.MethodPost, "http://a/", io.LimitReader(zeros{}, size))
	resp, err := n.Transport().RoundTrip(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, strings.Repeat("x", size%7), string(body))
	assert.Empty(t, resp.Header.Get("X-Ignored"), "headers are fixed once the body is written, as in net/http")
	assert.Len(t, b.Requests()[0].Body, 1<<20)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Closing a response body hangs up on the handler: its writes fail and its
// context ends. A response larger than a connection buffers streams; a
// small one arrives whole, with its length.
func TestHandlerResponsesStreamAndHangUps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		hungUp := make(chan error, 1)
		n.Add("big:80", "big", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("y", 1<<10))
			var err error
			for i := 0; err == nil && i < 4<<10; i++ { // up to 4 MiB
				_, err = w.Write(chunk)
			}
			hungUp <- errors.Join(err, r.Context().Err())
		}))
		resp, err := n.Transport().RoundTrip(httptestRequest("http://big/"))
		require.NoError(t, err, "headers are sent once the handler has filled the buffer")
		assert.EqualValues(t, -1, resp.ContentLength)
		got, err := io.ReadFull(resp.Body, make([]byte, 1<<20))
		require.NoError(t, err)
		assert.Equal(t, 1<<20, got)
		resp.Body.Close()
		err = <-hungUp
		assert.ErrorContains(t, err, "read on closed response body", "the handler's write failed")
		assert.ErrorIs(t, err, context.Canceled, "and its context ended")

		n.Add("small:80", "small", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>hi</html>")
		}))
		resp, err = n.Transport().RoundTrip(httptestRequest("http://small/"))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "<html>hi</html>", string(body))
		assert.EqualValues(t, len(body), resp.ContentLength)
		assert.Equal(t, "15", resp.Header.Get("Content-Length"))
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	})
}

// A handler that panics resets the connection, as a server's does.
func TestHandlerPanicResetsTheConnection(t *testing.T) {
	n := meshtest.NewNetwork()
	n.Add("a:80", "a", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	_, err := n.Transport().RoundTrip(httptestRequest("http://a/"))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
}

func httptestRequest(url string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return req
}

// A request whose context has ended already is not sent.
func TestEndedRequestIsNotSent(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("a:80", "a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a/", nil)
	_, err := n.Transport().RoundTrip(req)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, b.Count())
}
