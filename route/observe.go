package route

import (
	"time"
)

// Observation is the outcome of one forwarded request, for observers such
// as a rollout controller.
type Observation struct {
	// Host and Subset name the destination the request was sent to.
	Host, Subset string
	// Status is the status the caller got (a local reply's included); 0
	// when the request ended in an error.
	Status int
	// Failed is true for a 5xx or an error.
	Failed bool
	// Latency is the time to the response headers.
	Latency time.Duration
}
