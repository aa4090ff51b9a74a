package route

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/subset"
)

// Sender sends one attempt of a routed request.
type Sender interface {
	// Send sends req to endpoint ep of cluster c. ep is nil for a
	// passthrough cluster: the request goes to the address it names. Send
	// must not modify req.
	Send(req *http.Request, c *subset.Cluster, ep *balancer.Endpoint) (*http.Response, error)
}

// Env holds the runtime dependencies of the request path.
type Env struct {
	// Rand draws weighted destinations.
	Rand balancer.Rand
	// Clock runs route timeouts.
	Clock clock.Clock
}

// ErrRouteTimeout is the cause of a request context cancelled by a route
// timeout.
var ErrRouteTimeout = errors.New("route: upstream request timeout")

// Lookup returns the virtual host for a request to host (lower-case, without
// port) at port: a VirtualService host with that port, then without, then
// "*." wildcards (longest first), then the default route of a ServiceEntry
// host. It returns nil for a host the configuration does not know.
func (t *Table) Lookup(host string, port uint32) *VirtualHost {
	if vh, ok := t.hosts[hostKey{host, port}]; ok {
		return vh
	}
	if vh, ok := t.hosts[hostKey{host, 0}]; ok {
		return vh
	}
	for i := range t.wildcard {
		w := &t.wildcard[i]
		if (w.port == 0 || w.port == port) && strings.HasSuffix(host, w.suffix) {
			return w.vh
		}
	}
	if svc := t.registry.Lookup(host); svc != nil {
		return t.defaults[svc]
	}
	return nil
}

// Match returns the first route that matches in and the index of the match
// block that matched (-1 for a route without match blocks), or nil.
func (vh *VirtualHost) Match(in *match.Input) (*Route, int) {
	for _, r := range vh.routes {
		if i, ok := r.matcher.Match(in); ok {
			return r, i
		}
	}
	return nil, 0
}

// SplitAuthority splits a request's authority into a lower-case host and a
// port, defaulting the port from the scheme.
func SplitAuthority(authority, scheme string) (string, uint32) {
	host, port := authority, uint32(0)
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		if p, err := strconv.ParseUint(authority[i+1:], 10, 16); err == nil {
			host, port = authority[:i], uint32(p)
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port == 0 {
		port = 80
		if scheme == "https" {
			port = 443
		}
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host), port
		}
	}
	return host, port
}

