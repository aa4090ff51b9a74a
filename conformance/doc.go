// Package conformance holds the differential conformance suite: it feeds
// the same Istio manifests to Istio's own validator (the functions istiod's
// validating admission webhook runs) and to switchyard (Parse and New), and
// fails on any document where the two verdicts differ, unless
// known_differences.yaml lists it as a feature switchyard reports as not
// supported.
//
// It is a module of its own so that istio.io/istio, which it imports, never
// enters switchyard's go.mod. The package has no code outside its tests.
//
// The corpus is read at test time from the istio.io/istio module pinned in
// go.mod: its validation test data, its samples, and the cases of its
// validation test tables (pkg/config/validation/*_test.go), which are parsed
// with go/parser and evaluated onto the istio.io/api types, then rendered as
// manifests. conformance/testdata adds cases those miss.
//
// TestIstiodXDS runs Istio's own control plane (pilot/test/xds) on the
// scenarios in testdata/xds, connects switchyard's ADS client to it as the
// proxyless (gRPC) and sidecar personas, and compares every resource each
// receives with the golden dumps beside them; XDS.md says which Envoy fields
// carry each Istio feature.
//
// TestIstiodRoutesAsYAML feeds each of those scenarios two ways: straight
// into switchyard.New, and through the same control plane over ADS into
// an xds.NewMesh, once per persona. Both meshes serve the same probes (a
// request to every service port and one satisfying each match block) in
// one testing/synctest bubble, against in-memory backends that answer,
// hang or fail, and must agree on the route's action, destinations,
// shares, TLS and endpoints (with their ejection state), the status,
// headers and body of every response, the requests each backend received
// (rewrites, header operations, retried attempts, mirrors) and how long
// each request took on the bubble's clock (timeouts, per-try timeouts,
// back-off, fault delays). What istiod does not send a proxyless client is
// taken out of its YAML side in code (proxylessSees), each loss with its
// reason; the few pairs and hosts not compared are listed with why.
//
//	cd conformance
//	go test .                          # the suite
//	go test . -run TestConformance -args -table         # every document's verdicts
//	go test . -run TestConformance -args -report REPORT.md  # the report of disagreements
//	go test . -run TestIstiodXDS -args -update   # rewrite testdata/xds/*.json from Istio
package conformance
