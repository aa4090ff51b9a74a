// Command xds runs an xDS control plane (go-control-plane's ADS server and
// snapshot cache) and a switchyard client in one process, on loopback. The
// control plane shifts a canary of reviews from v1 to v2 — 90/10, then
// 50/50, then 0/100 — and the client, configured only by what the control
// plane pushes, sends real HTTP requests to two real backends. It prints,
// per step, how long the push took to change the client's routing and
// where the requests went, and exits non-zero if the traffic did not follow
// the weights (binomial bounds, alpha = 1e-6).
//
//	go run ./examples/xds
//	go run ./examples/xds -n 5000
//
// Against istiod, the same client takes its bootstrap from the environment
// that Istio's grpc-agent injection writes:
//
//	b, err := xds.BootstrapFromEnv()
//	m, err := xds.NewMesh(ctx, b)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/xds"
)

const (
	nodeID   = "sidecar~127.0.0.1~example.default~default.svc.cluster.local"
	service  = "reviews.default.svc.cluster.local:9080"
	routeCfg = "outbound|9080||reviews.default.svc.cluster.local"
	v1       = "outbound|9080|v1|reviews.default.svc.cluster.local"
	v2       = "outbound|9080|v2|reviews.default.svc.cluster.local"
)

func main() {
	n := flag.Int("n", 2000, "requests per step")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := run(ctx, *n); err != nil {
		fmt.Fprintln(os.Stderr, "xds:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int) error {
	// Two backends, one per version.
	addrV1, stop1, err := serve("v1")
	if err != nil {
		return err
	}
	defer stop1()
	addrV2, stop2, err := serve("v2")
	if err != nil {
		return err
	}
	defer stop2()

	// The control plane.
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(ctx, cache, nil))
	go srv.Serve(lis)
	defer srv.Stop()
	version := 0
	push := func(w1, w2 uint32) error {
		version++
		snap, err := cachev3.NewSnapshot(strconv.Itoa(version), snapshot(addrV1, addrV2, w1, w2))
		if err != nil {
			return err
		}
		return cache.SetSnapshot(ctx, nodeID, snap)
	}
	if err := push(90, 10); err != nil {
		return err
	}

	// The client: a bootstrap like the one Istio's grpc-agent writes.
	b, err := xds.ParseBootstrap([]byte(`{
	  "xds_servers": [{"server_uri": "` + lis.Addr().String() + `", "channel_creds": [{"type": "insecure"}]}],
	  "node": {"id": "` + nodeID + `", "metadata": {"NAMESPACE": "default"}}
	}`))
	if err != nil {
		return err
	}
	m, err := xds.NewMesh(ctx, b)
	if err != nil {
		return err
	}
	defer m.Close()
	client := &http.Client{Transport: m.Transport(nil)}

	fmt.Printf("%-8s %8s %8s %8s %8s  %s\n", "step", "weights", "v1", "v2", "errors", "push applied after")
	var failed []string
	for i, w := range [][2]uint32{{90, 10}, {50, 50}, {0, 100}} {
		took := time.Duration(0)
		if i > 0 {
			start := time.Now()
			if err := push(w[0], w[1]); err != nil {
				return err
			}
			if err := waitFor(ctx, m, w[1]); err != nil {
				return err
			}
			took = time.Since(start)
		}
		got := map[string]int{}
		for range n {
			resp, err := client.Get("http://" + service + "/")
			if err != nil {
				got["error"]++
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[string(body)]++
		}
		applied := "(initial sync)"
		if i > 0 {
			applied = took.Round(10 * time.Microsecond).String()
		}
		fmt.Printf("%-8d %8s %8d %8d %8d  %s\n", i+1, fmt.Sprintf("%d/%d", w[0], w[1]), got["v1"], got["v2"], got["error"], applied)
		lo, hi := stat.BinomialInterval(n, float64(w[1])/100)
		if got["error"] > 0 || got["v2"] < lo || got["v2"] > hi {
			failed = append(failed, fmt.Sprintf("step %d: v2 got %d of %d, want %d..%d and no error", i+1, got["v2"], n, lo, hi))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("traffic did not follow the weights: %v", failed)
	}
	fmt.Println("traffic followed every push")
	return nil
}

// waitFor waits until the mesh sends share percent of the traffic to v2.
func waitFor(ctx context.Context, m *xds.Mesh, share uint32) error {
	req, _ := http.NewRequest(http.MethodGet, "http://"+service+"/", nil)
	for {
		got := 0.0
		for _, d := range m.Explain(req).Destinations {
			if d.Subset == "v2" {
				got = d.Share
			}
		}
		if int(got*100+0.5) == int(share) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("the push never took effect"), m.Err())
		case <-time.After(50 * time.Microsecond):
		}
	}
}

// serve starts an HTTP backend that answers its name.
func serve(name string) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }), ReadHeaderTimeout: 10 * time.Second}
	go s.Serve(lis)
	return lis.Addr().String(), func() { s.Close() }, nil
}

// snapshot is what an Istio control plane would send for reviews with a
// DestinationRule of subsets v1 and v2 and a VirtualService splitting them.
func snapshot(addrV1, addrV2 string, w1, w2 uint32) map[string][]types.Resource {
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	hcm := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads, RouteConfigName: routeCfg}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}},
	}
	route := &routev3.RouteConfiguration{Name: routeCfg, VirtualHosts: []*routev3.VirtualHost{{
		Name: service, Domains: []string{"reviews.default.svc.cluster.local", service},
		Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
					{Name: v1, Weight: wrapperspb.UInt32(w1)}, {Name: v2, Weight: wrapperspb.UInt32(w2)},
				}}},
				Timeout: durationpb.New(0),
			}},
		}},
	}}}
	cluster := func(name string) *clusterv3.Cluster {
		return &clusterv3.Cluster{
			Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads},
			ConnectTimeout:   durationpb.New(time.Second),
		}
	}
	return map[string][]types.Resource{
		resourcev3.ListenerType: {&listenerv3.Listener{Name: service, ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(hcm)}}},
		resourcev3.RouteType:    {route},
		resourcev3.ClusterType:  {cluster(v1), cluster(v2)},
		resourcev3.EndpointType: {endpoints(v1, addrV1), endpoints(v2, addrV2)},
	}
}

func endpoints(cluster, addr string) *endpointv3.ClusterLoadAssignment {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
			}}},
		}}}},
	}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}
