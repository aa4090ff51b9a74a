package balancer

import (
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-go/switchyard/internal/rng"
)

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

// New returns a picker over endpoints with the algorithm s selects (nil s:
// Istio's default, LEAST_REQUEST), drawing random numbers from r (nil means
// math/rand/v2). The endpoints slice is retained and must not be modified
// afterwards. A consistent-hash picker is a HashPicker.
func New(s *Settings, endpoints []*Endpoint, r Rand) (Picker, error) {
	a, err := s.Algorithm()
	if err != nil {
		return nil, err
	}
	return a.New(endpoints, r)
}

// checkStates reports an endpoint without live state.
func checkStates(endpoints []*Endpoint) error {
	for i, e := range endpoints {
		if e == nil || e.State == nil {
			return fmt.Errorf("balancer: endpoint %d has no State", i)
		}
	}
	return nil
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
