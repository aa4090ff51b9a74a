package switchyard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// warningTexts renders a mesh's warnings one per line.
func warningTexts(ws []*switchyard.ConfigError) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Error()
	}
	return out
}

// Istio accepts routes to destinations nothing backs; so does the mesh, with
// a warning, and answers requests routed there as Envoy answers for a
// cluster it does not have: 503 with an empty body.
func TestDestinationsNothingBacksAreWarningsAnd503(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{headers: {x-to: {exact: v9}}}]
    route: [{destination: {host: reviews, subset: v9}}]
  - match: [{headers: {x-to: {exact: ratings}}}]
    route: [{destination: {host: ratings}}]
  - match: [{headers: {x-to: {exact: port}}}]
    route: [{destination: {host: reviews, port: {number: 7000}}}]
  - mirror: {host: reviews, subset: v8}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	assert.Equal(t, []string{
		`VirtualService "reviews": spec.http[0].route[0].destination: subset "v9" of host "reviews" is not defined in DestinationRule "default/reviews": requests routed here get 503 (Envoy's cluster_not_found)`,
		`VirtualService "reviews": spec.http[1].route[0].destination: no ServiceEntry defines host "ratings": requests routed here get 503 (Envoy's cluster_not_found)`,
		`VirtualService "reviews": spec.http[2].route[0].destination: host "reviews" has no port 7000; its ports are 9080: requests routed here get 503 (Envoy's cluster_not_found)`,
		`VirtualService "reviews": spec.http[3].mirror.destination: subset "v8" of host "reviews" is not defined in DestinationRule "default/reviews": nothing is mirrored`,
	}, warningTexts(f.mesh.Warnings()))

	for _, to := range []string{"v9", "ratings", "port"} {
		resp, body := f.get("http://reviews:9080/", "x-to", to)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, to)
		assert.Empty(t, body, to)
	}
	resp, body := f.get("http://reviews:9080/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "v1", body, "the mirror to nothing does not disturb the route")
	for _, b := range []string{"v2", "v3"} {
		assert.Zero(t, f.backend[b].Count())
	}

	exp := f.mesh.Explain(mustRequest(t, "http://reviews:9080/", "x-to", "v9"))
	require.Len(t, exp.Destinations, 1)
	assert.Contains(t, exp.Destinations[0].Missing, `subset "v9" of host "reviews" is not defined`)
}

func mustRequest(t *testing.T, url string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

func TestWarningsAsErrors(t *testing.T) {
	cfg := parse(t, allTo("v9"))
	_, err := switchyard.New(cfg, switchyard.WithWarningsAsErrors())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.http[0].route[0].destination: subset "v9" of host "reviews" is not defined`)
	var ce *switchyard.ConfigError
	require.ErrorAs(t, err, &ce)

	m, err := switchyard.New(parse(t, allTo("v1")), switchyard.WithWarningsAsErrors())
	require.NoError(t, err)
	defer m.Close()
	require.Error(t, m.Update(cfg), "Update refuses warnings too")
	assert.Empty(t, m.Warnings())
}

// Several DestinationRules for one host merge as Istio merges them: subsets
// concatenated, the first definition of a name and the first trafficPolicy
// kept; a rule for a host no ServiceEntry defines applies to nothing.
func TestDestinationRulesMerge(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-more, namespace: default}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v3}}
  - {name: v4, labels: {version: v4}}
  - {name: three, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nothing, namespace: default}
spec: {host: nowhere.example.com}
---
`+vs(`
  - match: [{headers: {x-to: {exact: three}}}]
    route: [{destination: {host: reviews, subset: three}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`))
	assert.Equal(t, []string{
		`DestinationRule "default/nothing": spec.host: no ServiceEntry defines host "nowhere.example.com", so this rule applies to nothing (in a cluster Istio would apply it to a Kubernetes service of that name: add a ServiceEntry that lists its endpoints)`,
		`DestinationRule "default/reviews-more": spec.subsets[0]: ignored: subset "v1" of host "reviews" is already defined by an earlier rule, and Istio keeps the first`,
		`DestinationRule "default/reviews-more": spec.subsets[1].labels: subset "v4" selects no endpoint of "reviews" (no endpoint has labels {version=v4}): requests routed to it get 503 no healthy upstream`,
	}, warningTexts(f.mesh.Warnings()))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v1", body, "the first definition of v1 wins")
	_, body = f.get("http://reviews:9080/", "x-to", "three")
	assert.Equal(t, "v3", body, "a subset only the second rule defines")
}