// Authority returns the authority a request is addressed to: its Host
// header, else its URL's host.
func Authority(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// NewInput describes req for matching; port is the port it was sent to.
func NewInput(req *http.Request, authority string, port uint32) match.Input {
	scheme := req.URL.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return match.Input{
		Method:    req.Method,
		Scheme:    scheme,
		Authority: authority,
		Path:      req.URL.EscapedPath(),
		Query:     req.URL.RawQuery,
		Port:      port,
		Header:    match.HTTPHeader(req.Header),
	}
}

// RoundTrip routes req within virtual host vh: the first matching route's
// redirect, direct response, or forward to a weighted destination through s.
// It follows Envoy's local replies: 404 when no route matches, 503 when no
// endpoint can be picked or the upstream cannot be reached, 504 when the
// route timeout fires.
func (vh *VirtualHost) RoundTrip(req *http.Request, in *match.Input, s Sender, env *Env) (*http.Response, error) {
	r, block := vh.Match(in)
	if r == nil {
		return localReply(req, http.StatusNotFound, "", nil), nil
	}
	switch r.kind {
	case actionRedirect:
		resp := localReply(req, r.redirect.code, "", nil)
		resp.Header.Set("Location", r.redirect.location(in, r.matcher, block))
		r.respOps.apply(resp.Header)
		return resp, nil
	case actionDirect:
		resp := localReply(req, r.direct.status, "", r.direct.body)
		r.respOps.apply(resp.Header)
		return resp, nil
	}

	d := r.pick(env.Rand)
	c := d.target.Cluster(in.Port)
	if c == nil {
		return localReply(req, http.StatusServiceUnavailable,
			"no cluster: "+d.host+" has several ports and neither the route nor the request names one of them", nil), nil
	}
	out := req
	var cancel context.CancelFunc
	if r.Timeout > 0 {
		var ctx context.Context
		ctx, cancel = withTimeout(req.Context(), env.Clock, r.Timeout)
		out = req.WithContext(ctx)
	}
	if len(d.reqOps) > 0 || d.authority != "" || r.rewrite != nil {
		if out == req {
			out = req.Clone(req.Context())
		} else {
			out.Header = req.Header.Clone()
			u := *req.URL
			out.URL = &u
		}
		if out.Header == nil {
			out.Header = http.Header{}
		}
		d.reqOps.apply(out.Header)
		if d.authority != "" {
			out.Host = d.authority
		}
		if r.rewrite != nil {
			r.rewrite.apply(out, in, r.matcher, block)
		}
	}

	resp, err := send(out, c, s)
	if err != nil {
		if cancel != nil {
			cause := context.Cause(out.Context())
			cancel()
			if errors.Is(cause, ErrRouteTimeout) && req.Context().Err() == nil {
				return localReply(req, http.StatusGatewayTimeout, "upstream request timeout", nil), nil
			}
		}
		if req.Context().Err() != nil {
			return nil, err // the caller gave up
		}
		if errors.Is(err, balancer.ErrNoEndpoint) {
			return localReply(req, http.StatusServiceUnavailable, "no healthy upstream", nil), nil
		}
		return localReply(req, http.StatusServiceUnavailable,
			"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: "+err.Error(), nil), nil
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	d.respOps.apply(resp.Header)
	if cancel != nil {
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// send picks an endpoint of c and sends out to it, keeping the endpoint's
// active-request count for the duration of the exchange of headers.
func send(out *http.Request, c *subset.Cluster, s Sender) (*http.Response, error) {
	if c.Passthrough {
		return s.Send(out, c, nil)
	}
	ep, err := c.Pick()
	if err != nil {
		return nil, err
	}
	ep.State.Begin()
	resp, err := s.Send(out, c, ep)
	ep.State.End()
	return resp, err
}

// pick draws a destination by weight: with cumulative bounds w1, w1+w2, …
// the first bound above a uniform draw in [0, Σw) wins, as Envoy's
// weighted_clusters.
func (r *Route) pick(rand balancer.Rand) *destination {
	if len(r.dests) == 1 {
		return &r.dests[0]
	}
	v := rng.N(rand.Uint64(), r.total)
	for i := range r.dests {
		if v < r.dests[i].upTo {
			return &r.dests[i]
		}
	}
	return &r.dests[len(r.dests)-1]
}

// cancelOnClose releases a route timeout once the response body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (a *rewriteAction) apply(out *http.Request, in *match.Input, m *match.Matcher, block int) {
	path := in.Path
	switch {
	case a.hasURI:
		kind, value := m.URI(block)
		if kind == match.KindPrefix && len(path) >= len(value) {
			path = a.uri + path[len(value):]
		} else {
			path = a.uri
		}
	case a.regex != nil:
		path = a.regex.ReplaceAllString(path, a.template)
	default:
		return
	}
	if path == in.Path {
		return
	}
	out.Header.Set("X-Envoy-Original-Path", in.Path)
	if u, err := url.Parse(path); err == nil && u.Path != "" {
		out.URL.Path, out.URL.RawPath = u.Path, u.RawPath
	} else {
		out.URL.Path, out.URL.RawPath = path, ""
	}
}

func (a *redirectAction) location(in *match.Input, m *match.Matcher, block int) string {
	scheme := in.Scheme
	if a.scheme != "" {
		scheme = a.scheme
	}
	host := in.Authority
	if a.authority != "" {
		host = a.authority
	}
	port := a.port
	if a.fromRequestPort {
		port = in.Port
	}
	switch {
	case port != 0:
		host = hostOnly(host)
		if !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
			host += ":" + strconv.Itoa(int(port))
		}
	case scheme != in.Scheme:
		// Changing the scheme drops the old scheme's default port.
		if h, p, ok := strings.Cut(host, ":"); ok && ((in.Scheme == "http" && p == "80") || (in.Scheme == "https" && p == "443")) {
			host = h
		}
	}
	path, query := in.Path, in.Query
	switch {
	case a.uri != "":
		path = a.uri
		if p, q, ok := strings.Cut(a.uri, "?"); ok {
			path, query = p, q
		}
	case a.prefixRewrite != "":
		if _, value := m.URI(block); len(path) >= len(value) {
			path = a.prefixRewrite + path[len(value):]
		}
	}
	loc := scheme + "://" + host + path
	if query != "" {
		loc += "?" + query
	}
	return loc
}

func hostOnly(authority string) string {
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		return authority[:i]
	}
	return authority
}

// localReply builds a response generated by the router itself.
func localReply(req *http.Request, status int, text string, body []byte) *http.Response {
	if text != "" {
		body = []byte(text)
	}
	h := http.Header{}
	if len(body) > 0 {
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(string(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
