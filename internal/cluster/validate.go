package cluster

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

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
			errs.Add(path, "host %s is already defined by %s", fielderr.Quote(h), fielderr.Resource("ServiceEntry", prev.entry.Namespace, prev.entry.Name))
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
			errs.Warn(fielderr.Join(pp, "port.number"), "host %s has no port %d, so this setting applies to nothing", fielderr.Quote(svc.Host), n)
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
