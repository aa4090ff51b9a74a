// Package engine is the mesh's one attempt engine, for HTTP requests and
// gRPC calls and streams alike: a Selection picks each attempt's endpoint
// within the cluster a route chose (avoiding endpoints tried before,
// keeping a consistent-hash key's endpoint, moving to another locality,
// preferring ready connections where the transport keeps its own) and
// records how the attempt went (outlier detection, least-request counters,
// latency-aware balancers); Admit passes a cluster's connection-pool
// limits; Classify names every failure once. The transports differ only
// where they must: how an attempt is sent, and how its result is read
// (HTTPResult, GRPCResult).
package engine
