package router

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// MeshGateway is the reserved gateway name of in-process (sidecar)
// routing.
const MeshGateway = "mesh"

// TCPTable is the compiled form of the VirtualServices' tcp and tls
// routes, which route connections rather than requests. It is immutable
// and safe for concurrent use.
type TCPTable struct {
	services []*l4Service // in configuration order
	registry *cluster.Registry
	warnings []*fielderr.Error
}

// Warnings returns what CompileTCP found valid but probably not meant,
// such as routes to hosts no ServiceEntry defines.
func (t *TCPTable) Warnings() []*fielderr.Error { return t.warnings }

// l4Service is one VirtualService's TCP and TLS routes.
type l4Service struct {
	name  string // "VirtualService ns/name"
	hosts []hostKey
	tls   []*L4Route
	tcp   []*L4Route
}

// L4Route is one compiled tcp or tls route.
type L4Route struct {
	// Name is "<VirtualService>.tcp.<i>" or "<VirtualService>.tls.<i>".
	Name    string
	matches []l4Match // none: every connection (tcp only)
	dests   []l4Dest
	total   uint64
}

type l4Match struct {
	sni      []string       // lower-case; "*.x" wildcards; tls only
	subnets  []netip.Prefix // none: any address
	port     uint32         // 0: any port
	gateways []string       // "mesh", "ns/name" or "name"
	applies  bool           // the caller's labels and namespace fit
}

type l4Dest struct {
	host, subset string
	target       *cluster.Target
	upTo         uint64
}

// Conn describes a connection to route: the gateway the dialer acts as
// (MeshGateway for in-process routing), the dialled host (lower-case,
// without port) and port, and the server name of its ClientHello.
type Conn struct {
	Gateway string
	Host    string
	Port    uint32
	// TLS is true when the caller's first bytes were a TLS ClientHello,
	// whose server name is SNI ("" when it names none).
	TLS bool
	SNI string
}

