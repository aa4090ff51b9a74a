// Package subset holds Istio's ServiceEntry and DestinationRule as Go
// values: a service's hosts, ports and endpoints, and its subsets and
// traffic policy (load balancing, connection pool, outlier detection, TLS),
// in the field names of Istio's schema, so that YAML parsed by
// switchyard.Parse and a configuration written in Go describe the same
// model.
//
// An endpoint's port is the one it names for the service port, else the
// port's targetPort, else the service port. A subset selects the endpoints
// that carry all of its labels. Policy precedence is Istio's: subset
// port-level settings, then the subset's policy, then the rule's port-level
// settings, then the rule's policy, each component replacing the one below
// it as a whole.
//
//	se := subset.ServiceEntry{
//		Name: "reviews", Hosts: []string{"reviews"}, Resolution: "STATIC",
//		Ports:     []subset.Port{{Number: 9080, Name: "http", Protocol: "HTTP"}},
//		Endpoints: []subset.WorkloadEntry{{Address: "10.0.0.1", Labels: map[string]string{"version": "v1"}}},
//	}
//	dr := subset.DestinationRule{
//		Name: "reviews", Host: "reviews",
//		Subsets: []subset.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
//	}
package subset
