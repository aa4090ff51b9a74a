package switchyard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

// Istio's fault-injection task: an abort for user jason never reaches the
// upstream and is not retried.
func TestIstioTaskFaultAbort(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`))
	resp, body := f.get("http://reviews:9080/", "end-user", "jason")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, "fault filter abort", body)
	assert.Zero(t, f.backend["v1"].Count(), "an abort is answered before any upstream, never retried")
	_, body = f.get("http://reviews:9080/")
	assert.Equal(t, "v1", body)
}

// DESIGN.md: an injected delay counts against the route timeout, as a user
// testing a timeout expects: delay 3s behind timeout 2s → 504 at 2s.
func TestIstioTaskFaultDelayAgainstRouteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - fault: {delay: {fixedDelay: 3s, percentage: {value: 100}}}
    timeout: 2s
    route: [{destination: {host: reviews, subset: v1}}]
`))
		start := time.Now()
		resp, body := f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, "upstream request timeout", body)
		assert.Equal(t, 2*time.Second, time.Since(start))
		assert.Zero(t, f.backend["v1"].Count())
	})
}

func TestFaultDelayWithoutTimeoutForwards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - fault: {delay: {fixedDelay: 7s, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
`))
		start := time.Now()
		_, body := f.get("http://reviews:9080/")
		assert.Equal(t, "v1", body)
		assert.Equal(t, 7*time.Second, time.Since(start))
	})
}

func TestFaultPercentageThroughTheMesh(t *testing.T) {
	f := newFixture(t, vs(`
  - fault: {abort: {httpStatus: 503, percentage: {value: 20}}}
    retries: {attempts: 0}
    route: [{destination: {host: reviews, subset: v1}}]
`), switchyard.WithRand(meshtest.NewRand(3)))
	const n = 5000
	aborted := 0
	for range n {
		if resp, _ := f.get("http://reviews:9080/"); resp.StatusCode == 503 {
			aborted++
		}
	}
	lo, hi := stat.BinomialInterval(n, 0.2)
	assert.True(t, aborted >= lo && aborted <= hi, "aborted %d of %d, want %d..%d", aborted, n, lo, hi)
	assert.Equal(t, n-aborted, f.backend["v1"].Count())
}

func TestRetriesRescueAFlakyEndpointWithExactAttempts(t *testing.T) {
	f := newFixture(t, vs(`
  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v1}}]
`), switchyard.WithRand(rng.NewSequence(0)))
	f.backend["v1"].FailFirst(2, 503)
	resp, body := f.get("http://reviews:9080/")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "v1", body)
	reqs := f.backend["v1"].Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []string{"", "2", "3"}, []string{reqs[0].Header.Get("X-Envoy-Attempt-Count"), reqs[1].Header.Get("X-Envoy-Attempt-Count"), reqs[2].Header.Get("X-Envoy-Attempt-Count")})

	f.backend["v1"].Reset()
	f.backend["v1"].Respond(503)
	resp, _ = f.get("http://reviews:9080/")
	assert.Equal(t, 503, resp.StatusCode, "retries exhausted: the last upstream response")
	assert.Equal(t, 4, f.backend["v1"].Count(), "attempts: 3 → 1+3 requests")
}

func TestRetriesAvoidPreviousHosts(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 1, retryOn: 5xx}, route: [{destination: {host: ratings}}]}]
`, switchyard.WithRand(meshtest.NewRand(1)))
	f.backend["v1"].Respond(503)
	for range 50 {
		resp, body := f.get("http://ratings:9080/")
		require.Equal(t, 200, resp.StatusCode, "a retry goes to the other endpoint")
		require.Equal(t, "v2", body)
	}
}

func TestDefaultRetryPolicyRetriesConnectFailuresOnly(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.9}]
`, switchyard.WithRand(meshtest.NewRand(2)))
	// 10.0.0.9 has no backend: connections to it are refused.
	for range 100 {
		resp, _ := f.get("http://ratings:9080/")
		require.Equal(t, 200, resp.StatusCode, "Istio's default policy retries connect failures on another endpoint")
	}
	f.backend["v1"].Respond(503)
	f.backend["v2"].Respond(503)
	resp, _ := f.get("http://ratings:9080/")
	assert.Equal(t, 503, resp.StatusCode, "a real 503 is not retried by default since Istio 1.24")
}

func TestPerTryTimeoutsUnderARouteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - timeout: 2500ms
    retries: {attempts: 5, perTryTimeout: 1s, retryOn: gateway-error}
    route: [{destination: {host: reviews, subset: v1}}]
`), switchyard.WithRand(rng.NewSequence(0)))
		f.backend["v1"].Hang()
		start := time.Now()
		resp, body := f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, "upstream request timeout", body)
		assert.Equal(t, 2500*time.Millisecond, time.Since(start), "the route timeout covers every attempt")
		assert.Equal(t, 3, f.backend["v1"].Count(), "attempts at 0s, 1s and 2s")
	})
}

func TestPerTryTimeoutNotRetriedByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - retries: {attempts: 2, perTryTimeout: 1s}
    route: [{destination: {host: reviews, subset: v1}}]
