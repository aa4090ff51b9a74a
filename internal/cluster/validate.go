package cluster

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
	"github.com/switchyard-go/switchyard/internal/visibility"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

var (
	resolutions = map[string]bool{"": true, "NONE": true, "STATIC": true, "DNS": true, "DNS_ROUND_ROBIN": true, "DYNAMIC_DNS": true}
	locations   = map[string]bool{"": true, "MESH_EXTERNAL": true, "MESH_INTERNAL": true}
	protocols   = map[string]bool{"": true, "HTTP": true, "HTTP2": true, "HTTPS": true, "GRPC": true, "GRPC-WEB": true, "TCP": true, "TLS": true, "MONGO": true, "REDIS": true, "MYSQL": true}
)

func compileEntry(r *Registry, se *subset.ServiceEntry, client string, errs *fielderr.List) {
	visibility.Validate(se.Namespace, se.ExportTo, true, "spec.exportTo", errs)
	visible := client == "" || visibility.Visible(se.Namespace, se.ExportTo, client)
	if !visible {
		errs.Warn("spec.exportTo", "not exported to this process's namespace %s, so its hosts are unknown here", fielderr.Quote(client))
	}
	if len(se.Hosts) == 0 {
		errs.Add("spec.hosts", "at least one host is required")
	}
	if !resolutions[se.Resolution] {
		errs.Add("spec.resolution", "unknown resolution %s; use NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS", fielderr.Quote(se.Resolution))
	}
	if !locations[se.Location] {
		errs.Add("spec.location", "unknown location %s; use MESH_EXTERNAL or MESH_INTERNAL", fielderr.Quote(se.Location))
	}
	resolution := se.Resolution
	if resolution == "" {
		resolution = "NONE"
	}
	dnsTyped := resolution == "DNS" || resolution == "DNS_ROUND_ROBIN"
	for i, a := range se.Addresses {
		path := fielderr.Index("spec.addresses", i)
		if strings.Contains(a, "/") {
			if _, err := netip.ParsePrefix(a); err != nil {
				errs.Add(path, "%s is not a CIDR block", fielderr.Quote(a))
			} else if resolution != "NONE" && resolution != "STATIC" {
				errs.Add(path, "CIDR block %s needs resolution NONE or STATIC, not %s", fielderr.Quote(a), resolution)
			}
		} else if _, err := netip.ParseAddr(a); err != nil {
			errs.Add(path, "%s is not an IP address", fielderr.Quote(a))
		}
	}
	if resolution == "DYNAMIC_DNS" && len(se.Addresses) > 0 {
		errs.Add("spec.addresses", "resolution DYNAMIC_DNS takes no addresses: the host the caller names is resolved")
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
		switch {
		case p.Name == "":
			errs.Add(fielderr.Join(path, "name"), "required")
		case !hostname.Label(p.Name):
			errs.Add(fielderr.Join(path, "name"), "%s is not a DNS label (1-63 letters, digits and \"-\")", fielderr.Quote(p.Name))
		case names[p.Name]:
			errs.Add(fielderr.Join(path, "name"), "port name %s is used twice", fielderr.Quote(p.Name))
		}
		names[p.Name] = true
		if p.TargetPort > 65535 {
			errs.Add(fielderr.Join(path, "targetPort"), "port %d is out of range 1-65535", p.TargetPort)
		}
		proto := strings.ToUpper(p.Protocol)
		if !protocols[proto] {
			errs.Add(fielderr.Join(path, "protocol"), "unknown protocol %s", fielderr.Quote(p.Protocol))
		} else if resolution == "DYNAMIC_DNS" && proto != "HTTP" && proto != "TLS" && proto != "GRPC" && proto != "HTTP2" {
			errs.Add(fielderr.Join(path, "protocol"), "resolution DYNAMIC_DNS serves HTTP, HTTP2, GRPC and TLS ports only")
		}
	}
	if resolution != "NONE" && len(se.Hosts) > 1 {
		for i, p := range se.Ports {
			if proto := strings.ToUpper(p.Protocol); protocols[proto] && !httpOrTLS(proto) {
				errs.Add(fielderr.Join(fielderr.Index("spec.ports", i), "protocol"), "several hosts with a %s port need resolution NONE: only HTTP's authority or TLS's SNI tells the hosts apart", cmp.Or(proto, "TCP (unset)"))
				break
			}
		}
	}
	switch {
	case resolution == "NONE" && len(se.Endpoints) > 0:
		errs.Add("spec.endpoints", "resolution NONE sends to the address the caller asked for and takes no endpoints; use STATIC or DNS")
	case resolution == "DYNAMIC_DNS" && len(se.Endpoints) > 0:
		errs.Add("spec.endpoints", "resolution DYNAMIC_DNS resolves the host the caller names and takes no endpoints")
	case resolution == "DNS_ROUND_ROBIN" && len(se.Endpoints) > 1:
		errs.Add("spec.endpoints", "resolution DNS_ROUND_ROBIN takes at most one endpoint, not %d", len(se.Endpoints))
	case resolution == "STATIC" && len(se.Endpoints) == 0:
		errs.Warn("spec.endpoints", "resolution STATIC with no endpoints: requests get 503 no healthy upstream")
	}
	for i, ep := range se.Endpoints {
		// a field of the endpoint, its path made only for a problem
		at := func(field string) string { return fielderr.Join(fielderr.Index("spec.endpoints", i), field) }
		switch {
		case ep.Address == "" && ep.Network != "" && resolution == "STATIC":
			errs.Warn(at("address"), "no address, only network %s: it is reached through that network's gateway, which an in-process mesh does not know, so it is left out", fielderr.Quote(ep.Network))
		case ep.Address == "" && ep.Network != "":
			errs.Add(at("address"), "required with resolution %s: an endpoint known only by its network has no name to resolve", resolution)
		case ep.Address == "":
			errs.Add(at("address"), "required")
		case strings.HasPrefix(ep.Address, "unix://"):
			errs.Add(at("address"), "unix domain sockets are not supported; give an IP address or host name")
		case resolution == "STATIC":
			if _, err := netip.ParseAddr(ep.Address); err != nil {
				errs.Add(at("address"), "%s is not an IP address, as resolution STATIC requires; use resolution DNS for host names", fielderr.Quote(ep.Address))
			}
		default:
			if _, err := netip.ParseAddr(ep.Address); err != nil {
				if err := hostname.FQDN(ep.Address); err != nil {
					errs.Add(at("address"), "not an IP address, and not a host name: %v", err)
				}
			}
		}
		for _, name := range sortedKeys(ep.Ports) {
			if !names[name] {
				errs.Add(fielderr.Key(at("ports"), name), "no service port is named %s", fielderr.Quote(name))
			}
			if n := ep.Ports[name]; n == 0 || n > 65535 {
				errs.Add(fielderr.Key(at("ports"), name), "port %d is out of range 1-65535", n)
			}
		}
		if strings.Count(ep.Locality, "/") > 2 {
			errs.Add(at("locality"), "%s is not region/zone/subzone", fielderr.Quote(ep.Locality))
		}
	}
	for i, h := range se.Hosts {
		path := fielderr.Index("spec.hosts", i)
		host := strings.ToLower(h)
		if h == "*" {
			errs.Add(path, `"*" is not a host: a ServiceEntry names the hosts it defines`)
			continue
		}
		if err := hostname.Wildcard(h); err != nil {
			errs.Add(path, "%v", err)
			continue
		}
		switch {
		case resolution == "DYNAMIC_DNS" && !strings.HasPrefix(h, "*"):
			errs.Add(path, "resolution DYNAMIC_DNS needs wildcard hosts, not %s", fielderr.Quote(h))
			continue
		case dnsTyped && len(se.Endpoints) == 0:
			if err := hostname.FQDN(h); err != nil {
				errs.Add(path, "resolution %s with no endpoints resolves the hosts themselves, so each must be a host name without wildcards: %v", resolution, err)
				continue
			}
		}
		if hostname.Partial(h) && resolution != "DYNAMIC_DNS" {
			errs.Warn(path, "partial wildcard %s matches no request host: only a leading \"*.\" is a wildcard", fielderr.Quote(h))
			continue
		}
		if !visible {
			continue
		}
		if prev, ok := r.services[host]; ok {
			// Istio keeps one service per host for a sidecar: its own
			// namespace's, else the first.
			if client == "" || se.Namespace != client || prev.entry.Namespace == client {
				errs.Warn(path, "host %s is already defined by %s, which Istio uses instead of this entry", fielderr.Quote(h), fielderr.Resource("ServiceEntry", prev.entry.Namespace, prev.entry.Name))
				continue
			}
			errs.Warn(path, "host %s is also defined by %s; this entry, in the caller's namespace, is used instead, as Istio does", fielderr.Quote(h), fielderr.Resource("ServiceEntry", prev.entry.Namespace, prev.entry.Name))
		}
		ports := se.Ports // read only: shared with the entry unless sorted here
		if byNumber := func(a, b subset.Port) int { return cmp.Compare(a.Number, b.Number) }; !slices.IsSortedFunc(ports, byNumber) {
			ports = slices.SortedStableFunc(slices.Values(se.Ports), byNumber)
		}
		// DYNAMIC_DNS is Envoy's dynamic forward proxy: it connects to the
		// host the request names, as resolution NONE does in-process.
		r.services[host] = &Service{Host: host, Ports: ports, Passthrough: resolution == "NONE" || resolution == "DYNAMIC_DNS", entry: se}
	}
}

