package retrypolicy

import (
	"errors"
)

// ErrPerTryTimeout is the error of an attempt cut by its per-try timeout.
var ErrPerTryTimeout = errors.New("retry: per-try timeout")
