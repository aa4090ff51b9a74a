package conformance

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
	"github.com/switchyard-go/switchyard/xds"
)

// This file feeds each scenario of testdata/xds to switchyard two ways:
// straight into switchyard.New, and through Istio's real control plane
// (startIstiod) over ADS into an xDS-fed mesh, as each persona. The two
// meshes then serve the same probes against the same in-memory backends,
// and must agree on everything a caller can observe: the route's action,
// its destinations and their shares, the endpoints and their state, the
// status, headers and body of each response, the requests each backend
// received (rewrites, header operations, mirrors, the attempts of each
// retry), and how long each request took on a fake clock (timeouts, per-try
// timeouts, retry back-off, fault delays).
//
// The proxyless persona receives less than the YAML says (istiod's gRPC
// generator drops whole fields: see proxylessSees). Its YAML side is the
// scenario with exactly those fields removed, so that each loss is listed
// in code and any other difference fails the test.

// TestIstiodRoutesAsYAML is the comparison, per scenario and persona.
func TestIstiodRoutesAsYAML(t *testing.T) {
	services, err := os.ReadFile(filepath.Join(xdsDir, servicesFile))
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := liveScenarios()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, sc := range scenarios {
		name := sc.name
		t.Run(name, func(t *testing.T) {
			yaml := string(services) + "\n---\n" + sc.yaml
			if name != "mtls" {
				// Without sidecars' tlsMode label, no auto mTLS: the
				// in-memory backends speak plain text, so that what they
				// receive can be compared. The mtls scenario keeps them.
				yaml = strings.ReplaceAll(yaml, ", security.istio.io/tlsMode: istio}", "}")
			}
			for _, e := range liveEdits[name] {
				if !strings.Contains(yaml, e.old) {
					t.Fatalf("liveEdits: %q is not in the scenario", e.old)
				}
				yaml = strings.ReplaceAll(yaml, e.old, e.new)
			}
			cfg, err := switchyard.Parse([]byte(yaml))
			if err != nil {
				t.Fatalf("switchyard rejects the scenario: %v", err)
			}
			addr := startIstiod(t, yaml)
			probes := probesFor(cfg, extraProbes[name])
			for _, p := range personas {
				t.Run(p.name, func(t *testing.T) {
					if reason := skipLive[name+"/"+p.name]; reason != "" {
						t.Skip(reason)
					}
					want := cfg
					if p == proxyless {
						want = proxylessSees(cfg)
					}
					yamlSide := newYAMLSide(t, want)
					xdsSide := newXDSSide(t, addr, p, cfg)
					compared += compareSides(t, probes, sharelessIn(want), yamlSide, xdsSide)
				})
			}
		})
	}
	t.Logf("%d observations compared", compared)
}

// An edit replaces text of a scenario before it is fed either way.
type edit struct{ old, new, why string }

// liveEdits take out of a scenario what switchyard refuses by name (listed
// in known_differences.yaml), so that the rest of it can be compared.
var liveEdits = map[string][]edit{
	"circuit-breaking": {
		{"maxRequestsPerConnection: 50", "maxRequestsPerConnection: 1", "Go's http.Transport cannot close a connection after n > 1 requests"},
		{"maxConcurrentStreams: 64", "", "Go's HTTP/2 client has no per-connection stream limit to set"},
	},
	"grpc-service": {
		{"maxConcurrentStreams: 100", "", "Go's HTTP/2 client has no per-connection stream limit to set"},
	},
}

// A scenario is a configuration applied after the services of bookinfo.yaml.
type scenario struct{ name, yaml string }

