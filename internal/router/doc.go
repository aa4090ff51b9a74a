// Package router compiles VirtualServices into a routing [Table] and carries
// out a request's route: the router for HTTP (and, through the neutral
// match.Input, for gRPC), over the attempt engine (internal/engine).
//
// A request finds its virtual host by authority: a VirtualService host with
// the request's port, then without, then "*." wildcards, longest first,
// then the default route of a ServiceEntry host that has no VirtualService
// (all its endpoints). The first route whose match blocks accept the
// request wins; a known host whose routes all miss answers 404, as Envoy's
// "no route" reply. The route's action is a redirect, a direct response, or
// a forward: the route's fault (delay, then abort) runs within its timeout,
// one weighted destination is drawn, mirrors get their copies, and the
// retry policy's attempt loop sends attempts through a [Sender], each to an
// endpoint the engine picks in the destination's cluster, admitted by the
// cluster's limits and reported to its outlier detection.
//
// Header operations follow Envoy's order: removes before sets and adds, sets
// and adds in key order; with one destination its operations follow the
// route's (so a destination set wins), with several the destination's come
// first (so a route set wins). A route timeout covers the whole exchange and
// answers 504 "upstream request timeout".
package router

// Files: table.go finds a request's virtual host, route.go holds the compiled
// routes, compile.go compiles them (with direct.go, redirect.go and
// rewrite.go, each action's compile and apply halves together), input.go
// describes a request for matching, http.go and attempt.go carry out an HTTP
// request, grpc.go, call.go and stream.go a gRPC call or stream, mirror.go
// sends copies, headers.go and metadata.go apply header operations,
// hash.go finds consistent-hash keys, reply.go builds local replies,
// explain.go traces a decision, and telemetry.go decorates all of it.
