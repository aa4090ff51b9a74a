package switchyard_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// kubectl reads YAML 1.1, where a plain yes is true: Istio's API server
// refuses it where a string belongs, and so does Parse; quoted, it is the
// string.
func TestYAML11BooleansWhereStringsBelong(t *testing.T) {
	doc := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {x-beta: {exact: %s}}}]
    route: [{destination: {host: reviews}}]
`
	_, err := switchyard.Parse([]byte(fmt.Sprintf(doc, "yes")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `yes is a boolean to kubectl and the API server, which read YAML 1.1; quote it: "yes"`)
	for _, ok := range []string{`"yes"`, `'no'`, "yess", "true-ish"} {
		_, err := switchyard.Parse([]byte(fmt.Sprintf(doc, ok)))
		assert.NoError(t, err, ok)
	}
}

// Mixed manifests: documents the mesh does not act on are skipped and
// listed; a misspelt kind of networking.istio.io is still an error.
func TestMixedManifestsSkipOtherKinds(t *testing.T) {
	cfg, err := switchyard.Parse([]byte(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {ports: [{port: 9080}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua}
spec: {}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [r.example.com], ports: [{number: 80, name: http}], resolution: DNS}
`))
	require.NoError(t, err)
	require.Len(t, cfg.ServiceEntries, 1)
	var skipped []string
	for _, s := range cfg.Skipped {
		skipped = append(skipped, s.String())
	}
	assert.Equal(t, []string{"Service default/reviews (v1)", "PeerAuthentication istio-system/strict (security.istio.io/v1)", "EnvoyFilter lua (networking.istio.io/v1alpha3)"}, skipped)

	_, err = switchyard.Parse([]byte("apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: x}\nspec: {}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `kind: "VirtualServce" is not supported`)
}
