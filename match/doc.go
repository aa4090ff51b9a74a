// Package match compiles Istio's HTTPMatchRequest into predicates over a
// neutral view of a request, so that HTTP requests and gRPC calls are matched
// by the same code.
//
// A [StringMatch] is exact, prefix or regex. Regexes are RE2 and, as in
// Envoy, must match the whole value: `regex: "foo"` does not match "xfoox".
// A StringMatch with no field set (`{}` in YAML) matches any value that is
// present.
//
// [Compile] turns the match blocks of one route into a [Matcher]: blocks are
// OR'ed, the conditions inside a block AND'ed, and an empty list matches
// everything. Selectors that Istio evaluates when it builds configuration
// (sourceLabels, sourceNamespace, gateways) are evaluated once, at compile
// time, against the calling workload's [Source]. Evaluation with
// [Matcher.Match] allocates nothing.
//
//	m, err := match.Compile([]match.Request{{
//		URI:     match.Prefix("/reviews"),
//		Headers: map[string]*match.StringMatch{"end-user": match.Exact("jason")},
//	}}, match.Source{})
//	block, ok := m.Match(&match.Input{Path: "/reviews/1", Header: match.HTTPHeader(req.Header)})
package match
