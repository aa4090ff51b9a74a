package route

import (
	"context"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// withTimeout returns a context that c cancels with ErrRouteTimeout after d. With the real clock it is a context deadline, so that transports
// and servers downstream see it; a fake clock cancels it from a timer.
func withTimeout(parent context.Context, c clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, real := c.(clock.Real); real || c == nil {
		return context.WithTimeoutCause(parent, d, ErrRouteTimeout)
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := c.AfterFunc(d, func() { cancel(ErrRouteTimeout) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
