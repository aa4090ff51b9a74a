package switchyard

import (
	"fmt"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/subset"
)

// SetEndpoints replaces the endpoints of the ServiceEntry host host, in
// every cluster of it (each subset keeps those its labels select), in
// O(its endpoints), without recompiling anything else: the endpoint fast
// path for sources that deliver endpoints apart from policy (a DNS
// resolver, an xDS client's EDS). Endpoints that stay (same address and
// port) keep their live state: active requests, outlier ejection, slow
// start; the connections of those that leave are closed as they fall
// idle. It returns an error, and changes nothing, for a host no
// ServiceEntry defines (host is matched exactly, not by wildcard), a host
// of resolution NONE, or an endpoint with a bad address or port. The
// endpoints so set hold until the next SetEndpoints of the host, or until
// an Update changes that ServiceEntry's endpoints, resolution or hosts
// (for resolution DNS, until the resolver's next answer); Config still
// returns the entry's own endpoints.
func (m *Mesh) SetEndpoints(host string, endpoints []subset.WorkloadEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	return m.setEndpointsLocked(host, endpoints)
}

// setEndpointsLocked is SetEndpoints with m.mu held.
func (m *Mesh) setEndpointsLocked(host string, ws []subset.WorkloadEntry) error {
	host = strings.ToLower(host)
	svc := m.snap.Load().registry.Lookup(host)
	if svc == nil || svc.Host != host {
		return fmt.Errorf("switchyard: no ServiceEntry defines host %s", fielderr.Quote(host))
	}
	gone, err := svc.SetEndpoints(ws)
	if err != nil {
		return fmt.Errorf("switchyard: host %s: %w", fielderr.Quote(host), err)
	}
	for _, ep := range gone {
		m.dropTransport(ep.State)
	}
	m.updateResolversOf(host)
	return nil
}
