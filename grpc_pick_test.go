package switchyard_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

// fastReconnect makes gRPC retry a failed connection within milliseconds.
var fastReconnect = grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 50 * time.Millisecond}})

// A call routed to a subset whose only endpoint refuses connections fails
// at once with UNAVAILABLE naming the cluster, as HTTP answers 503 "no
// healthy upstream", instead of waiting for its deadline; the other
// subsets serve meanwhile. A call that waits for ready still waits.
func TestGRPCSubsetThatCannotConnectFailsFast(t *testing.T) {
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			setup.refuse = []string{"v2"}
			f := newGRPCFixtureWith(t, setup, grpcVS(`
  - match: [{headers: {x-subset: {exact: v2}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`))
			// A deadline far beyond what failing fast takes, on any machine.
			ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-subset", "v2"), time.Minute)
			defer cancel()
			_, err := f.client.UnaryCall(ctx, &testpb.SimpleRequest{})
			require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), "no healthy upstream")
			assert.Contains(t, status.Convert(err).Message(), "outbound|9080|v2|reviews")
			require.NoError(t, ctx.Err(), "failed fast, not at the deadline")

			_, err = f.client.FullDuplexCall(ctx)
			assert.Equal(t, codes.Unavailable, status.Code(err), "a stream fails as fast: %v", err)

			got, err := f.call(t)
			require.NoError(t, err)
			assert.Equal(t, "v1", got, "the subsets that connect serve")

			// gRPC's wait-for-ready: the call waits for a connection instead.
			short, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-subset", "v2"), 200*time.Millisecond)
			defer cancel()
			_, err = f.client.UnaryCall(short, &testpb.SimpleRequest{}, grpc.WaitForReady(true))
			assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
		})
	}
}

// While an endpoint connects for the first time, a call to it waits, as
// gRPC's balancers make it: it is sent once the connection is ready.
func TestGRPCCallWaitsForAnEndpointStillConnecting(t *testing.T) {
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			gate := make(chan struct{})
			setup.gate = map[string]chan struct{}{"v1": gate}
			f := newGRPCFixtureWith(t, setup, grpcVS(`
  - route: [{destination: {host: reviews, subset: v1}}]
`))
			done := make(chan error, 1)
			go func() {
				_, err := f.call(t)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("the call ended while its endpoint was connecting: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			close(gate)
			require.NoError(t, <-done, "sent once the connection was ready")
		})
	}
}

// An endpoint that refused connections and then starts listening serves
// again: the picker follows the connection's state.
func TestGRPCEndpointThatComesBackServes(t *testing.T) {
	setup := grpcSetup{loopback: true, refuse: []string{"v2"}, dial: []grpc.DialOption{fastReconnect}}
	f := newGRPCFixtureWith(t, setup, grpcVS(`
  - route: [{destination: {host: reviews, subset: v2}}]
`))
	_, err := f.call(t)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	var lis net.Listener
	require.Eventually(t, func() bool {
		lis, err = net.Listen("tcp", f.tcp["v2"])
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the port is free again")
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, f.backend["v2"])
	go srv.Serve(lis)
	defer srv.Stop()
	require.Eventually(t, func() bool {
		got, err := f.call(t)
		return err == nil && got == "v2"
	}, 10*time.Second, 10*time.Millisecond, "calls reach the endpoint once it listens")
}

// warmAll calls key-less until every backend has answered, then forgets
// those calls.
func (f *grpcFixture) warmAll(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		f.call(t)
		return f.backend["v1"].count() > 0 && f.backend["v2"].count() > 0 && f.backend["v3"].count() > 0
	}, 10*time.Second, time.Millisecond)
	for _, b := range f.backend {
		b.mu.Lock()
		b.calls, b.attempts, b.parents = 0, nil, nil
		b.mu.Unlock()
	}
}

// The gRPC twin of TestConsistentHashRetriesKeepAffinity: retries keep the
// key's endpoint (Istio's rule), unless retryIgnorePreviousHosts: true
// moves them along the ring.
func TestGRPCConsistentHashRetriesKeepAffinity(t *testing.T) {
	const vsRetry = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{retries: {attempts: 2, retryOn: unavailable %s}, route: [{destination: {host: ratings}}]}]
