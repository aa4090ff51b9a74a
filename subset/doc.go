// Package subset compiles ServiceEntries and DestinationRules into clusters:
// the endpoints of one (host, subset, port), the traffic policy in force for
// them after Istio's precedence rules, and the balancer that picks among
// them.
//
// Endpoints come from a ServiceEntry's endpoints (or its hosts, with DNS
// resolution and no endpoints); an endpoint's port is the one it names for
// the service port, else the port's targetPort, else the service port. A
// subset selects the endpoints that carry all of its labels; a subset that
// selects none is a configuration error.
//
// Each [Cluster] balances with the policy's algorithm (or consistent
// hashing over Envoy's ring hash or Maglev, or Peak-EWMA from Go), ramps
// new endpoints up by the warm-up window, fails over by locality for a
// caller that declares its own (with outlier detection, as Istio), ejects
// failing endpoints through its ejection.Detector and admits requests through
// its pool.Limiter. Live endpoint state (active requests, join time,
// latency average, ejections, pool counts) is keyed by cluster and address
// and carried over from the previous [Registry] when configuration is
// updated; [Registry.Activate] puts it to work only when the new registry
// starts serving.
package subset
