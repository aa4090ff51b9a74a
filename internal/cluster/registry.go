package cluster

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

// Registry is the compiled form of a set of ServiceEntries and
// DestinationRules. It is immutable and safe for concurrent use.
type Registry struct {
	services map[string]*Service
	wildcard []*Service // services with a "*." host, longest suffix first
}

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
	clusters map[clusterKey]*Cluster
}

type clusterKey struct {
	subset string
	port   uint32
}

// Cluster is the set of endpoints for one (host, subset, port) with the
// traffic policy in force for it, as Envoy's outbound cluster
// "outbound|port|subset|host".
type Cluster struct {
	// Name is Envoy's cluster name, "outbound|9080|v1|reviews".
	Name string
	// Host is the service host.
	Host string
	// Subset is the DestinationRule subset, "" for all endpoints.
	Subset string
	// Port is the service port.
	Port uint32
	// Policy is the traffic policy in force.
	Policy Policy
	// Passthrough is true when requests go to the address the caller
	// asked for rather than to a picked endpoint.
	Passthrough bool

	all      []*balancer.Endpoint
	algo     balancer.Algorithm // the balancer the policy selects
	rand     balancer.Rand
	picker   atomic.Pointer[pickerBox]  // over the available endpoints
	detector *ejection.Detector         // nil without outlierDetection
	limiter  *pool.Limiter              // nil without limits
	limits   pool.Limits                // applied to limiter on Activate
	hash     *balancer.ConsistentHash   // nil unless consistent hashing
	feedback balancer.Feedback          // nil unless the balancer learns from outcomes
	locality *balancer.LocalitySettings // nil unless locality load balancing
	client   Client
	warmup   *warmup // nil without slow start
	clock    clock.Clock
}

// warmup is a cluster's slow-start configuration.
type warmup struct {
	window     time.Duration
	minPercent float64
	aggression float64
}

// pickerBox holds the current picker; under warm-up it is valid until
// the endpoints' weights next change noticeably.
type pickerBox struct {
	balancer.Picker
	until time.Time // zero: valid until the endpoint set changes
	base  []*balancer.Endpoint
}

// Hash returns the cluster's consistent-hash settings, or nil when it does
// not hash.
func (c *Cluster) Hash() *balancer.ConsistentHash { return c.hash }

// PickHash returns the endpoint for hash h (attempt > 0 moves off the first
// choice for a retry) on a consistent-hash cluster; other clusters pick as
// Pick does.
func (c *Cluster) PickHash(h uint64, attempt int) (*balancer.Endpoint, error) {
	p := c.current()
	if hp, ok := p.Picker.(balancer.HashPicker); ok {
		return hp.PickHash(h, attempt)
	}
	return p.Pick()
}

// Pick returns the endpoint for the next attempt, or balancer.ErrNoEndpoint
// when none is available (every endpoint ejected).
func (c *Cluster) Pick() (*balancer.Endpoint, error) { return c.current().Pick() }

// current returns the picker, re-deriving warming endpoints' weights when
// they are due.
func (c *Cluster) current() *pickerBox {
	p := c.picker.Load()
	if p.until.IsZero() {
		return p
	}
	now := c.clock.Now()
	if now.Before(p.until) {
		return p
	}
	next := c.warmed(p.base, now)
	c.picker.CompareAndSwap(p, next)
	return next
}

// warmed builds a picker over eps with Envoy's slow-start weights at now,
// valid for a twentieth of the window or until every endpoint is warm.
func (c *Cluster) warmed(eps []*balancer.Endpoint, now time.Time) *pickerBox {
	w := c.warmup
	scaled := make([]*balancer.Endpoint, len(eps))
	warming := false
	for i, e := range eps {
		age := now.Sub(e.State.Since())
		f := balancer.WarmupFactor(age, w.window, w.minPercent, w.aggression)
		if f < 1 {
			warming = true
		}
		cp := *e
		cp.Weight = uint32(max(1, math.Round(float64(max(e.Weight, 1))*f*1000)))
		scaled[i] = &cp
	}
	p, err := c.algo.New(scaled, c.rand)
	if err != nil {
		p, _ = c.algo.New(eps, c.rand)
	}
	box := &pickerBox{Picker: p, base: eps}
	if warming {
		box.until = now.Add(max(w.window/20, time.Millisecond))
	}
	return box
}