// httpOrTLS reports whether a port protocol carries the host it is for:
// HTTP's authority or TLS's SNI.
func httpOrTLS(proto string) bool {
	switch proto {
	case "HTTP", "HTTP2", "HTTPS", "GRPC", "GRPC-WEB", "TLS":
		return true
	}
	return false
}

func validateRule(dr *subset.DestinationRule, svc *Service, tr *tlsReader, errs *fielderr.List) {
	visibility.Validate(dr.Namespace, dr.ExportTo, false, "spec.exportTo", errs)
	validatePolicy(dr.TrafficPolicy, "spec.trafficPolicy", svc, tr, errs)
	seen := map[string]bool{}
	for i, s := range dr.Subsets {
		path := fielderr.Index("spec.subsets", i)
		switch {
		case s.Name == "":
			errs.Add(fielderr.Join(path, "name"), "required")
		case seen[s.Name]:
			errs.Add(fielderr.Join(path, "name"), "subset %s is defined twice", fielderr.Quote(s.Name))
		case !hostname.Label(s.Name):
			errs.Add(fielderr.Join(path, "name"), "%s is not a DNS label (1-63 letters, digits and \"-\")", fielderr.Quote(s.Name))
		}
		seen[s.Name] = true
		validatePolicy(s.TrafficPolicy, fielderr.Join(path, "trafficPolicy"), svc, tr, errs)
		if svc == nil {
			continue
		}
		if svc.Passthrough && len(s.Labels) > 0 {
			errs.Warn(fielderr.Join(path, "labels"), "host %s has no endpoints (resolution NONE): requests go to the address they name, and labels select nothing", fielderr.Quote(svc.Host))
			continue
		}
		n := 0
		for _, ep := range svc.workloads() {
			if selects(s.Labels, ep.Labels) {
				n++
			}
		}
		if n == 0 && !svc.Passthrough {
			errs.Warn(fielderr.Join(path, "labels"), "subset %s selects no endpoint of %s (no endpoint has labels %s): requests routed to it get 503 no healthy upstream", fielderr.Quote(s.Name), fielderr.Quote(svc.Host), formatLabels(s.Labels))
		}
	}
}

