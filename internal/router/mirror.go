package router

import (
	"context"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/replay"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/route"
)

// mirror is one compiled mirror target.
type mirror struct {
	host       string
	target     *cluster.Target
	perMillion uint64
	timeout    time.Duration // the route's, else defaultMirrorTimeout
}

func compileMirrors(hr *route.HTTPRoute, ns string, reg *cluster.Registry, path string, errs *fielderr.List) []mirror {
	var out []mirror
	add := func(d route.Destination, pct *fault.Percent, p string) {
		if d.Host == "" {
			errs.Add(fielderr.Join(p, "destination.host"), "required")
			return
		}
		if err := destinationHost(d.Host); err != nil {
			errs.Add(fielderr.Join(p, "destination.host"), "%v", err)
			return
		}
		if d.Port != nil && (d.Port.Number == 0 || d.Port.Number > 65535) {
			errs.Add(fielderr.Join(p, "destination.port.number"), "%d is out of range 1-65535", d.Port.Number)
			return
		}
		perMillion := uint64(1_000_000) // absent: 100%
		if pct != nil {
			if pct.Value < 0 || pct.Value > 100 || math.IsNaN(pct.Value) {
				errs.Add(fielderr.Join(p, "percentage"), "%v is outside 0-100", pct.Value)
				return
			}
			perMillion = uint64(math.Round(pct.Value * 10000))
		}
		var port uint32
		if d.Port != nil {
			port = d.Port.Number
		}
		tg := reg.Target(reg.Resolve(d.Host, ns), d.Subset, port)
		if why := tg.Missing(); why != "" {
			errs.Warn(fielderr.Join(p, "destination"), "%s: nothing is mirrored", why)
		}
		if perMillion > 0 {
			timeout := hr.Timeout
			if timeout <= 0 {
				timeout = defaultMirrorTimeout
			}
			out = append(out, mirror{host: d.Host, target: tg, perMillion: perMillion, timeout: timeout})
		}
	}
	if hr.Mirror != nil && len(hr.Mirrors) > 0 {
		errs.Add(fielderr.Join(path, "mirror"), "mirror and mirrors are mutually exclusive")
		return nil
	}
	if hr.Mirror != nil {
		pct := hr.MirrorPercentage
		if pct == nil && hr.MirrorPercent != nil {
			pct = &fault.Percent{Value: float64(*hr.MirrorPercent)}
		}
		add(*hr.Mirror, pct, fielderr.Join(path, "mirror"))
	} else if hr.MirrorPercentage != nil || hr.MirrorPercent != nil {
		switch {
		case hr.MirrorPercentage != nil && (hr.MirrorPercentage.Value < 0 || hr.MirrorPercentage.Value > 100 || math.IsNaN(hr.MirrorPercentage.Value)):
			errs.Add(fielderr.Join(path, "mirrorPercentage.value"), "%v is outside 0-100", hr.MirrorPercentage.Value)
		case hr.MirrorPercent != nil && *hr.MirrorPercent > 100:
			errs.Add(fielderr.Join(path, "mirrorPercent"), "%d is outside 0-100", *hr.MirrorPercent)
		default:
			errs.Warn(fielderr.Join(path, "mirrorPercentage"), "applies to mirror, which is not set, so it does nothing")
		}
	}
	for i, m := range hr.Mirrors {
		add(m.Destination, m.Percentage, fielderr.Index(fielderr.Join(path, "mirrors"), i))
	}
	return out
}

// defaultMirrorTimeout bounds a mirrored copy whose route sets no timeout
// (Envoy's default route timeout).
const defaultMirrorTimeout = 15 * time.Second

// Mirrorer sends fire-and-forget copies of requests with bounded
// concurrency. A copy times out after its route's timeout, or 15 s when
// the route sets none. One mirror destination (cluster) holds at most half
// of the slots, so that a slow or hung shadow leaves the other half to
// the rest. Copies past these bounds, or whose body cannot be copied, are
// dropped and counted. Close cancels the copies in flight and waits for
// them. It is safe for concurrent use.
type Mirrorer struct {
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	mu       sync.Mutex
	limit    int
	share    int // copies in flight to one cluster at most
	inflight int
	idle     sync.Cond      // on mu: broadcast when inflight drops to 0
	byTarget map[string]int // copies in flight by cluster name
	// Sent and Dropped count mirrored requests.
	Sent, Dropped atomic.Int64
}

// NewMirrorer returns a Mirrorer with at most limit copies in flight (none
// when limit is 0 or less), and at most half of them (at least one) to one
// cluster.
func NewMirrorer(limit int) *Mirrorer {
	ctx, cancel := context.WithCancel(context.Background())
	// A context makes its Done channel on first use; make it now, so that
	// it belongs to whoever built the mesh and not to the first request's
	// testing/synctest bubble (a channel of one bubble cannot be used from
	// another: a mesh built outside bubbles and used inside several would
	// crash the test).
	ctx.Done()
	limit = max(limit, 0)
	m := &Mirrorer{ctx: ctx, cancel: cancel, limit: limit, share: max(limit/2, 1), byTarget: map[string]int{}}
	m.idle.L = &m.mu
	return m
}

