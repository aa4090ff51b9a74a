package router_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

// Istio's "Request Routing" task: route all traffic to v1, then send user
// jason to v2 by the end-user header.
const requestRouting = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
        subset: v1
`

func TestIstioTaskRequestRouting(t *testing.T) {
	f := newFixture(t, requestRouting)
	for range 100 {
		_, body := f.get("http://reviews:9080/reviews/0")
		require.Equal(t, "v1", body, "everyone but jason sees v1")
	}
	for range 100 {
		_, body := f.get("http://reviews:9080/reviews/0", "end-user", "jason")
		require.Equal(t, "v2", body, "jason sees v2")
	}
	_, body := f.get("http://reviews:9080/reviews/0", "end-user", "Jason")
	assert.Equal(t, "v1", body, "exact matches are case-sensitive")
	assert.Zero(t, f.backend["v3"].Count())
}

func TestIstioTaskTrafficShifting(t *testing.T) {
	const split = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: %d
    - destination: {host: reviews, subset: v3}
      weight: %d
`
	for _, tc := range []struct{ v1, v3 int }{{50, 50}, {90, 10}, {0, 100}, {1, 3}} {
		t.Run(fmt.Sprintf("%d/%d", tc.v1, tc.v3), func(t *testing.T) {
			f := newFixture(t, fmt.Sprintf(split, tc.v1, tc.v3), withRand(meshtest.NewRand(uint64(tc.v1))))
			const n = 10_000
			for range n {
				f.get("http://reviews:9080/")
			}
			p := float64(tc.v1) / float64(tc.v1+tc.v3)
			lo, hi := stat.BinomialInterval(n, p)
			got := f.backend["v1"].Count()
			assert.True(t, got >= lo && got <= hi, "v1 got %d of %d, want %d..%d (p=%.2f, alpha=1e-6)", got, n, lo, hi, p)
			assert.Equal(t, n, got+f.backend["v3"].Count())
			assert.Zero(t, f.backend["v2"].Count())
			if tc.v1 == 0 {
				assert.Zero(t, got, "weight 0 is never chosen")
			}
		})
	}
}

func TestThreeWaySplitFitsWeights(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 70}
    - {destination: {host: reviews, subset: v2}, weight: 20}
    - {destination: {host: reviews, subset: v3}, weight: 10}
`, withRand(meshtest.NewRand(11)))
	const n = 20_000
	for range n {
		f.get("http://reviews:9080/")
	}
	counts := []int{f.backend["v1"].Count(), f.backend["v2"].Count(), f.backend["v3"].Count()}
	ok, x, crit := stat.FitsDistribution(counts, []float64{0.7, 0.2, 0.1})
	assert.True(t, ok, "counts %v: chi-square %.1f > %.1f", counts, x, crit)
}

func TestFirstMatchingRouteWinsAndNoMatchIs404(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: ratings-prefix
    match:
    - uri: {prefix: /reviews/v3}
    route:
    - destination: {host: reviews, subset: v3}
  - name: reviews-any
    match:
    - uri: {prefix: /reviews}
    - uri: {exact: /legacy}
    route:
    - destination: {host: reviews, subset: v2}
`)
	_, body := f.get("http://reviews:9080/reviews/v3/1")
	assert.Equal(t, "v3", body, "the first matching route wins even though a later one matches too")
	_, body = f.get("http://reviews:9080/reviews/1")
	assert.Equal(t, "v2", body)
	_, body = f.get("http://reviews:9080/legacy")
	assert.Equal(t, "v2", body, "match blocks are OR'ed")
	resp, body := f.get("http://reviews:9080/other")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a known host with no matching route answers 404 (Envoy NR)")
	assert.Empty(t, body)
}

func TestMatchConditionsEndToEnd(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - method: {exact: POST}
      queryParams: {debug: {}}
    route: [{destination: {host: reviews, subset: v3}}]
  - match:
    - uri: {regex: '/reviews/[0-9]+'}
      withoutHeaders: {x-legacy: {}}
      scheme: {exact: http}
      authority: {prefix: reviews}
      port: 9080
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`)
	req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/x?debug", nil)
	_, body := f.do(req)
	assert.Equal(t, "v3", body)
	_, body = f.get("http://reviews:9080/x?debug")
	assert.Equal(t, "v1", body, "method must match too")
	_, body = f.get("http://reviews:9080/reviews/42")
	assert.Equal(t, "v2", body)
	_, body = f.get("http://reviews:9080/reviews/42", "x-legacy", "1")
	assert.Equal(t, "v1", body, "withoutHeaders excludes")
	_, body = f.get("http://reviews:9080/reviews/4x2")
	assert.Equal(t, "v1", body, "regex must match the whole path")
}

func TestSourceLabelsSelectRoutesForTheCaller(t *testing.T) {
	const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - sourceLabels: {app: productpage, version: v2}
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`
	f := newFixture(t, vs, withSourceLabels(map[string]string{"app": "productpage", "version": "v2"}))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v2", body)
	f = newFixture(t, vs, withSourceLabels(map[string]string{"app": "productpage", "version": "v1"}))
	_, body = f.get("http://reviews:9080/")
	assert.Equal(t, "v1", body)
}

func TestHostsAndWildcards(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: internal}
spec:
  hosts: [api.internal.example]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-9080}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wildcard}
spec:
  hosts: ["*.internal.example"]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
`)
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v2", body, "host with its port")
	_, body = f.get("http://REVIEWS:9080/")
	assert.Equal(t, "v2", body, "hosts are case-insensitive")
	_, body = f.get("http://api.internal.example:9080/")
	assert.Equal(t, "v1", body, "a wildcard VirtualService routes a concrete ServiceEntry host")
}

func TestHostWithoutVirtualServiceIsBalancedOverAllEndpoints(t *testing.T) {
	f := newFixture(t, "")
	seen := map[string]int{}
	for range 300 {
		_, body := f.get("http://reviews:9080/")
		seen[body]++
	}
	assert.Len(t, seen, 3, "every endpoint of the ServiceEntry gets traffic: %v", seen)
}

func TestDestinationPortSelectsServicePort(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}, {number: 9443, name: admin, targetPort: 19443}]
  resolution: STATIC
  endpoints: [{address: 10.0.1.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: ratings, port: {number: 9443}}}]
  - route: [{destination: {host: ratings}}]
`)
	admin := f.net.Add("10.0.1.1:19443", "admin", nil)
	api := f.net.Add("10.0.1.1:9080", "api", nil)
	_, body := f.get("http://ratings:9080/admin/x")
	assert.Equal(t, "admin", body, "destination port 9443 reaches the endpoint at its targetPort")
	_, body = f.get("http://ratings:9080/x")
	assert.Equal(t, "api", body, "without a destination port the request's port is used")
	resp, _ := f.get("http://ratings/x")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "port 80 is not a service port and the service has two")
	assert.Equal(t, 1, admin.Count())
	assert.Equal(t, 1, api.Count())
}
