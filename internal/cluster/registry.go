package cluster

import (
	"sort"
	"strings"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
	"github.com/switchyard-go/switchyard/internal/visibility"
	"github.com/switchyard-go/switchyard/subset"
)

// Registry is the compiled form of a set of ServiceEntries and
// DestinationRules. It is immutable and safe for concurrent use.
type Registry struct {
	services map[string]*Service
	wildcard []*Service // services with a "*." host, longest suffix first
	warnings []*fielderr.Error
}

// Warnings returns what Compile found valid but probably not meant: rules
// for hosts no ServiceEntry defines, subsets that select no endpoint.
func (r *Registry) Warnings() []*fielderr.Error { return r.warnings }

// mergeRules merges the DestinationRules of one host as Istio does when
// several apply (ENABLE_ENHANCED_DESTINATIONRULE_MERGE, its default): the
// caller's namespace's rules win over every other namespace's, as a
// sidecar looks its own namespace up first; among those that remain, in
// order, subsets are concatenated (a name defined twice keeps its first
// definition) and the first trafficPolicy wins whole.
func mergeRules(drs []*subset.DestinationRule, clientNamespace string, errs *fielderr.List) *subset.DestinationRule {
	if clientNamespace != "" {
		var own []*subset.DestinationRule
		for _, dr := range drs {
			if dr.Namespace == clientNamespace {
				own = append(own, dr)
			}
		}
		if len(own) > 0 {
			drs = own
		}
	}
	if len(drs) == 1 {
		return drs[0]
	}
	merged := *drs[0]
	merged.Subsets = append([]subset.Subset(nil), drs[0].Subsets...)
	have := map[string]bool{}
	for _, s := range merged.Subsets {
		have[s.Name] = true
	}
	for _, dr := range drs[1:] {
		var e fielderr.List
		if merged.TrafficPolicy == nil {
			merged.TrafficPolicy = dr.TrafficPolicy
		} else if dr.TrafficPolicy != nil {
			e.Warn("spec.trafficPolicy", "ignored: %s, an earlier rule for host %s, has a trafficPolicy, and Istio keeps the first", fielderr.Resource("DestinationRule", drs[0].Namespace, drs[0].Name), fielderr.Quote(dr.Host))
		}
		for i, s := range dr.Subsets {
			if have[s.Name] {
				e.Warn(fielderr.Index("spec.subsets", i), "ignored: subset %s of host %s is already defined by an earlier rule, and Istio keeps the first", fielderr.Quote(s.Name), fielderr.Quote(dr.Host))
				continue
			}
			have[s.Name] = true
			merged.Subsets = append(merged.Subsets, s)
		}
		e.Locate(fielderr.Resource("DestinationRule", dr.Namespace, dr.Name))
		errs.AddList(&e)
	}
	return &merged
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
	// Previous is the registry being replaced, whose endpoint state
	// (active requests, ejections, pool counts) is carried over; nil for
	// the first. Compile does not change it: Activate does.
	Previous *Registry
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
		compileEntry(r, &entries[i], opts.Client.Namespace, &e)
		e.Locate(fielderr.Resource("ServiceEntry", entries[i].Namespace, entries[i].Name))
		errs.AddList(&e)
	}
	byHost := map[string][]*subset.DestinationRule{}
	var hosts []string // in the order of their first rule
	for i := range rules {
		dr := &rules[i]
		var e fielderr.List
		host := strings.ToLower(dr.Host)
		svc := r.services[host]
		switch {
		case dr.Host == "":
			e.Add("spec.host", "required")
		case hostname.Wildcard(dr.Host) != nil:
			e.Add("spec.host", "%v", hostname.Wildcard(dr.Host))
		case svc == nil:
			e.Warn("spec.host", "no ServiceEntry defines host %s, so this rule applies to nothing (in a cluster Istio would apply it to a Kubernetes service of that name: add a ServiceEntry that lists its endpoints)", fielderr.Quote(dr.Host))
		case opts.Client.Namespace != "" && !visibility.Visible(dr.Namespace, dr.ExportTo, opts.Client.Namespace):
			e.Warn("spec.exportTo", "not exported to this process's namespace %s, so it does not apply here", fielderr.Quote(opts.Client.Namespace))
		default:
			if byHost[host] == nil {
				hosts = append(hosts, host)
			}
			byHost[host] = append(byHost[host], dr)
		}
		validateRule(dr, svc, &e)
		e.Locate(fielderr.Resource("DestinationRule", dr.Namespace, dr.Name))
		errs.AddList(&e)
	}
	for _, host := range hosts {
		r.services[host].rule = mergeRules(byHost[host], opts.Client.Namespace, &errs)
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
	r.warnings = errs.Warnings()
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
