package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/yamlsize"
	"github.com/switchyard-go/switchyard/match"
)

// The document Parse reads, modelled on Flagger's Canary:
//
//	apiVersion: rollout.switchyard.dev/v1alpha1
//	kind: Rollout
//	metadata: {name: reviews}
//	spec:
//	  virtualService: reviews
//	  route: split
//	  stable: v1
//	  canary: v2
//	  analysis:
//	    interval: 1m
//	    threshold: 2          # intervals a step may wait for minRequests
//	    stepWeights: [5, 10, 50]   # or maxWeight: 50 and stepWeight: 10
//	    minRequests: 100
//	    metrics:
//	    - {name: request-success-rate, thresholdRange: {min: 99}}   # percent
//	    - {name: request-duration, thresholdRange: {max: 500}}      # p99, ms
//	    - {name: error-rate-increase, thresholdRange: {max: 1}}     # points over stable
//	    - {name: latency-ratio, thresholdRange: {max: 1.5}}         # p99 / stable's
//	    match:                # a dark launch first (Flagger's A/B testing)
//	    - headers: {x-canary: {exact: insider}}
//	    iterations: 1
type document struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   yaml.Node `yaml:"metadata"`
	Spec       struct {
		VirtualService string `yaml:"virtualService"`
		Route          string `yaml:"route"`
		Host           string `yaml:"host"`
		Stable         string `yaml:"stable"`
		Canary         string `yaml:"canary"`
		Analysis       struct {
			Interval    string  `yaml:"interval"`
			Threshold   int     `yaml:"threshold"`
			StepWeights []int32 `yaml:"stepWeights"`
			MaxWeight   int32   `yaml:"maxWeight"`
			StepWeight  int32   `yaml:"stepWeight"`
			MinRequests int     `yaml:"minRequests"`
			Metrics     []struct {
				Name           string `yaml:"name"`
				ThresholdRange struct {
					Min *float64 `yaml:"min"`
					Max *float64 `yaml:"max"`
				} `yaml:"thresholdRange"`
			} `yaml:"metrics"`
			Match      yaml.Node `yaml:"match"`
			Iterations int       `yaml:"iterations"`
		} `yaml:"analysis"`
	} `yaml:"spec"`
}

// Parse reads a rollout from YAML (see the document above). Unknown fields
// are errors, and every problem is reported. YAML aliases may expand the
// document only a few times over.
func Parse(data []byte) (Config, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("rollout: %w", err)
	}
	if limit := yamlsize.Limit(len(data)); yamlsize.Expanded(&root, limit) > limit {
		return Config{}, fmt.Errorf("rollout: the document expands to more than %d values (through YAML aliases or merge keys?); simplify it", limit)
	}
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > fielderr.MaxReported {
			more := len(te.Errors) - fielderr.MaxReported
			te.Errors = append(te.Errors[:fielderr.MaxReported:fielderr.MaxReported], fmt.Sprintf("and %d more errors", more))
		}
		return Config{}, fmt.Errorf("rollout: %w", err)
	}
	var errs fielderr.List
	if doc.Kind != "Rollout" {
		errs.Add("kind", "%s: use Rollout", fielderr.Quote(doc.Kind))
	}
	if doc.APIVersion != "rollout.switchyard.dev/v1alpha1" {
		errs.Add("apiVersion", "%s: use rollout.switchyard.dev/v1alpha1", fielderr.Quote(doc.APIVersion))
	}
	s, a := doc.Spec, doc.Spec.Analysis
	cfg := Config{VirtualService: s.VirtualService, Route: s.Route, Host: s.Host, Stable: s.Stable, Canary: s.Canary, MaxWaits: a.Threshold}
	if a.Interval != "" {
		d, err := time.ParseDuration(a.Interval)
		if err != nil {
			errs.Add("spec.analysis.interval", "%s is not a duration", fielderr.Quote(a.Interval))
		}
		cfg.Interval = d
	}
	switch {
	case len(a.StepWeights) > 0 && (a.MaxWeight != 0 || a.StepWeight != 0):
		errs.Add("spec.analysis.stepWeights", "use stepWeights or maxWeight with stepWeight, not both")
	case len(a.StepWeights) > 0:
		cfg.StepWeights = a.StepWeights
	case a.StepWeight > 0 && a.MaxWeight > 0:
		for w := a.StepWeight; w <= a.MaxWeight && w < 100; w += a.StepWeight {
			cfg.StepWeights = append(cfg.StepWeights, w)
		}
	}
	cfg.Analysis.MinRequests = a.MinRequests
	for i, m := range a.Metrics {
		p := fielderr.Index("spec.analysis.metrics", i)
		r := m.ThresholdRange
		switch {
		case m.Name == "request-success-rate" && r.Min != nil:
			cfg.Analysis.MaxErrorRate = 100 - *r.Min
		case m.Name == "request-duration" && r.Max != nil:
			cfg.Analysis.MaxLatencyP99 = time.Duration(*r.Max * float64(time.Millisecond))
		case m.Name == "error-rate-increase" && r.Max != nil:
			cfg.Analysis.MaxErrorRateIncrease = *r.Max
		case m.Name == "latency-ratio" && r.Max != nil:
			cfg.Analysis.MaxLatencyRatio = *r.Max
		default:
			errs.Add(p, "%s with this range is not a metric: use request-success-rate {min}, request-duration {max, ms}, error-rate-increase {max} or latency-ratio {max}", fielderr.Quote(m.Name))
		}
	}
	if a.Match.Kind != 0 {
		var raw any
		if err := a.Match.Decode(&raw); err != nil {
			errs.Add("spec.analysis.match", "%v", err)
		} else if js, err := json.Marshal(raw); err != nil {
			errs.Add("spec.analysis.match", "%v", err)
		} else {
			var reqs []match.Request
			jd := json.NewDecoder(bytes.NewReader(js))
			jd.DisallowUnknownFields()
			if err := jd.Decode(&reqs); err != nil {
				errs.Add("spec.analysis.match", "%v", err)
			}
			cfg.DarkLaunch = &DarkLaunch{Match: reqs, Intervals: a.Iterations}
		}
	}
	if err := errs.Err(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
