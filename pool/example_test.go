package pool_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/switchyard-go/switchyard/pool"
)

// Circuit breaking on a plain http.Client: with the cluster's one allowed
// request already outstanding, the next is refused at once with 503 and
// x-envoy-overloaded, as Envoy does.
func ExampleLimiter_RoundTripper() {
	l := pool.NewLimiter(pool.LimitsFrom(&pool.Settings{
		HTTP: &pool.HTTPSettings{HTTP2MaxRequests: 1},
	}))
	if err := l.Acquire(context.Background()); err != nil { // a request in flight elsewhere
		panic(err)
	}
	defer l.Release()

	client := &http.Client{Transport: l.RoundTripper(http.DefaultTransport)}
	resp, err := client.Get("http://reviews.example/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Envoy-Overloaded"))
	// Output: 503 true
}
