package cluster

import (
	"sort"
	"strings"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/mtls"
	"github.com/switchyard-go/switchyard/subset"
)

// Registry is the compiled form of a set of ServiceEntries and
// DestinationRules. It is immutable and safe for concurrent use.
type Registry struct {
	services map[string]*Service
	wildcard []*Service // services with a "*." host, longest suffix first
}

// Options are the inputs of Compile besides the configuration.
type Options struct {
	// Rand feeds the balancers; nil means math/rand/v2.
	Rand balancer.Rand
	// Clock runs outlier detection's sweeps; nil means the real clock.
	Clock clock.Clock
	// Client describes the caller for locality load balancing; with no
	// locality, locality load balancing is off.
	Client Client
	// OnEjection, if set, is told of every ejection and return.
	OnEjection func(cluster *Cluster, e ejection.Event)
	// Workload supplies the workload's certificates for ISTIO_MUTUAL;
	// without it, a rule with ISTIO_MUTUAL is an error.
	Workload *mtls.Source
	// Previous is the registry being replaced, whose endpoint state
	// (active requests, ejections, pool counts) is carried over; nil for
	// the first. Compile does not change it: Activate does.
	Previous *Registry

	tls *tlsReader // set by Compile
}

// Activate puts a compiled registry to work: it starts outlier detection's
// sweeps and applies connection-pool limits to limiters carried over from
// the previous registry, whose sweeps it stops. Call it once, when the
// registry starts serving.
func (r *Registry) Activate(prev *Registry) {
	if prev != nil {
		prev.Stop()
	}
	for _, svc := range r.services {
		for _, c := range svc.clusters {
			if c.limiter != nil {
				c.limiter.SetLimits(c.limits)
			}
			if c.detector != nil {
				c.detector.Start()
			}
		}
	}
}

// Stop ends the registry's outlier sweeps.
func (r *Registry) Stop() {
	for _, svc := range r.services {
		for _, c := range svc.clusters {
			if c.detector != nil {
				c.detector.Stop()
			}
		}
	}
}

// Compile validates ServiceEntries and DestinationRules and builds a
// Registry. Every problem is reported, each naming its resource and field.
func Compile(entries []subset.ServiceEntry, rules []subset.DestinationRule, opts Options) (*Registry, error) {
	var errs fielderr.List
	r := &Registry{services: map[string]*Service{}}
	for i := range entries {
		var e fielderr.List
		compileEntry(r, &entries[i], &e)
		e.Locate(fielderr.Resource("ServiceEntry", entries[i].Namespace, entries[i].Name))
		errs.Merge("", e.Err())
	}
	opts.tls = &tlsReader{workload: opts.Workload, read: map[*subset.ClientTLS]*tlsFiles{}}
	seenRule := map[string]string{}
	for i := range rules {
		dr := &rules[i]
		where := fielderr.Resource("DestinationRule", dr.Namespace, dr.Name)
		var e fielderr.List
		host := strings.ToLower(dr.Host)
		svc := r.services[host]
		switch {
		case dr.Host == "":
			e.Add("spec.host", "required")
		case seenRule[host] != "":
			e.Add("spec.host", "host %s already has %s; merge the two rules", fielderr.Quote(dr.Host), seenRule[host])
		case svc == nil:
			e.Add("spec.host", "no ServiceEntry defines host %s; add one that lists its endpoints", fielderr.Quote(dr.Host))
		default:
			seenRule[host] = where
			svc.rule = dr
		}
		validateRule(dr, svc, opts.tls, &e)
		e.Locate(where)
		errs.Merge("", e.Err())
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for _, svc := range r.services {
		if err := buildClusters(svc, opts); err != nil {
			errs.Merge("", err)
		}
		if strings.HasPrefix(svc.Host, "*.") {
			r.wildcard = append(r.wildcard, svc)
		}
	}
	sort.Slice(r.wildcard, func(i, j int) bool { return len(r.wildcard[i].Host) > len(r.wildcard[j].Host) })
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// Lookup returns the service called host (lower-case, without a port),
// matching "*." wildcard hosts by suffix, or nil.
func (r *Registry) Lookup(host string) *Service {
	if s, ok := r.services[host]; ok {
		return s
	}
	for _, s := range r.wildcard {
		if strings.HasSuffix(host, s.Host[1:]) {
			return s
		}
	}
	return nil
}

// All returns the registry's services ordered by host.
func (r *Registry) All() []*Service {
	out := make([]*Service, 0, len(r.services))
	for _, s := range r.services {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
