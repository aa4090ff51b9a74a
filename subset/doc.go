// Package subset compiles ServiceEntries and DestinationRules into clusters:
// the endpoints of one (host, subset, port), the traffic policy in force for
// them after Istio's precedence rules, and the balancer that picks among
// them.
//
// Endpoints come from a ServiceEntry's endpoints (or its hosts, with DNS
// resolution and no endpoints); an endpoint's port is the one it names for
// the service port, else the port's targetPort, else the service port. A
// subset selects the endpoints that carry all of its labels; a subset that
// selects none is a configuration error. Live endpoint state (active
// requests) is keyed by cluster and address and carried over from the
// previous [Registry] when configuration is updated.
package subset
