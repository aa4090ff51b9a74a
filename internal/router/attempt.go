package router

import (
	"errors"
	"net/http"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/pool"
)

// attempter carries out the attempts of one HTTP request on one cluster
// through the attempt engine: pick, admit, send, record. It implements
// retrypolicy.Attempter. When someone listens, the request's recorder
// decorates each attempt (see recorder.attempt); the attempt itself knows
// nothing of telemetry and leaves in last what the decorator reports.
type attempter struct {
	sel  engine.Selection
	s    Sender
	rec  *recorder   // nil unless someone listens
	last attemptInfo // what the last attempt did
}

// attemptInfo is what one attempt did, for its telemetry.
type attemptInfo struct {
	ep       *balancer.Endpoint // the endpoint picked; nil if none was
	overflow bool               // the cluster's limits shed it
	ejected  bool               // its outcome ejected ep
}

// Attempt sends attempt n of req.
func (a *attempter) Attempt(req *http.Request, n int) (*http.Response, error) {
	if a.rec != nil {
		return a.rec.attempt(a, req, n)
	}
	return a.attempt(req, n)
}

// attempt sends attempt n of req: it picks an endpoint of the cluster,
// passes the cluster's admission limits, sends, and records the outcome.
// Errors of the request's own making come back as they are (reqerr), and
// tell nothing of the endpoint.
func (a *attempter) attempt(req *http.Request, n int) (*http.Response, error) {
	a.last = attemptInfo{}
	c := a.sel.Cluster()
	if c.Passthrough {
		resp, err := a.s.Send(req, c, nil)
		if err != nil {
			if own := reqerr.Of(req, err); own != nil {
				return nil, own
			}
		}
		return resp, err
	}
	a.sel.Begin(n)
	ep, err := a.sel.Pick(nil)
	if err != nil {
		return nil, err
	}
	a.last.ep = ep
	lim, err := engine.Admit(req.Context(), c)
	if err != nil {
		var overflow *pool.OverflowError
		a.last.overflow = errors.As(err, &overflow)
		return nil, err // an overflow is never retried nor counted
	}
	start := a.sel.Start(ep)
	resp, err := a.s.Send(req, c, ep)
	if lim != nil {
		lim.Release()
	}
	if err != nil {
		if own := reqerr.Of(req, err); own != nil {
			a.sel.Done(ep, start, engine.Result{Kind: engine.Own})
			return nil, own // the request's fault says nothing of the endpoint
		}
	}
	a.last.ejected = a.sel.Done(ep, start, engine.HTTPResult(req, resp, err))
	return resp, err
}

// AllowRetry passes the cluster's retry budget or maxRetries.
func (a *attempter) AllowRetry() bool {
	if lim := a.sel.Cluster().Limiter(); lim != nil {
		return lim.AllowRetry()
	}
	return true
}

// RetryDone ends a retry AllowRetry allowed.
func (a *attempter) RetryDone() {
	if lim := a.sel.Cluster().Limiter(); lim != nil {
		lim.RetryDone()
	}
}