// CompileTCP validates the tcp and tls routes of services against the
// registry and builds a TCPTable. src describes the calling workload for
// sourceLabels and sourceNamespace. Every problem is reported, each naming
// its resource and field.
func CompileTCP(services []route.VirtualService, reg *cluster.Registry, src match.Source) (*TCPTable, error) {
	t := &TCPTable{registry: reg}
	var errs fielderr.List
	for i := range services {
		vs := &services[i]
		if len(vs.TCP) == 0 && len(vs.TLS) == 0 {
			continue
		}
		var e fielderr.List
		s := &l4Service{name: fielderr.Resource("VirtualService", vs.Namespace, vs.Name)}
		gateways := normalGateways(vs.Gateways, vs.Namespace)
		for j, g := range vs.Gateways {
			checkGateway(g, fielderr.Index("spec.gateways", j), &e)
		}
		mesh := len(vs.Gateways) == 0 || containsString(gateways, MeshGateway)
		for j, h := range vs.Hosts {
			key, err := parseHost(h, false)
			switch {
			case err != nil:
				if len(vs.HTTP) == 0 { // else Compile reports it
					e.Add(fielderr.Index("spec.hosts", j), "%v", err)
				}
				continue
			case key.host == "*" && mesh:
				e.Add(fielderr.Index("spec.hosts", j), "wildcard host * is not allowed for VirtualServices bound to the mesh gateway")
			}
			s.hosts = append(s.hosts, key)
		}
		if len(vs.Hosts) == 0 && len(vs.HTTP) == 0 {
			e.Add("spec.hosts", "at least one host is required")
		}
		for j := range vs.TLS {
			path := fielderr.Index("spec.tls", j)
			r := &L4Route{Name: vs.Name + ".tls." + strconv.Itoa(j)}
			tr := &vs.TLS[j]
			if len(tr.Match) == 0 {
				e.Add(fielderr.Join(path, "match"), "a TLS route must have at least one match")
			}
			for k := range tr.Match {
				m := &tr.Match[k]
				mp := fielderr.Index(fielderr.Join(path, "match"), k)
				lm := compileL4Match(l4Fields{m.DestinationSubnets, m.Port, m.SourceLabels, m.SourceNamespace, m.Gateways}, gateways, vs.Namespace, src, mp, &e)
				if len(m.SNIHosts) == 0 {
					e.Add(fielderr.Join(mp, "sniHosts"), "a TLS match must have at least one SNI host")
				}
				for n, sni := range m.SNIHosts {
					np := fielderr.Index(fielderr.Join(mp, "sniHosts"), n)
					if err := checkSNI(sni, vs.Hosts); err != nil {
						e.Add(np, "%v", err)
						continue
					}
					lm.sni = append(lm.sni, strings.ToLower(sni))
				}
				r.matches = append(r.matches, lm)
			}
			compileL4Dests(r, tr.Route, vs.Namespace, reg, path, &e)
			s.tls = append(s.tls, r)
		}
		for j := range vs.TCP {
			path := fielderr.Index("spec.tcp", j)
			r := &L4Route{Name: vs.Name + ".tcp." + strconv.Itoa(j)}
			tr := &vs.TCP[j]
			for k := range tr.Match {
				m := &tr.Match[k]
				mp := fielderr.Index(fielderr.Join(path, "match"), k)
				r.matches = append(r.matches, compileL4Match(l4Fields{m.DestinationSubnets, m.Port, m.SourceLabels, m.SourceNamespace, m.Gateways}, gateways, vs.Namespace, src, mp, &e))
			}
			if len(tr.Match) == 0 {
				// No match: every connection to the VirtualService's
				// hosts through its gateways.
				r.matches = []l4Match{{gateways: gateways, applies: true}}
			}
			compileL4Dests(r, tr.Route, vs.Namespace, reg, path, &e)
			s.tcp = append(s.tcp, r)
		}
		e.Locate(s.name)
		errs.AddList(&e)
		t.services = append(t.services, s)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	t.warnings = errs.Warnings()
	return t, nil
}

// l4Fields are the fields L4MatchAttributes and TLSMatchAttributes share.
type l4Fields struct {
	subnets   []string
	port      uint32
	labels    map[string]string
	namespace string
	gateways  []string
}

func compileL4Match(f l4Fields, vsGateways []string, namespace string, src match.Source, path string, errs *fielderr.List) l4Match {
	m := l4Match{port: f.port, gateways: vsGateways, applies: true}
	for i, s := range f.subnets {
		p, err := parseSubnet(s)
		if err != nil {
			errs.Add(fielderr.Index(fielderr.Join(path, "destinationSubnets"), i), "%v", err)
			continue
		}
		m.subnets = append(m.subnets, p)
	}
	if f.port > 65535 {
		errs.Add(fielderr.Join(path, "port"), "%d is not a port number (1 to 65535)", f.port)
	}
	for i, g := range f.gateways {
		checkGateway(g, fielderr.Index(fielderr.Join(path, "gateways"), i), errs)
	}
	if len(f.gateways) > 0 {
		m.gateways = normalGateways(f.gateways, namespace)
	}
	for k, v := range f.labels {
		if got, ok := src.Labels[k]; !ok || got != v {
			m.applies = false
		}
	}
	if f.namespace != "" && f.namespace != src.Namespace {
		m.applies = false
	}
	return m
}

// parseSubnet parses an IP address or a CIDR block, as Istio's
// ValidateIPSubnet accepts them.
func parseSubnet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s is not a CIDR block (a.b.c.d/xx)", fielderr.Quote(s))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%s is not an IP address or a CIDR block", fielderr.Quote(s))
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkGateway checks a gateway name's form: "mesh", "name" or
// "namespace/name".
func checkGateway(g, path string, errs *fielderr.List) {
	if g == MeshGateway {
		return
	}
	ns, name, found := strings.Cut(g, "/")
	if !found {
		name, ns = ns, ""
	}
	if (found && !dns1123Label(ns)) || !dns1123Subdomain(name) {
		errs.Add(path, "gateway %s is not \"mesh\", a name or namespace/name", fielderr.Quote(g))
	}
}

// normalGateways returns gateways with names qualified by namespace
// (when it is set), and ["mesh"] for none.
func normalGateways(gateways []string, namespace string) []string {
	if len(gateways) == 0 {
		return []string{MeshGateway}
	}
	out := make([]string, len(gateways))
	for i, g := range gateways {
		if g != MeshGateway && !strings.Contains(g, "/") && namespace != "" {
			g = namespace + "/" + g
		}
		out[i] = g
	}
	return out
}

