package rollout_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/rollout"
)

func TestParseFlaggerStyle(t *testing.T) {
	cfg, err := rollout.Parse([]byte(`
apiVersion: rollout.switchyard.dev/v1alpha1
kind: Rollout
metadata: {name: reviews}
spec:
  virtualService: reviews
  route: split
  stable: v1
  canary: v2
  analysis:
    interval: 30s
    threshold: 3
    maxWeight: 50
    stepWeight: 10
    minRequests: 100
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}}
    - {name: request-duration, thresholdRange: {max: 500}}
    - {name: latency-ratio, thresholdRange: {max: 1.5}}
    match:
    - headers: {x-canary: {exact: insider}}
    iterations: 2
`))
	require.NoError(t, err)
	assert.Equal(t, []int32{10, 20, 30, 40, 50}, cfg.StepWeights)
	assert.Equal(t, 30*time.Second, cfg.Interval)
	assert.Equal(t, 3, cfg.MaxWaits)
	assert.Equal(t, rollout.Analysis{MinRequests: 100, MaxErrorRate: 1, MaxLatencyP99: 500 * time.Millisecond, MaxLatencyRatio: 1.5}, cfg.Analysis)
	require.NotNil(t, cfg.DarkLaunch)
	assert.Equal(t, 2, cfg.DarkLaunch.Intervals)
	assert.Equal(t, "insider", *cfg.DarkLaunch.Match[0].Headers["x-canary"].Exact)
}

func TestParseErrors(t *testing.T) {
	_, err := rollout.Parse([]byte("kind: Rollout\nspec: {analyis: {}}\n"))
	assert.ErrorContains(t, err, "field analyis not found")
	_, err = rollout.Parse([]byte(`
apiVersion: rollout.switchyard.dev/v1alpha1
kind: Canary
spec:
  virtualService: reviews
  route: split
  stable: v1
  canary: v2
  analysis:
    interval: soon
    stepWeights: [10]
    metrics: [{name: cpu, thresholdRange: {max: 1}}]
`))
	require.Error(t, err)
	assert.Equal(t, `kind: "Canary": use Rollout
spec.analysis.interval: "soon" is not a duration
spec.analysis.metrics[0]: "cpu" with this range is not a metric: use request-success-rate {min}, request-duration {max, ms}, error-rate-increase {max} or latency-ratio {max}`, err.Error())
}