// PickAvoiding returns an endpoint not in tried: it picks up to attempts
// times, as Envoy's previous_hosts predicate with
// host_selection_retry_max_attempts, and then, where Envoy would settle for
// a tried endpoint, takes the first available one not tried, so that a
// retry reaches another endpoint whenever one exists. Only when every
// available endpoint has been tried does it return a tried one.
func (c *Cluster) PickAvoiding(tried []*balancer.Endpoint, attempts int) (*balancer.Endpoint, error) {
	p := c.current()
	var ep *balancer.Endpoint
	for range max(attempts, 1) {
		var err error
		if ep, err = p.Pick(); err != nil {
			return nil, err
		}
		if !contains(tried, ep) {
			return ep, nil
		}
	}
	for _, e := range p.Endpoints() {
		if !contains(tried, e) {
			return e, nil
		}
	}
	return ep, nil
}

// contains reports whether ep is in eps, by live state: warm-up re-creates
// Endpoint values with other weights.
// PickRemote returns an available endpoint in a locality none of tried is
// in, starting from a random one, or false when there is none: Envoy's
// previous_priorities for retryRemoteLocalities.
func (c *Cluster) PickRemote(tried []*balancer.Endpoint) (*balancer.Endpoint, bool) {
	eps := c.current().Endpoints()
	if len(eps) == 0 {
		return nil, false
	}
	start := int(rng.N(c.rand.Uint64(), uint64(len(eps))))
	for i := range eps {
		e := eps[(start+i)%len(eps)]
		remote := true
		for _, t := range tried {
			if t.Locality == e.Locality {
				remote = false
				break
			}
		}
		if remote {
			return e, true
		}
	}
	return nil, false
}

func contains(eps []*balancer.Endpoint, ep *balancer.Endpoint) bool {
	for _, e := range eps {
		if e.State == ep.State {
			return true
		}
	}
	return false
}

// Record reports the outcome of an attempt to ep to outlier detection, and
// whether it ejected ep.
func (c *Cluster) Record(ep *balancer.Endpoint, o ejection.Outcome) bool {
	return c.detector != nil && c.detector.Record(ep, o)
}

// Limiter returns the cluster's admission limiter, or nil when the cluster
// has no limits.
func (c *Cluster) Limiter() *pool.Limiter { return c.limiter }

// Detector returns the cluster's outlier detector, or nil.
func (c *Cluster) Detector() *ejection.Detector { return c.detector }

// Endpoints returns all the cluster's endpoints, ejected ones included (none
// for a nil or passthrough cluster). The slice must not be modified.
func (c *Cluster) Endpoints() []*balancer.Endpoint {
	if c == nil {
		return nil
	}
	return c.all
}

// Available returns the endpoints the cluster currently balances over.
func (c *Cluster) Available() []*balancer.Endpoint {
	if c == nil || c.Passthrough {
		return nil
	}
	return c.current().Endpoints()
}

// rebuild makes the picker balance over the detector's available endpoints.
func (c *Cluster) rebuild() { c.install(c.detector.Available()) }

// install makes the cluster balance over eps.
func (c *Cluster) install(eps []*balancer.Endpoint) error {
	if c.locality != nil {
		p, err := c.localityPicker(eps)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		c.picker.Store(&pickerBox{Picker: p, base: eps})
		return nil
	}
	if c.warmup != nil && c.algo.SlowStart() {
		c.picker.Store(c.warmed(eps, c.clock.Now()))
		return nil
	}
	p, err := c.newPicker(eps)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	c.picker.Store(&pickerBox{Picker: p, base: eps})
	return nil
}

// newPicker builds the cluster's balancer over eps.
func (c *Cluster) newPicker(eps []*balancer.Endpoint) (balancer.Picker, error) {
	return c.algo.New(eps, c.rand)
}

