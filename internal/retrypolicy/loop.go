package retrypolicy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/replay"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// Limits bounds concurrent retries (a cluster's retry budget or
// maxRetries) for HTTP requests and gRPC calls alike: AllowRetry is asked
// before each retry and, when it returns true, RetryDone is called once the
// retried attempt has completed.
type Limits interface {
	AllowRetry() bool
	RetryDone()
}

// Attempter sends the attempts of a request. The mesh's attempter picks an
// endpoint, admits the attempt against the cluster's limits, sends it and
// records the outcome; Policy.RoundTripper's calls the next RoundTripper.
type Attempter interface {
	// Attempt sends attempt n (from 1) of req. An error with a method
	// Retriable() bool that returns false is never retried.
	Attempt(req *http.Request, n int) (*http.Response, error)
	// Limits bounds the retries: Do asks AllowRetry before each and calls
	// RetryDone once the retried attempt has completed.
	Limits
}

// Rand is a source of uniformly distributed 64-bit values; it must be safe
// for concurrent use.
type Rand interface{ Uint64() uint64 }

// Option configures a Policy's dependencies.
type Option interface{ apply(*env) }

type env struct {
	clock     clock.Clock
	rand      Rand
	bodyLimit int64
}

type optionFunc func(*env)

func (f optionFunc) apply(e *env) { f(e) }

// WithClock makes the policy time per-try timeouts and back-off with c
// (nil: the real clock).
func WithClock(c clock.Clock) Option {
	if c == nil {
		c = clock.Real{}
	}
	return optionFunc(func(e *env) { e.clock = c })
}

// WithRand makes the policy draw back-off jitter from r (nil:
// math/rand/v2).
func WithRand(r Rand) Option {
	if r == nil {
		r = rng.Runtime{}
	}
	return optionFunc(func(e *env) { e.rand = r })
}

// WithBodyLimit sets how much of a request body without GetBody is kept,
// as it is sent, so that a retry can replay it: once an attempt has sent
// more than n bytes, the request is no longer retried. With n zero or
// negative nothing is kept, and a retry happens only when the failed
// attempt read none of the body. The default is DefaultBodyLimit (64 KiB).
func WithBodyLimit(n int64) Option { return optionFunc(func(e *env) { e.bodyLimit = n }) }

// New validates cfg and returns its policy (nil cfg: Istio's default).
func New(cfg *Config, opts ...Option) (*Policy, error) {
	p, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	p.env = env{clock: clock.Real{}, rand: rng.Runtime{}, bodyLimit: DefaultBodyLimit}
	for _, o := range opts {
		if o != nil {
			o.apply(&p.env)
		}
	}
	return p, nil
}

// maxDrain and maxDrainTime bound how much of a discarded response body is
// read, and for how long, so that its connection can be reused.
const (
	maxDrain     = 4 << 10
	maxDrainTime = 100 * time.Millisecond
)

// Do runs the attempt loop for req over a. It returns the response to give
// the caller (the first that is not retried, or the last) or the error of
// the last attempt. The body is sent as it is read, never read ahead: up to
// the body limit, what an attempt sends is kept so that a retry can replay
// it; a retry happens only while all the body read so far was kept, or
// when the request has GetBody. The attempt-count header
// x-envoy-attempt-count is set on retries (the first attempt goes
// unchanged, so its absence means 1). Do never modifies req.
func (p *Policy) Do(req *http.Request, a Attempter) (*http.Response, error) {
	var body *replay.Body
	if req.Body != nil && req.Body != http.NoBody {
		if body = replay.From(req.Body); body == nil {
			body = replay.New(req, p.env.bodyLimit)
		}
		body.Watch(req.Context())
	}
	resp, err := p.loop(req, a, body)
	if body != nil {
		body.End(err != nil)
	}
	return resp, err
}

func (p *Policy) loop(req *http.Request, a Attempter, body *replay.Body) (*http.Response, error) {
	var next io.ReadCloser // the body of the next attempt
	if body != nil {
		next = body.First()
	}
	b := schedule{p: p}
	inRetry := false
	for n := 1; ; n++ {
		out, start, stop := p.attemptRequest(req, n, body, next)
		resp, err := a.Attempt(out, n)
		if stop != nil {
			err = stop(resp, err)
		}
		if inRetry {
			a.RetryDone()
			inRetry = false
		}
		var retriable bool
		if err != nil {
			retriable = !final(req, err) && p.RetryFailure(Classify(err))
		} else {
			retriable = p.RetryResponse(req, resp)
		}
		if !retriable || n > p.retries || body != nil && !body.Replayable() || !a.AllowRetry() {
			return resp, err
		}
		inRetry = true
		wait, ok := b.next(req.Context())
		if ok && body != nil {
			// The retry takes the body over now, before the attempt
			// just ended can read (and perhaps drop) more of it.
			next, ok = body.Next()
		}
		if !ok {
			a.RetryDone() // the back-off would outlast the request, or the body cannot be replayed
			return resp, err
		}
		if resp != nil {
			p.discard(resp, start)
		}
		if err := clock.Sleep(req.Context(), p.env.clock, wait); err != nil {
			a.RetryDone()
			return nil, err
		}
	}
}

