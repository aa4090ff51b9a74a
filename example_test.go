package switchyard_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

const exampleMesh = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`

// Routing an http.Client by Istio manifests, on in-memory backends.
func Example() {
	cfg, err := switchyard.Parse([]byte(exampleMesh))
	if err != nil {
		panic(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		panic(err)
	}
	defer mesh.Close()

	backends := meshtest.NewNetwork()
	backends.Add("10.0.0.1:9080", "reviews-v1", nil)
	backends.Add("10.0.0.2:9080", "reviews-v2", nil)
	client := &http.Client{Transport: mesh.Transport(backends.Transport())}

	for _, user := range []string{"alice", "jason"} {
		req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/1", nil)
		req.Header.Set("End-User", user)
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s -> %s\n", user, body)
	}
	// Output:
	// alice -> reviews-v1
	// jason -> reviews-v2
}

// The same configuration as Go values instead of YAML.
func ExampleConfig() {
	cfg := switchyard.Config{
		ServiceEntries: []subset.ServiceEntry{{
			Name:       "reviews",
			Hosts:      []string{"reviews"},
			Ports:      []subset.Port{{Number: 9080, Name: "http"}},
			Resolution: "STATIC",
			Endpoints: []subset.WorkloadEntry{
				{Address: "10.0.0.1", Labels: map[string]string{"version": "v1"}},
				{Address: "10.0.0.2", Labels: map[string]string{"version": "v2"}},
			},
		}},
		DestinationRules: []subset.DestinationRule{{
			Name: "reviews",
			Host: "reviews",
			Subsets: []subset.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			},
		}},
		VirtualServices: []route.VirtualService{{
			Name:  "reviews",
			Hosts: []string{"reviews"},
			HTTP: []route.HTTPRoute{
				{
					Match: []match.Request{{URI: match.Prefix("/beta")}},
					Route: []route.RouteDestination{{Destination: route.Destination{Host: "reviews", Subset: "v2"}}},
				},
				{Route: []route.RouteDestination{{Destination: route.Destination{Host: "reviews", Subset: "v1"}}}},
			},
		}},
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		panic(err)
	}
	defer mesh.Close()
	backends := meshtest.NewNetwork()
	backends.Add("10.0.0.1:9080", "reviews-v1", nil)
	backends.Add("10.0.0.2:9080", "reviews-v2", nil)
	client := &http.Client{Transport: mesh.Transport(backends.Transport())}
	for _, path := range []string{"/beta/reviews", "/reviews"} {
		resp, _ := client.Get("http://reviews:9080" + path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s -> %s\n", path, body)
	}
	// Output:
	// /beta/reviews -> reviews-v2
	// /reviews -> reviews-v1
}

// Every problem in a manifest is reported with its document, resource,
// field path and line.
func ExampleParse_errors() {
	_, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {hots: reviews}
      weight: "ten"
`))
	fmt.Println(err)
	var ce *switchyard.ConfigError
	if errors.As(err, &ce) {
		fmt.Println("first problem at:", ce.Path)
	}
	// Output:
	// document 1 (VirtualService "reviews"): spec.http[0].route[0].destination.hots: unknown field (did you mean "host"?) (line 9)
	// document 1 (VirtualService "reviews"): spec.http[0].route[0].weight: expected an integer, got the string "ten" (line 10)
	// first problem at: spec.http[0].route[0].destination.hots
}

// A rejected update names what is wrong and leaves the running
// configuration serving.
func ExampleMesh_Update() {
	cfg, _ := switchyard.Parse([]byte(exampleMesh))
	mesh, _ := switchyard.New(cfg)
	defer mesh.Close()

	bad := cfg
	bad.VirtualServices = []route.VirtualService{{
		Name: "reviews", Hosts: []string{"reviews"},
		HTTP: []route.HTTPRoute{{Route: []route.RouteDestination{{Destination: route.Destination{Host: "reviews", Subset: "v1"}, Weight: -10}}}},
	}}
	fmt.Println(mesh.Update(bad))
	// Output:
	// VirtualService "reviews": spec.http[0].route[0].weight: must not be negative
}

// Chain composes the mesh with other RoundTripper middleware, the first
// listed outermost.
func ExampleChain() {
	logging := func(next http.RoundTripper) http.RoundTripper {
		return switchyard.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err == nil {
				fmt.Println(req.Method, req.URL, "->", resp.StatusCode)
			}
			return resp, err
		})
	}
	cfg, _ := switchyard.Parse([]byte(exampleMesh))
	mesh, _ := switchyard.New(cfg)
	defer mesh.Close()
	backends := meshtest.NewNetwork()
	backends.Add("10.0.0.1:9080", "reviews-v1", nil)

	client := &http.Client{Transport: switchyard.Chain(backends.Transport(), logging, func(next http.RoundTripper) http.RoundTripper {
		return mesh.Transport(next)
	})}
	resp, _ := client.Get("http://reviews:9080/reviews/1")
	resp.Body.Close()
	// Output:
	// GET http://reviews:9080/reviews/1 -> 200
}

// Explain shows how a request would be routed, and why the routes before
// the match did not match, without sending it.
func ExampleMesh_Explain() {
	cfg, _ := switchyard.Parse([]byte(exampleMesh))
	mesh, _ := switchyard.New(cfg, switchyard.WithRand(meshtest.NewRand(1)))
	defer mesh.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/1", nil)
	req.Header.Set("End-User", "alice")
	fmt.Print(mesh.Explain(req))
	// Output:
	// reviews:9080 → VirtualService "reviews"
	//   route reviews.0: no match
	//       match[0]: header end-user "alice" does not match exact "jason"
	//   route reviews.1: matched → forward
	//   destination reviews subset v1: 100.0% of traffic, cluster outbound|9080|v1|reviews, next pick 10.0.0.1:9080
	//     10.0.0.1:9080 weight 1 active 0 available
}

// The admin handler serves the mesh's live state as JSON beside its page;
// mount it where only operators can reach it.
func ExampleMesh_AdminHandler() {
	cfg, err := switchyard.Parse([]byte(exampleMesh))
	if err != nil {
		panic(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		panic(err)
	}
	defer mesh.Close()
	mux := http.NewServeMux()
	mux.Handle("/debug/switchyard/", http.StripPrefix("/debug/switchyard", mesh.AdminHandler()))

	st := mesh.AdminState() // what GET /debug/switchyard/state returns
	for _, c := range st.Clusters {
		for _, ep := range c.Endpoints {
			fmt.Println(c.Name, ep.Address, ep.Health)
		}
	}
	for _, r := range st.Routes[0].Routes {
		for _, d := range r.Destinations {
			fmt.Printf("%s → %s %s %.0f%%\n", r.Name, d.Host, d.Subset, d.Share)
		}
	}
	// Output:
	// outbound|9080||reviews 10.0.0.1:9080 healthy
	// outbound|9080||reviews 10.0.0.2:9080 healthy
	// outbound|9080|v1|reviews 10.0.0.1:9080 healthy
	// outbound|9080|v2|reviews 10.0.0.2:9080 healthy
	// reviews.0 → reviews v2 100%
	// reviews.1 → reviews v1 100%
}
