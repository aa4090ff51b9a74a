package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

// Cluster is the set of endpoints for one (host, subset, port) with the
// traffic policy in force for it, as Envoy's outbound cluster
// "outbound|port|subset|host".
type Cluster struct {
	// Name is Envoy's cluster name, "outbound|9080|v1|reviews".
	Name string
	// Host is the service host.
	Host string
	// Subset is the DestinationRule subset, "" for all endpoints.
	Subset string
	// Port is the service port.
	Port uint32
	// Protocol is the service port's protocol, upper-case ("HTTP2", "GRPC"),
	// or "".
	Protocol string
	// Policy is the traffic policy in force.
	Policy Policy
	// Passthrough is true when requests go to the address the caller
	// asked for rather than to a picked endpoint.
	Passthrough bool
	// TLS is the cluster's TLS origination; nil for plaintext.
	TLS *TLS

	// set is the cluster's endpoints and their detector. The endpoint
	// fast path (SetEndpoints) replaces it in place, under mu, which also
	// orders the picker installs of detectors.
	set      atomic.Pointer[endpointSet]
	mu       sync.Mutex
	active   bool                 // between Activate and Stop; guarded by mu
	onEvent  func(ejection.Event) // for the detectors, nil without observer
	selector map[string]string    // the subset's labels
	svcPort  subset.Port          // the service port
	algo     balancer.Algorithm   // the balancer the policy selects
	rand     balancer.Rand
	picker   atomic.Pointer[pickerBox]  // over the available endpoints
	limiter  *pool.Limiter              // nil without limits
	limits   pool.Limits                // applied to limiter on Activate
	hash     *balancer.ConsistentHash   // nil unless consistent hashing
	feedback balancer.Feedback          // nil unless the balancer learns from outcomes
	locality *balancer.LocalitySettings // nil unless locality load balancing
	client   *Client                    // shared by the clusters of a registry
	warmup   *warmup                    // nil without slow start
	clock    clock.Clock
}

// endpointSet is a cluster's endpoints, ejected ones included, and the
// outlier detector over them (nil without outlierDetection).
type endpointSet struct {
	all      []*balancer.Endpoint
	detector *ejection.Detector
}

// endpoints returns the cluster's current endpoint set (never nil once
// built).
func (c *Cluster) endpoints() *endpointSet {
	if s := c.set.Load(); s != nil {
		return s
	}
	return &endpointSet{}
}

// Hash returns the cluster's consistent-hash settings, or nil when it does
// not hash.
func (c *Cluster) Hash() *balancer.ConsistentHash { return c.hash }

// Record reports the outcome of an attempt to ep to outlier detection, and
// whether it ejected ep.
func (c *Cluster) Record(ep *balancer.Endpoint, o ejection.Outcome) bool {
	d := c.endpoints().detector
	return d != nil && d.Record(ep, o)
}

// Limiter returns the cluster's admission limiter, or nil when the cluster
// has no limits.
func (c *Cluster) Limiter() *pool.Limiter { return c.limiter }

// Detector returns the cluster's outlier detector, or nil.
func (c *Cluster) Detector() *ejection.Detector { return c.endpoints().detector }

// Endpoints returns all the cluster's endpoints, ejected ones included (none
// for a nil or passthrough cluster). The slice must not be modified.
func (c *Cluster) Endpoints() []*balancer.Endpoint {
	if c == nil {
		return nil
	}
	return c.endpoints().all
}

// Available returns the endpoints the cluster currently balances over.
func (c *Cluster) Available() []*balancer.Endpoint {
	if c == nil || c.Passthrough {
		return nil
	}
	return c.current().Endpoints()
}

// Balancer names the cluster's load-balancing algorithm: the balancer
// package's name for it, or PASSTHROUGH.
func (c *Cluster) Balancer() string {
	if c.Passthrough {
		return "PASSTHROUGH"
	}
	return c.algo.Name()
}

// Feedback returns what the cluster's balancer learns from, or nil when it
// learns from nothing: the mesh then times no attempt.
func (c *Cluster) Feedback() balancer.Feedback { return c.feedback }
