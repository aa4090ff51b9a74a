package outlier

import (
	"time"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Validate reports the problems of an OutlierDetection block, with field
// paths relative to it.
func (c *Config) Validate() error {
	var errs fielderr.List
	if c.ConsecutiveLocalOriginFailures != nil && !c.SplitExternalLocalOriginErrors {
		errs.Add("consecutiveLocalOriginFailures", "needs splitExternalLocalOriginErrors: true")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", c.Interval}, {"baseEjectionTime", c.BaseEjectionTime}} {
		errs.Millis(d.name, d.v)
	}
	if c.MaxEjectionPercent < 0 || c.MaxEjectionPercent > 100 {
		errs.Add("maxEjectionPercent", "%d is outside 0-100", c.MaxEjectionPercent)
	}
	if c.MinHealthPercent < 0 || c.MinHealthPercent > 100 {
		errs.Add("minHealthPercent", "%d is outside 0-100", c.MinHealthPercent)
	}
	return errs.Err()
}
