package cluster

import (
	"reflect"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
	"github.com/switchyard-go/switchyard/internal/visibility"
	"github.com/switchyard-go/switchyard/mtls"
	"github.com/switchyard-go/switchyard/subset"
)

// Registry is the compiled form of a set of ServiceEntries and
// DestinationRules. It is immutable and safe for concurrent use.
type Registry struct {
	services map[string]*Service
	wildcard []*Service // services with a "*." host, longest suffix first
	fresh    []*Service // the services this registry built
	gen      uint64     // this compilation's number
	warnings []*fielderr.Error
	domain   string // Client.Domain
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
	// Workload supplies the workload's certificates for ISTIO_MUTUAL;
	// without it, a rule with ISTIO_MUTUAL is an error.
	Workload *mtls.Source
	// Previous is the registry being replaced, whose endpoint state
	// (active requests, ejections, pool counts) is carried over; nil for
	// the first. Compile does not change it: Activate does.
	Previous *Registry

	tls    *tlsReader // set by Compile
	client *Client    // Client, shared by the clusters; set by Compile
}

// Activate puts a compiled registry to work: it starts the outlier
// detection sweeps of the clusters it built and applies connection-pool
// limits to the limiters they carried over, and stops the sweeps of the
// clusters of prev it no longer has. Clusters it shares with prev (their
// resources unchanged) go on as they were. Call it once, when the registry
// starts serving. It returns the services of prev that r does not have.
func (r *Registry) Activate(prev *Registry) (replaced []*Service) {
	if prev != nil {
		replaced = r.Replaced(prev)
		for _, svc := range replaced {
			svc.stop()
		}
	}
	for _, svc := range r.fresh {
		for _, c := range svc.clusters {
			if c.limiter != nil {
				c.limiter.SetLimits(c.limits)
			}
			c.mu.Lock()
			c.active = true
			d := c.Detector()
			c.mu.Unlock()
			if d != nil {
				d.Start()
			}
		}
	}
	return replaced
}

// Fresh returns the services this registry built, as opposed to those it
// took unchanged from the registry it replaces.
func (r *Registry) Fresh() []*Service { return r.fresh }

// Replaced returns the services of prev that r does not have: removed, or
// replaced by a fresh one.
func (r *Registry) Replaced(prev *Registry) []*Service {
	var out []*Service
	for host, ps := range prev.services {
		if r.services[host] != ps {
			out = append(out, ps)
		}
	}
	return out
}

// Stop ends the registry's outlier sweeps.
func (r *Registry) Stop() {
	for _, svc := range r.services {
		svc.stop()
	}
}

func (s *Service) stop() {
	for _, c := range s.clusters {
		c.mu.Lock()
		c.active = false
		d := c.Detector()
		c.mu.Unlock()
		if d != nil {
			d.Stop()
		}
	}
}