// liveScenarios are the scenarios of testdata/xds and Istio's Bookinfo
// samples (samples/bookinfo/networking in the pinned istio.io/istio): each
// VirtualService sample after destination-rule-all.yaml, as Istio's tasks
// apply them, and each DestinationRule sample alone.
func liveScenarios() ([]scenario, error) {
	var out []scenario
	paths, err := filepath.Glob(filepath.Join(xdsDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, path := range paths {
		if filepath.Base(path) == servicesFile {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, scenario{strings.TrimSuffix(filepath.Base(path), ".yaml"), string(data)})
	}
	istio, _, err := istioModules()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(istio.dir, "samples", "bookinfo", "networking")
	rules, err := os.ReadFile(filepath.Join(dir, "destination-rule-all.yaml"))
	if err != nil {
		return nil, err
	}
	samples, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, path := range samples {
		base := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		name := "bookinfo/" + strings.TrimSuffix(base, ".yaml")
		switch {
		case strings.HasPrefix(base, "destination-rule-"), strings.Contains(string(data), "kind: DestinationRule"):
			// Rules of its own (fault-injection-details-v1 redefines
			// details'): applied alone.
			out = append(out, scenario{name, string(data)})
		case strings.HasPrefix(base, "virtual-service-"), strings.HasPrefix(base, "fault-injection-"):
			out = append(out, scenario{name, string(rules) + "\n---\n" + string(data)})
		}
	}
	return out, nil
}

// skipLive lists the scenario/persona pairs not compared yet, with why.
var skipLive = map[string]string{
	"locality-lb/proxyless":   "istiod splits each subset cluster's endpoints into locality priorities for the client and a proxyless client uses only the best one: per subset (v3's nearest endpoints are in another zone than v2's), which one YAML configuration cannot express (see nearest)",
	"sidecar-scope/proxyless": "istiod sends a proxyless client no listener for a host its Sidecar hides and no outbound traffic policy: a proxyless gRPC call to it fails UNAVAILABLE as gRPC's does (xds.TestProxylessGRPCMissingListener), an HTTP request passes through to the base transport, where the YAML side's REGISTRY_ONLY answers 502",
}

// A probe is one request a caller makes.
type probe struct {
	method string
	url    string
	header http.Header
}

func (p probe) String() string {
	s := p.method + " " + p.url
	if len(p.header) > 0 {
		var hs []string
		for k, v := range p.header {
			hs = append(hs, k+": "+strings.Join(v, ","))
		}
		slices.Sort(hs)
		s += " {" + strings.Join(hs, "; ") + "}"
	}
	return s
}

// extraProbes are requests the match blocks of a scenario do not imply
// (regular expressions, which probesFor cannot invert), by scenario.
var extraProbes = map[string][]probe{
	"rewrite-redirect-direct-response": {
		{method: "GET", url: "http://ratings.default.svc.cluster.local:9080/ratings/42"},
		{method: "GET", url: "http://ratings.default.svc.cluster.local:9080/ratings/x42"},
	},
	"route-matching": {
		{method: "GET", url: "http://reviews.default.svc.cluster.local:9080/v2/items/7"},
	},
}

// probesFor returns a request to / of every service port, and for every
// match block of every VirtualService a request that satisfies it (where
// the block can be inverted: exact and prefix strings, presence), sent to
// the service's full name.
func probesFor(cfg switchyard.Config, extra []probe) []probe {
	var out []probe
	seen := map[string]bool{}
	add := func(p probe) {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	ports := map[string][]uint32{}
	for _, se := range cfg.ServiceEntries {
		for _, h := range se.Hosts {
			for _, p := range se.Ports {
				if strings.HasPrefix(strings.ToUpper(p.Protocol), "HTTP") || strings.EqualFold(p.Protocol, "GRPC") {
					ports[h] = append(ports[h], p.Number)
					add(probe{method: "GET", url: fmt.Sprintf("http://%s:%d/", h, p.Number)})
				}
			}
		}
	}
	for _, vs := range cfg.VirtualServices {
		for _, h := range vs.Hosts {
			fqdn := fullName(h, vs.Namespace)
			for _, r := range vs.HTTP {
				for _, m := range r.Match {
					req, ok := satisfying(m)
					if !ok {
						continue
					}
					for _, port := range ports[fqdn] {
						if m.Port != 0 && m.Port != port {
							continue
						}
						p := req
						p.url = fmt.Sprintf("http://%s:%d%s", fqdn, port, req.url)
						add(p)
					}
				}
			}
		}
	}
	for _, p := range extra {
		add(p)
	}
	return out
}

// fullName is a host as a client in namespace ns of the cluster means it.
func fullName(host, ns string) string {
	if strings.Contains(host, ".") {
		return host
	}
	if ns == "" {
		ns = clientNamespace
	}
	return host + "." + ns + ".svc." + clusterDomain
}

// satisfying returns a request (its url a path and query) that match block
// m matches, or false when m cannot be inverted here.
func satisfying(m match.Request) (probe, bool) {
	p := probe{method: "GET", url: "/", header: http.Header{}}
	value := func(s *match.StringMatch) (string, bool) {
		switch {
		case s == nil:
			return "", true
		case s.Exact != nil:
			return *s.Exact, true
		case s.Prefix != nil:
			return *s.Prefix + "probe", true
		case s.Regex != nil:
			return "", false
		}
		return "present", true // an empty match tests presence
	}
	if m.Scheme != nil || m.Authority != nil || len(m.SourceLabels) > 0 || m.SourceNamespace != "" || len(m.Gateways) > 0 {
		return p, false
	}
	if m.URI != nil {
		v, ok := value(m.URI)
		if !ok || !strings.HasPrefix(v, "/") {
			return p, false
		}
		p.url = v
	}
	if m.Method != nil {
		v, ok := value(m.Method)
		if !ok {
			return p, false
		}
		p.method = v
	}
	for k, s := range m.Headers {
		if strings.HasPrefix(k, ":") {
			return p, false
		}
		v, ok := value(s)
		if !ok {
			return p, false
		}
		p.header.Set(k, v)
	}
	var q []string
	for k, s := range m.QueryParams {
		v, ok := value(s)
		if !ok {
			return p, false
		}
		q = append(q, k+"="+v)
	}
	if len(q) > 0 {
		slices.Sort(q)
		p.url += "?" + strings.Join(q, "&")
	}
	for k, s := range m.WithoutHeaders {
		if p.header.Get(k) != "" {
			_ = s
			return p, false
		}
	}
	return p, true
}

// A side is one of the two meshes compared, with its own backends.
type side struct {
	name    string
	explain func(*http.Request) switchyard.Explanation
	client  *http.Client
	be      *backends
}

// backends is the in-memory network of a side: one backend per endpoint
// address of the scenario, all following one script.
type backends struct {
	net  *meshtest.Network
	rand *replayRand

	mu       sync.Mutex
	script   string // "ok", "fail" (503) or "hang"
	received []string
}

// received describes a request a backend received, without what varies
// between two runs of the same mesh (trace context, request IDs).
func describeReceived(version string, r *http.Request) string {

	var hs []string
	for k, v := range r.Header {
		switch strings.ToLower(k) {
		case "traceparent", "tracestate", "x-request-id", "baggage":
			continue
		}
		hs = append(hs, strings.ToLower(k)+"="+strings.Join(v, ","))
	}
	slices.Sort(hs)
	return fmt.Sprintf("%s %s %s%s [%s]", version, r.Method, r.Host, r.URL.RequestURI(), strings.Join(hs, " "))
}

func newBackends(cfg switchyard.Config) *backends {
	b := &backends{net: meshtest.NewNetwork(), rand: newReplayRand(), script: "ok"}
	for _, se := range cfg.ServiceEntries {
		for _, ep := range se.Endpoints {
			for _, port := range se.Ports {
				n := port.Number
				if port.TargetPort != 0 {
					n = port.TargetPort
				}
				if p, ok := ep.Ports[port.Name]; ok {
					n = p
				}
				addr := ep.Address
				if _, err := netip.ParseAddr(addr); err != nil {
					addr = dnsAnswer.String() // a DNS name: see resolve
				}
				addr += ":" + strconv.Itoa(int(n))
				if b.net.Backend(addr) != nil {
					continue
				}
				version := ep.Labels["version"]
				if version == "" {
					version = "-"
				}
				b.net.Add(addr, addr, ep.Labels).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get(warmUpHeader) != "" {
						// The proxyless side's subscribing calls, and
						// their mirror copies, whenever these land.
						io.WriteString(w, "ok")
						return
					}
					b.mu.Lock()
					b.received = append(b.received, describeReceived(version, r))
					script := b.script
					b.mu.Unlock()
					if strings.Contains(r.Host, "-shadow") {
						script = "ok" // a mirror never hangs the test
					}
					switch script {
					case "fail":
						w.WriteHeader(http.StatusServiceUnavailable)
						io.WriteString(w, "failing")
					case "hang":
						<-r.Context().Done()
					default:
						w.Header().Set("Server", "backend")
						io.WriteString(w, "ok")
					}
				}))
			}
		}
	}
	return b
}