func localityDisabled(lb *balancer.Settings) bool {
	return lb != nil && lb.LocalityLbSetting != nil && lb.LocalityLbSetting.Enabled != nil && !*lb.LocalityLbSetting.Enabled
}

// Balancer names the cluster's load-balancing algorithm: the balancer
// package's name for it, or PASSTHROUGH.
func (c *Cluster) Balancer() string {
	if c.Passthrough {
		return "PASSTHROUGH"
	}
	return c.algo.Name()
}

// Feedback returns what the cluster's balancer learns from, or nil when it
// learns from nothing: the mesh then times no attempt.
func (c *Cluster) Feedback() balancer.Feedback { return c.feedback }

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
		compileEntry(r, &entries[i], &e)
		e.Locate(resource("ServiceEntry", entries[i].Namespace, entries[i].Name))
		errs.Merge("", e.Err())
	}
	seenRule := map[string]string{}
	for i := range rules {
		dr := &rules[i]
		where := resource("DestinationRule", dr.Namespace, dr.Name)
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
		validateRule(dr, svc, &e)
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

func resource(kind, ns, name string) string {
	if ns != "" {
		name = ns + "/" + name
	}
	return kind + " " + fielderr.Quote(name)
}

var (
	resolutions = map[string]bool{"": true, "NONE": true, "STATIC": true, "DNS": true, "DNS_ROUND_ROBIN": true}
	locations   = map[string]bool{"": true, "MESH_EXTERNAL": true, "MESH_INTERNAL": true}
	protocols   = map[string]bool{"": true, "HTTP": true, "HTTP2": true, "HTTPS": true, "GRPC": true, "GRPC-WEB": true, "TCP": true, "TLS": true, "MONGO": true, "REDIS": true, "MYSQL": true}
)

func compileEntry(r *Registry, se *subset.ServiceEntry, errs *fielderr.List) {
	if len(se.Hosts) == 0 {
		errs.Add("spec.hosts", "at least one host is required")
	}
	if !resolutions[se.Resolution] {
		errs.Add("spec.resolution", "unknown resolution %s; use NONE, STATIC, DNS or DNS_ROUND_ROBIN", fielderr.Quote(se.Resolution))
	}
	if !locations[se.Location] {
		errs.Add("spec.location", "unknown location %s; use MESH_EXTERNAL or MESH_INTERNAL", fielderr.Quote(se.Location))
	}
	if len(se.Ports) == 0 {
		errs.Add("spec.ports", "at least one port is required")
	}
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for i, p := range se.Ports {
		path := fielderr.Index("spec.ports", i)
		if p.Number == 0 || p.Number > 65535 {
			errs.Add(fielderr.Join(path, "number"), "port %d is out of range 1-65535", p.Number)
		}
		if numbers[p.Number] {
			errs.Add(fielderr.Join(path, "number"), "port %d is listed twice", p.Number)
		}
		numbers[p.Number] = true
		if p.Name != "" {
			if names[p.Name] {
				errs.Add(fielderr.Join(path, "name"), "port name %s is used twice", fielderr.Quote(p.Name))
			}
			names[p.Name] = true
		}
		if p.TargetPort > 65535 {
			errs.Add(fielderr.Join(path, "targetPort"), "port %d is out of range 1-65535", p.TargetPort)
		}
		if !protocols[strings.ToUpper(p.Protocol)] {
			errs.Add(fielderr.Join(path, "protocol"), "unknown protocol %s", fielderr.Quote(p.Protocol))
		}
	}
	resolution := se.Resolution
	if resolution == "" {
		resolution = "NONE"
	}
	switch {
	case resolution == "NONE" && len(se.Endpoints) > 0:
		errs.Add("spec.endpoints", "resolution NONE sends to the address the caller asked for and takes no endpoints; use STATIC or DNS")
	case resolution == "STATIC" && len(se.Endpoints) == 0:
		errs.Add("spec.endpoints", "resolution STATIC needs at least one endpoint")
	}
	for i, ep := range se.Endpoints {
		path := fielderr.Index("spec.endpoints", i)
		switch {
		case ep.Address == "":
			errs.Add(fielderr.Join(path, "address"), "required")
		case strings.HasPrefix(ep.Address, "unix://"):
			errs.Add(fielderr.Join(path, "address"), "unix domain sockets are not supported; give an IP address or host name")
		case resolution == "STATIC":
			if _, err := netip.ParseAddr(ep.Address); err != nil {
				errs.Add(fielderr.Join(path, "address"), "%s is not an IP address, as resolution STATIC requires; use resolution DNS for host names", fielderr.Quote(ep.Address))
			}
		default:
			if _, err := netip.ParseAddr(ep.Address); err != nil && !hostName(ep.Address) {
				errs.Add(fielderr.Join(path, "address"), "%s is neither an IP address nor a host name (letters, digits, \"-\", \"_\" and dots)", fielderr.Quote(ep.Address))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(ep.Ports)) {
			if !names[name] {
				errs.Add(fielderr.Key(fielderr.Join(path, "ports"), name), "no service port is named %s", fielderr.Quote(name))
			}
			if n := ep.Ports[name]; n == 0 || n > 65535 {
				errs.Add(fielderr.Key(fielderr.Join(path, "ports"), name), "port %d is out of range 1-65535", n)
			}
		}
		if strings.Count(ep.Locality, "/") > 2 {
			errs.Add(fielderr.Join(path, "locality"), "%s is not region/zone/subzone", fielderr.Quote(ep.Locality))
		}
	}
	for i, h := range se.Hosts {
		path := fielderr.Index("spec.hosts", i)
		host := strings.ToLower(h)
		switch {
		case h == "" || strings.ContainsAny(h, " /:"):
			errs.Add(path, "%s is not a host name", fielderr.Quote(h))
			continue
		case strings.Contains(host[1:], "*") || (strings.HasPrefix(host, "*") && !strings.HasPrefix(host, "*.")):
			errs.Add(path, "%s: a wildcard must be a leading \"*.\"", fielderr.Quote(h))
			continue
		case strings.HasPrefix(host, "*.") && resolution != "NONE":
			errs.Add(path, "wildcard host %s needs resolution NONE", fielderr.Quote(h))
			continue
		case !hostName(strings.TrimPrefix(host, "*.")):
			errs.Add(path, "%s is not a host name: use letters, digits, \"-\", \"_\" and dots", fielderr.Quote(h))
			continue
		}
		if prev, ok := r.services[host]; ok {
			errs.Add(path, "host %s is already defined by %s", fielderr.Quote(h), resource("ServiceEntry", prev.entry.Namespace, prev.entry.Name))
			continue
		}
		ports := append([]subset.Port(nil), se.Ports...)
		sort.Slice(ports, func(i, j int) bool { return ports[i].Number < ports[j].Number })
		r.services[host] = &Service{Host: host, Ports: ports, Passthrough: resolution == "NONE", entry: se}
	}
}

func validateRule(dr *subset.DestinationRule, svc *Service, errs *fielderr.List) {
	validatePolicy(dr.TrafficPolicy, "spec.trafficPolicy", svc, errs)
	seen := map[string]bool{}
	for i, s := range dr.Subsets {
		path := fielderr.Index("spec.subsets", i)
		switch {
		case s.Name == "":
			errs.Add(fielderr.Join(path, "name"), "required")
		case seen[s.Name]:
			errs.Add(fielderr.Join(path, "name"), "subset %s is defined twice", fielderr.Quote(s.Name))
		}
		seen[s.Name] = true
		validatePolicy(s.TrafficPolicy, fielderr.Join(path, "trafficPolicy"), svc, errs)
		if svc == nil {
			continue
		}
		if svc.Passthrough && len(s.Labels) > 0 {
			errs.Add(fielderr.Join(path, "labels"), "host %s has no endpoints (resolution NONE), so labels select nothing", fielderr.Quote(svc.Host))
			continue
		}
		n := 0
		for _, ep := range svc.workloads() {
			if selects(s.Labels, ep.Labels) {
				n++
			}
		}
		if n == 0 && !svc.Passthrough {
			errs.Add(fielderr.Join(path, "labels"), "subset %s selects no endpoint of %s: no endpoint has labels %s", fielderr.Quote(s.Name), fielderr.Quote(svc.Host), formatLabels(s.Labels))
		}
	}
}

func validatePolicy(p *subset.TrafficPolicy, path string, svc *Service, errs *fielderr.List) {
	if p == nil {
		return
	}
	if p.LoadBalancer == nil && p.ConnectionPool == nil && p.OutlierDetection == nil && p.TLS == nil &&
		len(p.PortLevelSettings) == 0 && p.RetryBudget == nil {
		errs.Add(path, "a traffic policy must set at least one field")
	}
	validateComponents(p.LoadBalancer, p.ConnectionPool, p.OutlierDetection, p.TLS, path, errs)
	if b := p.RetryBudget; b != nil && b.Percent != nil && (*b.Percent < 0 || *b.Percent > 100) {
		errs.Add(fielderr.Join(path, "retryBudget.percent"), "%v is outside 0-100", *b.Percent)
	}
	ports := map[uint32]bool{}
	for i, pl := range p.PortLevelSettings {
		pp := fielderr.Index(fielderr.Join(path, "portLevelSettings"), i)
		switch n := pl.Port.Number; {
		case n == 0:
			errs.Add(fielderr.Join(pp, "port.number"), "required")
		case ports[n]:
			errs.Add(fielderr.Join(pp, "port.number"), "port %d has two entries", n)
		case svc != nil && !svc.hasPort(n):
			errs.Add(fielderr.Join(pp, "port.number"), "host %s has no port %d", fielderr.Quote(svc.Host), n)
		}
		ports[pl.Port.Number] = true
		validateComponents(pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection, pl.TLS, pp, errs)
	}
}

// validateComponents checks the policy components that a port-level entry
// and a traffic policy share.
func validateComponents(lb *balancer.Settings, pool *pool.Settings, od *outlier.Config, tls *subset.ClientTLS, path string, errs *fielderr.List) {
	if lb != nil {
		lbPath := fielderr.Join(path, "loadBalancer")
		algo, err := lb.Algorithm()
		if err != nil && lb.Simple != balancer.SimplePassthrough {
			errs.Add(fielderr.Join(lbPath, "simple"), "%v", err)
		}
		if ch := lb.ConsistentHash; ch != nil {
			validateHash(ch, fielderr.Join(lbPath, "consistentHash"), errs)
		}
		if ls := lb.LocalityLbSetting; ls != nil {
			validateLocality(ls, fielderr.Join(lbPath, "localityLbSetting"), errs)
		}
		if w := lb.Warmup; w != nil {
			wp := fielderr.Join(lbPath, "warmup")
			if w.Duration < time.Millisecond {
				errs.Add(fielderr.Join(wp, "duration"), "required, at least 1ms")
			}
			if w.MinimumPercent != nil && (*w.MinimumPercent < 0 || *w.MinimumPercent > 100) {
				errs.Add(fielderr.Join(wp, "minimumPercent"), "%v is outside 0-100", *w.MinimumPercent)
			}
			if w.Aggression != nil && *w.Aggression < 1 {
				errs.Add(fielderr.Join(wp, "aggression"), "%v must be at least 1", *w.Aggression)
			}
		}
		if lb.PeakEWMA != nil && (lb.ConsistentHash != nil || lb.Simple != "" || lb.Warmup != nil) {
			errs.Add(fielderr.Join(lbPath, "peakEWMA"), "replaces simple, consistentHash and warmup; set it alone")
		}
		if (lb.Warmup != nil || lb.DeprecatedWarmupDuration != 0) && err == nil && !algo.SlowStart() {
			errs.Add(fielderr.Join(lbPath, "warmup"), "does not apply to %s; it applies to ROUND_ROBIN and LEAST_REQUEST only, as in Envoy", algo.Name())
		}
	}
	if pool != nil {
		errs.Merge(fielderr.Join(path, "connectionPool"), pool.Validate())
	}
	if od != nil {
		errs.Merge(fielderr.Join(path, "outlierDetection"), od.Validate())
	}
	if tls != nil {
		switch tls.Mode {
		case "", "DISABLE":
		case "ISTIO_MUTUAL":
			errs.Add(fielderr.Join(path, "tls.mode"), "ISTIO_MUTUAL needs Istio's workload certificates, which an in-process mesh does not have; configure TLS on the base transport (or gRPC credentials) and set mode DISABLE")
		case "SIMPLE", "MUTUAL":
			errs.Add(fielderr.Join(path, "tls.mode"), "%s is not supported yet; configure TLS on the base transport (or gRPC credentials) and set mode DISABLE", tls.Mode)
		default:
			errs.Add(fielderr.Join(path, "tls.mode"), "unknown mode %s; use DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL", fielderr.Quote(tls.Mode))
		}
	}
}

func validateHash(ch *balancer.ConsistentHash, path string, errs *fielderr.List) {
	keys := 0
	for _, set := range []bool{ch.HTTPHeaderName != "", ch.HTTPCookie != nil, ch.UseSourceIP, ch.HTTPQueryParameterName != ""} {
		if set {
			keys++
		}
	}
	if keys != 1 {
		errs.Add(path, "set exactly one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName")
	}
	if c := ch.HTTPCookie; c != nil {
		cp := fielderr.Join(path, "httpCookie")
		if c.Name == "" {
			errs.Add(fielderr.Join(cp, "name"), "required")
		} else if err := wire.CookieName(c.Name); err != nil {
			errs.Add(fielderr.Join(cp, "name"), "invalid cookie name: %v", err)
		}
		if c.TTL != nil && *c.TTL < 0 {
			errs.Add(fielderr.Join(cp, "ttl"), "must not be negative")
		}
		if err := wire.CookiePath(c.Path); err != nil {
			errs.Add(fielderr.Join(cp, "path"), "%v", err)
		}
		for i, a := range c.Attributes {
			ap := fielderr.Index(fielderr.Join(cp, "attributes"), i)
			if err := wire.Token(a.Name); err != nil {
				errs.Add(fielderr.Join(ap, "name"), "invalid attribute name: %v", err)
			}
			if err := wire.CookieAttributeValue(a.Value); err != nil {
				errs.Add(fielderr.Join(ap, "value"), "%v", err)
			}
		}
	}
	if ch.RingHash != nil && ch.Maglev != nil {
		errs.Add(path, "ringHash and maglev are mutually exclusive")
	}
	if ch.MinimumRingSize != 0 && (ch.RingHash != nil || ch.Maglev != nil) {
		errs.Add(fielderr.Join(path, "minimumRingSize"), "deprecated; with ringHash or maglev set, use ringHash.minimumRingSize")
	}
	if r := ch.RingHash; r != nil && r.MinimumRingSize > balancer.MaximumRingSize {
		errs.Add(fielderr.Join(path, "ringHash.minimumRingSize"), "%d is above Envoy's maximum ring size of %d", r.MinimumRingSize, balancer.MaximumRingSize)
	}
	if m := ch.Maglev; m != nil {
		if _, err := balancer.NewMaglev(nil, m.TableSize, nil); err != nil || m.TableSize == 0 {
			errs.Add(fielderr.Join(path, "maglev.tableSize"), "required: a prime below 5000011, such as 65537")
		}
	}
}

// hostName reports whether h can be a DNS name the mesh dials: letters,
// digits, "-", "_" and dots, as Istio's host names and more leniently (Istio
// also rejects "_").
func hostName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (s *Service) hasPort(n uint32) bool {
	for _, p := range s.Ports {
		if p.Number == n {
			return true
		}
	}
	return false
}

// workloads returns the service's endpoints: the ServiceEntry's endpoints
// or, with DNS resolution and none listed, its hosts.
func (s *Service) workloads() []subset.WorkloadEntry {
	if s.Passthrough {
		return nil
	}
	if len(s.entry.Endpoints) > 0 {
		return s.entry.Endpoints
	}
	out := make([]subset.WorkloadEntry, 0, len(s.entry.Hosts))
	for _, h := range s.entry.Hosts {
		out = append(out, subset.WorkloadEntry{Address: h})
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

// maxLabelsText bounds the text formatLabels returns, so that an error
// stays short whatever the labels.
const maxLabelsText = 256

// formatLabels writes labels as {k=v,…}, sorted, cut after maxLabelsText
// bytes.
func formatLabels(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if b.Len() > maxLabelsText {
			fmt.Fprintf(&b, "… %d more", len(l)-i)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		if kv := k + "=" + l[k]; len(kv) > 64 {
			b.WriteString(strings.ToValidUTF8(kv[:64], "") + "…")
		} else {
			b.WriteString(kv)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// buildClusters creates a cluster for every (subset, port) of svc, the
// subset "" being all endpoints.
func buildClusters(svc *Service, opts Options) error {
	svc.clusters = map[clusterKey]*Cluster{}
	subsets := []subset.Subset{{}}
	if svc.rule != nil {
		subsets = append(subsets, svc.rule.Subsets...)
	}
	for _, ss := range subsets {
		for _, port := range svc.Ports {
			c := &Cluster{
				Name:        "outbound|" + strconv.Itoa(int(port.Number)) + "|" + ss.Name + "|" + svc.Host,
				Host:        svc.Host,
				Subset:      ss.Name,
				Port:        port.Number,
				Policy:      resolvePolicy(svc.rule, ss, port.Number),
				Passthrough: svc.Passthrough,
			}
			if lb := c.Policy.LoadBalancer; lb != nil && lb.Simple == balancer.SimplePassthrough {
				c.Passthrough = true
			}
			var prev *Cluster
			if opts.Previous != nil {
				if ps := opts.Previous.services[svc.Host]; ps != nil {
					prev = ps.clusters[clusterKey{ss.Name, port.Number}]
				}
			}
			if err := buildCluster(c, svc, ss, port, prev, opts); err != nil {
				return err
			}
			svc.clusters[clusterKey{ss.Name, port.Number}] = c
		}
	}
	return nil
}

// buildCluster gives c its endpoints, balancer, outlier detector and
// limiter, carrying state over from prev.
func buildCluster(c *Cluster, svc *Service, ss subset.Subset, port subset.Port, prev *Cluster, opts Options) error {
	c.rand = opts.Rand
	if c.rand == nil {
		c.rand = rng.Runtime{}
	}
	algo, err := c.Policy.LoadBalancer.Algorithm()
	if err != nil && !c.Passthrough {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	c.algo, c.feedback = algo, algo.Feedback()
	if lb := c.Policy.LoadBalancer; lb != nil {
		c.hash = lb.ConsistentHash
		if ls := lb.LocalityLbSetting; ls != nil && (ls.Enabled == nil || *ls.Enabled) {
			c.locality = ls
		}
	}
	// Istio's mesh default enables locality load balancing: with outlier
	// detection, a caller that declares its locality fails over by it.
	if c.locality == nil && c.Policy.OutlierDetection != nil && !localityDisabled(c.Policy.LoadBalancer) {
		c.locality = &balancer.LocalitySettings{}
	}
	c.client = opts.Client
	if c.client.Locality == "" || c.hash != nil {
		c.locality = nil
	}
	c.limits = pool.LimitsFrom(c.Policy.ConnectionPool)
	if b := c.Policy.RetryBudget; b != nil {
		c.limits.Budget = &pool.RetryBudget{Percent: 20, MinConcurrency: 3}
		if b.Percent != nil {
			c.limits.Budget.Percent = *b.Percent
		}
		if b.MinRetryConcurrency != 0 {
			c.limits.Budget.MinConcurrency = int(b.MinRetryConcurrency)
		}
	}
	if !c.limits.Unlimited() {
		if prev != nil && prev.limiter != nil {
			c.limiter = prev.limiter // counts carry over; limits apply on Activate
		} else {
			c.limiter = pool.NewLimiter(c.limits)
		}
	}
	if c.Passthrough {
		return nil
	}
	c.clock = opts.Clock
	if c.clock == nil {
		c.clock = clock.Real{}
	}
	c.all = endpointsFor(svc, ss.Labels, port, prev, c.clock.Now())
	if lb := c.Policy.LoadBalancer; lb != nil {
		if w := lb.Warmup; w != nil {
			c.warmup = &warmup{window: w.Duration, minPercent: 10, aggression: 1}
			if w.MinimumPercent != nil {
				c.warmup.minPercent = *w.MinimumPercent
			}
			if w.Aggression != nil {
				c.warmup.aggression = *w.Aggression
			}
		} else if lb.DeprecatedWarmupDuration > 0 {
			c.warmup = &warmup{window: lb.DeprecatedWarmupDuration, minPercent: 10, aggression: 1}
		}
	}
	if od := c.Policy.OutlierDetection; od != nil {
		var prevDetector *ejection.Detector
		if prev != nil {
			prevDetector = prev.detector
		}
		var onEvent func(ejection.Event)
		if opts.OnEjection != nil {
			onEvent = func(e ejection.Event) { opts.OnEjection(c, e) }
		}
		c.detector = ejection.NewDetector(od, c.all, ejection.DetectorOptions{
			Clock: opts.Clock, OnChange: c.rebuild, OnEvent: onEvent, Previous: prevDetector,
		})
		c.rebuild()
		return nil
	}
	return c.install(c.all)
}

// endpointsFor returns the endpoints of svc that carry all of labels, at
// their address for port, reusing the live state of prev's endpoints.
func endpointsFor(svc *Service, labels map[string]string, port subset.Port, prev *Cluster, now time.Time) []*balancer.Endpoint {
	prevState := map[string]*balancer.State{}
	for _, e := range prev.Endpoints() {
		prevState[e.Address] = e.State
	}
	var out []*balancer.Endpoint
	for _, w := range svc.workloads() {
		if !selects(labels, w.Labels) {
			continue
		}
		n := port.Number
		if port.TargetPort != 0 {
			n = port.TargetPort
		}
		if p, ok := w.Ports[port.Name]; ok && port.Name != "" {
			n = p
		}
		addr := net.JoinHostPort(w.Address, strconv.Itoa(int(n)))
		st := prevState[addr]
		if st == nil {
			st = balancer.NewState(now)
			prevState[addr] = st // two workloads at one address share state
		}
		out = append(out, &balancer.Endpoint{Address: addr, Labels: w.Labels, Weight: w.Weight, Locality: w.Locality, State: st})
	}
	return out
}

// resolvePolicy applies Istio's precedence (most specific first): subset
// port-level settings, subset policy components, rule port-level settings,
// rule policy.
func resolvePolicy(dr *subset.DestinationRule, ss subset.Subset, port uint32) Policy {
	var p Policy
	if dr == nil {
		return p
	}
	if tp := dr.TrafficPolicy; tp != nil {
		p = Policy{LoadBalancer: tp.LoadBalancer, ConnectionPool: tp.ConnectionPool, OutlierDetection: tp.OutlierDetection, TLS: tp.TLS, RetryBudget: tp.RetryBudget}
		if pl := portLevel(tp, port); pl != nil {
			p = Policy{LoadBalancer: pl.LoadBalancer, ConnectionPool: pl.ConnectionPool, OutlierDetection: pl.OutlierDetection, TLS: pl.TLS, RetryBudget: tp.RetryBudget}
		}
	}
	if tp := ss.TrafficPolicy; tp != nil {
		if tp.LoadBalancer != nil {
			p.LoadBalancer = tp.LoadBalancer
		}
		if tp.ConnectionPool != nil {
			p.ConnectionPool = tp.ConnectionPool
		}
		if tp.OutlierDetection != nil {
			p.OutlierDetection = tp.OutlierDetection
		}
		if tp.TLS != nil {
			p.TLS = tp.TLS
		}
		if tp.RetryBudget != nil {
			p.RetryBudget = tp.RetryBudget
		}
		if pl := portLevel(tp, port); pl != nil {
			p.LoadBalancer, p.ConnectionPool, p.OutlierDetection, p.TLS = pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection, pl.TLS
		}
	}
	return p
}

func portLevel(tp *subset.TrafficPolicy, port uint32) *subset.PortTrafficPolicy {
	for i := range tp.PortLevelSettings {
		if tp.PortLevelSettings[i].Port.Number == port {
			return &tp.PortLevelSettings[i]
		}
	}
	return nil
}
