package router_test

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

func localityMesh(trafficPolicy string) string {
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, locality: us-east/a/1}
  - {address: 10.0.0.2, locality: us-east/b/1}
  - {address: 10.0.0.3, locality: us-west/a/1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
` + trafficPolicy + `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 0}, route: [{destination: {host: ratings}}]}]
`
}

func counts(f *fixture, n int) map[string]int {
	for _, b := range f.backend {
		b.Reset()
	}
	for range n {
		f.get("http://ratings:9080/")
	}
	out := map[string]int{}
	for v, b := range f.backend {
		out[v] = b.Count()
	}
	return out
}

func TestLocalityFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, localityMesh(`    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}`),
			withLocality("us-east/a/1"), withRand(meshtest.NewRand(3)))
		assert.Equal(t, map[string]int{"v1": 100, "v2": 0, "v3": 0}, counts(f, 100), "all healthy: the caller's own locality takes everything")

		f.backend["v1"].Respond(503)
		f.get("http://ratings:9080/") // ejects v1
		f.backend["v1"].Respond(200)
		assert.Equal(t, map[string]int{"v1": 0, "v2": 100, "v3": 0}, counts(f, 100), "then the same region")

		f.backend["v2"].Respond(503)
		f.get("http://ratings:9080/")
		f.backend["v2"].Respond(200)
		assert.Equal(t, map[string]int{"v1": 0, "v2": 0, "v3": 100}, counts(f, 100), "then other regions")
	})
}

func TestLocalityNeedsOutlierDetectionAndACallerLocality(t *testing.T) {
	f := newFixture(t, localityMesh(`    loadBalancer: {simple: ROUND_ROBIN}`), withLocality("us-east/a/1"))
	assert.Equal(t, map[string]int{"v1": 10, "v2": 10, "v3": 10}, counts(f, 30), "without outlier detection locality has no effect")
	g := newFixture(t, localityMesh(`    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 5}`))
	assert.Equal(t, map[string]int{"v1": 10, "v2": 10, "v3": 10}, counts(g, 30), "without WithLocality it is off")
	h := newFixture(t, localityMesh(`    loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: false}}
    outlierDetection: {consecutive5xxErrors: 5}`), withLocality("us-east/a/1"))
	assert.Equal(t, map[string]int{"v1": 10, "v2": 10, "v3": 10}, counts(h, 30), "enabled: false turns it off")
}

func TestLocalityDistribute(t *testing.T) {
	f := newFixture(t, localityMesh(`    loadBalancer:
      localityLbSetting:
        distribute:
        - from: us-east/*
          to: {"us-east/a/*": 70, "us-west/*": 30}`), withLocality("us-east/a/1"), withRand(meshtest.NewRand(12)))
	const n = 5000
	c := counts(f, n)
	lo, hi := stat.BinomialInterval(n, 0.3)
	assert.True(t, c["v3"] >= lo && c["v3"] <= hi, "us-west got %d of %d, want %d..%d", c["v3"], n, lo, hi)
	assert.Zero(t, c["v2"], "a locality not listed gets no traffic")
	assert.Equal(t, n, c["v1"]+c["v3"])
}

func TestRetryRemoteLocalities(t *testing.T) {
	f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, locality: us-east/a/1}
  - {address: 10.0.0.2, locality: us-east/a/1}
  - {address: 10.0.0.3, locality: us-west/a/1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 1, retryOn: 5xx, retryRemoteLocalities: true}, route: [{destination: {host: ratings}}]}]
`, withRand(meshtest.NewRand(2)))
	f.backend["v1"].Respond(503)
	f.backend["v2"].Respond(503)
	for range 30 {
		resp, body := f.get("http://ratings:9080/")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "v3", body, "a retry leaves the locality it failed in")
	}
}
