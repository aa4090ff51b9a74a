package xds

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-go/switchyard/pool"
)

// Clusters of the same connection-pool and load-balancer settings share
// one decoded copy of them; clusters that differ do not, and settings with
// pointers of their own are never shared.
func TestDecodedClustersShareEqualSettings(t *testing.T) {
	decode := func(c *clusterv3.Cluster) *clusterIR {
		t.Helper()
		ir, err := translateCluster(c, false, nil)
		require.NoError(t, err)
		return ir
	}
	a, b := decode(edsCluster("a")), decode(edsCluster("b"))
	require.Same(t, a.policy.ConnectionPool, b.policy.ConnectionPool)
	require.Same(t, a.policy.LoadBalancer, b.policy.LoadBalancer)

	limited := edsCluster("c")
	limited.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(10)}}}
	limited.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	c := decode(limited)
	require.NotSame(t, a.policy.ConnectionPool, c.policy.ConnectionPool)
	require.Equal(t, int32(10), c.policy.ConnectionPool.HTTP.HTTP2MaxRequests)
	require.Equal(t, int32(1024), a.policy.ConnectionPool.HTTP.HTTP2MaxRequests)
	require.NotSame(t, a.policy.LoadBalancer, c.policy.LoadBalancer)

	keepalive := edsCluster("d")
	keepalive.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{KeepaliveProbes: wrapperspb.UInt32(3)}}
	d1, d2 := decode(keepalive), decode(keepalive)
	require.NotSame(t, d1.policy.ConnectionPool, d2.policy.ConnectionPool)
	require.Equal(t, &pool.TCPKeepalive{Probes: 3}, d1.policy.ConnectionPool.TCP.TCPKeepalive)
}
