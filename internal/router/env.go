package router

import (
	"net/http"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/telemetry"
)

// Sender sends one attempt of a routed request.
type Sender interface {
	// Send sends req to endpoint ep of cluster c. ep is nil for a
	// passthrough cluster: the request goes to the address it names. Send
	// must not modify req.
	Send(req *http.Request, c *cluster.Cluster, ep *balancer.Endpoint) (*http.Response, error)
}

// Env holds the runtime dependencies of the request path.
type Env struct {
	// Rand draws weighted destinations, fault and mirror percentages and
	// back-off jitter.
	Rand balancer.Rand
	// Clock runs route timeouts, per-try timeouts, back-off and delays.
	Clock clock.Clock
	// BodyLimit bounds the request body kept to replay on retries and
	// mirrors; 0 means retrypolicy.DefaultBodyLimit, a negative value keeps
	// nothing.
	BodyLimit int64
	// Mirrorer sends mirrored copies; nil drops them.
	Mirrorer *Mirrorer
	// SourceIP is the caller's own address, hashed by useSourceIp.
	SourceIP string
	// Observers are told of every forwarded request.
	Observers *Observers
	// Telemetry reports to OpenTelemetry; nil reports nothing.
	Telemetry *telemetry.T
}

func (e *Env) bodyLimit() int64 {
	switch {
	case e.BodyLimit == 0:
		return retrypolicy.DefaultBodyLimit
	case e.BodyLimit < 0:
		return 0
	}
	return e.BodyLimit
}

func (e *Env) retryOptions() []retrypolicy.Option {
	return []retrypolicy.Option{retrypolicy.WithClock(e.Clock), retrypolicy.WithRand(e.Rand), retrypolicy.WithBodyLimit(e.bodyLimit())}
}

func (e *Env) faultOptions() []fault.Option {
	return []fault.Option{fault.WithClock(e.Clock), fault.WithRand(e.Rand)}
}
