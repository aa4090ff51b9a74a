package reqerr

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/replay"
)

func TestOfTellsTheRequestsFaultsFromTheEndpoints(t *testing.T) {
	good := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
		return req
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		err  error
		own  bool
	}{
		{"a refused connection", good, refused, false},
		{"a reset", good, syscall.ECONNRESET, false},
		{"a timeout", good, context.DeadlineExceeded, false},
		{"CR/LF in a header value", func() *http.Request {
			r := good()
			r.Header["X-A"] = []string{"a\r\nb"}
			return r
		}, errors.New(`net/http: invalid header field value for "X-A"`), true},
		{"invalid header name", func() *http.Request {
			r := good()
			r.Header["A B"] = []string{"1"}
			return r
		}, errors.New("whatever the transport said"), true},
		{"invalid trailer", func() *http.Request {
			r := good()
			r.Trailer = http.Header{"X": {"\n"}}
			return r
		}, errors.New("net/http: invalid trailer"), true},
		{"invalid method", func() *http.Request {
			r := good()
			r.Method = "GE T"
			return r
		}, errors.New(`net/http: invalid method "GE T"`), true},
		{"unsupported scheme", func() *http.Request {
			r := good()
			r.URL.Scheme = "ftp"
			return r
		}, errors.New(`unsupported protocol scheme "ftp"`), true},
		{"no host", func() *http.Request {
			r := good()
			r.URL.Host, r.Host = "", ""
			return r
		}, errors.New("http: no Host in request URL"), true},
		{"HTTP/2 connection header", good, errors.New(`http2: invalid Connection request header: ["upgrade"]`), true},
		{"HTTP/2 header list past the server's limit", good, errors.New("request header list larger than peer's advertised limit"), true},
		{"HTTP/1.1 body length", good, errors.New("net/http: HTTP/1.x transport connection broken: http: ContentLength=10 with Body length 3"), true},
		{"a ContentLength without a body", good, errors.New("http: Request.ContentLength=5 with nil Body"), true},
		{"the caller's body failed", good, &replay.Error{Err: io.ErrUnexpectedEOF}, true},
	} {
		got := Of(tc.req(), tc.err)
		if !tc.own {
			assert.Nil(t, got, tc.name)
			continue
		}
		own, ok := Unwrap(got)
		if assert.True(t, ok, tc.name) {
			assert.False(t, got.(interface{ Retriable() bool }).Retriable(), tc.name)
			var body *replay.Error
			if errors.As(tc.err, &body) {
				assert.Equal(t, body.Err, own, "%s: the caller's own error", tc.name)
			} else {
				assert.Equal(t, tc.err, own, "%s: the transport's error as it is", tc.name)
			}
		}
	}
	assert.Nil(t, Of(good(), nil))
}

// TestOfSeesAContentLengthWithoutABody: net/http's HTTP/1.1 transport
// refuses the request and closes its connection, and may report the read
// of the closed connection instead of the refusal; Of gives the refusal,
// as the caller's own error. The same error for a request with its body is
// the connection's.
func TestOfSeesAContentLengthWithoutABody(t *testing.T) {
	closed := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	req, _ := http.NewRequest(http.MethodPost, "http://svc/", nil)
	req.ContentLength = 5
	own, ok := Unwrap(Of(req, closed))
	require.True(t, ok)
	assert.EqualError(t, own, "http: Request.ContentLength=5 with nil Body")

	withBody, _ := http.NewRequest(http.MethodPost, "http://svc/", strings.NewReader("12345"))
	assert.Nil(t, Of(withBody, closed))
	req.ContentLength = 0
	assert.Nil(t, Of(req, closed))

	// A body shorter than its ContentLength, read whole by the transport.
	short, _ := http.NewRequest(http.MethodPost, "http://svc/", io.NopCloser(strings.NewReader("abc")))
	short.ContentLength = 10
	b := replay.New(short, 64)
	io.ReadAll(b.First())
	short.Body = b.First()
	own, ok = Unwrap(Of(short, closed))
	require.True(t, ok)
	assert.EqualError(t, own, "http: ContentLength=10 with Body length 3")
	b.End(true)
}

func TestOfSeesABodyThatDoesNotMatchItsLength(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://svc/", io.NopCloser(strings.NewReader("abc")))
	req.ContentLength = 10
	b := replay.New(req, 64)
	io.ReadAll(b.First())
	req.Body = b.First()
	assert.NotNil(t, Of(req, errors.New("some transport error")))
	b.End(true)
}
