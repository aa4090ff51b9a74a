package switchyard

import (
	"fmt"

	"context"
	"net"

	"github.com/switchyard-go/switchyard/balancer"

	"github.com/switchyard-go/switchyard/internal/cluster"
)

// Outstanding returns the requests admitted and waiting, summed over the
// clusters of host: what a test reads to see that every call and stream
// gave back its connection-pool admission.
func Outstanding(m *Mesh, host string) (active, pending int) {
	svc := m.snap.Load().registry.Lookup(host)
	if svc == nil {
		return 0, 0
	}
	for _, c := range svc.Clusters() {
		if lim := c.Limiter(); lim != nil {
			a, p := lim.Outstanding()
			active, pending = active+a, pending+p
		}
	}
	return active, pending
}

// Overflows returns the requests the limits of host's clusters refused.
func Overflows(m *Mesh, host string) (n int64) {
	svc := m.snap.Load().registry.Lookup(host)
	if svc == nil {
		return 0
	}
	for _, c := range svc.Clusters() {
		if lim := c.Limiter(); lim != nil {
			n += lim.Stats().Overflows.Load()
		}
	}
	return n
}

// Clusters describes every cluster of the configuration in force, one per
// line, sorted: name, balancer, outlier detection, limits, endpoints.
func Clusters(m *Mesh) []string {
	var out []string
	for _, svc := range m.snap.Load().registry.All() {
		for _, c := range svc.Clusters() {
			line := fmt.Sprintf("%s lb=%s od=%v limits=%v", c.Name, c.Balancer(), c.Detector() != nil, c.Limiter() != nil)
			for _, ep := range c.Endpoints() {
				line += fmt.Sprintf(" %s/%d/%s/%v", ep.Address, ep.Weight, ep.Locality, ep.Labels)
			}
			out = append(out, line)
		}
	}
	return out
}

// EndpointStates returns the live state of every endpoint of every
// cluster in force, by cluster name and address.
func EndpointStates(m *Mesh) map[string]*balancer.State {
	out := map[string]*balancer.State{}
	for _, svc := range m.snap.Load().registry.All() {
		for _, c := range svc.Clusters() {
			for _, ep := range c.Endpoints() {
				out[c.Name+" "+ep.Address] = ep.State
			}
		}
	}
	return out
}

// SetEndpointDial replaces how m's DialContext connects to an endpoint,
// for tests that need a connect to hang (connectTimeout).
func SetEndpointDial(m *Mesh, f func(ctx context.Context, network, addr string) (net.Conn, error)) {
	m.dialEndpoint = func(ctx context.Context, _ *cluster.Cluster, network, addr string) (net.Conn, error) {
		return f(ctx, network, addr)
	}
}
