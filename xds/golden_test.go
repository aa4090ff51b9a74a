package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

// goldenDir holds what istiod sends each persona for Istio's samples
// (conformance/XDS.md).
const goldenDir = "../conformance/testdata/xds"

// knownRejections are the dumps the translation refuses, and why: each a
// feature the mesh cannot take from xDS yet, refused by name (NACKed).
var knownRejections = map[string]string{
	// The mesh refuses these connection-pool settings from YAML too.
	"circuit-breaking.sidecar": "max_requests_per_connection: 50 is not supported",
	"grpc-service.sidecar":     "max_concurrent_streams: not supported",
	// PASSTHROUGH (productpage): istiod gives the ORIGINAL_DST cluster
	// auto mTLS as its transport socket, which the caller's own
	// transport would send in plain text (the mesh refuses the
	// combination from YAML too). The other clusters are compared.
	"load-balancing.sidecar": "on an ORIGINAL_DST cluster",
}

// partlyRejected are the dumps of knownRejections whose other resources
// are still compared.
var partlyRejected = map[string]bool{"load-balancing.sidecar": true}

// TestGoldenDumps translates each dump of real istiod output and checks that
// the mesh built from it routes like the mesh built from the same YAML:
// for requests that exercise every match of the scenario, the same action,
// destinations, shares and endpoints.
func TestGoldenDumps(t *testing.T) {
	bookinfo, err := os.ReadFile(filepath.Join(goldenDir, "bookinfo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dumps, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if len(dumps) == 0 {
		t.Fatal("no dumps")
	}
	// istiod's clusters name the workload's certificates (ISTIO_MUTUAL,
	// and auto mTLS to Bookinfo's endpoints, all labelled tlsMode: istio).
	certs := switchyard.WithWorkloadCertificates(newCA(t, "root").source(t, "spiffe://cluster.local/ns/default/sa/client"))
	for _, dump := range dumps {
		base := strings.TrimSuffix(filepath.Base(dump), ".json")
		scenario, persona, _ := strings.Cut(base, ".")
		t.Run(base, func(t *testing.T) {
			yaml, err := os.ReadFile(filepath.Join(goldenDir, scenario+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := loadDump(dump, persona == "proxyless")
			if want, ok := knownRejections[base]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("want a rejection mentioning %q, got %v", want, err)
				}
				t.Logf("rejected as expected: %v", err)
				if !partlyRejected[base] {
					return
				}
				err = nil
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := translate(rs, nil)
			loc := switchyard.WithLocality("us-east1/us-east1-b")
			fromXDS, err := switchyard.New(cfg, loc, certs)
			if err != nil {
				t.Fatalf("the mesh refuses the translation: %v", err)
			}
			defer fromXDS.Close()
			ycfg, err := switchyard.Parse(append(append(bookinfo, "\n---\n"...), yaml...))
			if err != nil {
				t.Fatal(err)
			}
			inDefault(&ycfg)
			if persona == "proxyless" {
				// istiod drops these from a proxyless client's clusters;
				// the mesh refuses them from YAML, so compare without.
				withoutRefusedPool(&ycfg)
				// ...and auto mTLS: no endpoint is taken to have a sidecar.
				for i := range ycfg.ServiceEntries {
					eps := slices.Clone(ycfg.ServiceEntries[i].Endpoints)
					for j := range eps {
						eps[j].Labels = maps.Clone(eps[j].Labels)
						delete(eps[j].Labels, "security.istio.io/tlsMode")
					}
					ycfg.ServiceEntries[i].Endpoints = eps
				}
			}
			skipHost := ""
			if scenario == "load-balancing" {
				// switchyard.New panics on PASSTHROUGH for a STATIC
				// ServiceEntry (a main-module bug, reported); leave that
				// rule out and productpage uncompared.
				ycfg.DestinationRules = slices.DeleteFunc(ycfg.DestinationRules, func(dr subset.DestinationRule) bool {
					return dr.Host == "productpage.default.svc.cluster.local"
				})
				skipHost = "productpage.default.svc.cluster.local"
			}
			fromYAML, err := switchyard.New(ycfg, loc, switchyard.WithSourceNamespace("default"), certs)
			if err != nil {
				t.Skipf("the mesh refuses the YAML itself: %v", err)
			}
			defer fromYAML.Close()
			reqs := requestsFor(ycfg)
			for _, req := range reqs {
				if req.URL.Hostname() == skipHost {
					continue
				}
				if persona == "proxyless" && strings.HasSuffix(req.URL.Hostname(), ".example.com") {
					// resolution DNS: istiod sends a proxyless client an
					// empty ClusterLoadAssignment (conformance/XDS.md).
					continue
				}
				want, got := routing(fromYAML, req, persona), routing(fromXDS, req, persona)
				if scenario == "sidecar-scope" && got == "passthrough" {
					// Outside the Sidecar's egress hosts: istiod sends
					// nothing, the YAML path has no Sidecar.
					continue
				}
				if scenario == "locality-lb" && persona == "sidecar" && req.URL.Hostname() == "reviews.default.svc.cluster.local" {
					// distribute gives us-west1 no share: istiod sends no
					// endpoint there, the YAML mesh lists them (and sends
					// them nothing). conformance's TestIstiodRoutesAsYAML
					// compares this host without them.
					continue
				}
				if persona == "proxyless" {
					// istiod's priorities: without outlier detection the
					// proxyless client sends only to the best one.
					want, got = bestPriority(want, got), bestPriority(got, got)
				}
				if want != got {
					t.Errorf("%s %s %v:\nYAML: %s\nxDS:  %s", req.Method, req.URL, req.Header, want, got)
				}
			}
		})
	}
}

// withoutRefusedPool clears the connection-pool settings the mesh refuses
// (maxRequestsPerConnection > 1, maxConcurrentStreams).
func withoutRefusedPool(cfg *switchyard.Config) {
	clear := func(tp *subset.TrafficPolicy) {
		if tp == nil {
			return
		}
		pools := []*pool.Settings{tp.ConnectionPool}
		for _, pl := range tp.PortLevelSettings {
			pools = append(pools, pl.ConnectionPool)
		}
		for _, p := range pools {
			if p != nil && p.HTTP != nil {
				p.HTTP.MaxConcurrentStreams = 0
				if p.HTTP.MaxRequestsPerConnection > 1 {
					p.HTTP.MaxRequestsPerConnection = 0
				}
			}
		}
	}
	for i := range cfg.DestinationRules {
		clear(cfg.DestinationRules[i].TrafficPolicy)
		for j := range cfg.DestinationRules[i].Subsets {
			clear(cfg.DestinationRules[i].Subsets[j].TrafficPolicy)
		}
	}
}

// inDefault puts the resources without namespace in "default" and
// qualifies short host names there, as istiod does for the harness's
// Kubernetes-like store.
func inDefault(cfg *switchyard.Config) {
	fq := func(h *string) {
		if *h != "" && !strings.Contains(*h, ".") && *h != "*" {
			*h += ".default.svc.cluster.local"
		}
	}
	for i := range cfg.DestinationRules {
		fq(&cfg.DestinationRules[i].Host)
	}
	for i := range cfg.VirtualServices {
		vs := &cfg.VirtualServices[i]
		for j := range vs.Hosts {
			fq(&vs.Hosts[j])
		}
		for j := range vs.HTTP {
			r := &vs.HTTP[j]
			for k := range r.Route {
				fq(&r.Route[k].Destination.Host)
			}
			if r.Mirror != nil {
				fq(&r.Mirror.Host)
			}
			for k := range r.Mirrors {
				fq(&r.Mirrors[k].Destination.Host)
			}
		}
	}
	for i := range cfg.ServiceEntries {
		if cfg.ServiceEntries[i].Namespace == "" {
			cfg.ServiceEntries[i].Namespace = "default"
		}
	}
	for i := range cfg.DestinationRules {
		if cfg.DestinationRules[i].Namespace == "" {
			cfg.DestinationRules[i].Namespace = "default"
		}
	}
	for i := range cfg.VirtualServices {
		if cfg.VirtualServices[i].Namespace == "" {
			cfg.VirtualServices[i].Namespace = "default"
		}
	}
}

// bestPriority keeps, of each destination's endpoints in s, those that
// also appear in ref (the proxyless mesh's, which holds istiod's best
// priority only).
func bestPriority(s, ref string) string {
	keep := map[string]bool{}
	for _, f := range strings.FieldsFunc(ref, func(r rune) bool { return r == ' ' || r == '[' || r == ']' }) {
		keep[f] = true
	}
	var out []string
	for _, part := range strings.Split(s, " | ") {
		i := strings.IndexByte(part, '[')
		if i < 0 {
			out = append(out, part)
			continue
		}
		var eps []string
		for _, ep := range strings.Fields(strings.Trim(part[i:], "[]")) {
			if keep[ep] {
				eps = append(eps, ep)
			}
		}
		out = append(out, fmt.Sprintf("%s%v", part[:i], eps))
	}
	return strings.Join(out, " | ")
}

// routing summarises where the mesh sends req, and with what TLS.
func routing(m *switchyard.Mesh, req *http.Request, persona string) string {
	e := m.Explain(req)
	var b strings.Builder
	action := e.Action
	if strings.HasPrefix(action, "route") {
		action = "route"
	}
	// The Sidecar that refuses a host is named after the resource on the
	// YAML side and after the translation's on the xDS side.
	action, _, _ = strings.Cut(action, " (Sidecar ")
	fmt.Fprintf(&b, "%s", action)
	for _, d := range e.Destinations {
		var eps []string
		for _, ep := range d.Endpoints {
			eps = append(eps, ep.Address)
		}
		sort.Strings(eps)
		if strings.HasSuffix(d.Host, ".example.com") {
			// Resolved by DNS, which the test does not control.
			eps = nil
		}
		fmt.Fprintf(&b, " | %s/%s %.3f %s %v", d.Host, d.Subset, d.Share, goldenTLS(d.TLS, persona), eps)
	}
	return b.String()
}

// goldenTLS reduces a destination's TLS to what both paths must agree on.
// The YAML path has no auto mTLS, which istiod gives a sidecar for every
// endpoint labelled tlsMode: istio (all of Bookinfo's): ISTIO_MUTUAL with
// Istio's default SNI counts as plain text there. The proxyless persona
// loses a rule's sni and subjectAltNames (conformance/XDS.md): the mode
// alone is compared.
func goldenTLS(tls, persona string) string {
	if persona == "proxyless" {
		mode, _, _ := strings.Cut(tls, " ")
		return "tls=" + mode
	}
	if strings.HasPrefix(tls, "ISTIO_MUTUAL sni=outbound_.") && !strings.Contains(tls, " san=") {
		return "tls=auto"
	}
	if tls == "" {
		return "tls=auto"
	}
	return "tls=" + tls
}

// requestsFor builds requests that satisfy each match block of cfg, and a
// plain one per host.
func requestsFor(cfg switchyard.Config) []*http.Request {
	var out []*http.Request
	ports := map[string]uint32{}
	for _, se := range cfg.ServiceEntries {
		for _, h := range se.Hosts {
			for _, p := range se.Ports {
				ports[h] = p.Number
				out = append(out, newReq(h, p.Number, "/", nil))
			}
		}
	}
	str := func(m *match.StringMatch) (string, bool) {
		switch {
		case m == nil:
			return "", true
		case m.Exact != nil:
			return *m.Exact, true
		case m.Prefix != nil:
			return *m.Prefix + "x", true
		case m.Regex != nil:
			return "", false
		}
		return "present", true
	}
	for _, vs := range cfg.VirtualServices {
		for _, r := range vs.HTTP {
			for _, m := range r.Match {
				path, ok := str(m.URI)
				if !ok {
					continue
				}
				if path == "" {
					path = "/"
				}
				hdr := http.Header{}
				for k, v := range m.Headers {
					if s, ok := str(v); ok {
						hdr.Set(k, s)
					}
				}
				for _, h := range vs.Hosts {
					host := h
					if !strings.Contains(host, ".") {
						host += ".default.svc.cluster.local"
					}
					req := newReq(host, ports[host], path, hdr)
					if s, ok := str(m.Method); ok && s != "" {
						req.Method = s
					}
					q := req.URL.Query()
					for k, v := range m.QueryParams {
						if s, ok := str(v); ok {
							q.Set(k, s)
						}
					}
					req.URL.RawQuery = q.Encode()
					out = append(out, req)
				}
			}
		}
	}
	return out
}

func newReq(host string, port uint32, path string, hdr http.Header) *http.Request {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d%s", host, port, path), nil)
	if err != nil {
		panic(err)
	}
	for k, v := range hdr {
		req.Header[k] = slices.Clone(v)
	}
	return req
}

// loadDump decodes a dump (protojson, as the conformance harness writes
// it) and runs each resource through the decoders the mesh uses.
func loadDump(path string, proxyless bool) (*resources, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	rs := newResources()
	each := func(key string, msg func() proto.Message, f func(name string, m proto.Message) error) error {
		var byName map[string]any
		var bad []string
		if err := json.Unmarshal(d[key], &byName); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range byName {
				if !yield(k) {
					return
				}
			}
		}) {
			v := dropUnknownAny(byName[name])
			js, _ := json.Marshal(v)
			m := msg()
			if err := protojson.Unmarshal(js, m); err != nil {
				return fmt.Errorf("%s %s: %v", key, name, err)
			}
			if err := f(name, m); err != nil {
				// The others are still translated (a NACK rejects
				// only the bad resources).
				bad = append(bad, err.Error())
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, "; "))
		}
		return nil
	}
	var errs []string
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	keep(each("listeners", func() proto.Message { return new(listenerv3.Listener) }, func(name string, m proto.Message) error {
		ir, err := translateListener(m.(*listenerv3.Listener))
		if err == nil {
			rs.listeners[name] = ir
		}
		return err
	}))
	keep(each("routes", func() proto.Message { return new(routev3.RouteConfiguration) }, func(name string, m proto.Message) error {
		ir, err := translateRouteConfig(m.(*routev3.RouteConfiguration))
		if err == nil {
			rs.routes[name] = ir
		}
		return err
	}))
	keep(each("clusters", func() proto.Message { return new(clusterv3.Cluster) }, func(name string, m proto.Message) error {
		ir, err := translateCluster(m.(*clusterv3.Cluster), proxyless, istioEnv)
		if err == nil {
			rs.clusters[name] = ir
		}
		return err
	}))
	keep(each("endpoints", func() proto.Message { return new(endpointv3.ClusterLoadAssignment) }, func(name string, m proto.Message) error {
		ir, err := translateCLA(m.(*endpointv3.ClusterLoadAssignment), "ClusterLoadAssignment "+name, false)
		if err == nil {
			rs.endpoints[name] = ir
		}
		return err
	}))
	if len(errs) > 0 {
		return rs, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return rs, nil
}

// dropUnknownAny removes the Any values whose type this binary does not
// link (Istio's own extensions, which the translation ignores by name).
func dropUnknownAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["@type"].(string); ok {
			if _, err := protoregistry.GlobalTypes.FindMessageByURL(t); err != nil {
				return nil
			}
		}
		for k, e := range x {
			if y := dropUnknownAny(e); y == nil && e != nil {
				delete(x, k)
			} else {
				x[k] = y
			}
		}
		return x
	case []any:
		out := x[:0]
		for _, e := range x {
			if y := dropUnknownAny(e); y != nil || e == nil {
				out = append(out, y)
			}
		}
		return out
	}
	return v
}
