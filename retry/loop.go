package retry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/switchyard-go/switchyard/internal/clock"
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

// WithBodyLimit sets how much of a request body without GetBody is buffered
// so that it can be replayed; a larger body is sent once, without retries.
// The default is 64 KiB.
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

// maxDrain bounds how much of a discarded response body is read so that its
// connection can be reused.
const maxDrain = 4 << 10

// Do runs the attempt loop for req over a. It returns the response to give
// the caller (the first that is not retried, or the last) or the error of
// the last attempt. Retries need a replayable body: one with GetBody, or one
// that fits the body limit. The attempt-count header x-envoy-attempt-count
// is set on retries (the first attempt goes unchanged, so its absence means
// 1). Do never modifies req.
func (p *Policy) Do(req *http.Request, a Attempter) (*http.Response, error) {
	replay, err := newReplay(req, p.env.bodyLimit)
	if err != nil {
		return nil, err
	}
	return p.loop(req, a, &replay)
}

func (p *Policy) loop(req *http.Request, a Attempter, replay *replay) (*http.Response, error) {
	retries := p.retries
	if !replay.ok {
		retries = 0
	}
	b := schedule{p: p}
	inRetry := false
	for n := 1; ; n++ {
		out, stop := p.attemptRequest(req, n, replay)
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
		if !retriable || n > retries || !a.AllowRetry() {
			return resp, err
		}
		inRetry = true
		wait, ok := b.next(req.Context())
		if !ok {
			a.RetryDone() // the back-off would outlast the request
			return resp, err
		}
		if resp != nil {
			drain(resp)
		}
		if err := clock.Sleep(req.Context(), p.env.clock, wait); err != nil {
			a.RetryDone()
			return nil, err
		}
	}
}

// attemptRequest returns the request for attempt n and, with a per-try
// timeout, a function that settles the attempt's outcome: it stops the timer
// once headers have arrived and turns the timer's cancellation into
// ErrPerTryTimeout.
func (p *Policy) attemptRequest(req *http.Request, n int, r *replay) (*http.Request, func(*http.Response, error) error) {
	if n == 1 && p.perTry == 0 && !r.buffered {
		return req, nil
	}
	ctx := req.Context()
	var stop func(*http.Response, error) error
	if p.perTry > 0 {
		actx, cancel := context.WithCancelCause(ctx)
		t := p.env.clock.AfterFunc(p.perTry, func() { cancel(ErrPerTryTimeout) })
		ctx = actx
		stop = func(resp *http.Response, err error) error {
			t.Stop()
			if err != nil {
				if errors.Is(context.Cause(actx), ErrPerTryTimeout) && req.Context().Err() == nil {
					err = ErrPerTryTimeout
				}
				cancel(nil)
				return err
			}
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
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
	if body := r.body(n); body != nil {
		out.Body = body
	}
	return out, stop
}

// drain reads a little of a discarded response so that its connection can
// be reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// replay gives every attempt the request body.
type replay struct {
	req      *http.Request
	ok       bool   // the body can be sent again
	buffered bool   // buf holds the whole body
	buf      []byte // the buffered body
	prefix   io.ReadCloser
}

func newReplay(req *http.Request, limit int64) (replay, error) {
	r := replay{req: req, ok: true}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return r, nil
	case req.GetBody != nil:
		return r, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		req.Body.Close()
		return r, err
	}
	if int64(len(buf)) > limit {
		// Too large to keep: send it once, the part read first.
		r.ok = false
		r.prefix = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		r.buffered = true
		return r, nil
	}
	req.Body.Close()
	r.buffered, r.buf = true, buf
	return r, nil
}

// body returns the body for attempt n, or nil to keep the request's.
func (r *replay) body(n int) io.ReadCloser {
	switch {
	case r.prefix != nil:
		return r.prefix
	case r.buffered:
		return io.NopCloser(bytes.NewReader(r.buf))
	case n > 1 && r.req.GetBody != nil:
		b, err := r.req.GetBody()
		if err != nil {
			return io.NopCloser(errReader{err})
		}
		return b
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

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
