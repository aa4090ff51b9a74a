package balancer

import (
	"math"
	"time"
)

// WarmupFactor is Envoy's slow-start weight multiplier for an endpoint that
// joined age ago: max(minPercent/100, timeFactor^(1/aggression)) with
// timeFactor = max(age, 1s) / window, and 1 once the window has passed.
func WarmupFactor(age, window time.Duration, minPercent, aggression float64) float64 {
	if window <= 0 || age >= window {
		return 1
	}
	tf := max(age.Seconds(), 1) / window.Seconds()
	f := math.Pow(tf, 1/aggression)
	return min(1, max(minPercent/100, f))
}
