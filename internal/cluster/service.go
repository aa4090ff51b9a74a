package cluster

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/subset"
)

// Service is one compiled ServiceEntry host.
type Service struct {
	// Host is the name the service is called by.
	Host string
	// Ports are the service ports, by number.
	Ports []subset.Port
	// Passthrough is true when the service has no endpoints of its own
	// (resolution NONE): requests go to the address the caller asked for.
	Passthrough bool

	entry    *subset.ServiceEntry
	rule     *subset.DestinationRule
	clusters []*Cluster // ordered by subset and port; a few, so scanned
	// dynamic, when set, replaces the entry's workloads: what the
	// endpoint fast path (SetEndpoints) was given last.
	dynamic atomic.Pointer[[]subset.WorkloadEntry]
	// gen is the compilation that built the service (0 while it builds);
	// ruled the last one that gave it a rule. Only Compile, serialised,
	// reads and writes them.
	gen, ruled uint64
	// warns are the warnings of the entry (on the service of its first
	// host), ruleWarns those of the rules merged into rule: repeated when
	// a later compilation reuses the service unchanged.
	warns, ruleWarns []*fielderr.Error
}

// Entry returns the ServiceEntry the service comes from. It must not be
// modified.
func (s *Service) Entry() *subset.ServiceEntry { return s.entry }

// Namespace is the namespace of the ServiceEntry that defines the service.
func (s *Service) Namespace() string {
	if s.entry == nil {
		return ""
	}
	return s.entry.Namespace
}

func (s *Service) hasPort(n uint32) bool {
	for _, p := range s.Ports {
		if p.Number == n {
			return true
		}
	}
	return false
}

// workloads returns the service's endpoints: those the endpoint fast path
// set last, else the ServiceEntry's endpoints that have an address or, with
// DNS resolution and none listed, the host itself, as Istio makes each host
// of such an entry its own endpoint.
func (s *Service) workloads() []subset.WorkloadEntry {
	if s.Passthrough {
		return nil
	}
	if d := s.dynamic.Load(); d != nil {
		return *d
	}
	if len(s.entry.Endpoints) == 0 {
		if r := s.entry.Resolution; r == "DNS" || r == "DNS_ROUND_ROBIN" {
			return []subset.WorkloadEntry{{Address: s.Host}}
		}
		return nil
	}
	out := s.entry.Endpoints
	for i, ep := range s.entry.Endpoints {
		if ep.Address == "" { // reached only through its network's gateway
			out = slices.Clone(s.entry.Endpoints[:i])
			for _, ep := range s.entry.Endpoints[i:] {
				if ep.Address != "" {
					out = append(out, ep)
				}
			}
			break
		}
	}
	return out
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Cluster returns the cluster of subset ("" for all endpoints) at port, or
// nil.
func (s *Service) Cluster(subset string, port uint32) *Cluster {
	if s == nil {
		return nil
	}
	for _, c := range s.clusters {
		if c.Port == port && c.Subset == subset {
			return c
		}
	}
	return nil
}

// Clusters returns every cluster of the service, ordered by subset and
// port. The slice must not be modified.
func (s *Service) Clusters() []*Cluster { return s.clusters }

func (s *Service) hasSubset(name string) bool {
	for _, ss := range s.rule.Subsets {
		if ss.Name == name {
			return true
		}
	}
	return false
}

func (s *Service) portList() string {
	var b strings.Builder
	for i, p := range s.Ports {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, p.Number)
	}
	return b.String()
}
