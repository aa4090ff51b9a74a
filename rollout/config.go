package rollout

import (
	"fmt"
	"time"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/match"
)

// Config describes one rollout.
type Config struct {
	// VirtualService names the VirtualService ("name" or "namespace/name").
	VirtualService string
	// Route names the HTTP route whose destinations the rollout drives.
	Route string
	// Host is the destination host; empty means the route's first
	// destination's host.
	Host string
	// Stable and Canary are the subsets traffic moves between.
	Stable, Canary string
	// StepWeights are the canary's weights, in percent, one per interval,
	// before promotion to 100.
	StepWeights []int32
	// Interval is how long each step (and the dark launch) lasts.
	Interval time.Duration
	// Analysis is the check made at the end of each step.
	Analysis Analysis
	// DarkLaunch, if set, sends only matching requests to the canary for
	// its Intervals before any weight moves.
	DarkLaunch *DarkLaunch
	// MaxWaits is how many intervals a step may wait for MinRequests before
	// the rollout fails; 2 when zero.
	MaxWaits int
}

// Analysis holds the thresholds a step must meet; zero means unchecked.
type Analysis struct {
	// MinRequests is the canary requests an interval needs before it is
	// judged.
	MinRequests int
	// MaxErrorRate is the canary's highest error rate, in percent.
	MaxErrorRate float64
	// MaxLatencyP99 is the canary's highest p99 latency.
	MaxLatencyP99 time.Duration
	// MaxErrorRateIncrease is how many percentage points the canary's
	// error rate may exceed the stable subset's.
	MaxErrorRateIncrease float64
	// MaxLatencyRatio bounds the canary's p99 as a multiple of the stable
	// subset's.
	MaxLatencyRatio float64
}

// DarkLaunch is a stage before any weight: requests that Match go to the
// canary; others stay on the stable subset.
type DarkLaunch struct {
	// Match selects the requests for the canary, as a route's match.
	Match []match.Request
	// Intervals is how many intervals the dark launch lasts; 1 when zero.
	Intervals int
}

// Validate reports every problem in c.
func (c *Config) Validate() error {
	var errs fielderr.List
	if c.VirtualService == "" {
		errs.Add("virtualService", "required")
	}
	if c.Route == "" {
		errs.Add("route", "required: the name of the route to drive")
	}
	if c.Stable == "" || c.Canary == "" {
		errs.Add("stable", "stable and canary subsets are both required")
	} else if c.Stable == c.Canary {
		errs.Add("canary", "must differ from stable")
	}
	if len(c.StepWeights) == 0 {
		errs.Add("stepWeights", "at least one step is required")
	}
	prev := int32(0)
	for i, w := range c.StepWeights {
		if w <= prev || w >= 100 {
			errs.Add(fielderr.Index("stepWeights", i), "%d: steps must rise, from 1 to 99 (promotion makes 100)", w)
		}
		prev = w
	}
	if c.Interval <= 0 {
		errs.Add("interval", "required, above 0")
	}
	if a := c.Analysis; a.MaxErrorRate < 0 || a.MaxErrorRate > 100 || a.MaxErrorRateIncrease < 0 || a.MaxLatencyRatio < 0 || a.MinRequests < 0 {
		errs.Add("analysis", "thresholds must not be negative, error rates at most 100")
	}
	if d := c.DarkLaunch; d != nil && len(d.Match) == 0 {
		errs.Add("darkLaunch.match", "required: which requests go to the canary")
	}
	return errs.Err()
}

// Phase is where a rollout stands.
type Phase string

// The phases of a rollout.
const (
	PhaseIdle        Phase = "idle"
	PhaseDarkLaunch  Phase = "dark-launch"
	PhaseProgressing Phase = "progressing"
	PhasePromoted    Phase = "promoted"
	PhaseRolledBack  Phase = "rolled-back"
)

// Stats are what the mesh observed for one subset over an interval.
type Stats struct {
	// Requests is the number of requests observed.
	Requests int
	// ErrorRate is the share of 5xx and failed requests, in percent.
	ErrorRate float64
	// P50 and P99 are latency percentiles, to the response headers.
	P50, P99 time.Duration
}

// String describes the figures on one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d requests, %.2f%% errors, p50 %v, p99 %v", s.Requests, s.ErrorRate, s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond))
}

// EventKind says what happened.
type EventKind string

// The kinds of event.
const (
	EventStep       EventKind = "step"
	EventAnalysis   EventKind = "analysis"
	EventWaiting    EventKind = "waiting"
	EventPromoted   EventKind = "promoted"
	EventRolledBack EventKind = "rolled-back"
	EventPaused     EventKind = "paused"
	EventResumed    EventKind = "resumed"
)

// Event reports a change of a rollout.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// At is when, by the controller's clock.
	At time.Time
	// Phase is the rollout's phase after the event.
	Phase Phase
	// Weight is the canary's weight after the event, in percent.
	Weight int32
	// Canary and Stable are the interval's figures, for analysis, waiting
	// and the events that follow an analysis.
	Canary, Stable Stats
	// Passed is the analysis's verdict.
	Passed bool
	// Reason explains the verdict or the change.
	Reason string
}

// String describes the event on one line, with its figures.
func (e Event) String() string {
	s := fmt.Sprintf("%s phase=%s canary=%d%%", e.Kind, e.Phase, e.Weight)
	if e.Canary.Requests > 0 || e.Stable.Requests > 0 {
		s += fmt.Sprintf(" | canary: %v | stable: %v", e.Canary, e.Stable)
	}
	if e.Reason != "" {
		s += " | " + e.Reason
	}
	return s
}
