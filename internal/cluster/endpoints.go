package cluster

import (
	"fmt"
	"net/netip"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
	"github.com/switchyard-go/switchyard/subset"
)

// SetEndpoints is the endpoint fast path: it replaces the workloads of the
// service, in every cluster of it (each subset selecting among them by
// labels, each port), in place and at once, in O(its endpoints): no other
// service is touched, and routes keep pointing to the same clusters.
// Endpoints that stay (same address in a cluster) keep their live state:
// requests in flight and counted, ejections, slow-start join time, latency
// average. It returns the endpoints that left, for their connections to
// be closed.
//
// The registry is otherwise immutable; SetEndpoints is its one mutation,
// for sources that deliver endpoints apart from policy (DNS, xDS). Calls
// must not run concurrently with each other or with an Activate or Stop of
// a registry holding the service; the mesh serialises them.
func (s *Service) SetEndpoints(ws []subset.WorkloadEntry) (gone []*balancer.Endpoint, err error) {
	if s.Passthrough {
		return nil, fmt.Errorf("host %s has resolution NONE: it has no endpoints to set", fielderr.Quote(s.Host))
	}
	var errs fielderr.List
	for i, w := range ws {
		path := fielderr.Index("endpoints", i)
		if _, err := netip.ParseAddr(w.Address); err != nil {
			if err := hostname.FQDN(w.Address); err != nil {
				errs.Add(fielderr.Join(path, "address"), "not an IP address, and not a host name: %v", err)
			}
		}
		for name, n := range w.Ports {
			if !s.hasPortName(name) {
				errs.Add(fielderr.Key(fielderr.Join(path, "ports"), name), "no service port of %s is named %s", fielderr.Quote(s.Host), fielderr.Quote(name))
			}
			if n == 0 || n > 65535 {
				errs.Add(fielderr.Key(fielderr.Join(path, "ports"), name), "port %d is out of range 1-65535", n)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	ws = append([]subset.WorkloadEntry(nil), ws...)
	s.dynamic.Store(&ws)
	names := &hostPorts{workloads: ws}
	for _, c := range s.clusters {
		g, e := c.setWorkloads(ws, names)
		gone = append(gone, g...)
		if err == nil {
			err = e
		}
	}
	return gone, err
}

// setWorkloads replaces the cluster's endpoints by those of ws it selects,
// their addresses memoised in names.
func (c *Cluster) setWorkloads(ws []subset.WorkloadEntry, names *hostPorts) (gone []*balancer.Endpoint, err error) {
	if c.Passthrough {
		return nil, nil
	}
	c.mu.Lock()
	old := c.endpoints()
	all := endpointsFor(ws, c.selector, c.svcPort, old.all, c.clock.Now(), names)
	err = c.replace(all, old.detector)
	next, active := c.endpoints().detector, c.active
	c.mu.Unlock()
	if active && next != nil {
		next.Start()
	}
	if old.detector != nil {
		old.detector.Stop()
	}
	kept := make(map[*balancer.State]bool, len(all))
	for _, e := range all {
		kept[e.State] = true
	}
	for _, e := range old.all {
		if !kept[e.State] {
			gone = append(gone, e)
		}
	}
	return gone, err
}

func (s *Service) hasPortName(name string) bool {
	for _, p := range s.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}
