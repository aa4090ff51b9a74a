package retry

import (
	"strconv"

	"github.com/switchyard-go/switchyard/internal/retrypolicy"
)

// ErrPerTryTimeout is the error of an attempt cut by its per-try timeout.
var ErrPerTryTimeout error = retrypolicy.ErrPerTryTimeout

// ExhaustedError is returned by Policy.RoundTripper when the last attempt
// failed without a response and no retry was left or allowed.
type ExhaustedError struct {
	// Attempts is how many attempts were made.
	Attempts int
	// Last is the error of the last attempt.
	Last error
}

// Error says how many attempts were made and why the last failed.
func (e *ExhaustedError) Error() string {
	return "retry: giving up after " + strconv.Itoa(e.Attempts) + " attempt(s): " + e.Last.Error()
}

// Unwrap returns the last attempt's error.
func (e *ExhaustedError) Unwrap() error { return e.Last }