// Compile validates ServiceEntries and DestinationRules and builds a
// Registry. Every problem is reported, each naming its resource and field.
//
// With opts.Previous, Compile is incremental: a host whose ServiceEntry and
// DestinationRule are unchanged (deep-equal) keeps its Service, clusters
// and all, without being validated again; the others are built afresh,
// carrying over the live state of the endpoints they keep.
func Compile(entries []subset.ServiceEntry, rules []subset.DestinationRule, opts Options) (*Registry, error) {
	var errs fielderr.List
	r := &Registry{services: make(map[string]*Service, len(entries)), gen: generations.Add(1), domain: opts.Client.Domain}
	var prev map[string]*Service
	if opts.Previous != nil {
		prev = opts.Previous.services
	}
	for i := range entries {
		se := &entries[i]
		// Unchanged: valid as before, with the same warnings. Unless one
		// of its hosts is taken already: who keeps a host depends on the
		// other entries (Istio prefers the caller's namespace), which the
		// fresh compile below decides.
		if ps := prevEntry(prev, se); ps != nil && !r.claimsAny(se.Hosts) {
			errs.AddWarnings(ps.warns)
			for _, h := range se.Hosts {
				host := strings.ToLower(h)
				r.services[host] = prev[host]
			}
			continue
		}
		// The services keep a copy of the entry: a pointer into the
		// configuration's slice would keep the whole slice alive for as
		// long as they live, across the updates that reuse them.
		own := *se
		se = &own
		var e fielderr.List
		compileEntry(r, se, opts.Client.Namespace, &e)
		if e.Len() > 0 || len(e.Warnings()) > 0 {
			e.Locate(fielderr.Resource("ServiceEntry", se.Namespace, se.Name))
			if len(se.Hosts) > 0 {
				if svc := r.services[strings.ToLower(se.Hosts[0])]; svc != nil && svc.entry == se {
					svc.warns = e.Warnings()
				}
			}
			errs.AddList(&e)
		}
	}
	opts.tls = &tlsReader{workload: opts.Workload, read: map[*subset.ClientTLS]*tlsFiles{}}
	client := opts.Client
	opts.client = &client
	byHost := map[string][]*subset.DestinationRule{}
	var hosts []string // in the order of their first rule
	for i := range rules {
		dr := &rules[i]
		var e fielderr.List
		host := strings.ToLower(r.Resolve(dr.Host, dr.Namespace))
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
			continue // validated below, with the host's other rules
		}
		validateRule(dr, svc, opts.tls, &e)
		if e.Len() > 0 || len(e.Warnings()) > 0 {
			e.Locate(fielderr.Resource("DestinationRule", dr.Namespace, dr.Name))
			errs.AddList(&e)
		}
	}
	for _, host := range hosts {
		svc, drs := r.services[host], byHost[host]
		var w fielderr.List
		merged := mergeRules(drs, opts.Client.Namespace, &w)
		if r.reused(svc) {
			// One rule: the merged rule is it, and unchanged means valid as
			// before. Of several, the merge drops what earlier ones shadow,
			// which must still be valid: validated again below.
			if svc.rule != nil && len(drs) == 1 && SameRule(svc.rule, merged) {
				svc.ruled = r.gen
				errs.AddWarnings(svc.ruleWarns)
				continue // unchanged, and valid as before
			}
			svc = r.refresh(svc)
		}
		for _, dr := range drs {
			var e fielderr.List
			validateRule(dr, svc, opts.tls, &e)
			e.Locate(fielderr.Resource("DestinationRule", dr.Namespace, dr.Name))
			w.AddList(&e)
		}
		rule := *merged // a copy, as of the entry
		svc.rule, svc.ruled, svc.ruleWarns = &rule, r.gen, w.Warnings()
		errs.AddList(&w)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for _, svc := range r.services {
		if r.reused(svc) && svc.rule != nil && svc.ruled != r.gen {
			svc = r.refresh(svc) // its rule was removed
		}
		if !r.reused(svc) {
			svc.gen = r.gen
			if ps := prev[svc.Host]; ps != nil && ps.dynamic.Load() != nil && sameWorkloadSource(ps.entry, svc.entry) {
				svc.dynamic.Store(ps.dynamic.Load())
			}
			if err := buildClusters(svc, opts); err != nil {
				errs.Merge("", err)
			}
			r.fresh = append(r.fresh, svc)
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

// generations numbers the compilations, so that a service can tell which
// one built it and which one gave it a rule.
var generations atomic.Uint64

// reused reports whether svc was taken from the previous registry.
func (r *Registry) reused(svc *Service) bool { return svc.gen != 0 && svc.gen != r.gen }

// prevEntry returns the previous service of se's first host if se is
// unchanged from the entry that defined it.
func prevEntry(prev map[string]*Service, se *subset.ServiceEntry) *Service {
	if prev == nil || len(se.Hosts) == 0 {
		return nil
	}
	ps := prev[strings.ToLower(se.Hosts[0])]
	if ps == nil || !SameEntry(ps.entry, se) {
		return nil
	}
	for _, h := range se.Hosts[1:] {
		if s := prev[strings.ToLower(h)]; s == nil || s.entry != ps.entry {
			return nil
		}
	}
	return ps
}

// sameWorkloadSource reports whether b takes its workloads from where a
// does, so that the workloads the endpoint fast path gave a's service (a
// resolver's answers) still hold for b's.
func sameWorkloadSource(a, b *subset.ServiceEntry) bool {
	return a.Resolution == b.Resolution && reflect.DeepEqual(a.Endpoints, b.Endpoints) && reflect.DeepEqual(a.Hosts, b.Hosts)
}

// refresh replaces a service taken from the previous registry by a fresh
// one of the same entry, without its rule, to be built anew.
func (r *Registry) refresh(svc *Service) *Service {
	cp := &Service{Host: svc.Host, Ports: svc.Ports, Passthrough: svc.Passthrough, entry: svc.entry, gen: r.gen, warns: svc.warns}
	cp.dynamic.Store(svc.dynamic.Load())
	r.services[svc.Host] = cp
	return cp
}

// DefaultDomain is the cluster's DNS suffix short names resolve under
// unless Client.Domain says otherwise, as istiod's default --domain.
const DefaultDomain = "cluster.local"

// Domain returns the DNS suffix short names resolve under.
func (r *Registry) Domain() string {
	if r == nil || r.domain == "" {
		return DefaultDomain
	}
	return r.domain
}

// Resolve returns the host a short name (no dot) written in a resource of
// namespace ns stands for, as Istio resolves it — <name>.<ns>.svc.<domain>
// — when the registry knows that service; otherwise host itself, so that a
// ServiceEntry declaring the short name literally still binds (a
// deliberate deviation for configurations without Kubernetes services).
func (r *Registry) Resolve(host, ns string) string {
	if r == nil {
		return host
	}
	if fq, short := r.FullName(host, ns); short {
		if _, ok := r.services[fq]; ok {
			return fq
		}
	}
	return host
}

// claimsAny reports whether a service holds one of hosts already.
func (r *Registry) claimsAny(hosts []string) bool {
	for _, h := range hosts {
		if _, ok := r.services[strings.ToLower(h)]; ok {
			return true
		}
	}
	return false
}

// FullName returns the full name <name>.<ns>.svc.<domain> a short host
// (no dot) written in namespace ns ("" is "default") stands for, and
// whether host is short.
func (r *Registry) FullName(host, ns string) (string, bool) {
	if host == "" || host == "*" || strings.ContainsAny(host, ".:") {
		return host, false
	}
	if ns == "" {
		ns = "default"
	}
	return strings.ToLower(host) + "." + ns + ".svc." + r.Domain(), true
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

// Each calls f for every service of the registry, in no particular order.
func (r *Registry) Each(f func(*Service)) {
	for _, s := range r.services {
		f(s)
	}
}