// warmUpHeader marks the requests by which the proxyless side subscribes
// to each service before the comparison: the backends answer them without
// recording them, nor the mirror copies they cause, which land
// asynchronously, outside the comparison's bubble, possibly after it has
// started.
const warmUpHeader = "x-switchyard-conformance-warm-up"

// dnsAnswer is what every DNS name of the scenarios resolves to.
var dnsAnswer = netip.MustParseAddr("10.250.0.1")

func resolve(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return []netip.Addr{dnsAnswer}, time.Hour, nil
}

// run sets the script and restarts the side's random sequence, so that
// both sides draw the same numbers for the same probe.
func (b *backends) run(script string) {
	b.mu.Lock()
	b.script, b.received = script, nil
	b.mu.Unlock()
	b.rand.restart()
}

// replayRand is a seeded random source that restart sets back to its
// first value.
type replayRand struct {
	mu  sync.Mutex
	pcg *rand.PCG
}

func newReplayRand() *replayRand {
	r := &replayRand{}
	r.restart()
	return r
}

func (r *replayRand) restart() {
	r.mu.Lock()
	r.pcg = rand.NewPCG(1, 2)
	r.mu.Unlock()
}

func (r *replayRand) Uint64() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pcg.Uint64()
}

func (b *backends) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.received
	b.received = nil
	slices.Sort(out)
	return out
}

