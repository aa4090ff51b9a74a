package rollout_test

import (
	"fmt"

	"github.com/switchyard-go/switchyard/rollout"
)

// A rollout read from YAML modelled on Flagger's Canary analysis.
func ExampleParse() {
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
    interval: 1m
    stepWeights: [5, 20, 50]
    minRequests: 100
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99.5}}
    - {name: latency-ratio, thresholdRange: {max: 1.5}}
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Stable, "->", cfg.Canary, cfg.StepWeights, cfg.Interval)
	fmt.Printf("max error rate %.1f%%, p99 at most %.1fx stable's\n", cfg.Analysis.MaxErrorRate, cfg.Analysis.MaxLatencyRatio)
	// Output:
	// v1 -> v2 [5 20 50] 1m0s
	// max error rate 0.5%, p99 at most 1.5x stable's
}