`))
		f.backend["v1"].Hang()
		resp, _ := f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, 1, f.backend["v1"].Count(), "default retryOn has no 5xx, gateway-error or reset")
	})
}

// Istio's circuit-breaking task: maxConnections 1, http1MaxPendingRequests 1:
// one request active, one pending, the next overflows at once with 503 and
// x-envoy-overloaded, is not retried and does not count for ejection.
func TestIstioTaskCircuitBreaking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  ports: [{number: 8000, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, ports: {http: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http: [{retries: {attempts: 3, retryOn: 5xx}, route: [{destination: {host: httpbin}}]}]
`)
		f.backend["v1"].Delay(time.Second)
		var wg sync.WaitGroup
		codes := make(chan int, 2)
		for range 2 {
			wg.Go(func() {
				resp, _ := f.get("http://httpbin:8000/get")
				codes <- resp.StatusCode
			})
			synctest.Wait()
		}
		resp, body := f.get("http://httpbin:8000/get")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "true", resp.Header.Get("X-Envoy-Overloaded"))
		assert.Equal(t, "upstream connect error or disconnect/reset before headers. reset reason: overflow", body)
		wg.Wait()
		close(codes)
		for c := range codes {
			assert.Equal(t, 200, c, "the active and the pending request both succeed")
		}
		assert.Equal(t, 2, f.backend["v1"].Count(), "the overflow was neither sent nor retried")
		resp, _ = f.get("http://httpbin:8000/get")
		assert.Equal(t, 200, resp.StatusCode, "and it did not eject the endpoint")
	})
}

const ejectionMesh = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 0}, route: [{destination: {host: ratings}}]}]
`

func TestOutlierEjectionAndReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, ejectionMesh, switchyard.WithRand(meshtest.NewRand(4)))
		f.backend["v2"].Respond(500)
		fails := 0
		for range 60 {
			if resp, _ := f.get("http://ratings:9080/"); resp.StatusCode == 500 {
				fails++
			}
		}
		assert.Equal(t, 3, fails, "ejected the moment its third consecutive 5xx arrived")
		f.backend["v2"].Reset()
		for range 60 {
			f.get("http://ratings:9080/")
		}
		assert.Zero(t, f.backend["v2"].Count(), "an ejected endpoint gets no traffic")

		time.Sleep(29 * time.Second)
		synctest.Wait()
		f.backend["v2"].Respond(200)
		for range 60 {
			f.get("http://ratings:9080/")
		}
		assert.Zero(t, f.backend["v2"].Count(), "still ejected at 29s")
		time.Sleep(time.Second) // the sweep at 30s returns it
		synctest.Wait()
		for range 60 {
			f.get("http://ratings:9080/")
		}
		assert.NotZero(t, f.backend["v2"].Count(), "returned after baseEjectionTime, on the interval sweep")
	})
}

func TestAllEjectedAnswersNoHealthyUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, ejectionMesh)
		for _, v := range []string{"v1", "v2", "v3"} {
			f.backend[v].Respond(503)
		}
		for range 9 {
			f.get("http://ratings:9080/")
		}
		resp, body := f.get("http://ratings:9080/")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "no healthy upstream", body, "minHealthPercent 0: no panic mode")
	})
}

func TestEjectionSurvivesUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, ejectionMesh, switchyard.WithRand(meshtest.NewRand(5)))
		f.backend["v2"].Respond(500)
		for range 60 {
			f.get("http://ratings:9080/")
		}
		require.NoError(t, f.mesh.Update(parse(t, ejectionMesh)))
		f.backend["v2"].Reset()
		for range 60 {
			f.get("http://ratings:9080/")
		}
		assert.Zero(t, f.backend["v2"].Count(), "still ejected after the update")
	})
}

func TestMirroring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`))
		f.backend["v2"].Hang() // the caller never waits for the mirror
		req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/reviews?x=1", strings.NewReader("payload"))
		req.Header.Set("X-Trace", "t1")
		resp, body := f.do(req)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "v1", body)
		synctest.Wait()
		mirrored := f.backend["v2"].Requests()
		require.Len(t, mirrored, 1)
		m := mirrored[0]
		assert.Equal(t, "POST", m.Method)
		assert.Equal(t, "http://10.0.0.2:9080/reviews?x=1", m.URL)
		assert.Equal(t, "reviews:9080", m.Host, "no -shadow suffix (Istio ≥ 1.28)")
		assert.Equal(t, "t1", m.Header.Get("X-Trace"))
		assert.Equal(t, "payload", string(m.Body))
		assert.Equal(t, "payload", string(f.backend["v1"].Requests()[0].Body))
		require.NoError(t, f.mesh.Close()) // cancels the hung copy and waits for it
	})
}

func TestMirrorPercentage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
    mirrors:
    - destination: {host: reviews, subset: v2}
      percentage: {value: 25}
    - destination: {host: reviews, subset: v3}
