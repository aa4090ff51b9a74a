package router

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/failure"
	"github.com/switchyard-go/switchyard/internal/replay"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/match"
)

// Sender sends one attempt of a routed request.
type Sender interface {
	// Send sends req to endpoint ep of cluster c. ep is nil for a
	// passthrough cluster: the request goes to the address it names. Send
	// must not modify req.
	Send(req *http.Request, c *cluster.Cluster, ep *balancer.Endpoint) (*http.Response, error)
}

// Env holds the runtime dependencies of the request path.
type Env struct {
	// Rand draws weighted destinations, fault and mirror percentages and
	// back-off jitter.
	Rand balancer.Rand
	// Clock runs route timeouts, per-try timeouts, back-off and delays.
	Clock clock.Clock
	// BodyLimit bounds the request body kept to replay on retries and
	// mirrors; 0 means retrypolicy.DefaultBodyLimit, a negative value keeps
	// nothing.
	BodyLimit int64
	// Mirrorer sends mirrored copies; nil drops them.
	Mirrorer *Mirrorer
	// SourceIP is the caller's own address, hashed by useSourceIp.
	SourceIP string
	// Observers are told of every forwarded request.
	Observers *Observers
	// Telemetry reports to OpenTelemetry; nil reports nothing.
	Telemetry *telemetry.T
}

func (e *Env) bodyLimit() int64 {
	switch {
	case e.BodyLimit == 0:
		return retrypolicy.DefaultBodyLimit
	case e.BodyLimit < 0:
		return 0
	}
	return e.BodyLimit
}

func (e *Env) retryOptions() []retrypolicy.Option {
	return []retrypolicy.Option{retrypolicy.WithClock(e.Clock), retrypolicy.WithRand(e.Rand), retrypolicy.WithBodyLimit(e.bodyLimit())}
}

func (e *Env) faultOptions() []fault.Option {
	return []fault.Option{fault.WithClock(e.Clock), fault.WithRand(e.Rand)}
}

// Lookup returns the virtual host for a request to host (lower-case, without
// port) at port: a VirtualService host with that port, then without, then
// "*." wildcards (longest first), then the default route of a ServiceEntry
// host. It returns nil for a host the configuration does not know.
func (t *Table) Lookup(host string, port uint32) *VirtualHost {
	e := t.hosts[host]
	if e != nil {
		for _, p := range e.ports {
			if p.port == port {
				return p.vh
			}
		}
		if e.any != nil {
			return e.any
		}
	}
	for i := range t.wildcard {
		w := &t.wildcard[i]
		if (w.port == 0 || w.port == port) && strings.HasSuffix(host, w.suffix) {
			return w.vh
		}
	}
	if e != nil && e.def != nil {
		return e.def
	}
	if svc := t.registry.Lookup(host); svc != nil {
		return t.defaults[svc]
	}
	return nil
}

// Match returns the first route that matches in and the index of the match
// block that matched (-1 for a route without match blocks), or nil.
func (vh *VirtualHost) Match(in *match.Input) (*Route, int) {
	if vh.index != nil {
		return vh.index.match(vh.routes, in)
	}
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
		if p, ok := parsePort(authority[i+1:]); ok {
			host, port = authority[:i], p
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

// parsePort parses a decimal port from 0 to 65535 exactly as
// strconv.ParseUint(s, 10, 16) does, in a fraction of its time.
func parsePort(s string) (uint32, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var p uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if p = p*10 + uint32(c-'0'); p > 65535 {
			return 0, false
		}
	}
	return p, true
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
// Header names are matched case-insensitively: keys in other spellings
// than the canonical one (req.Header["authorization"]) are found too.
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
		Header:    headerView(req.Header),
	}
}

