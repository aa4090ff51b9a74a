package switchyard_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestParseAllKindsAndVersions(t *testing.T) {
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: a}
spec: {hosts: [a], ports: [{number: 80, name: p80}], resolution: DNS}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: a}
spec: {host: a, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: prod}
spec:
  hosts: [a]
  http:
  - name: main
    timeout: 1.5s
    route: [{destination: {host: a}}]
---
`))
	require.NoError(t, err)
	require.Len(t, cfg.ServiceEntries, 1)
	require.Len(t, cfg.DestinationRules, 1)
	require.Len(t, cfg.VirtualServices, 1)
	assert.Equal(t, "ROUND_ROBIN", string(cfg.DestinationRules[0].TrafficPolicy.LoadBalancer.Simple))
	assert.Equal(t, "prod", cfg.VirtualServices[0].Namespace)
	assert.Equal(t, "1.5s", cfg.VirtualServices[0].HTTP[0].Timeout.String())
	_, err = switchyard.New(cfg)
	assert.NoError(t, err)
}

func TestParseJSONAndKubernetesList(t *testing.T) {
	cfg, err := switchyard.Parse([]byte(`{
  "apiVersion": "v1", "kind": "List",
  "items": [
    {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
     "metadata": {"name": "a", "uid": "123", "resourceVersion": "9", "creationTimestamp": "2026-01-01T00:00:00Z",
                  "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
     "spec": {"hosts": ["a"], "ports": [{"number": 80}], "resolution": "DNS"},
     "status": {"validationMessages": []}}
  ]}`))
	require.NoError(t, err)
	require.Len(t, cfg.ServiceEntries, 1)
	assert.Equal(t, "a", cfg.ServiceEntries[0].Name)
}

func TestParseFilesNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mesh.yaml")
	require.NoError(t, os.WriteFile(p, []byte("apiVersion: networking.istio.io/v1\nkind: VirtualSrvice\nmetadata: {name: g}\nspec: {}\n"), 0o600))
	_, err := switchyard.ParseFiles(p, filepath.Join(dir, "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+`: document 1 (VirtualSrvice "g"): kind: "VirtualSrvice" is not supported; use ServiceEntry, DestinationRule, VirtualService, Gateway or Sidecar`)
	assert.Contains(t, err.Error(), "missing.yaml: no such file or directory")
}

// TestInvalidManifests is the catalogue of bad input: each manifest with the
// exact error a user sees, naming the document, resource, field and what to
// do. The 36-line Bookinfo fixture is prepended, so the manifest under test
// is document 3 and starts at line 39.
func TestInvalidManifests(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"misspelt field with suggestion", vs(`
  - route: [{destination: {hots: reviews}}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].route[0].destination.hots: unknown field (did you mean "host"?) (line 47)`},
		{"unknown field without suggestion", vs(`
  - route: [{destination: {host: reviews}}]
    retryPolicy: {}`),
			`document 3 (VirtualService "reviews"): spec.http[0].retryPolicy: unknown field (line 48)`},
		{"wrong type", vs(`
  - route: [{destination: {host: reviews}, weight: heavy}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].route[0].weight: expected an integer, got the string "heavy" (line 47)`},
		{"unquoted number where a string is needed", vs(`
  - match: [{headers: {x-version: {exact: 2}}}]
    route: [{destination: {host: reviews}}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].match[0].headers["x-version"].exact: expected a string, got the integer 2; quote it: "2" (line 47)`},
		{"bad duration", vs(`
  - timeout: 10 seconds
    route: [{destination: {host: reviews}}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].timeout: "10 seconds" is not a duration; write it like "1.5s", "100ms" or "5m" (line 47)`},
		{"negative duration", vs(`
  - timeout: -1s
    route: [{destination: {host: reviews}}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].timeout: "-1s": a duration must not be negative (line 47)`},
		{"unknown kind", `apiVersion: networking.istio.io/v1
kind: DestinationRules
metadata: {name: s}
spec: {}`,
			`document 3 (DestinationRules "s"): kind: "DestinationRules" is not supported; use ServiceEntry, DestinationRule, VirtualService, Gateway or Sidecar`},
		{"wrong apiVersion", `apiVersion: networking.istio.io/v2
kind: VirtualService
metadata: {name: x}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}`,
			`document 3 (VirtualService "x"): apiVersion: "networking.istio.io/v2" is not supported; use networking.istio.io/v1, v1beta1 or v1alpha3`},
		{"missing name", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {namespace: x}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}`,
			`document 3 (VirtualService): metadata.name: required`},
		{"unsupported Istio field", vs(`
  - route: [{destination: {host: reviews}}]
    corsPolicy: {allowOrigins: [{exact: "*"}]}`),
			`document 3 (VirtualService "reviews"): spec.http[0].corsPolicy: not supported: corsPolicy is enforced by the server-side proxy for browsers and has no meaning for an in-process client; remove it (line 48)`},
		{"duplicate field", vs(`
  - route: [{destination: {host: reviews, host: ratings}}]`),
			`document 3 (VirtualService "reviews"): spec.http[0].route[0].destination.host: duplicate field (line 47)`},
		{"broken YAML", "kind: [unclosed",
			// Syntax errors carry the YAML parser's own line, which is
			// not always the offending one (here 38 for line 39).
			`document 3: line 38: did not find expected ',' or ']'`},
		{"not an object", "- a\n- b",
			`document 3: expected a resource (an object with apiVersion, kind, metadata and spec), got a list (line 39)`},
		{"bad regex", vs(`
  - match: [{uri: {regex: "/reviews/(["}}]
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].match[0].uri.regex: invalid RE2 expression "/reviews/([": missing closing ]: ` + "`[`"},
		{"two oneof fields", vs(`
  - match: [{uri: {exact: /a, prefix: /a}}]
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].match[0].uri: exact, prefix and regex are mutually exclusive; set one`},
		{"weights sum to zero", vs(`
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 0}
    - {destination: {host: reviews, subset: v2}, weight: 0}`),
			`VirtualService "reviews": spec.http[0].route: the weights of several destinations must sum to more than 0`},
		{"negative weight", vs(`
  - route:
    - {destination: {host: reviews, subset: v1}, weight: -10}
    - {destination: {host: reviews, subset: v2}, weight: 110}`),
			`VirtualService "reviews": spec.http[0].route[0].weight: must not be negative`},
		{"route without action", vs(`
  - name: empty`),
			`VirtualService "reviews": spec.http[0]: a route needs one of route, redirect or directResponse`},
		{"redirect with route", vs(`
  - redirect: {uri: /x}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0]: route, redirect and directResponse are mutually exclusive`},
		{"direct response status", vs(`
  - directResponse: {status: 99}`),
			`VirtualService "reviews": spec.http[0].directResponse.status: 99 is outside 200-599`},
		{"redirect code", vs(`
  - redirect: {uri: /x, redirectCode: 600}`),
			`VirtualService "reviews": spec.http[0].redirect.redirectCode: 600 is not a redirect code (3xx)`},
		{"gateway name", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: [reviews]
  gateways: [istio-system/Ingress_Gateway]
  http: [{route: [{destination: {host: reviews}}]}]`,
			`VirtualService "edge": spec.gateways[0]: gateway "istio-system/Ingress_Gateway": the name must be made of DNS-1123 labels`},
		{"hosts Istio refuses", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec: {hosts: ["*", "reviews:9080", "*.example.com", "*.api.example.com"], http: [{route: [{destination: {host: reviews}}]}]}`,
			`VirtualService "v": spec.hosts[0]: "*" would route every host the process calls; it is allowed only on gateways
VirtualService "v": spec.hosts[1]: "reviews:9080" is not a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"`},
		{"overlapping hosts", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec: {hosts: ["*.example.com", "*.api.example.com"], http: [{route: [{destination: {host: reviews}}]}]}`,
			`VirtualService "v": spec.hosts[1]: host "*.api.example.com" overlaps host "*.example.com"`},
		{"unknown load balancer", ratingsDR(` {host: ratings, trafficPolicy: {loadBalancer: {simple: FASTEST}}}`),
			`DestinationRule "r": spec.trafficPolicy.loadBalancer.simple: unknown algorithm "FASTEST"; use LEAST_REQUEST, ROUND_ROBIN, RANDOM or PASSTHROUGH`},
		{"static endpoint that is not an IP", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [ratings], ports: [{number: 80, name: p80}], resolution: STATIC, endpoints: [{address: ratings.local}]}`,
			`ServiceEntry "r": spec.endpoints[0].address: "ratings.local" is not an IP address, as resolution STATIC requires; use resolution DNS for host names`},
		{"ServiceEntry port without a name", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [ratings], resolution: DNS, ports: [{number: 80}, {number: 81, name: HTTP_web}]}`,
			`ServiceEntry "r": spec.ports[0].name: required
ServiceEntry "r": spec.ports[1].name: "HTTP_web" is not a DNS label (1-63 letters, digits and "-")`},
		{"DNS_ROUND_ROBIN with two endpoints, CIDR with DNS", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [ratings.example.com], addresses: [10.1.0.0/16], resolution: DNS_ROUND_ROBIN, ports: [{number: 80, name: http}], endpoints: [{address: a.example.com}, {address: b.example.com}]}`,
			`ServiceEntry "r": spec.addresses[0]: CIDR block "10.1.0.0/16" needs resolution NONE or STATIC, not DNS_ROUND_ROBIN
ServiceEntry "r": spec.endpoints: resolution DNS_ROUND_ROBIN takes at most one endpoint, not 2`},
		{"DNS without endpoints needs host names", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: ["*.example.com", "*", "a..b"], resolution: DNS, ports: [{number: 80, name: http, protocol: HTTP}]}`,
			`ServiceEntry "r": spec.hosts[0]: resolution DNS with no endpoints resolves the hosts themselves, so each must be a host name without wildcards: "*.example.com": label "*" is not a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"
ServiceEntry "r": spec.hosts[1]: "*" is not a host: a ServiceEntry names the hosts it defines
ServiceEntry "r": spec.hosts[2]: "a..b": label "" is not a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"`},
		{"ISTIO_MUTUAL", ratingsDR(` {host: ratings, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}`),
			`DestinationRule "r": spec.trafficPolicy.tls.mode: ISTIO_MUTUAL needs the workload's certificates, which this mesh was not given: pass switchyard.WithWorkloadCertificates(src) to New, with src from mtls.NewFileSource(mtls.IstioFiles(mtls.DefaultDir))`},
		{"timeout below 1ms", vs(`
  - timeout: 500us
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].timeout: 500µs is below the 1ms minimum`},
		{"pseudo-header set", vs(`
  - headers: {request: {set: {":path": /x}}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].headers.request.set[":path"]: ":path" cannot be set or added; pseudo-headers and host are not headers here`},
		{"authority twice", vs(`
  - headers: {request: {set: {host: a}}}
    rewrite: {authority: b}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].rewrite.authority: the authority is also set in headers.request; set it in one place`},
		{"locality settings", ratingsDR(`
  host: ratings
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        distribute: [{from: "us-east/*", to: {"us-east/*": 80, "us-west/*": 10}}]
        failover: [{from: us-east, to: us-east}]`),
			`DestinationRule "r": spec.trafficPolicy.loadBalancer.localityLbSetting: distribute and failover are mutually exclusive
DestinationRule "r": spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: weights sum to 90; they must sum to 100
DestinationRule "r": spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]: from and to must differ`},
		{"consistent hash with two keys and a bad maglev table", ratingsDR(` {host: ratings, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, useSourceIp: true, maglev: {tableSize: 1000}}}}}`),
			`DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash: set exactly one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName
DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: required: a prime below 5000011, such as 65537`},
		{"consistent hash cookie without a name", ratingsDR(` {host: ratings, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {ttl: 0s}}}}}`),
			`DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: required`},
		{"unknown retry condition", vs(`
  - retries: {attempts: 3, retryOn: "5xx,flaky"}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].retries.retryOn: unknown condition "flaky"; use Envoy's retry_on names (5xx, gateway-error, reset, connect-failure, retriable-4xx, …), gRPC names (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) or HTTP status codes`},
		{"per-try timeout without attempts", vs(`
  - retries: {perTryTimeout: 2s}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].retries.attempts: attempts 0 disables retries; perTryTimeout, retryOn and retryRemoteLocalities need attempts > 0`},
		{"fault abort status", vs(`
  - fault: {abort: {httpStatus: 601, percentage: {value: 10}}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].fault.abort.httpStatus: 601 is outside 200-599`},
		{"fault delay percentage", vs(`
  - fault: {delay: {fixedDelay: 1s, percentage: {value: 150}}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].fault.delay.percentage.value: 150 must be 0 or within [0.0001, 100]`},
		{"mirror and mirrors", vs(`
  - mirror: {host: reviews, subset: v2}
    mirrors: [{destination: {host: reviews, subset: v3}}]
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].mirror: mirror and mirrors are mutually exclusive`},
		{"deprecated consecutiveErrors", ratingsDR(` {host: ratings, trafficPolicy: {outlierDetection: {consecutiveErrors: 5, maxEjectionPercent: 120}}}`),
			`DestinationRule "r": spec.trafficPolicy.outlierDetection.maxEjectionPercent: 120 is outside 0-100`},
		{"durations Istio takes to the millisecond", ratingsDR(` {host: ratings, trafficPolicy: {connectionPool: {tcp: {connectTimeout: 1500us}, http: {http2KeepAlive: {interval: 10s}}}, outlierDetection: {interval: 500us}}}`),
			`DestinationRule "r": spec.trafficPolicy.connectionPool.tcp.connectTimeout: 1.5ms is finer than a millisecond; Istio takes durations to ms precision
DestinationRule "r": spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout: required
DestinationRule "r": spec.trafficPolicy.outlierDetection.interval: 500µs is below the 1ms minimum`},
		{"empty connection pool", ratingsDR(` {host: ratings, trafficPolicy: {connectionPool: {}}}`),
			`DestinationRule "r": spec.trafficPolicy.connectionPool: a connection pool must set tcp or http`},
		{"connection pool Go cannot honour", ratingsDR(` {host: ratings, trafficPolicy: {connectionPool: {http: {maxConcurrentStreams: 10}}}}`),
			`DestinationRule "r": spec.trafficPolicy.connectionPool.http.maxConcurrentStreams: not supported: Go's HTTP/2 client takes its stream limit from the server's SETTINGS frame`},
	}
	require.GreaterOrEqual(t, len(tests), 17)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+tt.yaml)...))
			if err == nil {
				_, err = switchyard.New(cfg)
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/bookinfo.yaml", "examples/canary/mesh.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(requestRouting))
	f.Add([]byte(vs("  - {match: [{uri: {regex: 'a+'}}], route: [{destination: {host: reviews}, weight: 3}]}")))
	f.Add([]byte(`{"kind":"List","items":[1]}`))
	f.Add([]byte(vs("  - &r {name: a, route: [{destination: {host: reviews}}]}\n  - {<<: [*r, {timeout: 1s}], name: b}")))
	f.Add([]byte("kind: List\nitems:\n- &i {apiVersion: networking.istio.io/v1, kind: ServiceEntry, metadata: {name: a}, spec: {hosts: [a], ports: [{number: 80, name: p80}]}}\n- *i\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := switchyard.Parse(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		m, err := switchyard.New(cfg)
		if err != nil {
			return
		}
		m.Close()
	})
}

func TestAliasExpansionIsBounded(t *testing.T) {
	// 1,000 routes × 2 matches × 1,000 aliased gateways is 2·10^6 values;
	// the decoder stops at its budget with an error.
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [reviews]\n")
	b.WriteString("  exportTo: &g [" + strings.Repeat("mesh, ", 999) + "mesh]\n")
	b.WriteString("  http: &h [" + strings.Repeat("{match: [{gateways: *g}, {gateways: *g}]}, ", 999) + "{}]\n")
	_, err := switchyard.Parse([]byte(b.String()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the input expands to more than")
}

// FuzzUpdate hands a running mesh any configuration: Update either applies
// it or rejects it, and either way the mesh keeps answering requests (a
// rejected update leaves the running configuration serving).
func FuzzUpdate(f *testing.F) {
	base, err := os.ReadFile("testdata/bookinfo.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(requestRouting))
	f.Add([]byte(vs("  - {route: [{destination: {host: reviews, subset: v9}}]}")))
	f.Add([]byte(vs("  - {fault: {abort: {httpStatus: 503, percentage: {value: 50}}}, route: [{destination: {host: reviews}}]}")))
	f.Add([]byte("kind: [unclosed"))
	f.Fuzz(func(t *testing.T, extra []byte) {
		cfg, err := switchyard.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		m, err := switchyard.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		net := meshtest.NewNetwork()
		net.Add("10.0.0.1:9080", "v1", nil)
		net.Add("10.0.0.2:9080", "v2", nil)
		net.Add("10.0.0.3:9080", "v3", nil)
		client := &http.Client{Transport: m.Transport(net.Transport())}
		next, err := switchyard.Parse(append(append(append([]byte{}, base...), "\n---\n"...), extra...))
		if err == nil {
			err = m.Update(next)
		}
		// Half a second: ample for an in-memory request, and a bound on
		// how long an input with a fault delay holds a fuzzing worker.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://reviews:9080/reviews/1", nil)
		resp, rerr := client.Do(req)
		if rerr != nil {
			// An applied configuration may hold requests past the deadline
			// (a fault delay); anything else is the mesh failing.
			if err == nil && errors.Is(rerr, context.DeadlineExceeded) {
				return
			}
			t.Fatalf("the mesh stopped answering (update error %v): %v", err, rerr)
		}
		resp.Body.Close()
		if err != nil && resp.StatusCode != 200 {
			t.Fatalf("a rejected update changed the running configuration: status %d", resp.StatusCode)
		}
	})
}

// ratingsDR is a ServiceEntry for ratings and a DestinationRule "r" for it
// whose spec is the YAML after "spec:".
func ratingsDR(spec string) string {
	return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [ratings], ports: [{number: 80, name: p80}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:` + spec
}
