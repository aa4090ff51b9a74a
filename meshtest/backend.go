package meshtest

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reply"
)

// Network is a set of in-memory backends addressed by "host:port". It is
// safe for concurrent use.
type Network struct {
	mu       sync.RWMutex
	backends map[string]*Backend
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{backends: map[string]*Backend{}} }

// Add creates a backend at addr ("host:port") that answers 200 with its
// name. labels are those of the ServiceEntry endpoint it stands for. Adding
// an address twice replaces the first backend.
func (n *Network) Add(addr, name string, labels map[string]string) *Backend {
	b := &Backend{Addr: addr, Name: name, Labels: maps.Clone(labels), status: http.StatusOK}
	n.mu.Lock()
	n.backends[addr] = b
	n.mu.Unlock()
	return b
}

// Backend returns the backend at addr, or nil.
func (n *Network) Backend(addr string) *Backend {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.backends[addr]
}

// Remove takes the backend at addr off the network: requests to it are
// refused, as by a closed port.
func (n *Network) Remove(addr string) {
	n.mu.Lock()
	delete(n.backends, addr)
	n.mu.Unlock()
}

// Transport returns a RoundTripper that delivers each request to the
// backend named by its URL.Host (with the scheme's default port when it
// names none); an address without a backend refuses the connection. Pass it as the base of switchyard's Mesh.Transport.
func (n *Network) Transport() http.RoundTripper { return transport{n: n} }

// EndpointTransport returns a RoundTripper that delivers every request to
// the backend at addr, whatever its URL names; it suits
// switchyard.WithEndpointTransport(net.EndpointTransport).
func (n *Network) EndpointTransport(addr string) http.RoundTripper {
	return transport{n: n, addr: addr}
}

type transport struct {
	n    *Network
	addr string
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		httpbody.CloseRequest(req) // never sent, as net/http's transport does
		return nil, err
	}
	addr := t.addr
	if addr == "" {
		addr = req.URL.Host
		if _, _, err := net.SplitHostPort(addr); err != nil {
			port := "80"
			if req.URL.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
		}
	}
	b := t.n.Backend(addr)
	if b == nil {
		httpbody.CloseRequest(req)
		return nil, refused(addr)
	}
	return b.serve(req)
}

func refused(addr string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: staticAddr(addr), Err: syscall.ECONNREFUSED}
}

type staticAddr string

func (a staticAddr) Network() string { return "tcp" }
func (a staticAddr) String() string  { return string(a) }

// Backend is one in-memory server. Its scripting methods may be called at
// any time, also while requests are served; they return the backend so they
// can be chained.
//
// A backend behaves as a server reached over the network does when the
// caller gives up: whatever it is doing for a request — reading its body,
// waiting out a latency or a hang, running a handler — ends when the
// request's context does, and the round trip fails with the context's
// error; reading a response body after that context has ended fails with
// the context's error too. So route timeouts and cancellations fire
// against in-memory backends as they do over sockets.
type Backend struct {
	// Addr is the "host:port" the backend is reached at.
	Addr string
	// Name is what the backend answers with.
	Name string
	// Labels are the labels of the endpoint the backend stands for.
	Labels map[string]string

	mu          sync.Mutex
	status      int
	latency     time.Duration
	hang        bool
	failFirst   int
	failStatus  int
	refuseFirst int
	handler     http.Handler
	log         []Request
}

// Request is a request as a backend received it.
type Request struct {
	// Attempt is the backend's count of requests, from 1.
	Attempt int
	// Method is the request method.
	Method string
	// Host is the Host header as received.
	Host string
	// URL is the request URL as received.
	URL string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body, up to 1 MiB; a backend reads that much
	// before it answers (or fails, if the request's context ends first).
	Body []byte
}

// Respond makes the backend answer with status.
func (b *Backend) Respond(status int) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = status
	return b
}

// Delay makes the backend wait d before answering; a request whose context
// ends first fails with the context's error.
func (b *Backend) Delay(d time.Duration) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.latency = d
	return b
}

// Hang makes the backend never answer: requests fail only when their context
// ends. Give such requests a deadline.
func (b *Backend) Hang() *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hang = true
	return b
}

// FailFirst makes the backend answer its next n requests with status before
// behaving normally again.
func (b *Backend) FailFirst(n, status int) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failFirst, b.failStatus = n, status
	return b
}

// RefuseFirst makes the backend refuse its next n connections, as a server
// that is not listening yet.
func (b *Backend) RefuseFirst(n int) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refuseFirst = n
	return b
}

// Heal clears scripted latency, hangs, failures and refusals: the backend
// answers normally again, with its status or handler.
func (b *Backend) Heal() *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.latency, b.hang, b.failFirst, b.refuseFirst = 0, false, 0, 0
	return b
}

// Handle makes h answer the backend's requests (after any scripted latency
// and failures). h runs on its own goroutine, as on a server: the caller
// gets the response once its headers are sent (at h's first Flush, when
// h has written more than a connection buffers, or when h returns), and
// reads the body as h writes it. If the request's context ends first, the
// round trip fails with the context's error at once; h's context ends when
// the request's does, when the caller closes the response body, or when h
// returns, and its writes fail once the caller is gone. A handler that
// ignores its context runs on after the caller has given up, as on a real
// server: in a testing/synctest bubble, wait for it before the bubble ends.
// h reads the request body as sent; the log keeps its first 1 MiB.
func (b *Backend) Handle(h http.Handler) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
	return b
}

// Requests returns the requests received so far, refused ones included.
func (b *Backend) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.log...)
}

// Count returns how many requests the backend has received.
func (b *Backend) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.log)
}

// Reset clears the request log.
func (b *Backend) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = nil
}

// maxLoggedBody bounds the request body a backend keeps.
const maxLoggedBody = 1 << 20

// serve answers req as a server reached over the network would: whatever
// it is doing — reading the request body, waiting out a latency or a hang,
// running a handler — ends when the request's context does, with the
// context's error, and the response body's reads fail once it has ended.
func (b *Backend) serve(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body := watchBody(ctx, req.Body)
	logged, readErr := io.ReadAll(io.LimitReader(body, maxLoggedBody))
	b.mu.Lock()
	rec := Request{Attempt: len(b.log) + 1, Method: req.Method, Host: req.Host, URL: req.URL.String(), Header: req.Header.Clone(), Body: logged}
	b.log = append(b.log, rec)
	refuse := b.refuseFirst > 0
	if refuse {
		b.refuseFirst--
	}
	status, latency, hang, handler := b.status, b.latency, b.hang, b.handler
	if !refuse && b.failFirst > 0 {
		b.failFirst--
		status, handler = b.failStatus, nil
	}
	b.mu.Unlock()

	if refuse {
		body.Close()
		return nil, refused(b.Addr)
	}
	if err := ctx.Err(); err != nil {
		body.Close()
		return nil, err
	}
	if handler == nil {
		body.Close() // what is past the logged part is not read
		if readErr != nil {
			return nil, readErr
		}
	}
	if err := wait(ctx, latency, hang); err != nil {
		body.Close()
		return nil, err
	}
	if handler != nil {
		return b.handle(req, handler, logged, body)
	}
	resp := reply.New(req, status, http.Header{"X-Backend": {b.Name}}, b.Name)
	resp.Body = &staticBody{ctx: ctx, r: resp.Body}
	return resp, nil
}

func wait(ctx context.Context, latency time.Duration, hang bool) error {
	switch {
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case latency > 0:
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}
