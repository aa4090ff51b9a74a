package router

import (
	"context"
	"net/http"
	"sync"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/replay"
	"github.com/switchyard-go/switchyard/match"
)

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
		httpbody.CloseRequest(req)
		return localReply(req, http.StatusNotFound, "", nil), nil
	}
	switch r.kind {
	case actionRedirect:
		httpbody.CloseRequest(req)
		resp := localReply(req, r.redirect.code, "", nil)
		resp.Header.Set("Location", r.redirect.location(in, r.matcher, block))
		r.respOps.apply(resp.Header, requestContext(r.respOps, req, env, nil))
		return resp, nil
	case actionDirect:
		httpbody.CloseRequest(req)
		resp := localReply(req, r.direct.status, "", r.direct.body)
		r.respOps.apply(resp.Header, requestContext(r.respOps, req, env, nil))
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
		resp.Body = httpbody.OnClose(resp.Body, cancel)
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
			httpbody.CloseRequest(x.req)
			if err != nil {
				return localFailure(x.req, x.out, err)
			}
			return resp, nil
		}
	}
	x.dest = r.pick(x.env.Rand)
	x.c = x.dest.target.Cluster(x.in.Port)
	if x.c == nil {
		httpbody.CloseRequest(x.req)
		if x.dest.target.Missing() != "" {
			// Envoy's cluster_not_found: 503 with an empty body.
			return localReply(x.req, http.StatusServiceUnavailable, "", nil), nil
		}
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
		d.reqOps.apply(out.Header, requestContext(d.reqOps, req, x.env, nil))
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
	d.respOps.apply(resp.Header, requestContext(d.respOps, req, x.env, x.last.ep))
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
