package engine

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// ErrRouteTimeout is the cause of a request context cancelled by a route
// timeout.
var ErrRouteTimeout = errors.New("route: upstream request timeout")

// WithTimeout returns a context that c cancels with ErrRouteTimeout after
// d. With the real clock it is a context deadline, so that transports and
// servers downstream see it; a fake clock cancels it from a timer.
//
// When parent's own deadline comes first, the route timeout can never fire:
// WithTimeout returns parent and a nil cancel, sparing the request a timer,
// a context and (for HTTP) the request copy that would carry them. The
// outcome is the same either way — the caller's deadline ends the request.
func WithTimeout(parent context.Context, c clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, real := c.(clock.Real); real || c == nil {
		if dl, ok := parent.Deadline(); ok && time.Until(dl) <= d {
			return parent, nil
		}
		return context.WithTimeoutCause(parent, d, ErrRouteTimeout)
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := c.AfterFunc(d, func() { cancel(ErrRouteTimeout) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
