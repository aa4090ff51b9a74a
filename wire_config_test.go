package switchyard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// TestConfigStringsThatReachTheWireAreValidated rejects, at New and with a
// field path, every configuration string that the mesh puts on the wire
// and that could not be sent as written: header values (CR or LF in one
// made every request fail and ejected the endpoints), authorities, paths,
// cookie names and attributes (an invalid cookie name made a Set-Cookie
// without a name, with the attributes first), and the host names and
// addresses it dials. Each manifest follows the Bookinfo fixture.
func TestConfigStringsThatReachTheWireAreValidated(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"request header value with CR LF", vs(`
  - headers: {request: {set: {x-user: "jason\r\nx-admin: true"}}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].headers.request.set["x-user"]: invalid header value: "jason\r\nx-admin: true" holds the control character CR (0x0d) at byte 5`},
		{"response header value with NUL, on a destination", vs(`
  - route: [{destination: {host: reviews}, headers: {response: {add: {x-trace: "a\0b"}}}}]`),
			`VirtualService "reviews": spec.http[0].route[0].headers.response.add["x-trace"]: invalid header value: "a\x00b" holds the control character NUL (0x00) at byte 1`},
		{"authority set as a header", vs(`
  - headers: {request: {set: {":authority": "reviews v2"}}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].headers.request.set[":authority"]: invalid authority: "reviews v2" holds a space at byte 7, which a host name cannot hold`},
		{"rewrite authority", vs(`
  - rewrite: {authority: "reviews\nx-admin: true"}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].rewrite.authority: "reviews\nx-admin: true" holds LF (0x0a) at byte 7, which a host name cannot hold`},
		{"rewrite uri", vs(`
  - rewrite: {uri: "/v2\r\n"}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].rewrite.uri: "/v2\r\n" holds the control character CR (0x0d) at byte 3`},
		{"regex rewrite", vs(`
  - rewrite: {uriRegexRewrite: {match: "^/a(.*)", rewrite: "/b\\1\t"}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].rewrite.uriRegexRewrite.rewrite: "/b\\1\t" holds the control character TAB (0x09) at byte 4`},
		{"redirect authority and uri", vs(`
  - redirect: {authority: "evil.com/x", uri: "/a\nb"}`),
			`VirtualService "reviews": spec.http[0].redirect.authority: "evil.com/x" holds '/' at byte 8, which a host name cannot hold
VirtualService "reviews": spec.http[0].redirect.uri: "/a\nb" holds the control character LF (0x0a) at byte 2`},
		{"redirect prefix", vs(`
  - match: [{uri: {prefix: /a}}]
    redirect: {prefixRewrite: "/b\r"}`),
			`VirtualService "reviews": spec.http[0].redirect.prefixRewrite: "/b\r" holds the control character CR (0x0d) at byte 2`},
		{"cookie name, path and attributes", ratingsDR(` {host: ratings, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {
    name: "session; Domain=evil.example", path: "/;x", ttl: 0s,
    attributes: [{name: Same Site, value: Lax}, {name: Secure, value: "1; Domain=evil.example"}]}}}}}`),
			`DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: invalid cookie name: "session; Domain=evil.example" holds ';' at byte 7; use letters, digits and !#$%&'*+-.^_` + "`" + `|~ only
DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.path: "/;x" holds ';' at byte 1; a cookie path holds printable characters other than ";"
DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[0].name: invalid attribute name: "Same Site" holds a space at byte 4; use letters, digits and !#$%&'*+-.^_` + "`" + `|~ only
DestinationRule "r": spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].value: "1; Domain=evil.example" holds ';' at byte 1; an attribute value holds printable characters other than ";"`},
		{"service entry host and address", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: ["ratings\r\n"], ports: [{number: 80, name: p80}], resolution: DNS, endpoints: [{address: "ratings host"}]}`,
			`ServiceEntry "r": spec.endpoints[0].address: not an IP address, and not a host name: "ratings host" is not a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"
ServiceEntry "r": spec.hosts[0]: "ratings\r\n" is not a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"`},
		{"header a gRPC call cannot carry", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [ratings], ports: [{number: 50051, name: grpc, protocol: GRPC}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [ratings]
  http:
  - headers: {request: {set: {x-user: café, x-trace-bin: "\xff"}}}
    route: [{destination: {host: ratings}, headers: {request: {add: {x-flag!: "1"}}}}]`,
			`VirtualService "r": spec.http[0].headers.request.set["x-user"]: not supported for a destination that speaks only gRPC: gRPC metadata values hold only printable ASCII (or use a key ending in -bin), and "café" holds the non-ASCII byte 0xc3 at byte 3
VirtualService "r": spec.http[0].route[0].headers.request.add["x-flag!"]: not supported for a destination that speaks only gRPC: gRPC metadata keys hold only 0-9, a-z, "-", "_" and ".", and "x-flag!" holds '!'`},
		{"regex as written", vs(`
  - match: [{headers: {x-user: {regex: "secret)|(?:.*"}}}]
    directResponse: {status: 403}
  - route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].match[0].headers["x-user"].regex: invalid RE2 expression "secret)|(?:.*": unexpected ): ` + "`secret)|(?:.*`"},
		{"rewrite regex as written", vs(`
  - rewrite: {uriRegexRewrite: {match: "a)|(b", rewrite: /x}}
    route: [{destination: {host: reviews}}]`),
			`VirtualService "reviews": spec.http[0].rewrite.uriRegexRewrite.match: invalid RE2 expression "a)|(b": unexpected ): ` + "`a)|(b`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+tt.yaml)...))
			require.NoError(t, err)
			_, err = switchyard.New(cfg)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// TestConfigStringsFromGoAreValidated checks the same rules for a
// configuration built as Go values, the way that bypasses Parse.
func TestConfigStringsFromGoAreValidated(t *testing.T) {
	se := subset.ServiceEntry{Name: "r", Hosts: []string{"r"}, Ports: []subset.Port{{Number: 80, Name: "p80"}}, Resolution: "DNS"}
	_, err := switchyard.New(switchyard.Config{
		ServiceEntries: []subset.ServiceEntry{se},
		VirtualServices: []route.VirtualService{{Name: "x", Hosts: []string{"r"}, HTTP: []route.HTTPRoute{{
			Headers: &route.Headers{Request: &route.HeaderOperations{Set: map[string]string{"x-a": "1\r\nx-b: 2"}}},
			Route:   []route.RouteDestination{{Destination: route.Destination{Host: "r"}}},
		}}}},
	})
	require.Error(t, err)
	assert.Equal(t, `VirtualService "x": spec.http[0].headers.request.set["x-a"]: invalid header value: "1\r\nx-b: 2" holds the control character CR (0x0d) at byte 1`, err.Error())
}

// TestGeneratedCookieIsWellFormed sends a request through a cluster that
// generates its affinity cookie, with attributes, and parses the
// Set-Cookie the caller gets.
func TestGeneratedCookieIsWellFormed(t *testing.T) {
	f := newFixture(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec: {hosts: [ratings], ports: [{number: 9080, name: http}], resolution: STATIC, endpoints: [{address: 10.0.0.1}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings-affinity}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: session, path: /api, ttl: 90s, attributes: [{name: SameSite, value: Lax}, {name: Secure}]}`)
	resp, _ := f.get("http://ratings:9080/api/1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw := resp.Header.Get("Set-Cookie")
	cookies := (&http.Response{Header: http.Header{"Set-Cookie": {raw}}}).Cookies()
	require.Len(t, cookies, 1, raw)
	c := cookies[0]
	assert.Equal(t, "session", c.Name)
	assert.Equal(t, "/api", c.Path)
	assert.Equal(t, 90, c.MaxAge)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.False(t, strings.ContainsAny(raw, "\r\n"))
}
