// Package httpbody holds the two things every part of the mesh does with
// bodies: closing a request's body on a path that never sends it (as an
// http.RoundTripper must), and running a function when a response body is
// closed (to release a timeout or an admission held until then).
package httpbody

import (
	"io"
	"net/http"
)

// CloseRequest closes req's body, if it has one.
func CloseRequest(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// OnClose returns rc whose Close also calls f, once rc is closed. If rc
// is also an io.Writer (the connection of a 101 Switching Protocols
// response), so is the result.
func OnClose(rc io.ReadCloser, f func()) io.ReadCloser {
	if w, ok := rc.(io.ReadWriteCloser); ok {
		return &onCloseWriter{onClose{rc, f}, w}
	}
	return &onClose{rc, f}
}

type onCloseWriter struct {
	onClose
	w io.Writer
}

func (b *onCloseWriter) Write(p []byte) (int, error) { return b.w.Write(p) }

type onClose struct {
	io.ReadCloser
	f func()
}

func (b *onClose) Close() error {
	err := b.ReadCloser.Close()
	b.f()
	return err
}
