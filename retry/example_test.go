package retry_test

import (
	"fmt"
	"net/http"

	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/retry"
)

// A retry policy on a plain http.Client: a backend that fails twice is
// rescued by the third attempt.
func ExamplePolicy_RoundTripper() {
	backends := meshtest.NewNetwork()
	flaky := backends.Add("payments:80", "payments", nil).FailFirst(2, http.StatusServiceUnavailable)

	p, err := retry.New(&retry.Config{Attempts: 3, RetryOn: "5xx"})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: p.RoundTripper(backends.Transport())}
	resp, err := client.Get("http://payments/charge")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("status:", resp.StatusCode, "after", flaky.Count(), "attempts")
	// Output: status: 200 after 3 attempts
}