`), switchyard.WithRand(meshtest.NewRand(8)), switchyard.WithMirrorConcurrency(100_000))
		const n = 4000
		for range n {
			f.get("http://reviews:9080/")
		}
		synctest.Wait()
		lo, hi := stat.BinomialInterval(n, 0.25)
		got := f.backend["v2"].Count()
		assert.True(t, got >= lo && got <= hi, "mirrored %d of %d, want %d..%d", got, n, lo, hi)
		assert.Equal(t, n, f.backend["v3"].Count(), "percentage absent: 100%")
	})
}

func TestMirrorsAreBoundedAndDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`), switchyard.WithMirrorConcurrency(4), switchyard.WithBodyLimit(4))
		f.backend["v2"].Hang()
		for range 5 {
			f.get("http://reviews:9080/")
		}
		req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/", strings.NewReader("larger than four"))
		_, body := f.do(req)
		assert.Equal(t, "v1", body, "a body past the limit is still sent upstream, once")
		assert.Equal(t, "larger than four", string(f.backend["v1"].Requests()[5].Body))
		synctest.Wait()
		assert.Equal(t, 2, f.backend["v2"].Count(), "one cluster holds half of the 4 slots; the rest are dropped")
	})
}

func TestRetryBodyLimit(t *testing.T) {
	f := newFixture(t, vs(`
  - retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v1}}]
`), switchyard.WithBodyLimit(8), switchyard.WithRand(rng.NewSequence(0)))
	f.backend["v1"].FailFirst(1, 503)
	req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/", io.NopCloser(strings.NewReader("0123456789")))
	resp, _ := f.do(req)
	assert.Equal(t, 503, resp.StatusCode, "a body past the limit is sent once and not retried")
	assert.Equal(t, 1, f.backend["v1"].Count())

	f.backend["v1"].Reset()
	f.backend["v1"].FailFirst(1, 503)
	req, _ = http.NewRequest(http.MethodPost, "http://reviews:9080/", io.NopCloser(strings.NewReader("small")))
	resp, _ = f.do(req)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "small", string(f.backend["v1"].Requests()[1].Body))
}

func TestMaxRetriesLimitsConcurrentRetries(t *testing.T) {
	// Two requests fail at once; maxRetries 1 lets one retry while the
	// other's failure is returned as it is.
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {connectionPool: {http: {maxRetries: 1}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 1, retryOn: 5xx}, route: [{destination: {host: ratings}}]}]
`, switchyard.WithRand(rng.NewSequence(0)))
		f.backend["v1"].Respond(503).Delay(time.Second)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				resp, _ := f.get("http://ratings:9080/")
				assert.Equal(t, 503, resp.StatusCode)
			})
		}
		wg.Wait()
		assert.Equal(t, 3, f.backend["v1"].Count(), "two first attempts and one retry; the second retry overflowed")
	})
}

func TestGRPCAbortThroughTheMesh(t *testing.T) {
	f := newFixture(t, vs(`
  - fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://reviews:9080/reviews.Reviews/Get", nil)
	req.Header.Set("Content-Type", "application/grpc")
	resp, _ := f.do(req)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "14", resp.Header.Get("Grpc-Status"))
	assert.Equal(t, fmt.Sprint(0), fmt.Sprint(f.backend["v1"].Count()))
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestRequestBodyClosedWhenNothingIsSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, ejectionMesh)
		for _, v := range []string{"v1", "v2", "v3"} {
			f.backend[v].Respond(503)
		}
		for range 9 {
			f.get("http://ratings:9080/")
		}
		body := &closeTracker{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest(http.MethodPost, "http://ratings:9080/", body)
		// With GetBody the first attempt would send the body itself, so
		// nothing else closes it when no attempt is sent.
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
		resp, _ := f.do(req)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.True(t, body.closed, "no healthy upstream: the body is closed all the same")
	})
}

func TestExplainShowsEjectionsAndOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, ejectionMesh)
		f.backend["v2"].Respond(500)
		for range 30 {
			f.get("http://ratings:9080/")
		}
		req, _ := http.NewRequest(http.MethodGet, "http://ratings:9080/x", nil)
		e := f.mesh.Explain(req)
		assert.Equal(t, "forward", e.Action)
		require.Len(t, e.Destinations, 1)
		states := map[string]bool{}
		for _, ep := range e.Destinations[0].Endpoints {
			states[ep.Address] = ep.Available
		}
		assert.Equal(t, map[string]bool{"10.0.0.1:9080": true, "10.0.0.2:9080": false, "10.0.0.3:9080": true}, states)
		assert.Contains(t, e.String(), "10.0.0.2:9080 weight 1 active 0 ejected")
		assert.NotEqual(t, "10.0.0.2:9080", e.Destinations[0].Pick)

		other, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		assert.Equal(t, "passthrough", f.mesh.Explain(other).Action)
	})
}

func TestExplainNoRoute(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{uri: {exact: /only}}]
    route: [{destination: {host: reviews, subset: v1}}]
`))
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/other", nil)
	e := f.mesh.Explain(req)
	assert.Equal(t, "no route (404)", e.Action)
	assert.Equal(t, []string{`match[0]: uri "/other" does not match exact "/only"`}, e.Routes[0].Why)
	assert.Contains(t, e.String(), "→ no route (404)")
}
