// Package switchyard runs Istio's traffic management inside the calling Go
// process. The process's own http.Client does what a client-side Envoy
// sidecar does for a VirtualService, a DestinationRule and a ServiceEntry:
// match requests on URI, headers, method and more, split traffic by weight
// across labelled subsets, balance load over endpoints, rewrite, redirect,
// answer directly, inject faults, retry, time out, eject failing endpoints,
// shed load past connection-pool limits and mirror traffic, with no proxy
// hop, no sidecar and no control plane.
//
// # Use
//
// Parse Istio manifests (or build a [Config] from Go values), build a
// [Mesh] and route an http.Client through it:
//
//	cfg, err := switchyard.ParseFiles("mesh.yaml")
//	mesh, err := switchyard.New(cfg)
//	defer mesh.Close()
//	client := &http.Client{Transport: mesh.Transport(nil)}
//	resp, err := client.Get("http://reviews:9080/reviews/1") // routed in-process
//	err = mesh.Update(newCfg) // atomic swap; no request lost, no state reset
//
// A grpc.ClientConn obeys the same configuration through [Mesh.DialOptions]:
//
//	conn, err := grpc.NewClient("reviews:9080", mesh.DialOptions()...)
//
// A request to a host the configuration knows is matched against the
// host's routes in order; the first match decides its fate. A forward runs
// the route's fault (delay, then abort) within its timeout, goes to one of
// its weighted destinations (drawn once per request), sends copies to its
// mirrors, and runs the retry policy's attempt loop: each attempt picks an
// endpoint of the destination's subset with the DestinationRule's load
// balancer (avoiding endpoints already tried and those outlier detection
// ejected), passes the cluster's connection-pool limits, and reports its
// outcome. Requests to hosts the configuration does not know pass through
// unchanged, unless a Sidecar sets outboundTrafficPolicy REGISTRY_ONLY
// (then they get a 502, as from Envoy's BlackHoleCluster); a Sidecar's
// egress hosts limit the hosts the process sees.
//
// A Gateway becomes an ingress server: [Mesh.Gateway] serves one of its
// ports, terminating TLS, and routes with the VirtualServices bound to it
// through the same engine:
//
//	srv, err := mesh.Gateway("istio-system/ingressgateway", 443)
//	go srv.ServeTLS(listener, "", "") // certificates from the Gateway's files
//
// # Semantics
//
// The mesh follows Istio's API reference and the Envoy behaviour behind it:
// first matching route wins, match blocks OR'ed and conditions AND'ed,
// regexes are RE2 matched against the whole value, weights are relative,
// least-request balancing is the default, header operations run in Envoy's
// order, Istio's default retry policy applies when a route sets none, a
// known host with no matching route answers 404, an overflow 503 with
// x-envoy-overloaded, an unreachable upstream 503 and a timeout 504
// "upstream request timeout". The
// manifests are validated in full; every problem is reported as a
// [ConfigError] with its resource and field path, and a rejected
// [Mesh.Update] leaves the running configuration in place.
//
// # Packages
//
// The root package is the facade. Beneath it, the public packages hold
// Istio's schema as Go values — route (VirtualService), subset
// (ServiceEntry, DestinationRule), match, balancer, outlier, pool, retry and
// fault — and the policies that also work on their own: retry, fault and
// pool's Limiter wrap any RoundTripper, retry and fault give gRPC
// interceptors, match compiles matchers and balancer builds pickers. rollout
// runs canary analysis with promotion and rollback over a Mesh. meshtest
// provides in-memory backends for tests, in the manner of
// net/http/httptest. gateway and sidecar hold the Gateway and Sidecar
// schema ([Mesh.Gateway] serves a Gateway; a Sidecar scopes what the
// process sees); mtls gives workload certificates, SPIFFE identities and
// the server side of mesh mTLS; xds builds a Mesh that follows an xDS
// control plane such as istiod. [Mesh.DialContext] routes TCP and TLS
// connections, [Mesh.TransportCredentials] originates a DestinationRule's
// TLS on gRPC, and [Mesh.Warnings] lists what the configuration accepts
// but routes nowhere. The machinery that routes and retries is internal.
//
// # Observability
//
// [Mesh.Explain] says how a request would be routed; [Mesh.Observe] and
// [Mesh.Modify] let a controller watch outcomes and change the
// configuration atomically. [WithTracerProvider] and [WithMeterProvider]
// report spans and metrics through OpenTelemetry (the global providers
// when absent, at no cost while they are no-ops), and [Mesh.AdminHandler]
// serves a live page and JSON of routes, clusters, endpoint health,
// updates and ejections.
package switchyard
