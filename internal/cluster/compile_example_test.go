package cluster_test

import (
	"fmt"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/subset"
)

// ServiceEntries and DestinationRules compile into clusters: the endpoints
// of one host, subset and port.
func ExampleCompile() {
	reg, err := cluster.Compile([]subset.ServiceEntry{{
		Name: "reviews", Hosts: []string{"reviews"}, Resolution: "STATIC",
		Ports: []subset.Port{{Number: 9080, Name: "http"}},
		Endpoints: []subset.WorkloadEntry{
			{Address: "10.0.0.1", Labels: map[string]string{"version": "v1"}},
			{Address: "10.0.0.2", Labels: map[string]string{"version": "v2"}, Ports: map[string]uint32{"http": 8080}},
		},
	}}, []subset.DestinationRule{{
		Name: "reviews", Host: "reviews",
		Subsets: []subset.Subset{{Name: "v2", Labels: map[string]string{"version": "v2"}}},
	}}, cluster.Options{})
	if err != nil {
		panic(err)
	}
	c := reg.Lookup("reviews").Cluster("v2", 9080)
	fmt.Println(c.Name)
	for _, ep := range c.Endpoints() {
		fmt.Println(ep.Address)
	}
	// Output:
	// outbound|9080|v2|reviews
	// 10.0.0.2:8080
}
