package cluster

import (
	"fmt"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Target is a route destination resolved against the registry: the clusters
// of one (host, subset), of which the request's port selects one. A target
// Istio accepts but cannot serve — an unknown host, an undefined subset, a
// port the service lacks — has no clusters and a reason: requests routed
// to it get Envoy's cluster_not_found reply.
type Target struct {
	fixed    *Cluster
	clusters []*Cluster // by port number
	missing  string
}

// Target resolves a route destination. A zero port means the port the
// request was sent to, or the service's only port. A destination that
// names no cluster is returned too, as Istio accepts it; Missing says why.
func (r *Registry) Target(host, subset string, port uint32) *Target {
	svc := r.Lookup(strings.ToLower(host))
	if svc == nil {
		return &Target{missing: fmt.Sprintf("no ServiceEntry defines host %s", fielderr.Quote(host))}
	}
	if subset != "" && (svc.rule == nil || !svc.hasSubset(subset)) {
		if svc.rule == nil {
			return &Target{missing: fmt.Sprintf("subset %s of host %s is not defined: no DestinationRule has host %s", fielderr.Quote(subset), fielderr.Quote(host), fielderr.Quote(svc.Host))}
		}
		return &Target{missing: fmt.Sprintf("subset %s of host %s is not defined in %s", fielderr.Quote(subset), fielderr.Quote(host), fielderr.Resource("DestinationRule", svc.rule.Namespace, svc.rule.Name))}
	}
	t := &Target{}
	if port != 0 {
		if !svc.hasPort(port) {
			return &Target{missing: fmt.Sprintf("host %s has no port %d; its ports are %s", fielderr.Quote(host), port, svc.portList())}
		}
		t.fixed = svc.Cluster(subset, port)
		return t
	}
	if len(svc.Ports) == 0 {
		return &Target{missing: fmt.Sprintf("host %s has no ports", fielderr.Quote(host))}
	}
	for _, p := range svc.Ports {
		t.clusters = append(t.clusters, svc.Cluster(subset, p.Number))
	}
	return t
}

// Missing returns why the target names no cluster, or "" when it does.
func (t *Target) Missing() string { return t.missing }

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