// Two VirtualServices for one host: Istio accepts both and gives the host
// to the first; the second's routes do not apply to it.
func TestSecondVirtualServiceForAHostIsAWarning(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first, namespace: default}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v2}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: second, namespace: default}
spec: {hosts: [REVIEWS], http: [{route: [{destination: {host: reviews, subset: v3}}]}]}`)
	assert.Equal(t, []string{
		`VirtualService "default/second": spec.hosts[0]: host "REVIEWS" is already routed by VirtualService "default/first", and Istio gives a host to its first VirtualService only: these routes do not apply to it`,
	}, warningTexts(f.mesh.Warnings()))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v2", body)
}

// exportTo: with the caller's namespace known, a resource not exported to
// it is not seen, as a sidecar in that namespace would not see it.
// A TCP route to a host nothing defines is accepted, as Istio accepts
// it, with a warning; a connection routed there fails.
func TestTCPRouteToNothingIsAWarning(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db.example.com]
  tcp:
  - route: [{destination: {host: nowhere.example.com, port: {number: 5432}}}]`)
	assert.Equal(t, []string{
		`VirtualService "default/db": spec.tcp[0].route[0].destination: no ServiceEntry defines host "nowhere.example.com": connections routed here fail (Envoy's cluster_not_found)`,
	}, warningTexts(f.mesh.Warnings()))
	_, err := f.mesh.DialContext(context.Background(), "tcp", "db.example.com:5432")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no cluster: no ServiceEntry defines host "nowhere.example.com"`)
}

func TestExportToHidesResourcesFromOtherNamespaces(t *testing.T) {
	extra := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: team-a}
spec:
  hosts: [reviews]
  exportTo: ["."]
  http: [{route: [{destination: {host: reviews, subset: v3}}]}]
`
	f := newFixture(t, extra, switchyard.WithSourceNamespace("team-a"))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v3", body, "team-a sees its own VirtualService")
	assert.Empty(t, f.mesh.Warnings())

	f = newFixture(t, extra, switchyard.WithSourceNamespace("team-b"))
	_, body = f.get("http://reviews:9080/")
	assert.Contains(t, []string{"v1", "v2", "v3"}, body, "team-b does not: the host's endpoints are balanced")
	assert.Equal(t, []string{
		`VirtualService "team-a/private": spec.exportTo: not exported to this process's namespace "team-b", so it does not apply here`,
	}, warningTexts(f.mesh.Warnings()))
}

// Redirects as Istio accepts them: any 3xx code (Envoy builds only five, a
// warning says so), and prefixRewrite on a block without uri, which Envoy
// matches as prefix "/".
func TestRedirectsIstioAccepts(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{headers: {x-old: {exact: "1"}}}]
    redirect: {prefixRewrite: /v2/}
  - redirect: {uri: /moved, redirectCode: 305}
