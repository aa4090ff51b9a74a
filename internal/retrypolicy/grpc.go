package retrypolicy

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/failure"
)

// grpcCodeConditions maps gRPC codes to the retry_on tokens that name them.
var grpcCodeConditions = map[codes.Code]Condition{
	codes.Canceled:          OnCancelled,
	codes.DeadlineExceeded:  OnDeadlineExceeded,
	codes.Internal:          OnInternal,
	codes.ResourceExhausted: OnResourceExhausted,
	codes.Unavailable:       OnUnavailable,
}

// RetryGRPC reports whether the policy retries a call that ended with code,
// by the gRPC tokens of retryOn (cancelled, deadline-exceeded, internal,
// resource-exhausted, unavailable), as proxyless gRPC honours them.
func (p *Policy) RetryGRPC(code codes.Code) bool { return p.on&grpcCodeConditions[code] != 0 }

// Unlimited is a Limits that allows every retry.
type Unlimited struct{}

// AllowRetry returns true.
func (Unlimited) AllowRetry() bool { return true }

// RetryDone does nothing.
func (Unlimited) RetryDone() {}

// PreviousAttemptsKey is the metadata gRPC retries carry: the number of
// attempts made before this one.
const PreviousAttemptsKey = "grpc-previous-rpc-attempts"

// InvokeGRPC runs the attempt loop of a gRPC call: call is invoked for
// attempt n (from 1) with a context that carries the per-try timeout and,
// on retries, grpc-previous-rpc-attempts. A per-try timeout ends an attempt
// with DEADLINE_EXCEEDED and is retried only under 5xx, gateway-error or
// reset, as in Envoy; the caller's own deadline is never retried. An error
// whose Retriable method returns false ends the loop at once.
func (p *Policy) InvokeGRPC(ctx context.Context, limits Limits, call func(ctx context.Context, n int) error) error {
	b := schedule{p: p}
	inRetry := false
	for n := 1; ; n++ {
		actx := ctx
		var cancel context.CancelCauseFunc
		var timer clock.Timer
		if n > 1 {
			actx = metadata.AppendToOutgoingContext(actx, PreviousAttemptsKey, strconv.Itoa(n-1))
		}
		if p.perTry > 0 {
			actx, cancel = context.WithCancelCause(actx)
			c := cancel
			timer = p.env.clock.AfterFunc(p.perTry, func() { c(ErrPerTryTimeout) })
		}
		err := call(actx, n)
		perTryFired := false
		if cancel != nil {
			timer.Stop()
			perTryFired = errors.Is(context.Cause(actx), ErrPerTryTimeout) && ctx.Err() == nil
			cancel(nil)
		}
		if inRetry {
			limits.RetryDone()
			inRetry = false
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
		if perTryFired {
			err = status.Error(codes.DeadlineExceeded, "upstream request timeout (per-try timeout)")
		}
		var r interface{ Retriable() bool }
		retriable := !(errors.As(err, &r) && !r.Retriable())
		if retriable {
			if perTryFired {
				retriable = p.RetryFailure(failure.PerTryTimeout)
			} else {
				retriable = p.RetryGRPC(status.Code(err))
			}
		}
		if !retriable || n > p.retries || !limits.AllowRetry() {
			return err
		}
		inRetry = true
		wait, ok := b.next(ctx)
		if !ok {
			limits.RetryDone()
			return err
		}
		if serr := clock.Sleep(ctx, p.env.clock, wait); serr != nil {
			limits.RetryDone()
			return status.FromContextError(serr).Err()
		}
	}
}
