// Package replay keeps a request body as it is sent, so that a retry or a
// mirror can send it again: the one body-replay implementation of the mesh.
//
// Nothing is read ahead of the transport that sends the request. The bytes
// an attempt reads from the caller's body are kept, up to a limit, as they
// pass (the way Envoy buffers a request while streaming it upstream), so a
// request whose body is a stream — an io.Pipe, a full-duplex HTTP/2 call —
// goes out at once. A retry replays what was kept and then reads on from
// the caller's body; it is possible only while every byte read so far was
// kept. A mirror's copy follows the attempts: it reads what they have read,
// never more, and is cut if the body outgrows the limit. A request with
// GetBody keeps nothing: each retry and each copy gets a body of its own
// from GetBody.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

var (
	// ErrSuperseded is read by an attempt's body once a retry has taken
	// the request body over.
	ErrSuperseded = errors.New("replay: request body taken over by a retry")
	// ErrNotKept is read by a copy that reaches bytes that were not kept:
	// the body outgrew the body limit.
	ErrNotKept = errors.New("replay: request body larger than the body limit")
	// ErrIncomplete is read by a copy once the request has ended before
	// its body was read to the end: the rest of the body will never come.
	ErrIncomplete = errors.New("replay: request ended before its body was read to the end")
	// errClosed is read from a reader after its Close.
	errClosed = errors.New("replay: read from a closed request body")
)

// Error is an error read from a request body through a [Body]: the
// caller's body failed, or a copy could not be completed. It is the
// request's fault, never an endpoint's.
type Error struct{ Err error }

// Error returns the message of the underlying error.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Body is one request's body, shared by its attempts and its mirrors'
// copies. It is safe for concurrent use.
type Body struct {
	mu   sync.Mutex
	cond sync.Cond // broadcast when the source advances, a read of it ends, or a reader closes

	src     io.ReadCloser
	getBody func() (io.ReadCloser, error)
	length  int64 // the request's ContentLength

	limit   int64  // bytes kept at most
	kept    []byte // the source's bytes [0, n), while nothing was dropped
	n       int64  // bytes read from the source
	dropped bool   // bytes were read and not kept
	err     error  // the source's last error; io.EOF at its end
	reading bool   // a Read of the source is under way, outside mu

	first   *Reader
	cur     *Reader // the current attempt's body
	ended   bool    // no attempt follows cur
	closed  bool    // the source is closed (or being closed)
	unwatch func() bool
}

// New returns the body of req, or nil when req has none. Of a body read
// from the caller's stream, up to limit bytes are kept (none if limit is
// negative or below the request's known length); a request with GetBody
// keeps nothing.
func New(req *http.Request, limit int64) *Body {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	b := &Body{src: req.Body, getBody: req.GetBody, length: req.ContentLength, limit: max(limit, 0)}
	b.cond.L = &b.mu
	if req.ContentLength > b.limit {
		b.limit = 0 // it cannot fit: keep nothing from the start
	}
	b.first = &Reader{b: b}
	if b.getBody != nil {
		b.first.rc = req.Body
	}
	b.cur = b.first
	return b
}

// From returns the Body whose first attempt reads rc, or nil if rc is not
// such a reader.
func From(rc io.ReadCloser) *Body {
	if r, ok := rc.(*Reader); ok && r == r.b.first {
		return r.b
	}
	return nil
}

// First returns the body of the first attempt.
func (b *Body) First() io.ReadCloser { return b.first }

// Replayable reports whether a retry could be given the whole body now.
func (b *Body) Replayable() bool {
	if b.getBody != nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.replayableLocked()
}

func (b *Body) replayableLocked() bool {
	switch {
	case b.dropped, b.closed, b.err != nil && b.err != io.EOF:
		return false
	case b.reading && b.n >= b.limit:
		// The read under way may drop what it returns. (A read that
		// starts below the limit is cut to fit it.)
		return false
	}
	return true
}

