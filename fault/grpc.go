package fault

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/grpccode"
)

// ApplyGRPC runs the fault on a gRPC call: it waits out a drawn delay on
// ctx, then draws the abort, which it returns as a status error (the
// configured grpcStatus, or httpStatus mapped to a gRPC code). It returns
// ctx's status if the context ended during the delay, nil otherwise.
func (i *Injector) ApplyGRPC(ctx context.Context) error {
	if i.drawn(i.delayPerMillion) {
		if err := clock.Sleep(ctx, i.clock, i.delay); err != nil {
			return status.FromContextError(err).Err()
		}
	}
	if i.hasAbort && i.drawn(i.abortPerMillion) {
		return i.abortGRPC()
	}
	return nil
}

// abortGRPC returns the status error of an abort.
func (i *Injector) abortGRPC() error {
	code := i.grpcStatus
	if code < 0 {
		code = grpccode.ForHTTP(i.httpStatus)
	}
	return status.Error(codes.Code(code), AbortBody)
}

// UnaryClientInterceptor applies the fault to unary calls.
func (i *Injector) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := i.ApplyGRPC(ctx); err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor applies the fault to the start of streams.
func (i *Injector) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if err := i.ApplyGRPC(ctx); err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}
