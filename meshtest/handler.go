package meshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// errBodyClosed is what reading a response body after closing it returns,
// as net/http's.
var errBodyClosed = errors.New("http: read on closed response body")

// requestBody is a request body read on the request's behalf: once the
// request's context ends, reads fail with the context's error and the
// body is closed, which unblocks a read in progress (as net/http's
// transport does when it abandons a request).
type requestBody struct {
	ctx   context.Context
	rc    io.ReadCloser // nil: no body
	stop  func() bool
	close sync.Once
}

func watchBody(ctx context.Context, rc io.ReadCloser) *requestBody {
	b := &requestBody{ctx: ctx, rc: rc}
	if rc != nil {
		b.stop = context.AfterFunc(ctx, b.closeBody)
	}
	return b
}

func (b *requestBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.rc == nil {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr // the read failed because the context closed the body
		}
	}
	return n, err
}

// Close closes the body once.
func (b *requestBody) Close() error {
	if b.stop != nil {
		b.stop()
	}
	b.closeBody()
	return nil
}

func (b *requestBody) closeBody() {
	b.close.Do(func() {
		if b.rc != nil {
			b.rc.Close()
		}
	})
}

// staticBody is the body of a scripted answer: it never blocks, and it
// fails with the request context's error once that has ended.
type staticBody struct {
	ctx    context.Context
	r      io.ReadCloser
	eof    bool
	closed atomic.Bool // Close may race with Read, as net/http allows
}

func (b *staticBody) Read(p []byte) (int, error) {
	switch {
	case b.closed.Load():
		return 0, errBodyClosed
	case b.eof:
		return 0, io.EOF
	}
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.r.Read(p)
	b.eof = err == io.EOF
	return n, err
}

func (b *staticBody) Close() error {
	b.closed.Store(true)
	return nil
}

// pipeBuffer bounds what a handler writes ahead of the caller's reads, as
// a connection's buffers do: past it, the handler's writes block.
const pipeBuffer = 64 << 10

// handle runs h on its own goroutine, as a server does. The caller gets the
// response when its headers are sent — at the handler's first Flush, when
// its writes fill the connection's buffer, or when it returns — or the
// context's error if the request's context ends first. The handler's
// context ends when the request's does, when the caller closes the
// response body, or when the handler returns. logged is the part of body
// read already.
func (b *Backend) handle(req *http.Request, h http.Handler, logged []byte, body *requestBody) (*http.Response, error) {
	rctx := req.Context()
	ctx, cancel := context.WithCancel(rctx)
	r := req.Clone(ctx)
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(logged), body), body}
	w := &responseWriter{req: req, header: http.Header{}, sent: make(chan struct{})}
	w.pipe.cond.L = &w.pipe.mu
	// Once the request's context ends, the body's reads and the handler's
	// writes fail with its error.
	stop := context.AfterFunc(rctx, func() { w.pipe.closeRead(rctx.Err()) })
	go func() {
		defer func() {
			err := io.EOF
			if v := recover(); v != nil {
				err = fmt.Errorf("meshtest: backend %s: the handler panicked (%v), resetting the connection: %w", b.Addr, v, syscall.ECONNRESET)
				if v != http.ErrAbortHandler {
					buf := make([]byte, 64<<10)
					log.Printf("meshtest: panic serving %s: %v\n%s", b.Addr, v, buf[:runtime.Stack(buf, false)])
				}
			}
			w.finish(err)
			body.Close()
			cancel()
		}()
		h.ServeHTTP(w, r)
	}()
	select {
	case <-w.sent:
		if w.resp == nil {
			stop()
			return nil, w.err
		}
		w.resp.Body = &responseBody{w: w, cancel: cancel, stop: stop}
		return w.resp, nil
	case <-rctx.Done():
		return nil, rctx.Err()
	}
}

// responseWriter is the http.ResponseWriter of a backend's handler. Its
// body goes through a bounded pipe to the caller.
type responseWriter struct {
	req    *http.Request
	header http.Header

	mu       sync.Mutex
	status   int
	fixed    http.Header // the headers as they were at WriteHeader
	sentOnce sync.Once
	sent     chan struct{} // closed once resp or err is set
	resp     *http.Response
	err      error
	sniffed  bool

	pipe pipe
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status; it is sent with the headers.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status != 0 || code < 200 && code != http.StatusSwitchingProtocols {
		return // already written, or informational
	}
	w.status = code
	w.fixed = w.header.Clone() // later changes have no effect, as in net/http
}