func validatePolicy(p *subset.TrafficPolicy, path string, svc *Service, tr *tlsReader, errs *fielderr.List) {
	if p == nil {
		return
	}
	if p.LoadBalancer == nil && p.ConnectionPool == nil && p.OutlierDetection == nil && p.TLS == nil &&
		len(p.PortLevelSettings) == 0 && p.RetryBudget == nil {
		errs.Add(path, "a traffic policy must set at least one field")
	}
	validateComponents(p.LoadBalancer, p.ConnectionPool, p.OutlierDetection, path, errs)
	if p.TLS != nil {
		tr.validateTLS(p.TLS, fielderr.Join(path, "tls"), svc, errs)
	}
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
			errs.Warn(fielderr.Join(pp, "port.number"), "host %s has no port %d, so this setting applies to nothing", fielderr.Quote(svc.Host), n)
		}
		ports[pl.Port.Number] = true
		validateComponents(pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection, pp, errs)
		if pl.TLS != nil {
			tr.validateTLS(pl.TLS, fielderr.Join(pp, "tls"), svc, errs)
		}
	}
}

// validateComponents checks the policy components that a port-level entry
// and a traffic policy share, but for tls (tlsReader.validateTLS).
func validateComponents(lb *balancer.Settings, pool *pool.Settings, od *outlier.Config, path string, errs *fielderr.List) {
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
		if lb.ZoneAwareLbSetting != nil {
			if lb.LocalityLbSetting != nil {
				errs.Add(fielderr.Join(lbPath, "zoneAwareLbSetting"), "localityLbSetting and zoneAwareLbSetting are mutually exclusive")
			}
			errs.Add(fielderr.Join(lbPath, "zoneAwareLbSetting"), "not supported: Envoy's zone-aware routing shares traffic by the sizes of the caller's own cluster in each zone, which an in-process client does not know; use localityLbSetting")
		}
		if w := lb.Warmup; w != nil {
			wp := fielderr.Join(lbPath, "warmup")
			if w.Duration < time.Millisecond {
				errs.Add(fielderr.Join(wp, "duration"), "required, at least 1ms")
			} else {
				errs.Millis(fielderr.Join(wp, "duration"), w.Duration)
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
		if od.ConsecutiveErrors != 0 {
			errs.Warn(fielderr.Join(path, "outlierDetection.consecutiveErrors"), "deprecated and ignored, as Istio ignores it; use consecutive5xxErrors or consecutiveGatewayErrors")
		}
		errs.Merge(fielderr.Join(path, "outlierDetection"), od.Validate())
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
		seenAttr := map[string]bool{}
		for i, a := range c.Attributes {
			ap := fielderr.Index(fielderr.Join(cp, "attributes"), i)
			if seenAttr[strings.ToLower(a.Name)] {
				errs.Add(fielderr.Join(ap, "name"), "attribute %s is listed twice", fielderr.Quote(a.Name))
			}
			seenAttr[strings.ToLower(a.Name)] = true
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

// maxLabelsText bounds the text formatLabels returns, so that an error
// stays short whatever the labels.
const maxLabelsText = 256

// formatLabels writes labels as {k=v,…}, sorted, cut after maxLabelsText
// bytes.
func formatLabels(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range sortedKeys(l) {
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

// sortedKeys returns the keys of m in order, without sorting for a map of
// none or one, the common case of an endpoint's ports.
func sortedKeys[V any](m map[string]V) []string {
	switch len(m) {
	case 0:
		return nil
	case 1:
		for k := range m {
			return []string{k}
		}
	}
	return slices.Sorted(maps.Keys(m))
}
