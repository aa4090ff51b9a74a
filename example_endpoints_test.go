package switchyard_test

import (
	"fmt"
	"net/http"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/subset"
)

// An endpoint source (a service registry, EDS) replaces a host's endpoints
// without recompiling the configuration; the subsets keep selecting by
// label.
func ExampleMesh_SetEndpoints() {
	cfg, _ := switchyard.Parse([]byte(exampleMesh))
	mesh, _ := switchyard.New(cfg, switchyard.WithRand(meshtest.NewRand(1)))
	defer mesh.Close()
	err := mesh.SetEndpoints("reviews", []subset.WorkloadEntry{
		{Address: "10.0.0.1", Labels: map[string]string{"version": "v1"}},
		{Address: "10.0.0.3", Labels: map[string]string{"version": "v1"}},
		{Address: "10.0.0.2", Labels: map[string]string{"version": "v2"}},
	})
	fmt.Println(err)
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
	for _, d := range mesh.Explain(req).Destinations {
		for _, ep := range d.Endpoints {
			fmt.Println(d.Subset, ep.Address)
		}
	}
	fmt.Println(mesh.SetEndpoints("ratings", nil))
	// Output:
	// <nil>
	// v1 10.0.0.1:9080
	// v1 10.0.0.3:9080
	// switchyard: no ServiceEntry defines host "ratings"
}