// gatewayMatches reports whether the dialer's gateway (MeshGateway, "name"
// or "ns/name") is one of gateways.
func gatewayMatches(gateways []string, g string) bool {
	for _, x := range gateways {
		if x == g {
			return true
		}
		if g != MeshGateway && x != MeshGateway && !strings.Contains(g, "/") {
			if _, name, ok := strings.Cut(x, "/"); ok && name == g {
				return true
			}
		}
	}
	return false
}

func dns1123Label(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

func dns1123Subdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dns1123Label(l) {
			return false
		}
	}
	return true
}

// checkSNI checks an SNI host as Istio does: a domain name, "*."
// wildcards allowed, that falls within one of the VirtualService's hosts.
func checkSNI(sni string, hosts []string) error {
	h := strings.ToLower(sni)
	name := strings.TrimPrefix(h, "*.")
	if h == "*" {
		name = ""
	}
	if _, err := netip.ParseAddr(sni); err == nil {
		return nil // Istio only warns: an IP address goes against the SNI spec
	}
	if name != "" && !dnsName(name) {
		return fmt.Errorf("SNI host %s is not a domain name (\"*.\" wildcards allowed)", fielderr.Quote(sni))
	}
	for _, vh := range hosts {
		if subsetOf(h, strings.ToLower(vh)) {
			return nil
		}
	}
	return fmt.Errorf("SNI host %s is not within any of the VirtualService's hosts [%s]", fielderr.Quote(sni), strings.Join(hosts, ", "))
}

