package fault_test

import (
	"fmt"
	"net/http"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/meshtest"
)

// Fault injection on a plain http.Client: every request to the ratings
// service is aborted with 500, as in Istio's fault-injection task.
func ExampleInjector_RoundTripper() {
	backends := meshtest.NewNetwork()
	ratings := backends.Add("ratings:80", "ratings", nil)

	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{HTTPStatus: 500, Percentage: &fault.Percent{Value: 100}}})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: inj.RoundTripper(backends.Transport())}
	resp, err := client.Get("http://ratings/ratings/0")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "- upstream requests:", ratings.Count())
	// Output: 500 - upstream requests: 0
}