// meshOptions are the options both sides are built with: the client's
// namespace, locality and certificates, the side's backends, a seeded
// random source and a resolver that answers dnsAnswer.
func meshOptions(be *backends) []switchyard.Option {
	return []switchyard.Option{
		switchyard.WithEndpointTransport(be.net.EndpointTransport),
		switchyard.WithRand(be.rand),
		switchyard.WithSourceNamespace(clientNamespace),
		switchyard.WithLocality(clientRegion + "/" + clientZone),
		switchyard.WithWorkloadCertificates(workload()),
		switchyard.WithDNSResolver(resolve),
	}
}

func newYAMLSide(t *testing.T, cfg switchyard.Config) *side {
	be := newBackends(cfg)
	m, err := switchyard.New(cfg, meshOptions(be)...)
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	awaitDNS(t, "yaml", m)
	return &side{name: "yaml", explain: m.Explain, client: &http.Client{Transport: m.Transport(be.net.Transport()), CheckRedirect: noRedirects}, be: be}
}

// awaitDNS waits until every host name m resolves by DNS has resolved
// (the resolver answers at once, but in the background of the update
// that installed the name): until then a name is its own endpoint, on
// both sides alike, and the sides would differ by when they were built.
func awaitDNS(t *testing.T, side string, m *switchyard.Mesh) {
	t.Helper()
	for deadline := time.Now().Add(adsWalkTimeout); ; time.Sleep(time.Millisecond) {
		pending := ""
		for _, d := range m.AdminState().DNS {
			if !d.Resolved {
				pending = d.Name
			}
		}
		if pending == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never resolved", side, pending)
		}
	}
}