// attemptRequest returns the request for attempt n, with rc, read from
// body, as its body (nil: the request has none), the time the attempt
// starts when it has a per-try timeout, and then a function that settles
// the attempt's outcome: it stops the timer once headers have arrived and
// turns the timer's cancellation into ErrPerTryTimeout.
func (p *Policy) attemptRequest(req *http.Request, n int, body *replay.Body, rc io.ReadCloser) (*http.Request, time.Time, func(*http.Response, error) error) {
	if n == 1 && p.perTry == 0 && rc == nil {
		return req, time.Time{}, nil
	}
	ctx := req.Context()
	var start time.Time
	var stop func(*http.Response, error) error
	if p.perTry > 0 {
		start = p.env.clock.Now()
		actx, cancel := context.WithCancelCause(ctx)
		t := p.env.clock.AfterFunc(p.perTry, func() { cancel(ErrPerTryTimeout) })
		ctx = actx
		unwatch := func() bool { return false }
		if body != nil {
			// A transport blocked reading a stalled body does not see
			// the timeout (HTTP/1.1 waits for its body writer).
			unwatch = body.AbortReadOn(actx)
		}
		stop = func(resp *http.Response, err error) error {
			t.Stop()
			unwatch()
			if err != nil {
				if errors.Is(context.Cause(actx), ErrPerTryTimeout) && req.Context().Err() == nil {
					err = ErrPerTryTimeout
				}
				cancel(nil)
				return err
			}
			resp.Body = httpbody.OnClose(resp.Body, func() { cancel(nil) })
			return nil
		}
	}
	var out *http.Request
	if n == 1 {
		out = req.WithContext(ctx)
	} else {
		out = req.Clone(ctx)
		out.Header.Set("X-Envoy-Attempt-Count", strconv.Itoa(n))
	}
	if rc != nil {
		out.Body = rc
	}
	return out, start, stop
}

// discard disposes of a response that is not given to the caller: its
// body is drained (up to maxDrain) in the background, so that its
// connection can be reused, and closed; a body that has not arrived within
// maxDrainTime, or by the end of the attempt's per-try timeout, is closed
// undrained. The retry never waits for it.
func (p *Policy) discard(resp *http.Response, start time.Time) {
	body := resp.Body
	if body == nil || body == http.NoBody {
		return
	}
	d := maxDrainTime
	if p.perTry > 0 {
		d = min(d, p.perTry-p.env.clock.Now().Sub(start))
	}
	if d <= 0 {
		body.Close()
		return
	}
	var once sync.Once
	closeBody := func() { once.Do(func() { body.Close() }) }
	t := p.env.clock.AfterFunc(d, closeBody) // a Close ends a read under way
	go func() {
		io.CopyN(io.Discard, body, maxDrain)
		t.Stop()
		closeBody()
	}()
}

// schedule is one request's back-off schedule: Envoy's windows, drawn with
// full jitter, never reaching past the request's deadline.
type schedule struct {
	p      *Policy
	jitter *fullJitter
}

// next returns the wait before the next retry, and false when that wait
// would outlast ctx's deadline (the retry is then not worth starting).
func (b *schedule) next(ctx context.Context) (time.Duration, bool) {
	if b.jitter == nil {
		b.jitter = newFullJitter(b.p.backoff, b.p.env.rand)
	}
	wait := b.jitter.NextBackOff()
	if dl, ok := ctx.Deadline(); ok && b.p.env.clock.Now().Add(wait).After(dl) {
		return wait, false
	}
	return wait, true
}

// fullJitter draws each back-off uniformly from [0, window), where the
// windows come from an exponential back-off with no randomisation: base,
// 2·base, 4·base, … capped at 10·base, as Envoy's
// JitteredExponentialBackOffStrategy.
type fullJitter struct {
	windows backoff.BackOff
	rand    Rand
}

func newFullJitter(base time.Duration, r Rand) *fullJitter {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     base,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         10 * base,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return &fullJitter{windows: b, rand: r}
}

// NextBackOff implements backoff.BackOff.
func (j *fullJitter) NextBackOff() time.Duration {
	w := j.windows.NextBackOff()
	if w <= 0 {
		return w
	}
	return time.Duration(rng.N(j.rand.Uint64(), uint64(w)))
}

// Reset implements backoff.BackOff.
func (j *fullJitter) Reset() { j.windows.Reset() }

var _ backoff.BackOff = (*fullJitter)(nil)
