package router_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func spread(t *testing.T, f *fixture, requests func(key string) string, keys, per int) map[string]string {
	t.Helper()
	owner := map[string]string{}
	for k := range keys {
		key := fmt.Sprintf("user-%d", k)
		for range per {
			got := requests(key)
			if prev, ok := owner[key]; ok {
				require.Equal(t, prev, got, "key %s must stick to one endpoint", key)
			}
			owner[key] = got
		}
	}
	return owner
}

func distinct(m map[string]string) int {
	seen := map[string]bool{}
	for _, v := range m {
		seen[v] = true
	}
	return len(seen)
}

func TestConsistentHashStickiness(t *testing.T) {
	for _, tc := range []struct {
		name, lb string
		get      func(f *fixture, key string) string
	}{
		{"header ring", `    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`, func(f *fixture, key string) string {
			_, b := f.get("http://ratings:9080/", "x-user", key)
			return b
		}},
		{"header maglev", `    loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}`, func(f *fixture, key string) string {
			_, b := f.get("http://ratings:9080/", "x-user", key)
			return b
		}},
		{"query parameter", `    loadBalancer: {consistentHash: {httpQueryParameterName: user, ringHash: {minimumRingSize: 2048}}}`, func(f *fixture, key string) string {
			_, b := f.get("http://ratings:9080/?user=" + key)
			return b
		}},
		{"cookie", `    loadBalancer: {consistentHash: {httpCookie: {name: session}}}`, func(f *fixture, key string) string {
			_, b := f.get("http://ratings:9080/", "Cookie", "session="+key)
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, hashedMesh(tc.lb))
			owner := spread(t, f, func(k string) string { return tc.get(f, k) }, 60, 4)
			assert.Equal(t, 3, distinct(owner), "keys spread over every endpoint")
		})
	}
}

func TestConsistentHashWithoutKeyIsRandom(t *testing.T) {
	f := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`))
	seen := map[string]bool{}
	for range 60 {
		_, b := f.get("http://ratings:9080/")
		seen[b] = true
	}
	assert.Len(t, seen, 3, "no key: a random pick, as Envoy")
}

func TestConsistentHashSourceIP(t *testing.T) {
	f := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {useSourceIp: true}}`), withSourceIP("192.0.2.7"))
	_, first := f.get("http://ratings:9080/")
	for range 30 {
		_, b := f.get("http://ratings:9080/")
		require.Equal(t, first, b, "one caller, one address, one endpoint")
	}
}

func TestConsistentHashCookieGeneration(t *testing.T) {
	f := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpCookie: {name: affinity, path: /, ttl: 90s, attributes: [{name: SameSite, value: Strict}]}}}`))
	resp, first := f.get("http://ratings:9080/")
	setCookie := resp.Header.Get("Set-Cookie")
	require.NotEmpty(t, setCookie, "no cookie and a ttl: the mesh generates one")
	assert.Contains(t, setCookie, "Max-Age=90")
	assert.Contains(t, setCookie, "Path=/")
	assert.Contains(t, setCookie, "HttpOnly")
	assert.Contains(t, setCookie, "SameSite=Strict")
	value := strings.SplitN(strings.SplitN(setCookie, ";", 2)[0], "=", 2)[1]
	for range 20 {
		resp, b := f.get("http://ratings:9080/", "Cookie", "affinity="+value)
		require.Equal(t, first, b, "the generated cookie pins the endpoint")
		require.Empty(t, resp.Header.Get("Set-Cookie"), "a request with the cookie gets no new one")
	}

	s := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpCookie: {name: affinity, ttl: 0s}}}`))
	resp, _ = s.get("http://ratings:9080/")
	assert.NotContains(t, resp.Header.Get("Set-Cookie"), "Max-Age", "ttl 0s: a session cookie")
	assert.NotEmpty(t, resp.Header.Get("Set-Cookie"))

	n := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpCookie: {name: affinity}}}`))
	resp, _ = n.get("http://ratings:9080/")
	assert.Empty(t, resp.Header.Get("Set-Cookie"), "no ttl: no cookie is generated")
}

func TestConsistentHashKeysMoveOffAnEjectedEndpointAndComeBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 100}
`)+`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 0}, route: [{destination: {host: ratings}}]}]
`)
		get := func(k string) string { _, b := f.get("http://ratings:9080/", "x-user", k); return b }
		before := spread(t, f, get, 60, 1)
		var victim string
		for _, v := range before {
			victim = v
			break
		}
		f.backend[victim].Respond(503)
		for k, v := range before {
			if v == victim {
				get(k) // one 503 ejects it
				break
			}
		}
		f.backend[victim].Respond(200)
		during := spread(t, f, get, 60, 1)
		for k, v := range before {
			if v == victim {
				assert.NotEqual(t, victim, during[k], "an ejected endpoint's keys move to others")
			}
		}
		// (Envoy's ring is rebuilt over the endpoints left, and its rescaling
		// moves a few other keys between them too; see the balancer tests.)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Equal(t, before, spread(t, f, get, 60, 1), "after its return the keys come back exactly")
	})
}

func TestConsistentHashRetriesKeepAffinity(t *testing.T) {
	const vsRetry = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http: [{retries: {attempts: 2, retryOn: 5xx %s}, route: [{destination: {host: ratings}}]}]
`
	f := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+fmt.Sprintf(vsRetry, ""))
	_, owner := f.get("http://ratings:9080/", "x-user", "k")
	f.backend[owner].Reset()
	f.backend[owner].FailFirst(2, 503)
	_, b := f.get("http://ratings:9080/", "x-user", "k")
	assert.Equal(t, owner, b)
	assert.Equal(t, 3, f.backend[owner].Count(), "Istio keeps affinity: retries go to the key's endpoint")

	g := newFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+fmt.Sprintf(vsRetry, ", retryIgnorePreviousHosts: true"))
	_, owner = g.get("http://ratings:9080/", "x-user", "k")
	g.backend[owner].Respond(503)
	resp, b := g.get("http://ratings:9080/", "x-user", "k")
	assert.Equal(t, 200, resp.StatusCode)
	assert.NotEqual(t, owner, b, "retryIgnorePreviousHosts: true moves along the ring")
}
