package cluster

import (
	"fmt"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Target is a route destination resolved against the registry: the clusters
// of one (host, subset), of which the request's port selects one.
type Target struct {
	fixed    *Cluster
	clusters []*Cluster // by port number
}

// Target resolves a route destination. A zero port means the port the
// request was sent to, or the service's only port.
func (r *Registry) Target(host, subset string, port uint32) (*Target, error) {
	svc := r.Lookup(strings.ToLower(host))
	if svc == nil {
		return nil, fmt.Errorf("no ServiceEntry defines host %s; add one that lists its endpoints", fielderr.Quote(host))
	}
	if subset != "" && (svc.rule == nil || !svc.hasSubset(subset)) {
		if svc.rule == nil {
			return nil, fmt.Errorf("subset %s of host %s is not defined: no DestinationRule has host %s", fielderr.Quote(subset), fielderr.Quote(host), fielderr.Quote(svc.Host))
		}
		return nil, fmt.Errorf("subset %s of host %s is not defined in %s", fielderr.Quote(subset), fielderr.Quote(host), fielderr.Resource("DestinationRule", svc.rule.Namespace, svc.rule.Name))
	}
	t := &Target{}
	if port != 0 {
		if !svc.hasPort(port) {
			return nil, fmt.Errorf("host %s has no port %d; its ports are %s", fielderr.Quote(host), port, svc.portList())
		}
		t.fixed = svc.Cluster(subset, port)
		return t, nil
	}
	for _, p := range svc.Ports {
		t.clusters = append(t.clusters, svc.Cluster(subset, p.Number))
	}
	return t, nil
}

// Cluster returns the cluster for a request sent to requestPort, or nil when
// the destination names no port, the service has several and none is
// requestPort.
func (t *Target) Cluster(requestPort uint32) *Cluster {
	if t.fixed != nil {
		return t.fixed
	}
	for _, c := range t.clusters {
		if c.Port == requestPort {
			return c
		}
	}
	if len(t.clusters) == 1 {
		return t.clusters[0]
	}
	return nil
}
