package switchyard_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcStrictRatings is ratings on two endpoints that one failure ejects,
// behind a route that retries every gRPC failure a request can cause.
const grpcStrictRatings = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, consecutiveGatewayErrors: 1, interval: 1h, baseEjectionTime: 1h, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 2, retryOn: "internal,resource-exhausted,unavailable,cancelled"}
    route: [{destination: {host: ratings}}]
`

// invalidUTF8 is a request that proto cannot marshal: a string field that
// is not UTF-8.
func invalidUTF8() *testpb.SimpleRequest {
	return &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Message: "\xff"}}
}

// The caller's own malformed request — metadata over the header-list size
// the server allows, metadata gRPC rejects, a message that does not marshal
// or is over the send limit — comes back as it is, with gRPC's status: not
// retried, not counted against the endpoints, which go on serving.
func TestGRPCCallersOwnErrorsAreNotEndpointFailures(t *testing.T) {
	big := strings.Repeat("x", 16<<10)
	cases := []struct {
		name    string
		code    codes.Code
		message string
		unary   func(ctx context.Context, c testpb.TestServiceClient) error
		stream  func(ctx context.Context, c testpb.TestServiceClient) error
	}{
		{
			name: "metadata over the server's header-list limit", code: codes.Internal, message: "header list size",
			unary: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-big", big), &testpb.SimpleRequest{})
				return err
			},
			stream: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.FullDuplexCall(metadata.AppendToOutgoingContext(ctx, "x-big", big))
				return err
			},
		},
		{
			name: "invalid metadata", code: codes.Internal, message: "x-bad",
			unary: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-bad", "line\r\nbreak"), &testpb.SimpleRequest{})
				return err
			},
			stream: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.FullDuplexCall(metadata.AppendToOutgoingContext(ctx, "x-bad", "line\r\nbreak"))
				return err
			},
		},
		{
			name: "a message that does not marshal", code: codes.Internal, message: "marshal",
			unary: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.UnaryCall(ctx, invalidUTF8())
				return err
			},
			stream: func(ctx context.Context, c testpb.TestServiceClient) error {
				s, err := c.FullDuplexCall(ctx)
				if err != nil {
					return err
				}
				if err := s.Send(msg("ok")); err != nil {
					return err
				}
				if _, err := s.Recv(); err != nil { // the endpoint has answered
					return err
				}
				return s.SendMsg(invalidUTF8())
			},
		},
		{
			name: "a message over the send limit", code: codes.ResourceExhausted, message: "larger than max",
			unary: func(ctx context.Context, c testpb.TestServiceClient) error {
				_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte(big)}}, grpc.MaxCallSendMsgSize(1<<10))
				return err
			},
		},
	}
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			var attempts atomic.Int32 // what the mesh sends on, below its interceptors
			setup.server = []grpc.ServerOption{grpc.MaxHeaderListSize(8 << 10)}
			setup.dial = []grpc.DialOption{
				grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
					attempts.Add(1)
					return invoker(ctx, method, req, reply, cc, opts...)
				}),
				grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
					attempts.Add(1)
					return streamer(ctx, desc, cc, method, opts...)
				}),
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					f := newGRPCFixtureWith(t, setup, grpcStrictRatings)
					require.Eventually(t, func() bool {
						f.call(t)
						return f.backend["v1"].count() > 0 && f.backend["v2"].count() > 0
					}, 10*time.Second, time.Millisecond, "both endpoints' connections are ready")
					for _, send := range []func(context.Context, testpb.TestServiceClient) error{c.unary, c.stream} {
						if send == nil {
							continue
						}
						for range 3 {
							attempts.Store(0)
							ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
							err := send(ctx, f.client)
							cancel()
							require.Equal(t, c.code, status.Code(err), "the caller gets gRPC's own status: %v", err)
							assert.Contains(t, status.Convert(err).Message(), c.message)
							assert.Equal(t, int32(1), attempts.Load(), "never retried")
						}
					}
					for _, b := range f.backend {
						b.mu.Lock()
						b.calls = 0
						b.mu.Unlock()
					}
					for range 20 {
						_, err := f.call(t)
						require.NoError(t, err, "no endpoint was ejected")
					}
					assert.Positive(t, f.backend["v1"].count(), "v1 still serves")
					assert.Positive(t, f.backend["v2"].count(), "v2 still serves")
				})
			}
		})
	}
}
