package fault

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/grpccode"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// AbortBody is the body of an aborted request, as Envoy's.
const AbortBody = "fault filter abort"

// Rand is a source of uniformly distributed 64-bit values; it must be safe
// for concurrent use.
type Rand interface{ Uint64() uint64 }

// Option configures an Injector's dependencies.
type Option interface{ apply(*Injector) }

type optionFunc func(*Injector)

func (f optionFunc) apply(i *Injector) { f(i) }

// WithClock makes delays wait on c (nil: the real clock).
func WithClock(c clock.Clock) Option {
	if c == nil {
		c = clock.Real{}
	}
	return optionFunc(func(i *Injector) { i.clock = c })
}

// WithRand makes the percentage draws come from r (nil: math/rand/v2).
func WithRand(r Rand) Option {
	if r == nil {
		r = rng.Runtime{}
	}
	return optionFunc(func(i *Injector) { i.rand = r })
}

// Injector is a compiled fault. It is immutable and safe for concurrent use.
type Injector struct {
	delay           time.Duration
	delayPerMillion uint64
	abortPerMillion uint64
	httpStatus      int
	grpcStatus      int // -1 when the abort gives an HTTP status
	hasAbort        bool
	clock           clock.Clock
	rand            Rand
}

// New validates cfg and compiles it.
func New(cfg *Config, opts ...Option) (*Injector, error) {
	var errs fielderr.List
	inj := &Injector{grpcStatus: -1, clock: clock.Real{}, rand: rng.Runtime{}}
	if cfg == nil || (cfg.Delay == nil && cfg.Abort == nil) {
		errs.Add("", "a fault needs a delay, an abort or both")
		return nil, errs.Err()
	}
	if d := cfg.Delay; d != nil {
		if d.FixedDelay < time.Millisecond {
			errs.Add("delay.fixedDelay", "required, at least 1ms")
		} else {
			errs.Millis("delay.fixedDelay", d.FixedDelay)
		}
		inj.delay = d.FixedDelay
		inj.delayPerMillion = perMillion(d.Percentage, d.Percent, "delay", &errs)
	}
	if a := cfg.Abort; a != nil {
		inj.hasAbort = true
		switch {
		case a.HTTPStatus != 0 && a.GRPCStatus != "":
			errs.Add("abort", "httpStatus and grpcStatus are mutually exclusive")
		case a.GRPCStatus != "":
			code, ok := grpccode.Parse(a.GRPCStatus)
			if !ok || strings.Trim(a.GRPCStatus, "0123456789") == "" {
				errs.Add("abort.grpcStatus", "unknown gRPC status %s; use a name such as UNAVAILABLE", fielderr.Quote(a.GRPCStatus))
			}
			inj.grpcStatus = code
		case a.HTTPStatus < 200 || a.HTTPStatus > 600:
			// Istio accepts 600 too (Envoy then refuses it).
			errs.Add("abort.httpStatus", "%d is outside 200-599", a.HTTPStatus)
		default:
			inj.httpStatus = int(a.HTTPStatus)
		}
		inj.abortPerMillion = perMillion(a.Percentage, 0, "abort", &errs)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if o != nil {
			o.apply(inj)
		}
	}
	return inj, nil
}

// perMillion converts a percentage to Envoy's FractionalPercent per million:
// value × 10000. Absent means 0.
func perMillion(p *Percent, deprecated int32, what string, errs *fielderr.List) uint64 {
	switch {
	case p != nil:
		if p.Value < 0 || p.Value > 100 || (p.Value > 0 && p.Value < 0.0001) || math.IsNaN(p.Value) {
			errs.Add(what+".percentage.value", "%v must be 0 or within [0.0001, 100]", p.Value)
			return 0
		}
		return uint64(math.Round(p.Value * 10000))
	case deprecated != 0:
		if deprecated < 0 || deprecated > 100 {
			errs.Add(what+".percent", "%d is outside 0-100", deprecated)
			return 0
		}
		return uint64(deprecated) * 10000
	}
	return 0
}

// Decision is what the fault does to one request.
type Decision struct {
	// Delay is how long to hold the request; zero for none.
	Delay time.Duration
	// Abort is true when the request is to be answered locally.
	Abort bool
}

// drawn reports whether a draw falls within perMillion of a million.
func (i *Injector) drawn(perMillion uint64) bool {
	return perMillion > 0 && rng.N(i.rand.Uint64(), 1_000_000) < perMillion
}

// Inject runs the fault on a request: it waits out a drawn delay on the
// request's context, then draws the abort. It returns a non-nil local
// reply for an aborted request (the HTTP status with body "fault filter
// abort"; for a gRPC request or a grpcStatus abort, HTTP 200 with
// grpc-status and grpc-message, a trailers-only response), or the context's
// error if it ended during the delay; and what the fault did: the delay it
// waited (or began to wait) and whether it aborted.
func (i *Injector) Inject(req *http.Request) (*http.Response, Decision, error) {
	var d Decision
	if i.drawn(i.delayPerMillion) {
		d.Delay = i.delay
		if err := clock.Sleep(req.Context(), i.clock, i.delay); err != nil {
			return nil, d, err
		}
	}
	if i.hasAbort && i.drawn(i.abortPerMillion) {
		d.Abort = true
		return i.abort(req), d, nil
	}
	return nil, d, nil
}

// abort returns the local reply of an abort.
func (i *Injector) abort(req *http.Request) *http.Response {
	code := i.grpcStatus
	if code < 0 && isGRPC(req) {
		code = grpccode.ForHTTP(i.httpStatus)
	}
	if code >= 0 {
		h := http.Header{
			"Content-Type": {"application/grpc"},
			"Grpc-Status":  {strconv.Itoa(code)},
			"Grpc-Message": {url.PathEscape(AbortBody)},
		}
		return reply.New(req, http.StatusOK, h, "")
	}
	return reply.New(req, i.httpStatus, nil, AbortBody)
}

// RoundTripper returns an http.RoundTripper that applies the fault to each
// request before passing it to next (nil: http.DefaultTransport). It is
// safe for concurrent use.
func (i *Injector) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{i: i, next: next}
}

type roundTripper struct {
	i    *Injector
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, _, err := rt.i.Inject(req)
	if resp != nil || err != nil {
		httpbody.CloseRequest(req)
		return resp, err
	}
	return rt.next.RoundTrip(req)
}

// isGRPC reports whether req is a gRPC request.
func isGRPC(req *http.Request) bool {
	return strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc")
}
