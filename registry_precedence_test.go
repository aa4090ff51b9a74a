package switchyard_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// TestCallersEntryKeepsItsHostAcrossUpdates: of two ServiceEntries for one
// host, the one in the caller's namespace wins (as Istio), at New and after
// an Update that changes something else and reuses both entries.
func TestCallersEntryKeepsItsHostAcrossUpdates(t *testing.T) {
	const entries = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-other, namespace: other}
spec:
  hosts: [api.test]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-shop, namespace: shop}
spec:
  hosts: [api.test]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.2}]
`
	rule := func(lb string) string {
		return "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r, namespace: shop}\nspec: {host: api.test, trafficPolicy: {loadBalancer: {simple: " + lb + "}}}\n"
	}
	cfg, err := switchyard.Parse([]byte(entries + rule("ROUND_ROBIN")))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithSourceNamespace("shop"))
	require.NoError(t, err)
	defer m.Close()
	endpoint := func() string {
		ds := m.Explain(httptest.NewRequest("GET", "http://api.test/", nil)).Destinations
		require.Len(t, ds, 1)
		require.Len(t, ds[0].Endpoints, 1)
		return ds[0].Endpoints[0].Address
	}
	require.Equal(t, "10.0.0.2:80", endpoint(), "the caller's namespace's entry")
	for _, lb := range []string{"LEAST_REQUEST", "RANDOM"} {
		cfg, err := switchyard.Parse([]byte(entries + rule(lb)))
		require.NoError(t, err)
		require.NoError(t, m.Update(cfg))
		require.Equal(t, "10.0.0.2:80", endpoint(), "after an update to %s", lb)
	}
}

// TestUpdateValidatesAShadowedRule: of two DestinationRules for a host, the
// second's trafficPolicy is shadowed by the first's in the merge; an update
// that makes it invalid is refused, as New refuses it, even though the
// merged rule is unchanged.
func TestUpdateValidatesAShadowedRule(t *testing.T) {
	doc := func(lb string) []byte {
		return []byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.test]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: first, namespace: shop}
spec: {host: api.test, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: second, namespace: shop}
spec: {host: api.test, trafficPolicy: {loadBalancer: {simple: ` + lb + `}, tls: {mode: SIMPLE, insecureSkipVerify: true, caCertificates: /nonexistent/ca.pem}}}
`)
	}
	bad, err := switchyard.Parse(doc("RANDOM"))
	require.NoError(t, err)
	_, freshErr := switchyard.New(bad, switchyard.WithSourceNamespace("shop"))
	good, err := switchyard.Parse(doc("LEAST_REQUEST"))
	require.NoError(t, err)
	good.DestinationRules[1].TrafficPolicy.TLS = nil
	m, err := switchyard.New(good, switchyard.WithSourceNamespace("shop"))
	require.NoError(t, err)
	defer m.Close()
	updateErr := m.Update(bad)
	require.Equal(t, freshErr == nil, updateErr == nil, "New says %v, Update says %v", freshErr, updateErr)
}