// dnsName reports whether s is a domain name of labels of letters, digits,
// hyphens and underscores (Istio accepts SNI names such as
// "outbound_.15010_._.istiod.istio-system.svc.cluster.local").
func dnsName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// subsetOf reports whether host name a falls within b, as Istio's
// host.Name.SubsetOf: "*.a.com" is within "*.com", "x.com" within "*.com"
// and "*", and a name within itself.
func subsetOf(a, b string) bool {
	if b == "*" {
		return true
	}
	if i := strings.LastIndexByte(b, ':'); i >= 0 {
		b = b[:i] // a VirtualService host's port
	}
	if strings.HasPrefix(b, "*.") {
		if strings.HasPrefix(a, "*.") {
			return strings.HasSuffix(a[1:], b[1:])
		}
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

func compileL4Dests(r *L4Route, dests []route.L4RouteDestination, ns string, reg *cluster.Registry, path string, errs *fielderr.List) {
	rp := fielderr.Join(path, "route")
	if len(dests) == 0 {
		errs.Add(rp, "at least one destination is required")
		return
	}
	single := len(dests) == 1
	for i, rd := range dests {
		dp := fielderr.Index(rp, i)
		if rd.Weight < 0 {
			errs.Add(fielderr.Join(dp, "weight"), "must not be negative")
		}
		d := l4Dest{host: rd.Destination.Host, subset: rd.Destination.Subset}
		var port uint32
		if rd.Destination.Port != nil {
			port = rd.Destination.Port.Number
			if port == 0 || port > 65535 {
				errs.Add(fielderr.Join(dp, "destination.port.number"), "%d is not a port number (1 to 65535)", port)
			}
		}
		switch h := rd.Destination.Host; {
		case h == "":
			errs.Add(fielderr.Join(dp, "destination.host"), "required")
		case destinationHost(h) != nil:
			errs.Add(fielderr.Join(dp, "destination.host"), "%v", destinationHost(h))
		default:
			d.target = reg.Target(reg.Resolve(h, ns), rd.Destination.Subset, port)
			if why := d.target.Missing(); why != "" {
				errs.Warn(fielderr.Join(dp, "destination"), "%s: connections routed here fail (Envoy's cluster_not_found)", why)
			}
		}
		w := uint64(max(rd.Weight, 0))
		if single {
			w = 1
		}
		if w == 0 {
			continue
		}
		r.total += w
		d.upTo = r.total
		r.dests = append(r.dests, d)
	}
	if !single && r.total == 0 {
		errs.Add(rp, "the weights of several destinations must sum to more than 0")
	}
}

// HasTLS reports whether a connection to c (whose TLS and SNI are not
// known yet) may be routed by a tls route: then the mesh reads the
// ClientHello before it connects.
func (t *TCPTable) HasTLS(c Conn, addr netip.Addr) bool {
	found := false
	t.each(c.Host, c.Port, func(s *l4Service) bool {
		for _, r := range s.tls {
			for i := range r.matches {
				if r.matches[i].fits(c, addr) {
					found = true
					return false
				}
			}
		}
		return true
	})
	return found
}

// each calls f with the services whose hosts match host and port: exact
// hosts first, then wildcards, longest first, in configuration order
// within each, until f returns false.
func (t *TCPTable) each(host string, port uint32, f func(*l4Service) bool) {
	var wild []*l4Service
	var wildLen []int
	for _, s := range t.services {
		best := -1
		for _, k := range s.hosts {
			switch {
			case k.host == host:
				best = 1 << 20
			case k.host == "*":
				best = max(best, 0)
			case strings.HasPrefix(k.host, "*.") && strings.HasSuffix(host, k.host[1:]):
				best = max(best, len(k.host))
			}
		}
		if best == 1<<20 {
			if !f(s) {
				return
			}
		} else if best >= 0 {
			// insertion by decreasing specificity, stable
			i := len(wild)
			for i > 0 && wildLen[i-1] < best {
				i--
			}
			wild = append(wild[:i], append([]*l4Service{s}, wild[i:]...)...)
			wildLen = append(wildLen[:i], append([]int{best}, wildLen[i:]...)...)
		}
	}
	for _, s := range wild {
		if !f(s) {
			return
		}
	}
}

// fits reports whether m matches c, SNI aside.
func (m *l4Match) fits(c Conn, addr netip.Addr) bool {
	if !m.applies || (m.port != 0 && m.port != c.Port) || !gatewayMatches(m.gateways, c.Gateway) {
		return false
	}
	if len(m.subnets) > 0 {
		if !addr.IsValid() {
			return false
		}
		in := false
		for _, p := range m.subnets {
			if p.Contains(addr.Unmap()) || p.Contains(addr) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

func (m *l4Match) fitsSNI(sni string) bool {
	if sni == "" {
		return false
	}
	for _, s := range m.sni {
		if s == sni || s == "*" || (strings.HasPrefix(s, "*.") && (strings.HasSuffix(sni, s[1:]) || sni == s[2:])) {
			return true
		}
	}
	return false
}

// Route returns the route for connection c to address addr (invalid when
// a host name was dialled): the first tls route whose match fits, when
// the connection began with a ClientHello, else the first tcp route. It
// returns nil when no route fits.
func (t *TCPTable) Route(c Conn, addr netip.Addr) *L4Route {
	var found *L4Route
	t.each(c.Host, c.Port, func(s *l4Service) bool {
		if c.TLS {
			for _, r := range s.tls {
				for i := range r.matches {
					if m := &r.matches[i]; m.fits(c, addr) && m.fitsSNI(c.SNI) {
						found = r
						return false
					}
				}
			}
		}
		for _, r := range s.tcp {
			for i := range r.matches {
				if r.matches[i].fits(c, addr) {
					found = r
					return false
				}
			}
		}
		return true
	})
	return found
}

// Pick draws the route's destination by weight and returns its cluster
// for a connection to port, or an error when the destination names no
// port and its service has several, none of them port.
func (r *L4Route) Pick(rand balancer.Rand, port uint32) (*cluster.Cluster, error) {
	d := &r.dests[0]
	if len(r.dests) > 1 {
		v := rng.N(rand.Uint64(), r.total)
		for i := range r.dests {
			if v < r.dests[i].upTo {
				d = &r.dests[i]
				break
			}
		}
	}
	c := d.target.Cluster(port)
	if c == nil {
		if why := d.target.Missing(); why != "" {
			return nil, fmt.Errorf("route %s: no cluster: %s", r.Name, why)
		}
		return nil, fmt.Errorf("route %s: destination %s names no port and has several, none of them %d", r.Name, d.host, port)
	}
	return c, nil
}

// Default returns the cluster of a ServiceEntry host at port for a
// connection no route applies to, or nil when no ServiceEntry defines
// host.
func (t *TCPTable) Default(host string, port uint32) *cluster.Cluster {
	if t.registry == nil {
		return nil
	}
	return t.registry.Target(host, "", 0).Cluster(port)
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
