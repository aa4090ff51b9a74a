package meshtest_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/subset"
)

// Backends stand in for a service's endpoints; a failing one is scripted.
func Example() {
	net := meshtest.NewNetwork()
	v1 := net.Add("10.0.0.1:9080", "reviews-v1", map[string]string{"version": "v1"})
	v1.FailFirst(1, http.StatusServiceUnavailable)

	mesh, err := switchyard.New(switchyard.Config{
		ServiceEntries: []subset.ServiceEntry{meshtest.ServiceEntry("reviews", 9080, v1)},
	})
	if err != nil {
		panic(err)
	}
	defer mesh.Close()
	client := &http.Client{Transport: mesh.Transport(net.Transport())}
	for range 2 {
		resp, _ := client.Get("http://reviews:9080/reviews/1")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	fmt.Println("requests seen:", v1.Count())
	// Output:
	// 503 reviews-v1
	// 200 reviews-v1
	// requests seen: 2
}
