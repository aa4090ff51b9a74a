package switchyard_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// These tests cover what Parse's fast reader and decoder re-implement of
// yaml.v3 and of the decoder before them; internal/yamltree's tests
// compare its trees with yaml.v3's.

func TestParseLabelsAsBefore(t *testing.T) {
	// Labels (map[string]string) are decoded without reflection: the
	// same errors, and a null value is an empty label.
	cfg, err := switchyard.Parse([]byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, labels: {app: a, tier: ~}}
spec:
  hosts: [a]
  ports: [{number: 80, name: p80}]
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1, zone: }}
  - {address: 10.0.0.2, labels: {version: 2, track: [x], version: v3}}
`))
	require.Error(t, err)
	assert.Equal(t, `document 1 (ServiceEntry "a"): spec.endpoints[1].labels["version"]: expected a string, got the integer 2; quote it: "2" (line 9)
document 1 (ServiceEntry "a"): spec.endpoints[1].labels["track"]: expected a string, got a list (line 9)
document 1 (ServiceEntry "a"): spec.endpoints[1].labels["version"]: duplicate key (line 9)`, err.Error())
	assert.Equal(t, map[string]string{"version": "v1", "zone": ""}, cfg.ServiceEntries[0].Endpoints[0].Labels)
	assert.Equal(t, map[string]string{"version": "", "track": ""}, cfg.ServiceEntries[0].Endpoints[1].Labels)
}

func TestParseNestedMergeKeys(t *testing.T) {
	// A merged mapping that merges another: the mapping's own keys win,
	// then the merged mapping's, then those it merges, as before.
	cfg, err := switchyard.Parse([]byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [r]
  http:
  - &inner {name: inner, timeout: 1s, retries: {attempts: 1}, route: [{destination: {host: r}}]}
  - &outer {<<: *inner, name: outer, timeout: 2s}
  - {<<: [*outer, {retries: {attempts: 9}, headers: {request: {set: {a: b}}}}], name: own}
`))
	require.NoError(t, err)
	own := cfg.VirtualServices[0].HTTP[2]
	assert.Equal(t, "own", own.Name)
	assert.Equal(t, "2s", own.Timeout.String(), "outer's own key wins over the one it merges")
	assert.Equal(t, int32(1), own.Retries.Attempts, "an earlier merged mapping (and what it merges) wins over a later one")
	assert.Equal(t, "r", own.Route[0].Destination.Host)
	assert.Equal(t, map[string]string{"a": "b"}, own.Headers.Request.Set)
}

func TestParseMetadataKubectlPrints(t *testing.T) {
	// The metadata kubectl prints is accepted and not read, whatever its
	// shape.
	cfg, err := switchyard.Parse([]byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
  namespace: prod
  creationTimestamp: 2026-01-01T00:00:00Z
  generation: 3
  managedFields:
  - {manager: kubectl, operation: Update, fieldsV1: {f:spec: {}}}
  ownerReferences: [{kind: X, name: y}]
  finalizers: [a]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"networking.istio.io/v1","kind":"DestinationRule"}
spec: {host: r}
status: {observedGeneration: 3}
`))
	require.NoError(t, err)
	require.Len(t, cfg.DestinationRules, 1)
	assert.Equal(t, "prod", cfg.DestinationRules[0].Namespace)
}

func TestParseErrorLinesAroundDocumentsYAMLv3Reads(t *testing.T) {
	// A document the fast reader leaves to yaml.v3 (a block scalar, an
	// anchor) in the middle of a stream: errors in it and after it name
	// their documents and the lines of the whole input (for syntax
	// errors, yaml.v3's line, as before).
	data := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a}
spec: {hosts: [a], ports: [{number: 80, name: p80}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: a
  annotations:
    note: |
      a block scalar
spec:
  hosts: [a]
  http: [&r {route: [{destination: {hots: a}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec: {hosts: [b], http: [{route: [{destination: {host: a}}], timout: 1s}]}
---
kind: [unclosed
`
	_, err := switchyard.Parse([]byte(data))
	require.Error(t, err)
	assert.Equal(t, `document 2 (VirtualService "a"): spec.http[0].route[0].destination.hots: unknown field (did you mean "host"?) (line 15)
document 3 (VirtualService "b"): spec.http[0].timout: unknown field (did you mean "timeout"?) (line 20)
document 4: line 21: did not find expected ',' or ']'`, err.Error())
}

func TestParseReportsASyntaxErrorInItsDocument(t *testing.T) {
	// yaml.v3 scans two tokens ahead, and so reported an error at the
	// start of a document while it finished the document before:
	// "document 1: line 5: …" (yaml.v3's line, as before). The error is in
	// document 2.
	data := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a}
spec: {hosts: [a], ports: [{number: 80, name: p80}], resolution: DNS}
--- "unterminated
`
	_, err := switchyard.Parse([]byte(data))
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, 1)
	assert.Equal(t, "document 2: line 5: found unexpected end of stream", errs[0].Error())
}

func TestParseKeepsNoReferenceToTheInput(t *testing.T) {
	// The tree's values are slices of the input; the Config's strings
	// are copies, so that a small configuration does not hold a large
	// input in memory (nor each compiled generation of it).
	data := meshYAML(3000)
	require.Greater(t, len(data), 5<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg, err := switchyard.Parse(data)
	require.NoError(t, err)
	host := cfg.ServiceEntries[0].Hosts[0]
	cfg = switchyard.Config{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Equal(t, "svc0.mesh.svc.cluster.local", strings.Clone(host))
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(2<<20), "bytes kept")
	runtime.KeepAlive(host)

	// Nor do errors: a top-level field's path is its name.
	data = append(data, "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {}\nbogus: 1\n"...)
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = switchyard.Parse(data)
	require.ErrorContains(t, err, "bogus: unknown field")
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(2<<20), "bytes kept")
	runtime.KeepAlive(err)
	runtime.KeepAlive(data)
}
