package engine

import (
	"context"
	"errors"

	"github.com/switchyard-go/switchyard/internal/failure"
	"github.com/switchyard-go/switchyard/internal/reqerr"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/pool"
)

// Classify tells how a request or an attempt whose context is ctx failed
// with err: one classification for local replies, telemetry's error.type
// and retry reasons.
func Classify(ctx context.Context, err error) failure.Kind {
	var overflow *pool.OverflowError
	switch {
	case errors.Is(err, retrypolicy.ErrPerTryTimeout), errors.Is(context.Cause(ctx), retrypolicy.ErrPerTryTimeout):
		return failure.PerTryTimeout
	case errors.Is(context.Cause(ctx), ErrRouteTimeout):
		return failure.Timeout
	case errors.As(err, &overflow):
		return failure.Overflow
	case isOwn(err):
		return failure.InvalidRequest
	case errors.Is(err, ErrNoHealthyUpstream):
		return failure.NoHealthyUpstream
	case ctx.Err() != nil:
		return failure.Canceled
	}
	return failure.Transport(err)
}

func isOwn(err error) bool {
	_, ok := reqerr.Unwrap(err)
	return ok
}
