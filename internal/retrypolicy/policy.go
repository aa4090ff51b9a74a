package retrypolicy

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// Condition is one retry_on token.
type Condition uint32

// The retry_on conditions of Envoy that Istio accepts.
const (
	On5xx Condition = 1 << iota
	OnGatewayError
	OnReset
	OnResetBeforeRequest
	OnConnectFailure
	OnRetriable4xx
	OnRefusedStream
	OnRetriableStatusCodes
	OnRetriableHeaders
	OnEnvoyRateLimited
	OnHTTP3PostConnectFailure
	OnCancelled
	OnDeadlineExceeded
	OnInternal
	OnResourceExhausted
	OnUnavailable
)

var conditionNames = map[string]Condition{
	"5xx":                        On5xx,
	"gateway-error":              OnGatewayError,
	"reset":                      OnReset,
	"reset-before-request":       OnResetBeforeRequest,
	"connect-failure":            OnConnectFailure,
	"retriable-4xx":              OnRetriable4xx,
	"refused-stream":             OnRefusedStream,
	"retriable-status-codes":     OnRetriableStatusCodes,
	"retriable-headers":          OnRetriableHeaders,
	"envoy-ratelimited":          OnEnvoyRateLimited,
	"http3-post-connect-failure": OnHTTP3PostConnectFailure,
	"cancelled":                  OnCancelled,
	"deadline-exceeded":          OnDeadlineExceeded,
	"internal":                   OnInternal,
	"resource-exhausted":         OnResourceExhausted,
	"unavailable":                OnUnavailable,
}

// The defaults of Istio and Envoy.
const (
	// DefaultRetryOn is Istio's retryOn when a route sets no retries.
	DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	// DefaultAttempts is Istio's number of retries when a route sets none.
	DefaultAttempts = 2
	// DefaultBackoff is Envoy's base back-off interval.
	DefaultBackoff = 25 * time.Millisecond
	// DefaultBodyLimit bounds the request body kept, as it is sent, for replay.
	DefaultBodyLimit = 64 << 10
	// hostSelectionAttempts is Istio's host_selection_retry_max_attempts.
	hostSelectionAttempts = 5
)

// Policy is a compiled retry policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	retries        int // retries after the first attempt
	on             Condition
	codes          []int
	perTry         time.Duration
	backoff        time.Duration
	avoidPrevious  bool
	avoidExplicit  bool // retryIgnorePreviousHosts was set
	remoteLocality bool
	env            env
}

// defaultEnv is a policy's dependencies unless options replace them: the
// real clock, math/rand/v2 and the default body limit.
func defaultEnv() env {
	return env{clock: clock.Real{}, rand: rng.Runtime{}, bodyLimit: DefaultBodyLimit}
}

// Compile validates cfg and compiles it. A nil cfg is Istio's default
// policy. Problems are reported with field paths relative to the retries
// block. The policy runs on the real clock and math/rand/v2, as New's
// without options.
func Compile(cfg *Config) (*Policy, error) {
	if cfg == nil {
		cfg = &Config{Attempts: DefaultAttempts, RetryOn: DefaultRetryOn}
	}
	var errs fielderr.List
	p := &Policy{retries: int(cfg.Attempts), perTry: cfg.PerTryTimeout, backoff: cfg.Backoff, avoidPrevious: true, env: defaultEnv()}
	if cfg.RetryIgnorePreviousHosts != nil {
		p.avoidPrevious = *cfg.RetryIgnorePreviousHosts
		p.avoidExplicit = true
	}
	if cfg.RetryRemoteLocalities != nil {
		p.remoteLocality = *cfg.RetryRemoteLocalities
	}
	switch {
	case cfg.Attempts < 0:
		errs.Add("attempts", "must not be negative")
	case cfg.Attempts == 0 && (cfg.PerTryTimeout != 0 || cfg.RetryOn != "" || cfg.RetryRemoteLocalities != nil):
		errs.Add("attempts", "attempts 0 disables retries; perTryTimeout, retryOn and retryRemoteLocalities need attempts > 0")
	}
	if cfg.PerTryTimeout != 0 && cfg.PerTryTimeout < time.Millisecond {
		errs.Add("perTryTimeout", "%v is below the 1ms minimum", cfg.PerTryTimeout)
	}
	if cfg.Backoff != 0 && cfg.Backoff < time.Millisecond {
		errs.Add("backoff", "%v is below the 1ms minimum", cfg.Backoff)
	}
	if p.backoff == 0 {
		p.backoff = DefaultBackoff
	}
	retryOn := cfg.RetryOn
	if retryOn == "" && cfg.Attempts > 0 {
		retryOn = DefaultRetryOn
	}
	for _, tok := range strings.Split(retryOn, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		if c, ok := conditionNames[tok]; ok {
			p.on |= c
			continue
		}
		if code, err := strconv.Atoi(tok); err == nil && http.StatusText(code) != "" {
			p.codes = append(p.codes, code)
			p.on |= OnRetriableStatusCodes
			continue
		}
		errs.Add("retryOn", "unknown condition %s; use Envoy's retry_on names (5xx, gateway-error, reset, connect-failure, retriable-4xx, …), gRPC names (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) or HTTP status codes", fielderr.Quote(tok))
	}
	slices.Sort(p.codes)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Retries returns the number of retries after the first attempt.
func (p *Policy) Retries() int { return p.retries }

// PerTryTimeout returns the timeout of each attempt; zero means none.
func (p *Policy) PerTryTimeout() time.Duration { return p.perTry }

// AvoidPreviousHosts reports whether a retry should pick an endpoint not
// tried yet (retryIgnorePreviousHosts, true by default).
func (p *Policy) AvoidPreviousHosts() bool { return p.avoidPrevious }

// AvoidPreviousHostsWhenHashing reports whether retries to a
// consistent-hash destination avoid endpoints tried: Istio drops the
// previous-hosts predicate there, to keep affinity, unless
// retryIgnorePreviousHosts is set to true explicitly.
func (p *Policy) AvoidPreviousHostsWhenHashing() bool { return p.avoidExplicit && p.avoidPrevious }

// RetryRemoteLocalities reports whether retries go to localities not tried
// yet (retryRemoteLocalities).
func (p *Policy) RetryRemoteLocalities() bool { return p.remoteLocality }

// HostSelectionAttempts is how many picks a retry makes to find an endpoint
// not tried yet before it takes the last one picked (Istio's
// host_selection_retry_max_attempts).
func (p *Policy) HostSelectionAttempts() int { return hostSelectionAttempts }

// Has reports whether the policy retries on c.
func (p *Policy) Has(c Condition) bool { return p.on&c != 0 }

// WithPerTryTimeoutCap returns the policy as it applies under a route
// timeout: Envoy ignores a per-try timeout at or above a non-zero route
// timeout. It returns p itself when nothing changes.
func (p *Policy) WithPerTryTimeoutCap(route time.Duration) *Policy {
	if route == 0 || p.perTry == 0 || p.perTry < route {
		return p
	}
	c := *p
	c.perTry = 0
	return &c
}

// String describes the policy.
func (p *Policy) String() string {
	var names []string
	for name, c := range conditionNames {
		if p.on&c != 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, c := range p.codes {
		names = append(names, strconv.Itoa(c))
	}
	return fmt.Sprintf("retries=%d on=%s perTry=%v backoff=%v", p.retries, strings.Join(names, ","), p.perTry, p.backoff)
}
