package xdsclient

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// processCPU is the user and system CPU time the process has used: the
// client's work includes its callback goroutine, and on a shared machine
// CPU time is steadier than elapsed time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type doneWatcher struct{}

func (doneWatcher) ResourceChanged(_ ResourceData, done func()) { done() }
func (doneWatcher) ResourceError(_ error, done func())          { done() }
func (doneWatcher) AmbientError(_ error, done func())           { done() }

// BenchmarkEDSUpdate: the client's CPU and allocations for one EDS update of
// a cluster of 10 endpoints, without the network: unmarshal the
// DiscoveryResponse (as gRPC's codec does), decode and validate the
// resource, update the cache, deliver ResourceChanged through the callback
// queue and wait for done, build and marshal the ACK.
func BenchmarkEDSUpdate(b *testing.B) {
	clk := clock.NewFake(time.Unix(0, 0))
	c, err := New(Config{
		Server: ServerConfig{URI: "passthrough:///unreachable.invalid:1", DialOptions: []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return nil, fmt.Errorf("no network here") }),
		}},
		ResourceTypes: DefaultResourceTypes(),
		Clock:         clk,
		Backoff:       func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Watch(EndpointTypeURL, "reviews-v1", doneWatcher{}); err != nil {
		b.Fatal(err)
	}
	// Wait for the failed connection attempt to settle into its backoff,
	// then stand in for a stream.
	for deadline := time.Now().Add(30 * time.Second); clk.Pending() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the client did not settle into its backoff")
		}
	}
	st := &adsStream{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.stream = st
	c.state[EndpointTypeURL].sent = true
	c.mu.Unlock()

	var wire [2][]byte
	for i := range wire {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: "reviews-v1", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality: &corev3.Locality{Region: "eu", Zone: "eu-1a"},
		}}}
		for j := range 10 {
			cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address: fmt.Sprintf("10.0.%d.%d", i, j+1), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 9080},
					}}},
				}},
				LoadBalancingWeight: wrapperspb.UInt32(1),
			})
		}
		a, err := anypb.New(cla)
		if err != nil {
			b.Fatal(err)
		}
		wire[i], err = proto.Marshal(&discoveryv3.DiscoveryResponse{
			TypeUrl: EndpointTypeURL, VersionInfo: fmt.Sprint(i), Nonce: fmt.Sprint(i), Resources: []*anypb.Any{a},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.Run("unmarshal-only", func(b *testing.B) {
		// The floor: deserialising the response and the resource in it.
		b.ReportAllocs()
		cpu0 := processCPU(b)
		defer func() { b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op") }()
		for i := range b.N {
			resp := new(discoveryv3.DiscoveryResponse)
			if err := proto.Unmarshal(wire[i%2], resp); err != nil {
				b.Fatal(err)
			}
			if err := proto.Unmarshal(resp.GetResources()[0].GetValue(), new(endpointv3.ClusterLoadAssignment)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU(b)
		defer func() { b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op") }()
		for i := range b.N {
			resp := new(discoveryv3.DiscoveryResponse)
			if err := proto.Unmarshal(wire[i%2], resp); err != nil {
				b.Fatal(err)
			}
			fl := c.handleResponse(st, resp)
			if fl == nil || !fl.wait(ctx) {
				b.Fatal("response not applied")
			}
			reqs := c.requests(st)
			if len(reqs) != 1 {
				b.Fatalf("%d requests", len(reqs))
			}
			if _, err := proto.Marshal(reqs[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
