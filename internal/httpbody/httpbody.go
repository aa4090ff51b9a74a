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

// OnClose returns rc whose Close also calls f, once rc is closed.
func OnClose(rc io.ReadCloser, f func()) io.ReadCloser { return &onClose{rc, f} }

type onClose struct {
	io.ReadCloser
	f func()
}

func (b *onClose) Close() error {
	err := b.ReadCloser.Close()
	b.f()
	return err
}
