package xds_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-go/switchyard/xds"
)

// A control plane (go-control-plane's server, standing in for istiod)
// routes reviews:9080 to a backend; a switchyard client follows it.
func ExampleNewMesh() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello from reviews v1")
	}))
	defer backend.Close()

	// The control plane, with one service.
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	snap, _ := cachev3.NewSnapshot("1", exampleResources(backend.Listener.Addr().String()))
	cache.SetSnapshot(context.Background(), "example-node", snap)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), cache, nil))
	go srv.Serve(lis)
	defer srv.Stop()

	// The client. In a pod, xds.BootstrapFromEnv reads what Istio's
	// grpc-agent injection writes.
	b, err := xds.ParseBootstrap([]byte(`{
	  "xds_servers": [{"server_uri": "` + lis.Addr().String() + `", "channel_creds": [{"type": "insecure"}]}],
	  "node": {"id": "example-node"}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := xds.NewMesh(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	client := &http.Client{Transport: m.Transport(nil)}
	resp, err := client.Get("http://reviews.default.svc.cluster.local:9080/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	req, _ := http.NewRequest(http.MethodGet, "http://reviews.default.svc.cluster.local:9080/", nil)
	for _, d := range m.Explain(req).Destinations {
		fmt.Printf("%s subset %s: %.0f%%\n", d.Host, d.Subset, 100*d.Share)
	}
	// Output:
	// hello from reviews v1
	// reviews.default.svc.cluster.local subset v1: 100%
}

// exampleResources is what istiod sends for reviews with a rule routing
// everything to subset v1.
func exampleResources(addr string) map[string][]types.Resource {
	const (
		name    = "reviews.default.svc.cluster.local:9080"
		route   = "outbound|9080||reviews.default.svc.cluster.local"
		cluster = "outbound|9080|v1|reviews.default.svc.cluster.local"
	)
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	router, _ := anypb.New(&routerv3.Router{})
	hcm, _ := anypb.New(&hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads, RouteConfigName: route}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return map[string][]types.Resource{
		resourcev3.ListenerType: {&listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: hcm}}},
		resourcev3.RouteType: {&routev3.RouteConfiguration{Name: route, VirtualHosts: []*routev3.VirtualHost{{
			Name: name, Domains: []string{"reviews.default.svc.cluster.local", name},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}, Timeout: durationpb.New(0)}},
			}},
		}}}},
		resourcev3.ClusterType: {&clusterv3.Cluster{
			Name: cluster, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads},
		}},
		resourcev3.EndpointType: {&endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
				}}},
			}}}},
		}}}},
	}
}

// While the control plane is away the mesh keeps routing by the last
// configuration it received, and says so: Status, Explain's Source, the
// admin page and the switchyard.xds.connected metric.
func ExampleMesh_Status() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello from reviews v1")
	}))
	defer backend.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, stopControlPlane := exampleMesh(ctx, backend.Listener.Addr().String()) // as in ExampleNewMesh
	defer m.Close()
	s := m.Status()
	fmt.Println("connected:", s.Connected, s.Counts["Cluster"])

	stopControlPlane()
	for m.Status().Connected && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	resp, err := (&http.Client{Transport: m.Transport(nil)}).Get("http://reviews.default.svc.cluster.local:9080/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("connected:", m.Status().Connected, "·", string(body))
	req, _ := http.NewRequest(http.MethodGet, "http://reviews.default.svc.cluster.local:9080/", nil)
	fmt.Println(strings.Contains(m.Explain(req).Source, "the last configuration received stays in force"))
	// Output:
	// connected: true map[ACKED:1]
	// connected: false · hello from reviews v1
	// true
}

// exampleMesh starts ExampleNewMesh's control plane for a backend and a
// mesh following it.
func exampleMesh(ctx context.Context, backend string) (*xds.Mesh, func()) {
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	snap, _ := cachev3.NewSnapshot("1", exampleResources(backend))
	cache.SetSnapshot(ctx, "example-node", snap)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(ctx, cache, nil))
	go srv.Serve(lis)
	b, err := xds.ParseBootstrap([]byte(`{"xds_servers": [{"server_uri": "` + lis.Addr().String() + `", "channel_creds": [{"type": "insecure"}]}], "node": {"id": "example-node"}}`))
	if err != nil {
		log.Fatal(err)
	}
	m, err := xds.NewMesh(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	return m, srv.Stop
}
