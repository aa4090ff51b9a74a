package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateGolden(t *testing.T) {
	runGoldens(t, []golden{
		{name: "validate-bookinfo", args: []string{"validate", "testdata/bookinfo"}, code: 0},
		{name: "validate-bookinfo-json", args: []string{"validate", "testdata/bookinfo", "--output", "json"}, code: 0},
		{name: "validate-bookinfo-strict", args: []string{"validate", "--strict", "testdata/bookinfo/services.yaml", "testdata/bookinfo/destination-rules.yaml", "testdata/bookinfo/virtual-services.yaml"}, code: 0},
		{name: "validate-stdin", args: []string{"validate", "-"}, stdin: "testdata/bookinfo-next/mesh.yaml", code: 0},
		{name: "validate-kubectl-list", args: []string{"validate", "testdata/kubectl-list.yaml"}, code: 0},
		{name: "validate-broken", args: []string{"validate", "testdata/broken"}, code: 1},
		{name: "validate-broken-json", args: []string{"validate", "-o", "json", "testdata/broken"}, code: 1},
		{name: "validate-mixed", args: []string{"validate", "testdata/mixed"}, code: 0},
		{name: "validate-mixed-json", args: []string{"validate", "-o", "json", "testdata/mixed"}, code: 0},
		{name: "validate-warnings", args: []string{"validate", "testdata/warnings"}, code: 0},
		{name: "validate-warnings-strict", args: []string{"validate", "--strict", "testdata/warnings"}, code: 1},
		{name: "validate-warnings-json", args: []string{"validate", "-o", "json", "testdata/warnings"}, code: 0},
		{name: "validate-invalid-routes", args: []string{"validate", "testdata/invalid/routes.yaml"}, code: 1},
		{name: "validate-invalid-routes-json", args: []string{"validate", "testdata/invalid/routes.yaml", "-o", "json"}, code: 1},
		{name: "validate-invalid-policy", args: []string{"validate", "testdata/invalid/policy.yaml"}, code: 1},
		{name: "validate-kubectl-list-broken", args: []string{"validate", "testdata/broken/kubectl-list.yaml", "-o", "json"}, code: 1},
		{name: "validate-duplicates", args: []string{"validate", "testdata/bookinfo", "testdata/bookinfo-next"}, code: 1},
		{name: "validate-missing-file", args: []string{"validate", "testdata/mseh.yaml"}, code: 2},
		{name: "validate-bad-output", args: []string{"validate", "-o", "yaml", "testdata/bookinfo"}, code: 2},
		{name: "validate-stdin-twice", args: []string{"validate", "-", "-"}, code: 2},
	})
}

// The JSON report keeps its documented shape: empty lists, not null, and
// each error with its location.
func TestValidateJSONSchema(t *testing.T) {
	code, stdout, _ := runCommand(t, []string{"validate", "-o", "json", "testdata/invalid/routes.yaml"}, "")
	require.Equal(t, 1, code)
	var r struct {
		Valid     bool           `json:"valid"`
		Files     []string       `json:"files"`
		Resources map[string]int `json:"resources"`
		Errors    []struct {
			File     string `json:"file"`
			Line     int    `json:"line"`
			Document int    `json:"document"`
			Item     *int   `json:"item"`
			Resource string `json:"resource"`
			Field    string `json:"field"`
			Message  string `json:"message"`
		} `json:"errors"`
		Warnings []json.RawMessage `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	assert.False(t, r.Valid)
	assert.Equal(t, []string{"testdata/invalid/routes.yaml"}, r.Files)
	assert.Equal(t, map[string]int{"ServiceEntry": 1, "DestinationRule": 1, "VirtualService": 1}, r.Resources)
	require.NotEmpty(t, r.Errors)
	e := r.Errors[0]
	assert.Equal(t, "testdata/invalid/routes.yaml", e.File)
	assert.Equal(t, 31, e.Line, "the line of the field New names")
	assert.Equal(t, 3, e.Document)
	assert.Nil(t, e.Item)
	assert.Equal(t, "VirtualService bookinfo/reviews", e.Resource)
	assert.Equal(t, "spec.http[0].match[0].uri.regex", e.Field)
	assert.NotNil(t, r.Warnings)
	assert.Empty(t, r.Warnings)
}
