package switchyard

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard/gateway"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/router"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// compiledGateway is a Gateway ready to serve: its ports, each with the
// servers on it and the routes of the VirtualServices bound to it.
type compiledGateway struct {
	key   string // "namespace/name"
	ports map[uint32]*gatewayPort
}

// gatewayPort is what a Gateway serves on one port: Istio merges the
// servers of a port into one listener.
type gatewayPort struct {
	number  uint32
	tls     bool // the servers terminate TLS
	servers []*gatewayServer
	table   *router.Table
}

type gatewayServer struct {
	hosts    []serverHost
	redirect bool        // tls.httpsRedirect
	tls      *tls.Config // its termination, nil for plain HTTP
}

// serverHost is one of a server's hosts, "namespace/host".
type serverHost struct {
	namespace string // "*" any, or a namespace ("." resolved)
	host      string // lower-case: "*", "*.suffix" or a name
}

// nsOrDefault is the namespace of a resource written without one.
func nsOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// hostMatches reports whether host (a request's, or a VirtualService's
// name) is covered by pattern ("*", "*.suffix" or a name).
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}

// hostsIntersect reports whether two host patterns have a name in common.
func hostsIntersect(a, b string) bool { return hostMatches(a, b) || hostMatches(b, a) }

// server returns the server on the port that exposes host, or nil.
func (p *gatewayPort) server(host string) *gatewayServer {
	for _, s := range p.servers {
		for _, h := range s.hosts {
			if hostMatches(h.host, host) {
				return s
			}
		}
	}
	return nil
}

// admits reports whether the port exposes host of vs: a server host
// overlaps it and allows vs's namespace.
func (p *gatewayPort) admits(vs *route.VirtualService, host string) bool {
	ns := nsOrDefault(vs.Namespace)
	for _, s := range p.servers {
		for _, h := range s.hosts {
			if (h.namespace == "*" || h.namespace == ns) && hostsIntersect(h.host, host) {
				return true
			}
		}
	}
	return false
}

// gatewayProtocols are the server protocols the HTTP handler serves.
var gatewayProtocols = map[string]bool{"HTTP": true, "HTTPS": true, "HTTP2": true, "GRPC": true}

// tcpProtocols are Istio's other server protocols, rejected by name.
var tcpProtocols = map[string]bool{"TCP": true, "TLS": true, "MONGO": true, "REDIS": true, "MYSQL": true, "GRPC-WEB": true}

var tlsVersions = map[string]uint16{"TLS_AUTO": 0, "TLSV1_0": tls.VersionTLS10, "TLSV1_1": tls.VersionTLS11,
	"TLSV1_2": tls.VersionTLS12, "TLSV1_3": tls.VersionTLS13}