// Write appends to the body, sending the headers first if the buffer is
// full. It fails once the caller has gone.
func (w *responseWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = http.StatusOK
		w.fixed = w.header.Clone()
	}
	if !w.sniffed && len(p) > 0 {
		w.sniffed = true
		if _, ok := w.fixed["Content-Type"]; !ok && w.fixed.Get("Transfer-Encoding") == "" {
			w.fixed.Set("Content-Type", http.DetectContentType(p))
		}
	}
	w.mu.Unlock()
	return w.pipe.write(p, func() { w.send(-1) })
}

// Flush sends the headers, if not sent yet; the body is delivered as it
// is written.
func (w *responseWriter) Flush() { w.send(-1) }

// send delivers the response's headers to the caller once, with length
// as its ContentLength unless the handler declared one (-1: unknown).
func (w *responseWriter) send(length int64) {
	w.sentOnce.Do(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.status == 0 {
			w.status, w.fixed = http.StatusOK, w.header.Clone()
		}
		h := w.fixed.Clone()
		if cl := h.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
				length = n
			}
		} else if length >= 0 {
			h.Set("Content-Length", strconv.FormatInt(length, 10))
		}
		w.resp = &http.Response{
			Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
			StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, ContentLength: length, Request: w.req,
		}
		close(w.sent)
	})
}

// finish ends the response when the handler returns: err is io.EOF, or
// the reset a panic stands for. A response whose headers were not sent
// yet is sent whole, with its length.
func (w *responseWriter) finish(err error) {
	if err == io.EOF {
		w.send(int64(w.pipe.buffered()))
	} else {
		w.sentOnce.Do(func() {
			w.err = err
			close(w.sent)
		})
	}
	w.pipe.closeWrite(err)
}

// responseBody is the caller's end of a handler's response body.
type responseBody struct {
	w      *responseWriter
	cancel context.CancelFunc
	stop   func() bool
}

func (b *responseBody) Read(p []byte) (int, error) { return b.w.pipe.read(p) }

// Close hangs up: the handler's writes fail and its context ends.
func (b *responseBody) Close() error {
	b.stop()
	b.cancel() // first: a write that fails finds the context ended
	b.w.pipe.closeRead(errBodyClosed)
	return nil
}

// pipe carries a handler's body to the caller through a bounded buffer.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	werr error // set by the writer: io.EOF once done, or a reset
	rerr error // set by the reader's side: closed, or the context's error
	eof  bool  // the reader has seen the end
}

// write copies p in, calling full (without the lock) before it waits for
// the reader to make room.
func (p *pipe) write(b []byte, full func()) (int, error) {
	n := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		if p.rerr != nil {
			return n, p.rerr
		}
		if p.werr != nil {
			return n, errors.New("http: response.Write on a finished response")
		}
		room := pipeBuffer - len(p.buf)
		if room == 0 {
			p.mu.Unlock()
			full()
			p.mu.Lock()
			if len(p.buf) == pipeBuffer && p.rerr == nil {
				p.cond.Wait()
			}
			continue
		}
		k := min(room, len(b))
		p.buf = append(p.buf, b[:k]...)
		b, n = b[k:], n+k
		p.cond.Broadcast()
	}
	return n, nil
}

// read takes what is buffered, waiting for the writer; once the reader's
// side is closed or its context has ended, it fails with that error.
func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.eof:
			return 0, io.EOF
		case p.rerr != nil:
			return 0, p.rerr
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil
			}
			p.cond.Broadcast()
			return n, nil
		case p.werr != nil:
			if p.werr == io.EOF {
				p.eof = true
				return 0, io.EOF
			}
			return 0, fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, p.werr)
		}
		p.cond.Wait()
	}
}

func (p *pipe) buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

func (p *pipe) closeWrite(err error) {
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipe) closeRead(err error) {
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.buf = nil
	p.cond.Broadcast()
	p.mu.Unlock()
}
