package route

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/subset"
)

// mirror is one compiled mirror target.
type mirror struct {
	host       string
	target     *subset.Target
	perMillion uint64
}

func compileMirrors(hr *HTTPRoute, reg *subset.Registry, path string, errs *fielderr.List) []mirror {
	var out []mirror
	add := func(d Destination, pct *fault.Percent, p string) {
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
		tg, err := reg.Target(d.Host, d.Subset, port)
		if err != nil {
			errs.Add(fielderr.Join(p, "destination"), "%v", err)
			return
		}
		if perMillion > 0 {
			out = append(out, mirror{host: d.Host, target: tg, perMillion: perMillion})
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
		errs.Add(fielderr.Join(path, "mirrorPercentage"), "applies to mirror, which is not set")
	}
	for i, m := range hr.Mirrors {
		add(m.Destination, m.Percentage, fielderr.Index(fielderr.Join(path, "mirrors"), i))
	}
	return out
}

// Mirrorer sends fire-and-forget copies of requests with bounded
// concurrency. Copies past the bound, or of bodies past the body limit, are
// dropped and counted. Close cancels the copies in flight and waits for
// them. It is safe for concurrent use.
type Mirrorer struct {
	slots  chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	// Sent and Dropped count mirrored requests.
	Sent, Dropped atomic.Int64
}

// NewMirrorer returns a Mirrorer with at most limit copies in flight (none
// when limit is 0 or less).
func NewMirrorer(limit int) *Mirrorer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Mirrorer{slots: make(chan struct{}, max(limit, 0)), ctx: ctx, cancel: cancel}
}

// Close cancels the copies in flight and waits until they have ended.
func (m *Mirrorer) Close() {
	m.closed.Store(true)
	m.cancel()
	m.wg.Wait()
}

// dispatch fires a copy at each mirror whose percentage is drawn: prepare,
// called at once, readies the copy for cluster c and returns what sends it,
// which runs in its own goroutine with a context that keeps the caller's
// values but not its cancellation, and ends with Close. Copies past the
// concurrency bound, or that cannot be made (kept false), are dropped.
func (m *Mirrorer) dispatch(ctx context.Context, mirrors []mirror, port uint32, kept bool, env *Env, prepare func(ctx context.Context, c *subset.Cluster) func()) {
	for i := range mirrors {
		mr := &mirrors[i]
		if mr.perMillion < 1_000_000 && rng.N(env.Rand.Uint64(), 1_000_000) >= mr.perMillion {
			continue
		}
		c := mr.target.Cluster(port)
		if c == nil || !kept || m.closed.Load() {
			m.Dropped.Add(1)
			continue
		}
		select {
		case m.slots <- struct{}{}:
		default:
			m.Dropped.Add(1)
			continue
		}
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(m.ctx, cancel)
		send := prepare(mctx, c)
		m.Sent.Add(1)
		m.wg.Go(func() {
			defer func() { <-m.slots }()
			defer cancel()
			defer stop()
			send()
		})
	}
}

// send mirrors an HTTP request; body is its body for the copies (nil for
// none), kept false when the body was too large to copy.
func (m *Mirrorer) send(req *http.Request, mirrors []mirror, port uint32, body []byte, kept bool, s Sender, env *Env) {
	m.dispatch(req.Context(), mirrors, port, kept, env, func(ctx context.Context, c *subset.Cluster) func() {
		cp := req.Clone(ctx)
		cp.Body, cp.GetBody = nil, nil
		if body != nil {
			cp.Body = io.NopCloser(bytes.NewReader(body))
			cp.ContentLength = int64(len(body))
		}
		return func() {
			if resp, err := mirrorSend(cp, c, s); err == nil {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
			}
		}
	})
}

// sendGRPC mirrors a unary call; prepare returns the sender of one copy.
func (m *Mirrorer) sendGRPC(ctx context.Context, mirrors []mirror, port uint32, prepare func() func(ctx context.Context) error, env *Env) {
	m.dispatch(ctx, mirrors, port, true, env, func(ctx context.Context, c *subset.Cluster) func() {
		ctx = context.WithValue(ctx, callKey{}, &Call{Cluster: c})
		send := prepare()
		return func() { send(ctx) }
	})
}

func mirrorSend(req *http.Request, c *subset.Cluster, s Sender) (*http.Response, error) {
	if c.Passthrough {
		return s.Send(req, c, nil)
	}
	ep, err := c.Pick()
	if err != nil {
		return nil, err
	}
	if lim := c.Limiter(); lim != nil {
		if err := lim.Acquire(req.Context()); err != nil {
			return nil, err
		}
		defer lim.Release()
	}
	ep.State.Begin()
	defer ep.State.End()
	resp, err := s.Send(req, c, ep)
	if err != nil || resp.StatusCode >= 500 {
		ep.State.Fail()
	}
	return resp, err
}
