package switchyard

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/router"
)

// Transport returns an http.RoundTripper that routes requests through the
// mesh: requests to a host the configuration knows are matched, split,
// balanced and sent to a chosen endpoint; requests to other hosts pass
// through unchanged.
//
// When base is non-nil it receives every attempt with URL.Host set to the
// chosen endpoint's "host:port" and Host left as the original authority,
// and every request to an unknown host unchanged. When base is nil the mesh
// uses its own transports: one per endpoint (see [WithEndpointTransport]),
// which receive the request itself, and one for unknown hosts.
//
// The RoundTripper follows Envoy's local replies: 404 when no route of a
// known host matches, 503 when no endpoint can be reached, 504 when a route
// timeout fires. It returns an error only when the caller's context ends
// first, when the mesh is closed, or when the request itself is at fault
// (a header net/http refuses to send, a body that fails or does not match
// its ContentLength): that error is net/http's own, as without the mesh,
// and it is neither retried nor counted against an endpoint. A request
// body is sent as it is read, never read ahead. It is safe for concurrent
// use.
func (m *Mesh) Transport(base http.RoundTripper) http.RoundTripper {
	return &meshTransport{m: m, base: base}
}

// errNilURL is net/http's error for a request without a URL.
var errNilURL = errors.New("http: nil Request.URL")

type meshTransport struct {
	m    *Mesh
	base http.RoundTripper
}

func (t *meshTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	if req.URL == nil {
		httpbody.CloseRequest(req)
		return nil, errNilURL
	}
	s := t.m.snap.Load()
	authority := router.Authority(req)
	host, port := router.SplitAuthority(authority, req.URL.Scheme)
	vh := s.table.Lookup(host)
	if vh == nil {
		if s.scope.registryOnly {
			return blackHole(req), nil
		}
		return t.passthrough(req)
	}
	in := router.NewInput(req, authority, port)
	return vh.RoundTrip(req, &in, t, &t.m.env)
}

// Send implements router.Sender. Once the mesh is closed it sends nothing
// (a retry or a mirror of a request in flight gets ErrClosed), so nothing
// dials after Close.
func (t *meshTransport) Send(req *http.Request, c *cluster.Cluster, ep *balancer.Endpoint) (*http.Response, error) {
	if t.m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, reqerr.Wrap(ErrClosed)
	}
	if ep == nil {
		return t.passthrough(req)
	}
	if t.base == nil {
		rt := t.m.transportFor(c, ep)
		resp, err := rt.RoundTrip(req)
		if t.m.closed.Load() {
			// Close came while this request was being sent, perhaps
			// after the transport had dialled for it: its connection
			// closes as soon as it falls idle.
			closeIdle(rt)
		}
		return resp, err
	}
	base := t.base
	if c.TLS != nil || req.URL.Scheme == "https" {
		var err error
		if base, err = t.m.baseTLS(t.base, c, req); err != nil {
			// The caller's set-up, not the endpoint's fault: returned as
			// it is, neither retried nor counted.
			httpbody.CloseRequest(req)
			return nil, reqerr.Wrap(err)
		}
	}
	// One allocation for the request and its URL together; headers and
	// body are shared, as the base must not modify the request.
	cp := &requestCopy{req: *req, url: *req.URL}
	cp.url.Host = ep.Address
	cp.req.URL = &cp.url
	if cp.req.Host == "" {
		cp.req.Host = req.URL.Host
	}
	resp, err := base.RoundTrip(&cp.req)
	if resp != nil {
		// The caller sees its own request: http.Client resolves relative
		// redirects against resp.Request.URL, which must not be the
		// endpoint's address.
		resp.Request = req
	}
	return resp, err
}

type requestCopy struct {
	req http.Request
	url url.URL
}

func (t *meshTransport) passthrough(req *http.Request) (*http.Response, error) {
	if t.base != nil {
		return t.base.RoundTrip(req)
	}
	resp, err := t.m.direct.RoundTrip(req)
	if t.m.closed.Load() {
		t.m.direct.CloseIdleConnections()
	}
	return resp, err
}
