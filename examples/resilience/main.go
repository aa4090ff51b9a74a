// Command resilience shows switchyard's resilience on in-memory backends as a
// timeline: fault injection, a route timeout cutting a slow call, retries
// rescuing a flaky endpoint, a failing endpoint ejected by outlier detection
// and returning, and connection-pool overflow. It runs in about two seconds.
//
//	go run ./examples/resilience
package main

import (
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

//go:embed mesh.yaml
var manifests []byte

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Printf("[%6.3fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "resilience:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := switchyard.Parse(manifests)
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()

	net := meshtest.NewNetwork()
	r1 := net.Add("10.0.0.1:9080", "ratings-1", nil)
	r2 := net.Add("10.0.0.2:9080", "ratings-2", nil)
	r3 := net.Add("10.0.0.3:9080", "ratings-3", nil)
	bin := net.Add("10.0.1.1:8000", "httpbin", nil)
	client := &http.Client{Transport: mesh.Transport(net.Transport())}

	get := func(url, user string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.Header.Set("End-User", user)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error(), nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
	}

	fmt.Println("== fault injection: user tester gets an abort, never reaching ratings")
	code, body, _ := get("http://ratings:9080/ratings/1", "tester")
	logf("tester -> %d %q (upstream requests: %d)", code, body, r1.Count()+r2.Count()+r3.Count())
	code, body, _ = get("http://ratings:9080/ratings/1", "alice")
	logf("alice  -> %d %q", code, body)

	fmt.Println("\n== route timeout: /slow has 300ms, ratings answers in 1s")
	for _, b := range []*meshtest.Backend{r1, r2, r3} {
		b.Delay(time.Second)
	}
	t0 := time.Now()
	code, body, _ = get("http://ratings:9080/slow", "")
	logf("/slow  -> %d %q after %v", code, body, time.Since(t0).Round(10*time.Millisecond))
	for _, b := range []*meshtest.Backend{r1, r2, r3} {
		b.Heal()
	}

	fmt.Println("\n== retries: ratings-2 fails its next 2 requests; retries on 5xx rescue them")
	r2.FailFirst(2, http.StatusServiceUnavailable)
	for i := range 4 {
		before := r1.Count() + r2.Count() + r3.Count()
		code, body, _ = get("http://ratings:9080/ratings/1", "")
		logf("request %d -> %d %q (%d attempt(s))", i+1, code, body, r1.Count()+r2.Count()+r3.Count()-before)
	}

	fmt.Println("\n== outlier detection: ratings-3 starts failing; 3 consecutive 5xx eject it for 1s")
	r3.Reset()
	r3.Respond(http.StatusInternalServerError)
	ok := 0
	for range 12 {
		if code, _, _ := get("http://ratings:9080/ratings/1", ""); code == http.StatusOK {
			ok++
		}
	}
	logf("12 requests, %d answered 200: ratings-3 received %d, all failed (each rescued by a retry), and was ejected", ok, r3.Count())
	r3.Reset()
	for range 30 {
		get("http://ratings:9080/ratings/1", "")
	}
	logf("30 more requests: ratings-3 received %d (ejected)", r3.Count())
	r3.Respond(http.StatusOK)
	time.Sleep(1300 * time.Millisecond)
	for range 30 {
		get("http://ratings:9080/ratings/1", "")
	}
	logf("after baseEjectionTime, 30 more requests: ratings-3 received %d (returned)", r3.Count())

	fmt.Println("\n== circuit breaking: httpbin allows 1 connection and 1 pending request")
	bin.Delay(500 * time.Millisecond)
	var wg sync.WaitGroup
	results := make([]string, 3)
	for i := range 3 {
		wg.Go(func() {
			code, _, h := get("http://httpbin:8000/get", "")
			results[i] = fmt.Sprintf("%d overloaded=%q", code, h.Get("X-Envoy-Overloaded"))
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for i, r := range results {
		logf("concurrent request %d -> %s", i+1, r)
	}
	logf("httpbin received %d requests: the overflow was answered at once, not sent", bin.Count())
	return nil
}
