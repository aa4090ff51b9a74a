package switchyard_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

// grpcLimitedRatings is the ratings cluster on v1's endpoint, at most three
// requests outstanding, behind reviews' route with retries.
const grpcLimitedRatings = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 3}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: ratings}}]
`

func msg(body string) *testpb.StreamingOutputCallRequest {
	return &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(body)}}
}

// waitReleased waits until every admission to ratings has been given back.
func waitReleased(t *testing.T, m *switchyard.Mesh) {
	t.Helper()
	require.Eventually(t, func() bool {
		a, p := switchyard.Outstanding(m, "ratings")
		return a == 0 && p == 0
	}, 10*time.Second, time.Millisecond, "every stream gives back its admission")
}

// assertLimitHolds checks that http2MaxRequests still admits exactly three:
// three streams open, and a call beside them overflows.
func assertLimitHolds(t *testing.T, f *grpcFixture) {
	t.Helper()
	b := f.backend["v1"]
	b.hangAll(true)
	defer b.hangAll(false)
	ctx, cancel := context.WithCancel(context.Background())
	for range 3 {
		_, err := f.client.FullDuplexCall(ctx)
		require.NoError(t, err, "three streams are admitted")
	}
	a, _ := switchyard.Outstanding(f.mesh, "ratings")
	assert.Equal(t, 3, a)
	_, err := f.call(t)
	assert.Equal(t, codes.Unavailable, status.Code(err), "a fourth request overflows: %v", err)
	assert.Contains(t, status.Convert(err).Message(), "overflow")
	cancel()
	waitReleased(t, f.mesh)
}

// Every way a stream can end gives back its connection-pool admission, once:
// with http2MaxRequests: 3, three streams ended each way leave the limit
// admitting exactly three again.
func TestGRPCEveryStreamEndReleasesAdmissionOnce(t *testing.T) {
	ends := []struct {
		name string
		end  func(t *testing.T, f *grpcFixture)
	}{
		{"cancelled before any response", func(t *testing.T, f *grpcFixture) {
			ctx, cancel := context.WithCancel(context.Background())
			s, err := f.client.FullDuplexCall(ctx)
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			cancel() // grpc-go's documented way: nothing more is called
		}},
		{"cancelled after a response", func(t *testing.T, f *grpcFixture) {
			ctx, cancel := context.WithCancel(context.Background())
			s, err := f.client.FullDuplexCall(ctx)
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			_, err = s.Recv()
			require.NoError(t, err)
			cancel()
		}},
		{"received to the end", func(t *testing.T, f *grpcFixture) {
			s, err := f.client.FullDuplexCall(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			require.NoError(t, s.CloseSend())
			_, err = s.Recv()
			require.NoError(t, err)
			_, err = s.Recv()
			require.ErrorIs(t, err, io.EOF)
		}},
		{"ended by the server's status", func(t *testing.T, f *grpcFixture) {
			f.backend["v1"].failNext(1, codes.Internal)
			s, err := f.client.FullDuplexCall(context.Background())
			require.NoError(t, err)
			_, err = s.Recv()
			require.Equal(t, codes.Internal, status.Code(err))
		}},
		{"retried, then received to the end", func(t *testing.T, f *grpcFixture) {
			f.backend["v1"].failNext(1, codes.Unavailable)
			s, err := f.client.FullDuplexCall(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			_, err = s.Recv()
			require.NoError(t, err)
			require.NoError(t, s.CloseSend())
			_, err = s.Recv()
			require.ErrorIs(t, err, io.EOF)
		}},
		{"a failed SendMsg", func(t *testing.T, f *grpcFixture) {
			s, err := f.client.FullDuplexCall(context.Background(), grpc.MaxCallSendMsgSize(4))
			require.NoError(t, err)
			err = s.Send(msg("larger than four bytes"))
			require.Equal(t, codes.ResourceExhausted, status.Code(err))
		}},
		{"a Header that found the stream ended", func(t *testing.T, f *grpcFixture) {
			f.backend["v1"].failNext(1, codes.Internal)
			s, err := f.client.FullDuplexCall(context.Background())
			require.NoError(t, err)
			s.Header() // grpc-go ends the stream here; nothing more is called
		}},
		{"a failed open", func(t *testing.T, f *grpcFixture) {
			ctx := metadata.NewOutgoingContext(context.Background(), metadata.MD{"x-bad": {"line\r\nbreak"}})
			_, err := f.client.FullDuplexCall(ctx)
			require.Equal(t, codes.Internal, status.Code(err))
		}},
		{"its ClientConn closed", func(t *testing.T, f *grpcFixture) {
			conn, err := grpc.NewClient("reviews:9080", f.dial...)
			require.NoError(t, err)
			s, err := testpb.NewTestServiceClient(conn).FullDuplexCall(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			_, err = s.Recv()
			require.NoError(t, err)
			require.NoError(t, conn.Close())
		}},
		{"its ClientConn closed before any response", func(t *testing.T, f *grpcFixture) {
			conn, err := grpc.NewClient("reviews:9080", f.dial...)
			require.NoError(t, err)
			s, err := testpb.NewTestServiceClient(conn).FullDuplexCall(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg("a")))
			require.NoError(t, conn.Close())
		}},
	}
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			for _, e := range ends {
				t.Run(e.name, func(t *testing.T) {
					f := newGRPCFixtureWith(t, setup, grpcLimitedRatings)
					for range 3 {
						e.end(t, f)
					}
					waitReleased(t, f.mesh)
					assertLimitHolds(t, f)
				})
			}
		})
	}
}

// bigMessage is message i of a bidirectional echo: size bytes, its index
// first.
func bigMessage(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// A bidirectional stream sends from one goroutine while another receives,
// as gRPC allows: 64 messages of 1 MiB (256 KiB in memory, where flow
// control fills as surely) echoed over the mesh arrive in order, whether
// the stream commits at once (a message larger than the replay buffer),
// keeps what it sends for replay until the first response, or replays it
// to a second attempt while the caller keeps sending.
func TestGRPCBidiStreamSendsWhileReceiving(t *testing.T) {
	const n = 64
	cases := []struct {
		name      string
		keep      bool // a body limit that keeps everything sent until the first response
		failFirst bool
	}{
		{name: "committed at the first message"},
		{name: "kept for replay until the first response", keep: true},
		{name: "replayed to a second attempt", keep: true, failFirst: true},
	}
	for _, setup := range bothNetworks {
		size := 256 << 10
		if setup.loopback {
			size = 1 << 20
		}
		t.Run(setup.name(), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					var opts []switchyard.Option
					if c.keep {
						opts = append(opts, switchyard.WithBodyLimit(int64(2*n*size)))
					}
					f := newGRPCFixtureWith(t, setup, grpcVS(`
  - retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`), opts...)
					if c.failFirst {
						f.backend["v1"].failNext(1, codes.Unavailable)
					}
					// Generous: the test asserts completion, not speed.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					s, err := f.client.FullDuplexCall(ctx)
					require.NoError(t, err)
					var g errgroup.Group
					g.Go(func() error {
						for i := range n {
							if err := s.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: bigMessage(i, size)}}); err != nil {
								return err
							}
						}
						return s.CloseSend()
					})
					received := 0
					g.Go(func() error {
						for {
							resp, err := s.Recv()
							if errors.Is(err, io.EOF) {
								return nil
							}
							if err != nil {
								return err
							}
							body := resp.GetPayload().GetBody()
							if !bytes.HasPrefix(body, []byte("v1:")) || !bytes.Equal(body[3:], bigMessage(received, size)) {
								return errors.New("an echo arrived out of order or damaged")
							}
							received++
						}
					})
					require.NoError(t, g.Wait())
					assert.Equal(t, n, received)
					if c.failFirst {
						assert.Equal(t, 2, f.backend["v1"].count(), "the second attempt got everything sent")
					}
				})
			}
		})
	}
}

// A stream cancelled while it waits out a retry's back-off ends with
// CANCELED, as a unary call does, not with the failed attempt's status.
func TestGRPCStreamCancelledDuringBackoffIsCanceled(t *testing.T) {
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			clk := meshtest.NewClock(time.Unix(0, 0))
			f := newGRPCFixtureWith(t, setup, grpcVS(`
  - retries: {attempts: 2, retryOn: unavailable}
    route: [{destination: {host: reviews, subset: v1}}]
`), switchyard.WithClock(clk))
			f.backend["v1"].failAll(codes.Unavailable)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := f.client.FullDuplexCall(ctx)
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := s.Recv()
				done <- err
			}()
			// The fake clock never advances: the retry waits out its back-off
			// until the caller cancels.
			require.Eventually(t, func() bool { return clk.Pending() == 1 }, 10*time.Second, time.Millisecond, "the stream waits out a back-off")
			cancel()
			err = <-done
			assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
			assert.Equal(t, 1, f.backend["v1"].count())
		})
	}
}