// Close cancels the copies in flight and waits until they have ended.
func (m *Mirrorer) Close() {
	m.mu.Lock()
	m.closed.Store(true) // under mu: no slot is taken after this
	m.mu.Unlock()
	m.cancel()
	// The slots count the copies in flight; a sync.Cond rather than a
	// WaitGroup, because a WaitGroup belongs to the first testing/synctest
	// bubble that adds to it, and a mesh built outside bubbles may serve
	// requests in several and close outside them.
	m.mu.Lock()
	for m.inflight > 0 {
		m.idle.Wait()
	}
	m.mu.Unlock()
}

// acquire takes a slot for a copy to cluster name, if one is free and the
// cluster holds less than its share.
func (m *Mirrorer) acquire(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() || m.inflight >= m.limit || m.byTarget[name] >= m.share {
		return false
	}
	m.inflight++
	m.byTarget[name]++
	return true
}

func (m *Mirrorer) release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inflight--; m.inflight == 0 {
		m.idle.Broadcast()
	}
	if m.byTarget[name]--; m.byTarget[name] == 0 {
		delete(m.byTarget, name)
	}
}

// dispatch fires a copy at each mirror whose percentage is drawn: prepare,
// called at once, readies the copy for cluster c and returns what sends
// it, or false when no copy can be made. The sender runs in its own
// goroutine with a context that keeps the caller's values but not its
// cancellation, ends at the mirror's timeout, and ends with Close. Copies
// past the concurrency bounds, or that cannot be made, are dropped.
func (m *Mirrorer) dispatch(ctx context.Context, mirrors []mirror, port uint32, env *Env, prepare func(ctx context.Context, c *cluster.Cluster) (func(), bool)) {
	for i := range mirrors {
		mr := &mirrors[i]
		if mr.perMillion < 1_000_000 && rng.N(env.Rand.Uint64(), 1_000_000) >= mr.perMillion {
			continue
		}
		c := mr.target.Cluster(port)
		if c == nil || m.closed.Load() || !m.acquire(c.Name) {
			m.Dropped.Add(1)
			continue
		}
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(m.ctx, cancel)
		tctx, tcancel := engine.WithTimeout(mctx, env.Clock, mr.timeout)
		send, ok := prepare(tctx, c)
		if !ok {
			tcancel()
			stop()
			cancel()
			m.release(c.Name)
			m.Dropped.Add(1)
			continue
		}
		m.Sent.Add(1)
		go func() {
			defer m.release(c.Name)
			defer cancel()
			defer stop()
			defer tcancel()
			send()
		}()
	}
}

// send mirrors an HTTP request; body is the request's body (nil for none),
// whose copies follow what is sent upstream.
func (m *Mirrorer) send(req *http.Request, mirrors []mirror, port uint32, body *replay.Body, s Sender, env *Env) {
	m.dispatch(req.Context(), mirrors, port, env, func(ctx context.Context, c *cluster.Cluster) (func(), bool) {
		cp := req.Clone(ctx)
		cp.Body, cp.GetBody = nil, nil
		if body != nil {
			rc, ok := body.Mirror(ctx)
			if !ok {
				return nil, false
			}
			cp.Body = rc
		}
		return func() {
			resp, err := m.sendCopy(cp, c, s, env)
			if err != nil {
				if cp.Body != nil {
					cp.Body.Close() // the copy may never have reached a transport
				}
				return
			}
			// Drain the response so that its connection can be reused,
			// no longer than the copy's timeout, even from a transport
			// whose bodies ignore their context.
			stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			if stop() {
				resp.Body.Close()
			}
		}, true
	})
}

// sendGRPC mirrors a unary call; prepare returns the sender of one copy.
func (m *Mirrorer) sendGRPC(ctx context.Context, mirrors []mirror, port uint32, prepare func() func(ctx context.Context) error, env *Env) {
	m.dispatch(ctx, mirrors, port, env, func(ctx context.Context, c *cluster.Cluster) (func(), bool) {
		call := &Call{}
		call.sel.Reset(c, engine.Rules{}, env.Clock)
		call.sel.SetMirror()
		ctx = context.WithValue(ctx, callKey{}, call)
		send := prepare()
		return func() { send(ctx) }, true
	})
}

// sendCopy sends a copy to an endpoint of c through the attempt engine, as
// a mirror: its outcome never reaches outlier detection, and it is not
// retried. A failure counts against the endpoint unless it is the copy's
// own (its body could not be completed) or the mesh is closing.
func (m *Mirrorer) sendCopy(req *http.Request, c *cluster.Cluster, s Sender, env *Env) (*http.Response, error) {
	if c.Passthrough {
		return s.Send(req, c, nil)
	}
	var sel engine.Selection
	sel.Reset(c, engine.Rules{}, env.Clock)
	sel.SetMirror()
	sel.Begin(1)
	ep, err := sel.Pick(nil)
	if err != nil {
		return nil, err
	}
	lim, err := engine.Admit(req.Context(), c)
	if err != nil {
		return nil, err
	}
	if lim != nil {
		defer lim.Release()
	}
	start := sel.Start(ep)
	resp, err := s.Send(req, c, ep)
	r := engine.HTTPResult(req, resp, err)
	if err != nil && (m.ctx.Err() != nil || reqerr.Of(req, err) != nil) {
		r = engine.Result{Kind: engine.Own}
	}
	sel.Done(ep, start, r)
	return resp, err
}