// Next returns the body of a retry, which takes over from the attempt
// before it: that attempt's body reads ErrSuperseded from then on. It
// reports false when the body cannot be replayed (bytes were dropped, the
// caller's body failed, GetBody failed).
func (b *Body) Next() (io.ReadCloser, bool) {
	if b.getBody != nil {
		rc, err := b.getBody()
		if err != nil || rc == nil {
			return nil, false
		}
		r := &Reader{b: b, rc: rc}
		b.mu.Lock()
		b.cur = r
		b.mu.Unlock()
		return r, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.replayableLocked() {
		return nil, false
	}
	r := &Reader{b: b, gen: b.cur.gen + 1}
	b.cur = r
	b.cond.Broadcast() // the superseded attempt may be waiting for a read to end
	return r, true
}

// Mirror returns the body of a mirror's copy, or false when no copy can be
// made: the body is not kept (its known length passes the limit, or the
// limit is zero) or bytes were dropped already. A copy follows the
// attempts: it reads what they have read, and waits for them to read more,
// until ctx (the copy's) ends.
func (b *Body) Mirror(ctx context.Context) (io.ReadCloser, bool) {
	if b.getBody != nil {
		rc, err := b.getBody()
		if err != nil || rc == nil {
			return nil, false
		}
		return &Reader{b: b, rc: rc, mirror: true}, true
	}
	b.mu.Lock()
	if b.dropped || b.limit == 0 {
		b.mu.Unlock()
		return nil, false
	}
	r := &Reader{b: b, mirror: true}
	b.mu.Unlock()
	// A transport may wait for its body writer however its context ends
	// (HTTP/1.1 does): the copy's end must wake a read that waits.
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		if r.cause == nil {
			r.cause = context.Cause(ctx)
		}
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	return r, true
}

// End says that no attempt follows the current one: the caller's body is
// closed once the current attempt's transport has closed its body, at once
// if it already has or if the request failed (failed true).
func (b *Body) End(failed bool) {
	b.mu.Lock()
	b.ended = true
	cur := b.cur
	if b.getBody != nil {
		b.mu.Unlock()
		if failed {
			cur.Close() // the attempt may never have reached a transport
		}
		return
	}
	if failed || cur.closed {
		b.closeSrcLocked() // unlocks
		return
	}
	b.mu.Unlock()
}

// Watch ends the body when ctx ends (the caller gave up, or a route
// timeout fired): the caller's body is closed with the context's cause, so
// that a transport blocked reading it (HTTP/1.1's waits for its body
// writer) returns. It stops watching once the caller's body is closed.
func (b *Body) Watch(ctx context.Context) {
	if b.getBody != nil || ctx.Done() == nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { b.abort(context.Cause(ctx), false) })
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		stop()
		return
	}
	b.unwatch = stop
	b.mu.Unlock()
}

// AbortReadOn ends the body when ctx ends (an attempt's per-try timeout)
// if a read of the caller's body is under way then: the transport blocked
// in it returns, and as the rest of the body can no longer be read, no
// retry follows. It returns a function that stops watching.
func (b *Body) AbortReadOn(ctx context.Context) (stop func() bool) {
	if b.getBody != nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() { b.abort(context.Cause(ctx), true) })
}

// abort closes the caller's body with cause (if only it is being read,
// only then).
func (b *Body) abort(cause error, ifReading bool) {
	b.mu.Lock()
	if b.closed || ifReading && !b.reading {
		b.mu.Unlock()
		return
	}
	if b.err == nil {
		b.err = cause
	}
	b.closeSrcLocked()
}

// closeSrcLocked closes the caller's body, once; it is called with b.mu
// held and unlocks it.
func (b *Body) closeSrcLocked() {
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	unwatch := b.unwatch
	b.cond.Broadcast()
	b.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	b.src.Close()
}

// LengthError reports the caller's body having turned out longer or
// shorter than the request's ContentLength (a request the transport
// rejects whatever the endpoint) with net/http's HTTP/1.1 error for it
// ("http: ContentLength=10 with Body length 3"); nil if it has not.
func (b *Body) LengthError() error {
	if b.getBody != nil || b.length <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n > b.length || b.err == io.EOF && b.n != b.length {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", b.length, b.n)
	}
	return nil
}

// Reader is one attempt's or one copy's view of a [Body].
type Reader struct {
	b      *Body
	gen    uint32
	mirror bool
	rc     io.ReadCloser // a body of its own (GetBody, or the first attempt's original)
	off    int64         // under b.mu
	closed bool          // under b.mu
	cause  error         // under b.mu: why a copy's context ended
}

