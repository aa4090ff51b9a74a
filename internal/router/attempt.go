package router

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/telemetry"
)

// maxTried bounds the endpoints remembered to avoid on retries.
const maxTried = 8

// attempter carries out the attempts of one request on one cluster: pick
// (avoiding endpoints tried before), admit, send, record. It implements
// retry.Attempter; attempters are pooled.
type attempter struct {
	c     *cluster.Cluster
	s     Sender
	avoid bool
	tries int
	// a consistent-hash key, when the cluster hashes and the request has one
	hash      uint64
	hashed    bool
	hashAvoid bool
	remote    bool // retryRemoteLocalities
	clock     clock.Clock
	tried     [maxTried]*balancer.Endpoint
	ntried    int
	rec       *recorder // nil unless someone listens
	// how the last attempt ended, for the next one's retry reason
	failure string
	status  int
}

var attempters = sync.Pool{New: func() any { return new(attempter) }}

func getAttempter(c *cluster.Cluster, s Sender, p *retrypolicy.Policy, clk clock.Clock) *attempter {
	a := attempters.Get().(*attempter)
	*a = attempter{c: c, s: s, avoid: p.AvoidPreviousHosts(), tries: p.HostSelectionAttempts(), hashAvoid: p.AvoidPreviousHostsWhenHashing(), remote: p.RetryRemoteLocalities(), clock: clk}
	return a
}

func putAttempter(a *attempter) {
	*a = attempter{}
	attempters.Put(a)
}

// errNoHealthyUpstream ends the attempt loop: no endpoint can be picked.
type noHealthyUpstream struct{}

func (noHealthyUpstream) Error() string   { return "route: no healthy upstream" }
func (noHealthyUpstream) Retriable() bool { return false }

var errNoHealthyUpstream error = noHealthyUpstream{}

func (a *attempter) Attempt(req *http.Request, n int) (*http.Response, error) {
	if a.rec == nil {
		return a.attempt(req, n, nil)
	}
	reason := ""
	if n > 1 {
		reason = a.failure
		if reason == "" {
			reason = telemetry.StatusText(a.status)
		}
	}
	ar, out := a.rec.beginAttempt(req, n, reason)
	resp, err := a.attempt(out, n, ar)
	ar.end(out, resp, err)
	a.failure, a.status = "", 0
	if err != nil {
		a.failure = errorType(out.Context(), err)
	} else {
		a.status = resp.StatusCode
	}
	return resp, err
}

// attempt carries out attempt n, reporting to ar (nil: nobody listens).
func (a *attempter) attempt(req *http.Request, n int, ar *attemptRecord) (*http.Response, error) {
	c := a.c
	if c.Passthrough {
		resp, err := a.s.Send(req, c, nil)
		if err != nil {
			if own := reqerr.Of(req, err); own != nil {
				return nil, own
			}
		}
		return resp, err
	}
	var ep *balancer.Endpoint
	var err error
	if a.hashed {
		// Keep affinity: every attempt goes to the key's endpoint unless
		// retryIgnorePreviousHosts asks retries to move along the ring.
		offset := 0
		if a.hashAvoid {
			offset = n - 1
		}
		ep, err = c.PickHash(a.hash, offset)
	} else {
		var tried []*balancer.Endpoint
		if a.avoid {
			tried = a.tried[:a.ntried]
		}
		var ok bool
		if a.remote && n > 1 {
			ep, ok = c.PickRemote(a.tried[:a.ntried])
		}
		if !ok {
			ep, err = c.PickAvoiding(tried, a.tries)
		}
	}
	if err != nil {
		return nil, errNoHealthyUpstream
	}
	if a.ntried < maxTried {
		a.tried[a.ntried] = ep
		a.ntried++
	}
	if ar != nil {
		ar.picked(ep)
	}
	if lim := c.Limiter(); lim != nil {
		if err := lim.Acquire(req.Context()); err != nil {
			if ar != nil && errorType(req.Context(), err) == "overflow" {
				ar.overflow(req.Context(), c)
			}
			return nil, err // an overflow is never retried nor counted
		}
		defer lim.Release()
	}
	ep.State.Begin()
	var start time.Time
	pe := c.PeakEWMA()
	if pe != nil {
		start = a.clock.Now()
	}
	resp, err := a.s.Send(req, c, ep)
	ep.State.End()
	if err != nil {
		if own := reqerr.Of(req, err); own != nil {
			return nil, own // the request's fault says nothing of the endpoint
		}
	}
	if pe != nil {
		now := a.clock.Now()
		ep.State.Observe(now.Sub(start), err != nil || resp.StatusCode >= 500, now, *pe)
	}
	if d := c.Detector(); d != nil || err != nil || resp.StatusCode >= 500 {
		if o, ok := outcome(req, resp, err); ok {
			if o.Local != ejection.LocalNone || o.Status >= 500 {
				ep.State.Fail()
			}
			if d == nil {
				return resp, err
			}
			if ar == nil {
				c.Record(ep, o)
			} else {
				was := d.Ejected(ep)
				c.Record(ep, o)
				if !was && d.Ejected(ep) {
					ar.ejected()
				}
			}
		}
	}
	return resp, err
}

func (a *attempter) AllowRetry() bool {
	if lim := a.c.Limiter(); lim != nil {
		return lim.AllowRetry()
	}
	return true
}

func (a *attempter) RetryDone() {
	if lim := a.c.Limiter(); lim != nil {
		lim.RetryDone()
	}
}

// outcome reduces an attempt's result to what outlier detection counts; it
// reports false when the caller gave up, which says nothing of the
// endpoint.
func outcome(req *http.Request, resp *http.Response, err error) (ejection.Outcome, bool) {
	if err != nil {
		cause := context.Cause(req.Context())
		switch {
		case errors.Is(cause, retrypolicy.ErrPerTryTimeout), errors.Is(cause, ErrRouteTimeout):
			return ejection.Outcome{Local: ejection.LocalTimeout}, true
		case req.Context().Err() != nil:
			return ejection.Outcome{}, false
		}
		return ejection.Outcome{Local: ejection.LocalConnect}, true
	}
	// A grpc-status in the response headers (a trailers-only response)
	// counts as its HTTP equivalent, as Envoy does.
	if gs := resp.Header["Grpc-Status"]; len(gs) > 0 {
		if code, err := strconv.Atoi(gs[0]); err == nil {
			return ejection.Outcome{Status: grpccode.HTTPStatus(code)}, true
		}
	}
	return ejection.Outcome{Status: resp.StatusCode}, true
}
