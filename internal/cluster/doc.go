// Package cluster compiles ServiceEntries and DestinationRules into the
// mesh's clusters, as Envoy's outbound clusters "outbound|port|subset|host":
// the endpoints of one host, subset and port with the traffic policy in
// force for them after Istio's precedence rules, each with its balancer
// (balancer.Settings.Algorithm), its outlier detector and its
// connection-pool limiter. A Registry is immutable; the per-endpoint state
// it carries (active requests, ejections, pool counts) outlives it across
// updates.
//
// One concept per file: registry.go compiles and activates, service.go and
// target.go find clusters, cluster.go is the cluster, pick.go picks within
// it (warm-up, hash, avoid-tried, remote locality), locality.go holds
// locality load balancing, build.go builds clusters and their endpoints,
// policy.go resolves precedence, and validate.go checks the resources.
package cluster