// Of returns the Body that rc reads, or nil if rc is not a Reader.
func Of(rc io.ReadCloser) *Body {
	if r, ok := rc.(*Reader); ok {
		return r.b
	}
	return nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.rc != nil {
		n, err := r.rc.Read(p)
		if err != nil && err != io.EOF {
			err = &Error{err}
		}
		return n, err
	}
	if r.mirror {
		return r.follow(p)
	}
	return r.attempt(p)
}

// attempt reads for an attempt: what was kept, then the source.
func (r *Reader) attempt(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	for {
		switch {
		case r.closed:
			b.mu.Unlock()
			return 0, &Error{errClosed}
		case r != b.cur:
			b.mu.Unlock()
			return 0, &Error{ErrSuperseded}
		case r.off < b.n:
			if b.dropped {
				b.mu.Unlock()
				return 0, &Error{ErrNotKept}
			}
			n := copy(p, b.kept[r.off:b.n])
			r.off += int64(n)
			b.mu.Unlock()
			return n, nil
		case b.err != nil:
			err := b.err
			b.mu.Unlock()
			if err != io.EOF {
				err = &Error{err}
			}
			return 0, err
		case b.closed:
			b.mu.Unlock()
			return 0, &Error{errClosed}
		case b.reading:
			b.cond.Wait() // a superseded attempt's read of the source
			continue
		}
		break
	}
	if len(p) == 0 {
		b.mu.Unlock()
		return 0, nil
	}
	if room := b.limit - b.n; !b.dropped && room > 0 && room < int64(len(p)) {
		p = p[:room] // a read never drops part of what it returns
	}
	b.reading = true
	b.mu.Unlock()

	n, err := b.src.Read(p)

	b.mu.Lock()
	b.reading = false
	if n > 0 {
		b.keep(p[:n])
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	err = b.err // an abort's cause, rather than what the closed body said
	b.cond.Broadcast()
	switch {
	case r.closed:
		b.mu.Unlock()
		return 0, &Error{errClosed}
	case r != b.cur:
		// Superseded while reading: what was read is kept for the
		// retry (the read was cut to fit).
		b.mu.Unlock()
		return 0, &Error{ErrSuperseded}
	}
	r.off = b.n
	b.mu.Unlock()
	if err != nil && err != io.EOF {
		err = &Error{err}
	}
	return n, err
}

// keep records bytes read from the source; under b.mu.
func (b *Body) keep(p []byte) {
	switch {
	case b.dropped:
	case b.n+int64(len(p)) > b.limit:
		b.dropped, b.kept = true, nil
	default:
		if need := len(b.kept) + len(p); need > cap(b.kept) {
			grown := make([]byte, len(b.kept), min(max(2*cap(b.kept), need, 512), int(b.limit)))
			copy(grown, b.kept)
			b.kept = grown
		}
		b.kept = append(b.kept, p...)
	}
	b.n += int64(len(p))
}

// follow reads for a mirror's copy: what the attempts have read.
func (r *Reader) follow(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		switch {
		case r.closed:
			return 0, &Error{errClosed}
		case r.cause != nil:
			return 0, &Error{r.cause}
		case r.off < b.n:
			if b.dropped {
				return 0, &Error{ErrNotKept}
			}
			n := copy(p, b.kept[r.off:b.n])
			r.off += int64(n)
			return n, nil
		case b.err == io.EOF, b.length > 0 && r.off >= b.length:
			return 0, io.EOF
		case b.err != nil:
			return 0, &Error{b.err}
		case b.closed:
			return 0, &Error{ErrIncomplete}
		}
		b.cond.Wait()
	}
}

// Close implements io.Closer. Closing the current attempt's body after End
// closes the caller's body.
func (r *Reader) Close() error {
	b := r.b
	b.mu.Lock()
	if r.closed {
		b.mu.Unlock()
		return nil
	}
	r.closed = true
	b.cond.Broadcast()
	if r.rc != nil {
		b.mu.Unlock()
		return r.rc.Close()
	}
	if !r.mirror && r == b.cur && b.ended {
		b.closeSrcLocked() // unlocks
		return nil
	}
	b.mu.Unlock()
	return nil
}