func newXDSSide(t *testing.T, addr string, p persona, cfg switchyard.Config) *side {
	be := newBackends(cfg)
	b := &xds.Bootstrap{
		Servers: []xds.Server{{URI: addr, Credentials: xds.ChannelCredentials{Type: "insecure"}}},
		Node: xds.Node{
			ID:       fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", clientIP, clientPod, clientNamespace, clientNamespace),
			Locality: xds.Locality{Region: clientRegion, Zone: clientZone},
			Metadata: map[string]any{"NAMESPACE": clientNamespace, "CLUSTER_ID": "Kubernetes"},
		},
		// The instance istiod's proxyless clusters name, as Istio's
		// grpc-agent bootstrap declares it. Its files are not read: the
		// mesh is given the suite's workload certificates.
		CertificateProviders: map[string]xds.CertificateProvider{"default": {
			PluginName:        "file_watcher",
			CertificateFile:   "/var/lib/istio/data/cert-chain.pem",
			PrivateKeyFile:    "/var/lib/istio/data/key.pem",
			CACertificateFile: "/var/lib/istio/data/root-cert.pem",
		}},
	}
	opts := []xds.Option{xds.WithMeshOptions(meshOptions(be)...)}
	if p == proxyless {
		opts = append(opts, xds.Proxyless())
	}
	ctx, cancel := context.WithTimeout(context.Background(), adsWalkTimeout)
	defer cancel()
	m, err := xds.NewMesh(ctx, b, opts...)
	if err != nil {
		t.Fatalf("xds: %v", err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("xds: the mesh refuses what istiod sends: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	awaitDNS(t, "xds", m.Mesh)
	s := &side{name: "xds", explain: m.Explain, client: &http.Client{Transport: m.Transport(be.net.Transport()), CheckRedirect: noRedirects}, be: be}
	if p == proxyless {
		// Subscribe to every service the probes call before comparing, as
		// a proxyless client does on its first call.
		for _, se := range cfg.ServiceEntries {
			for _, h := range se.Hosts {
				for _, port := range se.Ports {
					req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s:%d/", h, port.Number), nil)
					req.Header.Set(warmUpHeader, "1")
					if resp, err := s.client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		}
		if err := m.Err(); err != nil {
			t.Fatalf("xds: %v", err)
		}
	}
	be.take()
	return s
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// scripts are what the backends do, in the order each probe runs them:
// answer, hang until the caller gives up, fail with 503 (five requests, so
// that outlier detection has something to count).
var scripts = []struct {
	name     string
	requests int
}{{"ok", 1}, {"hang", 1}, {"fail", 5}}

// callerPatience bounds a request whose route has no timeout against a
// hanging backend: the caller's own deadline, on the fake clock.
const callerPatience = time.Hour

// compareSides runs every probe under every script on both sides, in one
// synctest bubble so that durations are exact, and reports each
// difference. It returns how many observations it compared.
func compareSides(t *testing.T, probes []probe, shareless func(host, locality string) bool, sides ...*side) int {
	n := 0
	synctest.Test(t, func(t *testing.T) {
		for _, p := range probes {
			for _, sc := range scripts {
				var got [2]string
				for i, s := range sides {
					s.be.run(sc.name)
					var b strings.Builder
					for range sc.requests {
						b.WriteString(s.do(p))
						b.WriteString("\n")
						synctest.Wait() // mirrors land
					}
					e := s.explain(p.request(context.Background()))
					fmt.Fprintf(&b, "received: %s\n", strings.Join(pickBlind(e, s.be.take()), "\n          "))
					b.WriteString(describeExplanation(e, shareless))
					got[i] = b.String()
				}
				n++
				if got[0] != got[1] {
					t.Errorf("%s, backends %s:\n--- %s\n%s--- %s\n%s", p, sc.name, sides[0].name, got[0], sides[1].name, got[1])
				}
			}
		}
	})
	return n
}

// pickBlind hides which endpoint a balancer picked: when the route sends
// to a whole host (no subset), the version of the endpoint that received a
// (non-mirror) request says only where the balancer stood, which depends on
// the order of the endpoints, not on the routing.
func pickBlind(e switchyard.Explanation, received []string) []string {
	whole := false
	for _, d := range e.Destinations {
		whole = whole || d.Subset == ""
	}
	if !whole {
		return received
	}
	for i, r := range received {
		if version, rest, ok := strings.Cut(r, " "); ok && version != "*" && !strings.Contains(rest, "-shadow") {
			received[i] = "* " + rest
		}
	}
	slices.Sort(received)
	return received
}

func (p probe) request(ctx context.Context) *http.Request {
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, nil)
	if err != nil {
		panic(err)
	}
	for k, v := range p.header {
		req.Header[k] = slices.Clone(v)
	}
	return req
}

// do sends p once and describes what the caller saw and when.
func (s *side) do(p probe) string {
	ctx, cancel := context.WithTimeout(context.Background(), callerPatience)
	defer cancel()
	start := time.Now()
	resp, err := s.client.Do(p.request(ctx))
	if err != nil {
		return fmt.Sprintf("after %v: error %v", time.Since(start), err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	var hs []string
	for k, v := range resp.Header {
		if k == "Date" || k == "X-Request-Id" {
			continue
		}
		hs = append(hs, strings.ToLower(k)+"="+strings.Join(v, ","))
	}
	slices.Sort(hs)
	out := fmt.Sprintf("after %v: %d %q [%s]", took, resp.StatusCode, body, strings.Join(hs, " "))
	if err != nil {
		out += fmt.Sprintf(" (body: %v)", err)
	}
	return out
}

// describeExplanation renders what Explain says that both sides must agree
// on: not the names of routes and clusters (a translation names them
// after Envoy's), nor the endpoint a pick would choose. A destination's
// host is its full name (a VirtualService may write "reviews"), and an
// endpoint weight of 0 is the 1 it counts as.
func describeExplanation(e switchyard.Explanation, shareless func(host, locality string) bool) string {
	var b strings.Builder
	action, _, _ := strings.Cut(e.Action, " (Sidecar ") // named after the resource, or the translation
	fmt.Fprintf(&b, "action: %s\n", action)
	for _, d := range e.Destinations {
		fmt.Fprintf(&b, "  %s|%s share=%.6f tls=%q missing=%t\n", fullName(d.Host, ""), d.Subset, d.Share, d.TLS, d.Missing != "")
		var eps []string
		for _, ep := range d.Endpoints {
			if shareless(fullName(d.Host, ""), ep.Locality) {
				continue
			}
			eps = append(eps, fmt.Sprintf("    %s weight=%d locality=%s available=%t\n", ep.Address, max(ep.Weight, 1), ep.Locality, ep.Available))
		}
		slices.Sort(eps)
		b.WriteString(strings.Join(eps, ""))
	}
	return b.String()
}

// sharelessIn returns whether a locality gets no share of a host's traffic
// under its rule's localityLbSetting.distribute for the client's locality:
// istiod sends the client no endpoint there, while the mesh built from
// YAML keeps them (and gives them no traffic), so explanations leave them
// out.
func sharelessIn(cfg switchyard.Config) func(host, locality string) bool {
	to := map[string]map[string]uint32{}
	for _, dr := range cfg.DestinationRules {
		tp := dr.TrafficPolicy
		if tp == nil || tp.LoadBalancer == nil || tp.LoadBalancer.LocalityLbSetting == nil {
			continue
		}
		for _, d := range tp.LoadBalancer.LocalityLbSetting.Distribute {
			if cluster.LocalityMatches(d.From, clientRegion+"/"+clientZone) {
				to[fullName(dr.Host, dr.Namespace)] = d.To
				break
			}
		}
	}
	return func(host, locality string) bool {
		rule, ok := to[host]
		if !ok {
			return false
		}
		for pattern, w := range rule {
			if w > 0 && cluster.LocalityMatches(pattern, locality) {
				return false
			}
		}
		return true
	}
}

// proxylessSees is cfg with what istiod's gRPC generator does not send a
// proxyless client removed, and, for hosts with outlier detection, only
// the endpoints a proxyless client uses (see nearest) (conformance/XDS.md and the golden dumps
// testdata/xds/*.proxyless.json show each loss): of a DestinationRule's
// traffic policies, outlier detection, the retry budget, every
// connection-pool setting but http2MaxRequests, slow start, and the
// load-balancing algorithms other than LEAST_REQUEST and consistent hashes
// (round robin instead, also where Istio's sidecar default,
// LEAST_REQUEST, applies), TLS other than ISTIO_MUTUAL and the sni and
// subjectAltNames of ISTIO_MUTUAL, auto mTLS (a rule without a TLS mode
// means plain text), and the endpoints of DNS-resolved services (gRPC
// resolves no STRICT_DNS cluster: istiod sends it an empty assignment).
func proxylessSees(cfg switchyard.Config) switchyard.Config {
	out := cfg
	out.DestinationRules = slices.Clone(cfg.DestinationRules)
	ruled, ejects := map[string]bool{}, map[string]bool{}
	for i := range out.DestinationRules {
		dr := &out.DestinationRules[i]
		ruled[fullName(dr.Host, dr.Namespace)] = true
		ejects[fullName(dr.Host, dr.Namespace)] = detectsOutliers(dr)
		dr.TrafficPolicy = proxylessPolicy(dr.TrafficPolicy)
		if dr.TrafficPolicy == nil {
			dr.TrafficPolicy = &subset.TrafficPolicy{}
		}
		if dr.TrafficPolicy.LoadBalancer == nil {
			dr.TrafficPolicy.LoadBalancer = &balancer.Settings{Simple: balancer.SimpleRoundRobin}
		}
		dr.Subsets = slices.Clone(dr.Subsets)
		for j := range dr.Subsets {
			dr.Subsets[j].TrafficPolicy = proxylessPolicy(dr.Subsets[j].TrafficPolicy)
		}
	}
	out.ServiceEntries = slices.Clone(cfg.ServiceEntries)
	for i := range out.ServiceEntries {
		se := &out.ServiceEntries[i]
		if len(se.Hosts) == 1 && ejects[se.Hosts[0]] {
			se.Endpoints = nearest(se.Endpoints)
		}
		// No auto mTLS: no endpoint is taken to have a sidecar.
		se.Endpoints = slices.Clone(se.Endpoints)
		for j := range se.Endpoints {
			se.Endpoints[j].Labels = maps.Clone(se.Endpoints[j].Labels)
			delete(se.Endpoints[j].Labels, "security.istio.io/tlsMode")
		}
		if se.Resolution == "DNS" || se.Resolution == "DNS_ROUND_ROBIN" {
			se.Resolution, se.Endpoints = "STATIC", nil
		}
	}
	for _, se := range cfg.ServiceEntries {
		for _, h := range se.Hosts {
			if !ruled[h] {
				out.DestinationRules = append(out.DestinationRules, subset.DestinationRule{
					Name: "proxyless-" + h, Namespace: se.Namespace, Host: h,
					TrafficPolicy: &subset.TrafficPolicy{LoadBalancer: &balancer.Settings{Simple: balancer.SimpleRoundRobin}},
				})
			}
		}
	}
	return out
}

// detectsOutliers reports whether a rule sets outlier detection anywhere
// and does not turn locality load balancing off, which makes istiod split
// the endpoints into locality priorities.
func detectsOutliers(dr *subset.DestinationRule) bool {
	if tp := dr.TrafficPolicy; tp != nil && tp.LoadBalancer != nil && tp.LoadBalancer.LocalityLbSetting != nil {
		if on := tp.LoadBalancer.LocalityLbSetting.Enabled; on != nil && !*on {
			return false
		}
	}
	has := func(tp *subset.TrafficPolicy) bool {
		if tp == nil {
			return false
		}
		if tp.OutlierDetection != nil {
			return true
		}
		for _, pl := range tp.PortLevelSettings {
			if pl.OutlierDetection != nil {
				return true
			}
		}
		return false
	}
	if has(dr.TrafficPolicy) {
		return true
	}
	for _, ss := range dr.Subsets {
		if has(ss.TrafficPolicy) {
			return true
		}
	}
	return false
}

// nearest keeps the endpoints of the best locality priority istiod gives
// the client: its zone if any endpoint is there, else its region, else
// all. (istiod computes the priorities per cluster, so for a host whose
// subsets live in different localities this is only right for the subsets
// with an endpoint in the client's zone; the scenarios route to those.)
func nearest(eps []subset.WorkloadEntry) []subset.WorkloadEntry {
	for _, prefix := range []string{clientRegion + "/" + clientZone, clientRegion + "/"} {
		var in []subset.WorkloadEntry
		for _, ep := range eps {
			if ep.Locality == prefix || strings.HasPrefix(ep.Locality, prefix) {
				in = append(in, ep)
			}
		}
		if len(in) > 0 {
			return in
		}
	}
	return eps
}

func proxylessPolicy(tp *subset.TrafficPolicy) *subset.TrafficPolicy {
	if tp == nil {
		return nil
	}
	p := *tp
	p.OutlierDetection, p.RetryBudget = nil, nil
	p.TLS = proxylessTLS(p.TLS)
	p.ConnectionPool = proxylessPool(p.ConnectionPool)
	p.LoadBalancer = proxylessLB(p.LoadBalancer)
	p.PortLevelSettings = slices.Clone(p.PortLevelSettings)
	for i := range p.PortLevelSettings {
		pl := &p.PortLevelSettings[i]
		pl.OutlierDetection = nil
		pl.TLS = proxylessTLS(pl.TLS)
		pl.ConnectionPool = proxylessPool(pl.ConnectionPool)
		pl.LoadBalancer = proxylessLB(pl.LoadBalancer)
	}
	p.PortLevelSettings = slices.DeleteFunc(p.PortLevelSettings, func(pl subset.PortTrafficPolicy) bool {
		return pl.LoadBalancer == nil && pl.ConnectionPool == nil && pl.TLS == nil
	})
	if p.LoadBalancer == nil && p.ConnectionPool == nil && p.TLS == nil && len(p.PortLevelSettings) == 0 {
		return nil
	}
	return &p
}

// proxylessTLS keeps what istiod sends a proxyless client of a rule's
// TLS: ISTIO_MUTUAL alone (its own SNI, no subjectAltNames); any other
// mode is plain text.
func proxylessTLS(t *subset.ClientTLS) *subset.ClientTLS {
	switch {
	case t == nil:
		return nil
	case t.Mode == "ISTIO_MUTUAL":
		return &subset.ClientTLS{Mode: t.Mode}
	}
	return &subset.ClientTLS{Mode: "DISABLE"}
}

func proxylessPool(s *pool.Settings) *pool.Settings {
	if s == nil || s.HTTP == nil || s.HTTP.HTTP2MaxRequests == 0 {
		return nil
	}
	return &pool.Settings{HTTP: &pool.HTTPSettings{HTTP2MaxRequests: s.HTTP.HTTP2MaxRequests}}
}

func proxylessLB(s *balancer.Settings) *balancer.Settings {
	if s == nil {
		return nil
	}
	lb := balancer.Settings{Simple: s.Simple, ConsistentHash: s.ConsistentHash}
	if lb.Simple != balancer.SimpleLeastRequest {
		lb.Simple = balancer.SimpleRoundRobin
	}
	return &lb
}