`
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			f := newGRPCFixtureWith(t, setup, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+fmt.Sprintf(vsRetry, ""))
			f.warmAll(t)
			owner, err := f.call(t, "x-user", "k")
			require.NoError(t, err)
			f.backend[owner].failNext(2, codes.Unavailable)
			got, err := f.call(t, "x-user", "k")
			require.NoError(t, err)
			assert.Equal(t, owner, got)
			assert.Equal(t, 4, f.backend[owner].count(), "Istio keeps affinity: retries go to the key's endpoint")

			g := newGRPCFixtureWith(t, setup, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+fmt.Sprintf(vsRetry, ", retryIgnorePreviousHosts: true"))
			g.warmAll(t)
			owner, err = g.call(t, "x-user", "k")
			require.NoError(t, err)
			g.backend[owner].failAll(codes.Unavailable)
			got, err = g.call(t, "x-user", "k")
			require.NoError(t, err)
			assert.NotEqual(t, owner, got, "retryIgnorePreviousHosts: true moves along the ring")
		})
	}
}

// The gRPC twin of TestRetryRemoteLocalities: a retry leaves the locality
// its attempt failed in.
func TestGRPCRetryRemoteLocalities(t *testing.T) {
	f := newGRPCFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, locality: us-east/a/1}
  - {address: 10.0.0.2, locality: us-east/a/1}
  - {address: 10.0.0.3, locality: us-west/a/1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{retries: {attempts: 1, retryOn: unavailable, retryRemoteLocalities: true}, route: [{destination: {host: ratings}}]}]
`, switchyard.WithRand(meshtest.NewRand(2)))
	f.warmAll(t)
	f.backend["v1"].failAll(codes.Unavailable)
	f.backend["v2"].failAll(codes.Unavailable)
	for range 30 {
		got, err := f.call(t)
		require.NoError(t, err)
		assert.Equal(t, "v3", got, "a retry leaves the locality it failed in")
	}
}

// On a consistent-hash cluster, the keys of an endpoint that cannot connect
// go to the next ready endpoint along the ring, as gRPC's ring hash sends
// them, and every key still sticks to one endpoint.
func TestGRPCConsistentHashPassesOverAnEndpointThatCannotConnect(t *testing.T) {
	for _, setup := range bothNetworks {
		t.Run(setup.name(), func(t *testing.T) {
			setup.refuse = []string{"v2"}
			f := newGRPCFixtureWith(t, setup, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+`
---
`+grpcVS(`
  - route: [{destination: {host: ratings}}]
`)[1:])
			require.Eventually(t, func() bool {
				f.call(t)
				return f.backend["v1"].count() > 0 && f.backend["v3"].count() > 0
			}, 10*time.Second, time.Millisecond, "the endpoints that can connect are ready")
			owners := map[string]string{}
			for k := range 30 {
				key := fmt.Sprint("u", k)
				for range 3 {
					got, err := f.call(t, "x-user", key)
					require.NoError(t, err)
					require.NotEqual(t, "v2", got)
					if prev, ok := owners[key]; ok {
						require.Equal(t, prev, got, "key %s sticks", key)
					}
					owners[key] = got
				}
			}
			assert.Equal(t, 2, distinct(owners))
		})
	}
}

func TestGRPCConsistentHashByMetadata(t *testing.T) {
	f := newGRPCFixture(t, hashedMesh(`    loadBalancer: {consistentHash: {httpHeaderName: x-user}}`)+`
---
`+grpcVS(`
  - route: [{destination: {host: ratings}}]
`)[1:])
	// Warm every connection first: while an endpoint's connection is not
	// ready yet, a hashed call moves along the ring past it.
	require.Eventually(t, func() bool {
		f.call(t)
		return f.backend["v1"].count() > 0 && f.backend["v2"].count() > 0 && f.backend["v3"].count() > 0
	}, 5*time.Second, time.Millisecond)
	owners := map[string]string{}
	for k := range 30 {
		key := fmt.Sprint("u", k)
		for range 3 {
			got, err := f.call(t, "x-user", key)
			require.NoError(t, err)
			if prev, ok := owners[key]; ok {
				require.Equal(t, prev, got)
			}
			owners[key] = got
		}
	}
	assert.Equal(t, 3, distinct(owners))
}