`))
	assert.Equal(t, []string{
		`VirtualService "reviews": spec.http[1].redirect.redirectCode: 305: Envoy redirects only with 301, 302, 303, 307 and 308, so Istio builds no action for this route; switchyard answers 305 as configured`,
	}, warningTexts(f.mesh.Warnings()))
	resp, _ := f.get("http://reviews:9080/reviews/1", "x-old", "1")
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	assert.Equal(t, "http://reviews:9080/v2/reviews/1", resp.Header.Get("Location"))
	resp, _ = f.get("http://reviews:9080/reviews/1")
	assert.Equal(t, http.StatusUseProxy, resp.StatusCode)
	assert.Equal(t, "http://reviews:9080/moved", resp.Header.Get("Location"))
}

// loadBalancer PASSTHROUGH on a ServiceEntry with endpoints: requests go to
// the address they name, as Envoy's ORIGINAL_DST cluster sends them.
// (New used to panic on it.)
func TestPassthroughBalancerOnStaticEntry(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-pt, namespace: other}
spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}`, switchyard.WithSourceNamespace("other"))
	exp := f.mesh.Explain(mustRequest(t, "http://reviews:9080/"))
	require.Len(t, exp.Destinations, 1)
	assert.Equal(t, "(the address the request names)", exp.Destinations[0].Pick)
	var st switchyard.AdminState
	getJSON(t, f.mesh.AdminHandler(), "/state", &st)
	assert.NotEmpty(t, st.Clusters)
}

// A short host in a VirtualService or DestinationRule means, as in Istio,
// <name>.<namespace>.svc.cluster.local when that service is known; else it
// binds to a ServiceEntry that declares the short name itself.
func TestShortNamesResolveInTheResourcesNamespace(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.2, labels: {version: v2}}
  - {address: 10.0.0.3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  subsets: [{name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: shop}
spec:
  hosts: [front.example.com]
  http:
  - match: [{uri: {prefix: /ratings}}]
    route: [{destination: {host: ratings, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v1}}]`)
	assert.Empty(t, f.mesh.Warnings())
	_, body := f.get("http://front.example.com:9080/ratings")
	assert.Equal(t, "v3", body, "ratings in namespace shop is ratings.shop.svc.cluster.local, its rule too")
	_, body = f.get("http://front.example.com:9080/")
	assert.Equal(t, "v1", body, "reviews has no full-name service: the entry declaring reviews binds")

	f = newFixture(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.2, labels: {version: v2}}, {address: 10.0.0.3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http: [{route: [{destination: {host: ratings.shop.svc.cluster.local, port: {number: 9080}}, weight: 100}], fault: {abort: {httpStatus: 418, percentage: {value: 100}}}}]`)
	resp, _ := f.get("http://ratings.shop.svc.cluster.local:9080/")
	assert.Equal(t, 418, resp.StatusCode, "a VirtualService for the short name routes the full name too")
}

// A caller names a Kubernetes-style service as a sidecar's virtual host
// lets it: the full name, name.namespace, name.namespace.svc, and the bare
// name from its own namespace.
func TestServiceNamesAsASidecarsVirtualHostDomains(t *testing.T) {
	extra := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.3, labels: {version: v3}}]`
	f := newFixture(t, extra, switchyard.WithSourceNamespace("shop"))
	for _, host := range []string{"ratings.shop.svc.cluster.local", "ratings.shop.svc", "ratings.shop", "ratings"} {
		_, body := f.get("http://" + host + ":9080/")
		assert.Equal(t, "v3", body, host)
	}
	f = newFixture(t, extra, switchyard.WithSourceNamespace("front"))
	_, body := f.get("http://ratings.shop:9080/")
	assert.Equal(t, "v3", body, "name.namespace from another namespace")
	exp := f.mesh.Explain(mustRequest(t, "http://ratings:9080/"))
	assert.Empty(t, exp.Destinations, "the bare name is the caller's own namespace's, where there is no ratings")

	f = newFixture(t, strings.ReplaceAll(extra, "svc.cluster.local", "svc.corp.internal"),
		switchyard.WithSourceNamespace("shop"), switchyard.WithClusterDomain("corp.internal"))
	_, body = f.get("http://ratings:9080/")
	assert.Equal(t, "v3", body, "under the cluster domain the option gives")
}
