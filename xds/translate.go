package xds

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/sidecar"
	"github.com/switchyard-go/switchyard/subset"
)

// subsetLabelPrefix prefixes the label the translation gives every endpoint
// of a subset cluster: EDS carries no labels, so membership of the cluster
// becomes one.
const subsetLabelPrefix = "xds.switchyard.io/subset."

// resources is the decoded state of the xDS resources a mesh follows, by
// name. Values are never modified once stored: an update replaces them.
type resources struct {
	listeners map[string]*listenerIR
	routes    map[string]*routeIR
	clusters  map[string]*clusterIR
	endpoints map[string]*endpointsIR
}

func newResources() *resources {
	return &resources{
		listeners: map[string]*listenerIR{},
		routes:    map[string]*routeIR{},
		clusters:  map[string]*clusterIR{},
		endpoints: map[string]*endpointsIR{},
	}
}

// clusterKey is where a cluster lands in the configuration.
type clusterKey struct {
	host   string
	port   uint32 // 0: the cluster's name says none
	subset string
}

// isHostName reports whether a cluster name can serve as a host: dot-separated
// labels of lower-case letters, digits and inner hyphens.
func isHostName(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isSubsetName reports whether s is a subset name Istio allows: letters,
// digits, '-', '_' and '.', starting and ending with a letter or digit.
func isSubsetName(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// keyOf maps a cluster name to a host, port and subset. Istio's names
// ("outbound|9080|v1|reviews.default.svc.cluster.local") give all three;
// any other name is a host of its own (the name itself if it is a valid
// host name, else a stable synthetic one) with no subset.
func keyOf(name string) clusterKey {
	if parts := strings.Split(name, "|"); len(parts) == 4 && parts[0] == "outbound" {
		if port, err := strconv.ParseUint(parts[1], 10, 16); err == nil && isHostName(parts[3]) &&
			(parts[2] == "" || isSubsetName(parts[2])) {
			return clusterKey{host: parts[3], port: uint32(port), subset: parts[2]}
		}
	}
	if len(name) <= 253 && isHostName(name) {
		return clusterKey{host: name}
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return clusterKey{host: fmt.Sprintf("c%016x.xds.invalid", h.Sum64())}
}

// domainHost reduces a virtual host's domain to a VirtualService host:
// without port, without trailing dot; "" when it cannot be one ("*" alone).
func domainHost(d string) string {
	if h, p, err := net.SplitHostPort(d); err == nil {
		if _, err := strconv.ParseUint(p, 10, 16); err == nil || p == "*" {
			d = h
		}
	}
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if d == "*" || d == "" {
		return ""
	}
	return d
}

// translate builds the mesh configuration that the resources describe,
// as a fresh translation would, and the translation that gave it. With
// prev, it updates prev (reusing what it translated from the same decoded
// resources) and returns it; without, it starts anew. Mesh updates prev by
// what changed instead (translation.update).
func translate(rs *resources, prev *translation) (switchyard.Config, *translation) {
	t := prev
	if t == nil {
		t = newTranslation()
	}
	t.update(rs, t.everything(rs))
	return t.config(), t
}

// registryOnlySidecar is how the translation says what istiod's block_all
// virtual host does: requests to hosts the control plane did not send are
// refused with 502 (Envoy's BlackHoleCluster). It sees every host sent.
var registryOnlySidecar = sidecar.Sidecar{
	Name:                  "outbound-traffic-policy",
	Namespace:             "istio-system",
	Egress:                []sidecar.EgressListener{{Hosts: []string{"*/*"}}},
	OutboundTrafficPolicy: &sidecar.OutboundTrafficPolicy{Mode: "REGISTRY_ONLY"},
}

// blocksAll reports whether a catch-all virtual host is Istio's block_all:
// every route a direct 502.
func blocksAll(vh vhostIR) bool {
	for _, r := range vh.routes {
		if d := r.DirectResponse; d == nil || d.Status != http.StatusBadGateway {
			return false
		}
	}
	return len(vh.routes) > 0
}

// hostState is one host's part of the translation.
type hostState struct {
	// se and dr are the host's entries as buildHost built them, until
	// they enter the translation's lists (translation.entry finds them
	// there): nil after, unless the endpoint fast path since replaced se
	// (the host is stale).
	se          *subset.ServiceEntry
	dr          *subset.DestinationRule
	passthrough bool // a cluster of the host is ORIGINAL_DST
	live        bool // the host enters the configuration
	// inputs are the resources it was built from: a translation whose
	// inputs for the host are the same (the same decoded resources, which
	// are immutable) reuses it.
	inputs []hostInput
}

// hostInput is one cluster's part of a host's translation: the decoded
// resources it reads.
type hostInput struct {
	name      string
	cluster   *clusterIR
	endpoints *endpointsIR
	hash      *balancer.ConsistentHash
}

// hostInputs lists what buildHost reads for a host's clusters.
func hostInputs(rs *resources, clusters []string, hashes map[string]*balancer.ConsistentHash) []hostInput {
	in := make([]hostInput, len(clusters))
	for i, cn := range clusters {
		c := rs.clusters[cn]
		in[i] = hostInput{name: cn, cluster: c, hash: hashes[cn]}
		if c != nil && c.inline == nil {
			in[i].endpoints = rs.endpoints[c.edsName]
		}
	}
	return in
}

// buildHost translates the clusters (sorted by name) of one host, which
// the routes use, to its ServiceEntry and DestinationRule. A pure function
// of its input.
func buildHost(rs *resources, host string, clusters []string, hashes map[string]*balancer.ConsistentHash) *hostState {
	hs := &hostState{
		se: &subset.ServiceEntry{Name: host, Hosts: []string{host}, Location: "MESH_INTERNAL", Resolution: "STATIC"},
		dr: &subset.DestinationRule{Name: host, Host: host},
	}
	b := hostBuilder{hostState: hs, byAddr: map[string][]int{}, ports: map[uint32]bool{}, subsets: map[string]int{}}
	for _, cn := range clusters {
		b.addCluster(rs, cn, keyOf(cn), hashes)
	}
	// A host or subset without endpoints stays, as from YAML: its requests
	// get Envoy's 503 "no healthy upstream" (the mesh warns of a subset
	// that selects nothing). A host none of whose clusters is known is
	// left out (live false).
	if len(hs.se.Endpoints) == 0 && hs.passthrough {
		// Istio's PASSTHROUGH: the address the caller dialled.
		hs.se.Resolution = "NONE"
	}
	slices.SortFunc(hs.se.Ports, func(a, b subset.Port) int { return cmp.Compare(a.Number, b.Number) })
	// The endpoints' and subsets' maps, shared with those of the same
	// entries (of every host: most have the same few). Nothing modifies
	// them after: the configuration is immutable.
	for i := range hs.se.Endpoints {
		we := &hs.se.Endpoints[i]
		we.Ports, we.Labels = sharedPortMaps.shared(we.Ports), sharedLabelMaps.shared(we.Labels)
	}
	for i := range hs.dr.Subsets {
		s := &hs.dr.Subsets[i]
		s.Labels = sharedLabelMaps.shared(s.Labels)
	}
	// Its ports and subsets likewise (most hosts of a mesh have the same:
	// their subsets' policies are the decoded clusters', see addCluster).
	hs.se.Ports, hs.dr.Subsets = sharedPorts(hs.se.Ports), sharedSubsets(hs.dr.Subsets)
	return hs
}

// hostBuilder is a host's translation while buildHost builds it, with the
// indexes that only the building needs.
type hostBuilder struct {
	*hostState
	byAddr  map[string][]int // endpoint indexes by address
	ports   map[uint32]bool
	subsets map[string]int // index in dr.Subsets
}

// addCluster adds cluster cn, of key k, to its host's translation.
func (hs *hostBuilder) addCluster(rs *resources, cn string, k clusterKey, hashes map[string]*balancer.ConsistentHash) {
	svcPort := k.port
	if svcPort == 0 {
		svcPort = 80
	}
	portName := "p" + strconv.FormatUint(uint64(svcPort), 10)
	c := rs.clusters[cn]
	if c == nil {
		// Not (yet) received, or refused: no subset or host stands for
		// it, so the mesh answers its share of the traffic as a
		// destination nothing backs (503, empty body), as Envoy answers
		// for a cluster it does not know.
		return
	}
	hs.live = true
	if !hs.ports[svcPort] {
		hs.ports[svcPort] = true
		proto := "HTTP"
		if c.http2 {
			proto = "HTTP2"
		}
		hs.se.Ports = append(hs.se.Ports, subset.Port{Number: svcPort, Name: portName, Protocol: proto})
	}
	label := ""
	if k.subset != "" {
		label = subsetLabelPrefix + k.subset
		if _, ok := hs.subsets[k.subset]; !ok {
			hs.subsets[k.subset] = len(hs.dr.Subsets)
			hs.dr.Subsets = append(hs.dr.Subsets, subset.Subset{Name: k.subset, Labels: map[string]string{label: "true"}})
		}
	}
	if c.ignored {
		hs.passthrough = true
		return
	}
	if c.dns {
		hs.se.Resolution = "DNS"
	}
	eps := c.inline
	if eps == nil {
		eps = rs.endpoints[c.edsName]
	}
	// Without outlier detection nothing fails over: only the lowest
	// priority with endpoints takes traffic. With it, the mesh's
	// locality failover orders the localities as istiod did.
	best := ^uint32(0)
	if eps != nil {
		for _, e := range eps.eps {
			best = min(best, e.priority)
		}
	}
	pol := *c.policy
	takes := func(e endpointIR) bool { return pol.OutlierDetection != nil || e.priority == best }
	if eps != nil {
		pol.TLS = c.clusterTLS(eps.eps, takes)
	} else {
		pol.TLS = c.clusterTLS(nil, takes)
	}
	if c.localityWeighted && eps != nil {
		if d := localityDistribute(eps.eps, takes); d != nil {
			lb := *pol.LoadBalancer
			lb.LocalityLbSetting = &balancer.LocalitySettings{Distribute: []balancer.Distribute{*d}}
			pol.LoadBalancer = &lb
		}
	}
	if c.hashed {
		lb := *pol.LoadBalancer
		ch := *lb.ConsistentHash
		if h := hashes[cn]; h != nil {
			ch.HTTPHeaderName, ch.HTTPCookie, ch.UseSourceIP, ch.HTTPQueryParameterName = h.HTTPHeaderName, h.HTTPCookie, h.UseSourceIP, h.HTTPQueryParameterName
			lb.ConsistentHash = &ch
		} else {
			// Envoy hashes a request without hash policy on a random
			// value.
			lb.ConsistentHash, lb.Simple = nil, balancer.SimpleRandom
		}
		pol.LoadBalancer = &lb
	}
	// The decoded policy itself when the host changes none of it: the
	// configuration shares it (policies are never modified: a port's
	// setting is added to a copy).
	tp := c.policy
	if pol.TLS != tp.TLS || pol.LoadBalancer != tp.LoadBalancer {
		tp = &pol
	}
	at := &hs.dr.TrafficPolicy
	if k.subset != "" {
		at = &hs.dr.Subsets[hs.subsets[k.subset]].TrafficPolicy
	}
	if *at == nil {
		*at = tp
	} else {
		p := **at
		p.PortLevelSettings = append(slices.Clip(p.PortLevelSettings), portPolicy(svcPort, pol))
		*at = &p
	}

	if eps == nil {
		return
	}
	for _, e := range eps.eps {
		if !takes(e) {
			continue
		}
		wi := -1
		for _, i := range hs.byAddr[e.address] {
			we := &hs.se.Endpoints[i]
			if p, ok := we.Ports[portName]; (!ok || p == e.port) && we.Locality == e.locality && we.Weight == e.weight {
				wi = i
				break
			}
		}
		if wi < 0 {
			wi = len(hs.se.Endpoints)
			hs.byAddr[e.address] = append(hs.byAddr[e.address], wi)
			hs.se.Endpoints = append(hs.se.Endpoints, subset.WorkloadEntry{
				Address: e.address, Ports: map[string]uint32{}, Labels: map[string]string{},
				Locality: e.locality, Weight: e.weight,
			})
		}
		we := &hs.se.Endpoints[wi]
		we.Ports[portName] = e.port
		if label != "" {
			we.Labels[label] = "true"
		}
	}
}

// localityDistribute translates the locality weights of a cluster with
// locality_weighted_lb_config (istiod's localityLbSetting) into the
// distribute rule the mesh applies: for a caller anywhere, each locality
// with endpoints that take traffic gets its weight's share (Envoy drops the
// localities without endpoints and shares among the others). Weights are
// scaled to percentages (largest remainders, so off by under one point
// when they do not divide 100). Equal weights, which istiod sends for
// failover-only settings, weigh nothing: nil, and the endpoints share
// alike (Envoy would share alike by locality; the two differ only when
// localities of one priority hold different numbers of endpoints).
func localityDistribute(eps []endpointIR, takes func(endpointIR) bool) *balancer.Distribute {
	weights := map[string]uint32{}
	for _, e := range eps {
		if takes(e) && e.locality != "" {
			weights[e.locality] = max(e.localityWeight, 1)
		}
	}
	var total uint64
	uniform := true
	var first uint32
	for _, w := range weights {
		if first == 0 {
			first = w
		}
		uniform = uniform && w == first
		total += uint64(w)
	}
	if uniform {
		return nil
	}
	type share struct {
		locality string
		pct      uint32
		rem      uint64
	}
	var shares []share
	var sum uint32
	for _, l := range slices.Sorted(maps.Keys(weights)) {
		n := uint64(weights[l]) * 100
		shares = append(shares, share{l, uint32(n / total), n % total})
		sum += uint32(n / total)
	}
	slices.SortStableFunc(shares, func(a, b share) int { return cmp.Compare(b.rem, a.rem) })
	for i := 0; sum < 100; i++ {
		shares[i%len(shares)].pct++
		sum++
	}
	d := &balancer.Distribute{From: "*", To: map[string]uint32{}}
	for _, s := range shares {
		if s.pct > 0 {
			d.To[s.locality] = s.pct
		}
	}
	return d
}

// vhostOut is a virtual host translated for the assembly. What the
// decoded virtual host gives as it is (its name, the clusters its routes
// name, their hash policies, most often its routes) is read there, not
// copied.
type vhostOut struct {
	vh        *vhostIR
	hosts     []string           // the VirtualService hosts its domains name; none for "*"
	routes    *[]route.HTTPRoute // its routes bound to the listener when they are not vh's (see httpRoutes)
	blocksAll bool               // a "*" virtual host that is Istio's block_all
}

// vsName is the VirtualService the virtual host comes from.
func (o *vhostOut) vsName() (name, ns string) { return o.vh.vsName, o.vh.vsNS }

// httpRoutes returns its routes, destination hosts resolved from cluster
// names: the decoded ones when they are the listener's (their matches
// bound to its port, see routePort, and the fault filter on or no fault),
// which the configuration shares. The slice is clipped, so that appending
// to it copies.
func (o *vhostOut) httpRoutes() []route.HTTPRoute {
	if o.routes != nil {
		return *o.routes
	}
	return slices.Clip(o.vh.routes)
}

// clusters yields the clusters its routes name (destinations and mirrors;
// a cluster named twice, twice).
func (o *vhostOut) clusters() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, x := range o.vh.extra {
			for _, cn := range x.clusters {
				if !yield(cn) {
					return
				}
			}
		}
	}
}

// uses reports whether its routes name cluster cn.
func (o *vhostOut) uses(cn string) bool {
	for c := range o.clusters() {
		if c == cn {
			return true
		}
	}
	return false
}

// hash returns the hash policy of its first route (in order) that has one
// for destination cluster cn; nil for none.
func (o *vhostOut) hash(cn string) *balancer.ConsistentHash {
	for _, x := range o.vh.extra {
		if x.hash == nil {
			continue
		}
		if h := x.hash[cn]; h != nil { // its destinations' only
			return h
		}
	}
	return nil
}

// translateVHost translates virtual host vh of listener l: its hosts, and
// its routes bound to the listener's port, with the fault filter's presence
// applied and destinations resolved. Its hosts are clipped, so that
// appending to them copies.
func translateVHost(l *listenerIR, vh *vhostIR) vhostOut {
	out := vhostOut{vh: vh}
	for _, d := range vh.domains {
		if h := domainHost(d); h != "" && !slices.Contains(out.hosts, h) {
			out.hosts = append(out.hosts, h)
		}
	}
	if len(out.hosts) == 0 {
		out.blocksAll = blocksAll(*vh)
		return out
	}
	if len(out.hosts) <= len(vh.domains) && slices.Equal(out.hosts, vh.domains[:len(out.hosts)]) {
		out.hosts = vh.domains[:len(out.hosts)] // the decoded domains' array: no copy
	}
	out.hosts = slices.Clip(out.hosts)
	if !slices.ContainsFunc(vh.routes, func(r route.HTTPRoute) bool {
		return (r.Fault != nil && !l.faultOn) || slices.ContainsFunc(r.Match, func(m match.Request) bool { return m.Port != l.port })
	}) {
		return out // vh's routes
	}
	routes := make([]route.HTTPRoute, 0, len(vh.routes))
	out.routes = &routes
	for _, r := range vh.routes {
		if slices.ContainsFunc(r.Match, func(m match.Request) bool { return m.Port != l.port }) {
			r.Match = slices.Clone(r.Match)
			for i := range r.Match {
				r.Match[i].Port = l.port
			}
		}
		if !l.faultOn {
			r.Fault = nil
		}
		routes = append(routes, r)
	}
	return out
}

// destinationOf is the VirtualService destination of a cluster.
func destinationOf(cluster string) route.Destination {
	k := keyOf(cluster)
	d := route.Destination{Host: k.host, Subset: k.subset}
	if k.port != 0 {
		d.Port = &route.PortSelector{Number: k.port}
	}
	return d
}

// portPolicy is a cluster's policy as a port-level setting.
func portPolicy(port uint32, p subset.TrafficPolicy) subset.PortTrafficPolicy {
	return subset.PortTrafficPolicy{
		Port:             subset.PortSelector{Number: port},
		LoadBalancer:     p.LoadBalancer,
		ConnectionPool:   p.ConnectionPool,
		OutlierDetection: p.OutlierDetection,
		TLS:              p.TLS,
	}
}

// protoEqual reports whether two messages are equal.
func protoEqual(a, b proto.Message) bool { return proto.Equal(a, b) }
