package balancer

import (
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-go/switchyard/internal/rng"
)

// Policy names a load-balancing algorithm.
type Policy uint8

// The algorithms of Istio's loadBalancer.simple that pick among endpoints.
// (PASSTHROUGH involves no pick: the mesh sends to the address the caller
// asked for.)
const (
	LeastRequest Policy = iota // Istio's default: power of two choices
	RoundRobin                 // smooth weighted round robin
	Random                     // uniform or weighted random
)

var policyNames = [...]string{"LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"}

// String returns Istio's name of the algorithm.
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// ErrNoEndpoint is returned by Pick when the picker has no endpoint.
var ErrNoEndpoint = errors.New("balancer: no endpoint available")

// Rand is a source of uniformly distributed 64-bit values. It must be safe
// for concurrent use. *math/rand/v2.Rand is not; wrap it in a mutex.
type Rand interface {
	Uint64() uint64
}

// Picker picks an endpoint. It is immutable and safe for concurrent use.
type Picker interface {
	// Pick returns an endpoint, or ErrNoEndpoint.
	Pick() (*Endpoint, error)
	// Endpoints returns the endpoints the picker chooses from, in order.
	// The slice must not be modified.
	Endpoints() []*Endpoint
}

// Feedback is implemented by the balancers that learn from how requests go
// (latency-aware ones, such as PeakEWMA): the mesh tells it of every attempt
// to an endpoint of the cluster — its latency and whether it failed, at now.
// It must be safe for concurrent use.
type Feedback interface {
	Observe(ep *Endpoint, latency time.Duration, failed bool, now time.Time)
}

// New returns a picker for policy over endpoints, drawing random numbers from
// r (nil means math/rand/v2). The endpoints slice is retained and must not be
// modified afterwards.
func New(policy Policy, endpoints []*Endpoint, r Rand) (Picker, error) {
	if r == nil {
		r = rng.Runtime{}
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	switch policy {
	case LeastRequest:
		return newLeastRequest(endpoints, r), nil
	case RoundRobin:
		return newRoundRobin(endpoints, r), nil
	case Random:
		return newRandom(endpoints, r), nil
	default:
		return nil, fmt.Errorf("balancer: unknown policy %v", policy)
	}
}

// checkEndpoints returns an error if an endpoint is nil or has no State.
func checkEndpoints(endpoints []*Endpoint) error {
	for i, e := range endpoints {
		if e == nil || e.State == nil {
			return fmt.Errorf("balancer: endpoint %d has no State", i)
		}
	}
	return nil
}

func uniformWeights(eps []*Endpoint) bool {
	for _, e := range eps[1:] {
		if e.weight() != eps[0].weight() {
			return false
		}
	}
	return true
}

func randOrDefault(r Rand) Rand {
	if r == nil {
		return rng.Runtime{}
	}
	return r
}
