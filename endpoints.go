package switchyard

import (
	"fmt"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/subset"
)

// setEndpoints is the endpoint fast path, for sources that deliver
// endpoints apart from policy (DNS resolution, an xDS client): it replaces
// the workloads of host's ServiceEntry host, in every cluster of it, in
// O(its endpoints), without recompiling anything else. Endpoints that stay
// keep their live state; the connections of those that leave are closed
// as they fall idle. The endpoints last set hold until the next call, or
// until an Update changes the host's ServiceEntry endpoints or resolution.
func (m *Mesh) setEndpoints(host string, ws []subset.WorkloadEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	return m.setEndpointsLocked(host, ws)
}

// setEndpointsLocked is setEndpoints with m.mu held.
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
