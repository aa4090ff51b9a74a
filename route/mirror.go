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

// NewMirrorer returns a Mirrorer with at most limit copies in flight.
func NewMirrorer(limit int) *Mirrorer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Mirrorer{slots: make(chan struct{}, limit), ctx: ctx, cancel: cancel}
}

// Close cancels the copies in flight and waits until they have ended.
func (m *Mirrorer) Close() {
	m.closed.Store(true)
	m.cancel()
	m.wg.Wait()
}

// send mirrors req to each target whose percentage is drawn. body is the
// request body for the copies (nil for none); copies of a request whose body
// could not be kept are dropped.
func (m *Mirrorer) send(req *http.Request, mirrors []mirror, port uint32, body []byte, bodyKept bool, s Sender, env *Env) {
	for i := range mirrors {
		mr := &mirrors[i]
		if mr.perMillion < 1_000_000 && rng.N(env.Rand.Uint64(), 1_000_000) >= mr.perMillion {
			continue
		}
		c := mr.target.Cluster(port)
		if c == nil || !bodyKept || m.closed.Load() {
			m.Dropped.Add(1)
			continue
		}
		select {
		case m.slots <- struct{}{}:
		default:
			m.Dropped.Add(1)
			continue
		}
		// The copy lives on after the caller's request: it keeps the
		// caller's values but not its cancellation, and ends with Close.
		ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
		stop := context.AfterFunc(m.ctx, cancel)
		cp := req.Clone(ctx)
		if body != nil {
			cp.Body = io.NopCloser(bytes.NewReader(body))
			cp.ContentLength = int64(len(body))
		} else {
			cp.Body = nil
		}
		cp.GetBody = nil
		m.Sent.Add(1)
		m.wg.Go(func() {
			defer func() { <-m.slots }()
			defer cancel()
			defer stop()
			resp, err := mirrorSend(cp, c, s)
			if err == nil {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
			}
		})
	}
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
	return s.Send(req, c, ep)
}

// sendGRPC mirrors a unary call to each target whose percentage is drawn,
// bounded as send is; prepare returns the sender of one copy.
func (m *Mirrorer) sendGRPC(ctx context.Context, mirrors []mirror, port uint32, prepare func() func(ctx context.Context) error, env *Env) {
	for i := range mirrors {
		mr := &mirrors[i]
		if mr.perMillion < 1_000_000 && rng.N(env.Rand.Uint64(), 1_000_000) >= mr.perMillion {
			continue
		}
		c := mr.target.Cluster(port)
		if c == nil || m.closed.Load() {
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
		mctx = context.WithValue(mctx, callKey{}, &Call{Cluster: c})
		send := prepare()
		m.Sent.Add(1)
		m.wg.Go(func() {
			defer func() { <-m.slots }()
			defer cancel()
			defer stop()
			send(mctx)
		})
	}
}