// compileGateways validates the Gateways, as Istio's validateGateway does,
// and compiles each with the VirtualServices bound to it. Certificate files
// are read here, so an Update reads them again.
func compileGateways(gws []gateway.Gateway, vss []route.VirtualService, reg *cluster.Registry, src match.Source, env *router.Env) (map[string]*compiledGateway, error) {
	out := make(map[string]*compiledGateway, len(gws))
	var errs fielderr.List
	for i := range gws {
		g := &gws[i]
		var e fielderr.List
		where := fielderr.Resource("Gateway", g.Namespace, g.Name)
		cg := compileGateway(g, &e)
		if _, dup := out[cg.key]; dup {
			e.Add("metadata.name", "Gateway %s is defined twice", fielderr.Quote(cg.key))
		}
		if e.Len() == 0 {
			for _, p := range cg.ports {
				t, err := router.CompileFrom(vss, reg, src, env, router.Binding{Gateway: cg.key, Admit: p.admits}, nil)
				if err != nil {
					// The VirtualServices were validated with the mesh's
					// table; what fails here is particular to the gateway.
					e.Merge("", err)
					continue
				}
				p.table = t
			}
		}
		e.Locate(where)
		errs.Merge("", e.Err())
		out[cg.key] = cg
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func compileGateway(g *gateway.Gateway, errs *fielderr.List) *compiledGateway {
	ns := nsOrDefault(g.Namespace)
	cg := &compiledGateway{key: ns + "/" + g.Name, ports: map[uint32]*gatewayPort{}}
	if !isDNSLabel(g.Name) {
		errs.Add("metadata.name", "invalid gateway name %s: a Gateway's name must be a DNS-1123 label (no dots)", fielderr.Quote(g.Name))
	}
	for k, v := range g.Selector {
		if k == "" {
			errs.Add("spec.selector", "empty label name")
		} else if len(v) > 63 {
			errs.Add(fielderr.Key("spec.selector", k), "a label value is at most 63 characters")
		}
	}
	if len(g.Servers) == 0 {
		errs.Add("spec.servers", "at least one server is required")
	}
	portNames := map[string]uint32{}
	serverNames := map[string]bool{}
	for i := range g.Servers {
		s := &g.Servers[i]
		path := fielderr.Index("spec.servers", i)
		if s.Name != "" {
			if serverNames[s.Name] {
				errs.Add(fielderr.Join(path, "name"), "server name %s is used by another server of the gateway", fielderr.Quote(s.Name))
			}
			serverNames[s.Name] = true
		}
		cs := &gatewayServer{}
		ok := true
		for j, h := range s.Hosts {
			sh, err := parseServerHost(h, ns)
			if err != "" {
				errs.Add(fielderr.Index(fielderr.Join(path, "hosts"), j), "%s: %s", fielderr.Quote(h), err)
				ok = false
				continue
			}
			cs.hosts = append(cs.hosts, sh)
		}
		if len(s.Hosts) == 0 {
			errs.Add(fielderr.Join(path, "hosts"), "at least one host is required")
		}
		proto, isTLS := checkServerPort(s.Port, path, portNames, errs)
		if proto == "" {
			ok = false
		}
		if !checkServerTLS(s, proto, isTLS, cs, fielderr.Join(path, "tls"), errs) {
			ok = false
		}
		if !ok {
			continue
		}
		p := cg.ports[s.Port.Number]
		if p == nil {
			p = &gatewayPort{number: s.Port.Number, tls: isTLS}
			cg.ports[s.Port.Number] = p
		} else if p.tls != isTLS {
			errs.Add(fielderr.Join(path, "port"), "port %d has both TLS and plain-text servers; a port is one or the other", s.Port.Number)
			continue
		}
		p.servers = append(p.servers, cs)
	}
	return cg
}

// parseServerHost parses a server host, "[namespace/]host", as Istio's
// validateNamespaceSlashWildcardHostname.
func parseServerHost(h, gwNamespace string) (serverHost, string) {
	ns, host, slash := strings.Cut(h, "/")
	if !slash {
		ns, host = "*", h
	}
	switch {
	case ns == ".":
		ns = gwNamespace
	case ns == "*":
	case ns == "~":
		return serverHost{}, "the namespace \"~\" is for Sidecars; a gateway host needs a namespace, \".\" or \"*\""
	case !isDNSLabel(ns):
		return serverHost{}, "the namespace before '/' must be \".\", \"*\" or a DNS-1123 label"
	}
	host = strings.ToLower(host)
	if err := checkWildcardHost(host); err != "" {
		return serverHost{}, err
	}
	return serverHost{namespace: ns, host: host}, ""
}

// checkWildcardHost checks a Gateway's or Sidecar's host, which may be "*"
// or start with "*.", as Istio's validateSidecarOrGatewayHostnamePart: a
// name must be fully qualified (hold a dot), for a short name means nothing
// outside a namespace.
func checkWildcardHost(host string) string {
	if host == "*" {
		return ""
	}
	if !strings.Contains(host, ".") {
		return "short names (non FQDN) are not allowed; write the fully qualified name"
	}
	name := strings.TrimPrefix(host, "*.")
	if name == "" || len(host) > 255 {
		return "not a host name"
	}
	if net.ParseIP(name) != nil && name == host {
		return ""
	}
	for _, l := range strings.Split(name, ".") {
		if !isDNSLabel(l) {
			if strings.Contains(l, "*") {
				return "a wildcard must be a leading \"*.\""
			}
			return "not a host name (DNS-1123 labels separated by dots)"
		}
	}
	return ""
}

func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkServerPort validates a server's port and returns its protocol
// (upper-case; "" if invalid) and whether it carries TLS.
func checkServerPort(p *gateway.Port, path string, names map[string]uint32, errs *fielderr.List) (string, bool) {
	pp := fielderr.Join(path, "port")
	if p == nil {
		errs.Add(pp, "required")
		return "", false
	}
	ok := true
	if p.Number == 0 || p.Number > 65535 {
		errs.Add(fielderr.Join(pp, "number"), "%d is not a port number (1-65535)", p.Number)
		ok = false
	}
	if p.Name == "" {
		errs.Add(fielderr.Join(pp, "name"), "port name must be set")
	} else if n, dup := names[p.Name]; dup {
		errs.Add(fielderr.Join(pp, "name"), "port names in servers must be unique: %s names port %d too", fielderr.Quote(p.Name), n)
	} else {
		names[p.Name] = p.Number
	}
	proto := strings.ToUpper(p.Protocol)
	switch {
	case gatewayProtocols[proto]:
	case tcpProtocols[proto]:
		errs.Add(fielderr.Join(pp, "protocol"), "not supported: %s servers carry TCP or unterminated TLS, and the gateway handler serves HTTP; use HTTP, HTTPS, HTTP2 or GRPC", proto)
		ok = false
	case proto == "":
		errs.Add(fielderr.Join(pp, "protocol"), "required; use HTTP, HTTPS, HTTP2 or GRPC")
		ok = false
	default:
		errs.Add(fielderr.Join(pp, "protocol"), "invalid protocol %s; use HTTP, HTTPS, HTTP2 or GRPC", fielderr.Quote(p.Protocol))
		ok = false
	}
	if !ok {
		return "", false
	}
	return proto, proto == "HTTPS"
}

// checkServerTLS validates a server's tls settings against its protocol
// and builds its termination into cs. It reports whether they are valid.
func checkServerTLS(s *gateway.Server, proto string, isTLS bool, cs *gatewayServer, path string, errs *fielderr.List) bool {
	t := s.TLS
	n := errs.Len()
	if t == nil {
		if isTLS {
			errs.Add(path, "server must have TLS settings for HTTPS/TLS protocols")
		}
		return errs.Len() == n
	}
	cs.redirect = t.HTTPSRedirect
	mode := strings.ToUpper(t.Mode)
	if !isTLS {
		if proto != "" && (t.Mode != "" || t.ServerCertificate != "" || t.PrivateKey != "" || t.CACertificates != "" || t.CredentialName != "") {
			errs.Add(path, "server cannot have TLS settings for plain text %s ports; only httpsRedirect", proto)
		}
		return errs.Len() == n
	}
	switch mode {
	case "SIMPLE", "MUTUAL":
	case "", "PASSTHROUGH", "AUTO_PASSTHROUGH":
		errs.Add(fielderr.Join(path, "mode"), "not supported: %s (the default) forwards TLS unterminated, which the HTTP handler cannot; set mode SIMPLE or MUTUAL", orDefault(mode, "PASSTHROUGH"))
	case "ISTIO_MUTUAL", "OPTIONAL_MUTUAL":
		errs.Add(fielderr.Join(path, "mode"), "not supported: %s; use SIMPLE or MUTUAL with certificates from files", mode)
	default:
		errs.Add(fielderr.Join(path, "mode"), "unknown mode %s; use SIMPLE or MUTUAL", fielderr.Quote(t.Mode))
	}
	if t.CredentialName != "" {
		errs.Add(fielderr.Join(path, "credentialName"), "not supported: %s names a Kubernetes secret, which an in-process gateway cannot read; set serverCertificate and privateKey (and caCertificates for MUTUAL) to PEM file paths instead", fielderr.Quote(t.CredentialName))
	}
	// Istio requires the files only of a SIMPLE or MUTUAL server that does
	// not name a secret instead; a mode or secret refused above is the
	// whole problem, not a missing file besides. In SIMPLE mode Istio
	// ignores caCertificates and subjectAltNames: no client certificate is
	// asked for (pilot's BuildListenerTLSContext validates clients only for
	// MUTUAL), so neither is here.
	if (mode == "SIMPLE" || mode == "MUTUAL") && t.CredentialName == "" {
		if t.ServerCertificate == "" {
			errs.Add(fielderr.Join(path, "serverCertificate"), "%s TLS requires a server certificate", mode)
		}
		if t.PrivateKey == "" {
			errs.Add(fielderr.Join(path, "privateKey"), "%s TLS requires a private key", mode)
		}
		if mode == "MUTUAL" && t.CACertificates == "" {
			errs.Add(fielderr.Join(path, "caCertificates"), "MUTUAL TLS requires a client CA bundle")
		}
	}
	minV, okMin := tlsVersions[orDefault(strings.ToUpper(t.MinProtocolVersion), "TLS_AUTO")]
	if !okMin {
		errs.Add(fielderr.Join(path, "minProtocolVersion"), "unknown version %s; use TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3", fielderr.Quote(t.MinProtocolVersion))
	}
	maxV, okMax := tlsVersions[orDefault(strings.ToUpper(t.MaxProtocolVersion), "TLS_AUTO")]
	if !okMax {
		errs.Add(fielderr.Join(path, "maxProtocolVersion"), "unknown version %s; use TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3", fielderr.Quote(t.MaxProtocolVersion))
	}
	if okMin && okMax && minV != 0 && maxV != 0 && maxV < minV {
		errs.Add(fielderr.Join(path, "maxProtocolVersion"), "is below minProtocolVersion")
	}
	if errs.Len() != n {
		return false
	}
	cert, err := tls.LoadX509KeyPair(t.ServerCertificate, t.PrivateKey)
	if err != nil {
		errs.Add(path, "serverCertificate %s and privateKey %s: %v", fielderr.Quote(t.ServerCertificate), fielderr.Quote(t.PrivateKey), err)
		return false
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV, MaxVersion: maxV, NextProtos: []string{"h2", "http/1.1"}}
	if minV == 0 {
		cfg.MinVersion = tls.VersionTLS12 // Envoy's default for servers
	}
	if mode == "MUTUAL" {
		pem, err := os.ReadFile(t.CACertificates)
		if err != nil {
			errs.Add(fielderr.Join(path, "caCertificates"), "%v", err)
			return false
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			errs.Add(fielderr.Join(path, "caCertificates"), "%s holds no PEM certificate", fielderr.Quote(t.CACertificates))
			return false
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		if sans := slices.Clone(t.SubjectAltNames); len(sans) > 0 {
			cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
				if len(chains) > 0 && len(chains[0]) > 0 && certHasSAN(chains[0][0], sans) {
					return nil
				}
				return fmt.Errorf("switchyard: client certificate carries none of the subjectAltNames %q", sans)
			}
		}
	}
	cs.tls = cfg
	return true
}

// certHasSAN reports whether c carries one of names among its DNS, URI,
// email and IP subject alternative names.
func certHasSAN(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if slices.Contains(c.DNSNames, n) || slices.Contains(c.EmailAddresses, n) {
			return true
		}
		for _, u := range c.URIs {
			if u.String() == n {
				return true
			}
		}
		for _, ip := range c.IPAddresses {
			if ip.String() == n {
				return true
			}
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
