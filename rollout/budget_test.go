package rollout_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/rollout"
)

// TestParseBoundsAliasExpansion parses 16 KB whose dark-launch match
// expands, through 550 aliases of a list of 550, to 300,000 values: yaml.v3
// lets 99% of the values of a document come from aliases up to 400,000 of
// them, and the match was decoded, re-encoded as JSON and decoded again.
func TestParseBoundsAliasExpansion(t *testing.T) {
	doc := `apiVersion: rollout.switchyard.dev/v1alpha1
kind: Rollout
metadata: {name: reviews}
spec:
  virtualService: reviews
  route: split
  stable: v1
  canary: v2
  analysis:
    interval: 1m
    stepWeights: [10]
    match:
    - [x` + strings.Repeat(", x", 3999) + `]
    - &a [x` + strings.Repeat(", x", 549) + `]
    - [*a` + strings.Repeat(", *a", 549) + `]
`
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := rollout.Parse([]byte(doc))
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	t.Logf("%d bytes: %d KiB allocated", len(doc), (after.TotalAlloc-before.TotalAlloc)>>10)
	assert.Contains(t, err.Error(), "rollout: the document expands to more than")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20))
}
