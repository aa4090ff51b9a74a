// Package route holds Istio's VirtualService as Go values: the routing rules
// for a set of hosts, in the field names of Istio's schema, so that YAML
// parsed by switchyard.Parse and a configuration written in Go describe the
// same model. It also holds what the mesh says about routing:
// [Explanation], the decision trace of switchyard's Mesh.Explain, and
// [Observation], the outcome of a forwarded request as Mesh.Observe reports
// it.
//
//	vs := route.VirtualService{
//		Name:  "reviews",
//		Hosts: []string{"reviews"},
//		HTTP: []route.HTTPRoute{{
//			Match: []match.Request{{Headers: map[string]*match.StringMatch{"end-user": match.Exact("jason")}}},
//			Route: []route.RouteDestination{{Destination: route.Destination{Host: "reviews", Subset: "v2"}}},
//		}, {
//			Route: []route.RouteDestination{
//				{Destination: route.Destination{Host: "reviews", Subset: "v1"}, Weight: 90},
//				{Destination: route.Destination{Host: "reviews", Subset: "v3"}, Weight: 10},
//			},
//		}},
//	}
package route