// RoundTrip routes req within virtual host vh, in Envoy's order: the first
// matching route; its redirect or direct response; else its fault (delay,
// then abort), its timeout (which the delay counts against), one weighted
// destination, mirrors, and the attempt loop of its retry policy, each
// attempt picking an endpoint (avoiding those tried), passing the cluster's
// admission limits, and reporting its outcome to outlier detection. Local
// replies follow Envoy: 404 no route, 503 no healthy upstream, overflow
// (with x-envoy-overloaded) or unreachable upstream, 504 on a timeout.
func (vh *VirtualHost) RoundTrip(req *http.Request, in *match.Input, s Sender, env *Env) (*http.Response, error) {
	req = withCanonicalHeader(req, in)
	r, block := vh.Match(in)
	if r == nil {
		closeBody(req)
		return localReply(req, http.StatusNotFound, "", nil), nil
	}
	switch r.kind {
	case actionRedirect:
		closeBody(req)
		resp := localReply(req, r.redirect.code, "", nil)
		resp.Header.Set("Location", r.redirect.location(in, r.matcher, block))
		r.respOps.apply(resp.Header)
		return resp, nil
	case actionDirect:
		closeBody(req)
		resp := localReply(req, r.direct.status, "", r.direct.body)
		r.respOps.apply(resp.Header)
		return resp, nil
	}

	out := req
	var cancel context.CancelFunc
	if r.Timeout > 0 {
		var ctx context.Context
		if ctx, cancel = engine.WithTimeout(req.Context(), env.Clock, r.Timeout); cancel != nil {
			out = req.WithContext(ctx)
		}
	}
	x := exchanges.Get().(*exchange)
	*x = exchange{req: req, out: out, in: *in, r: r, block: block, env: env}
	x.s = s
	var resp *http.Response
	var err error
	if rec, ctx := newRecorder(out.Context(), req, r, env); rec != nil {
		if ctx != out.Context() {
			x.out = out.WithContext(ctx)
		}
		resp, err = rec.forward(x)
	} else {
		resp, err = x.forward()
	}
	*x = exchange{}
	exchanges.Put(x)
	if err != nil {
		if cancel != nil {
			cancel()
		}
		return nil, err
	}
	if cancel != nil {
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// exchange is one HTTP request on its way through a forwarding route: what
// the route decided for it, and its attempts. Exchanges are pooled.
type exchange struct {
	req   *http.Request // as the caller sent it
	out   *http.Request // what goes upstream: the route timeout, header operations, rewrites
	in    match.Input
	r     *Route
	block int // the match block that matched
	env   *Env
	dest  *destination     // the destination drawn; nil before
	c     *cluster.Cluster // its cluster
	fault fault.Decision   // what the route's fault did
	attempter
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// forward carries out the route for x: its fault (delay, then abort), one
// weighted destination, and send.
func (x *exchange) forward() (*http.Response, error) {
	r := x.r
	if r.fault != nil {
		resp, did, err := r.fault.Inject(x.out)
		x.fault = did
		if err != nil || resp != nil {
			closeBody(x.req)
			if err != nil {
				return localFailure(x.req, x.out, err)
			}
			return resp, nil
		}
	}
	x.dest = r.pick(x.env.Rand)
	x.c = x.dest.target.Cluster(x.in.Port)
	if x.c == nil {
		closeBody(x.req)
		return localReply(x.req, http.StatusServiceUnavailable,
			"no cluster: "+x.dest.host+" has several ports and neither the route nor the request names one of them", nil), nil
	}
	return x.send()
}

// send forwards x to its destination's cluster: request operations,
// mirrors, the attempt loop, response operations.
func (x *exchange) send() (*http.Response, error) {
	req, out, r, d := x.req, x.out, x.r, x.dest
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
			r.rewrite.apply(out, &x.in, r.matcher, x.block)
		}
	}
	if len(r.mirrors) > 0 {
		out = mirrorRequest(out, req, r, x.in.Port, x.s, x.env)
	}
	x.sel.Reset(x.c, r.rules, x.env.Clock)
	var cookie string
	if h := x.c.Hash(); h != nil {
		var hash uint64
		var hashed bool
		if hash, hashed, cookie = requestHash(req, h, x.env); hashed {
			x.sel.SetHash(hash)
		}
	}
	resp, err := r.retry.Do(out, &x.attempter)
	if err != nil {
		return localFailure(req, out, err)
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	d.respOps.apply(resp.Header)
	if cookie != "" {
		resp.Header.Add("Set-Cookie", cookie)
	}
	return resp, nil
}

// mirrorRequest sends the route's mirrors a copy of out and returns the
// request to send upstream. The copies' bodies follow the upstream
// request's as it is sent (see internal/replay), so mirroring changes
// neither what goes upstream nor whether it can be retried.
func mirrorRequest(out, req *http.Request, r *Route, port uint32, s Sender, env *Env) *http.Request {
	if env.Mirrorer == nil {
		return out
	}
	body := replay.New(out, env.bodyLimit())
	if body != nil {
		if out == req {
			out = req.WithContext(req.Context())
		}
		out.Body = body.First()
	}
	env.Mirrorer.send(out, r.mirrors, port, body, s, env)
	return out
}

// localFailure turns the error of a forward into Envoy's local reply, or returns
// it when the caller itself gave up or the request was its own fault.
func localFailure(req, out *http.Request, err error) (*http.Response, error) {
	// The request may never have been sent (overflow, no healthy
	// upstream): its body is still ours to close, as RoundTrip must.
	closeBody(req)
	if req.Context().Err() != nil {
		if own, ok := reqerr.Unwrap(err); ok {
			err = own
		}
		return nil, err // the caller gave up
	}
	switch engine.Classify(out.Context(), err) {
	case failure.InvalidRequest:
		own, _ := reqerr.Unwrap(err)
		return nil, own // the request's own fault, as net/http reports it
	case failure.Timeout, failure.PerTryTimeout:
		return localReply(req, http.StatusGatewayTimeout, "upstream request timeout", nil), nil
	case failure.Overflow:
		return reply.Overflow(req), nil
	case failure.NoHealthyUpstream:
		return localReply(req, http.StatusServiceUnavailable, "no healthy upstream", nil), nil
	case failure.Connect:
		return localReply(req, http.StatusServiceUnavailable,
			"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: "+err.Error(), nil), nil
	default:
		return localReply(req, http.StatusServiceUnavailable,
			"upstream connect error or disconnect/reset before headers. reset reason: connection termination", nil), nil
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
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
	if text == "" {
		text = string(body)
	}
	return reply.New(req, status, nil, text)
}
