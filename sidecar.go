package switchyard

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/httpbody"
	"github.com/switchyard-go/switchyard/internal/reply"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/sidecar"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rootNamespace is Istio's default root namespace, whose Sidecar without a
// selector is the mesh-wide default.
const rootNamespace = "istio-system"

// sidecarScope is the Sidecar that applies to the process, compiled: the
// hosts it sees and its outbound policy. The zero value (no Sidecar) sees
// every host and passes unknown ones through.
type sidecarScope struct {
	name         string // the Sidecar, for explanations; "" for none
	egress       []egressHost
	limited      bool // egress hosts are set
	registryOnly bool
}

// egressHost is one of a Sidecar's egress hosts, "namespace/host".
type egressHost struct {
	namespace string // "*" any, "~" none, or a namespace ("." resolved)
	host      string // "*", "*.suffix" or a name
	// exclude: the entry was "~namespace/host", which hides the hosts it
	// covers in that namespace ("~*/host": in every namespace) whatever
	// the other entries import, as Istio's hostClassification.Excluded.
	exclude bool
}

// sees reports whether the process sees host, defined in namespace.
func (s *sidecarScope) sees(namespace, host string) bool {
	if s == nil || !s.limited {
		return true
	}
	namespace = nsOrDefault(namespace)
	seen := false
	for _, e := range s.egress {
		if (e.namespace == "*" || e.namespace == namespace) && hostMatches(e.host, host) {
			if e.exclude {
				return false
			}
			seen = true
		}
	}
	return seen
}

func (s *sidecarScope) admitVirtualService(vs *route.VirtualService, host string) bool {
	return s.sees(vs.Namespace, host)
}

func (s *sidecarScope) admitService(svc *cluster.Service) bool {
	return s.sees(svc.Namespace(), svc.Host)
}

// compileSidecars validates the Sidecars, as Istio's validateSidecar does,
// and returns the one that applies to the process in namespace ns with
// labels: the one in ns whose workloadSelector the labels satisfy, else
// the one in ns without selector, else the root namespace's without
// selector.
func compileSidecars(scs []sidecar.Sidecar, ns string, labels map[string]string) (*sidecarScope, error) {
	ns = nsOrDefault(ns)
	var errs fielderr.List
	var selected, namespaceWide, root *sidecarScope
	claimed := map[string]string{} // "namespace-wide" or "selected" per namespace → the Sidecar
	for i := range scs {
		sc := &scs[i]
		where := fielderr.Resource("Sidecar", sc.Namespace, sc.Name)
		var e fielderr.List
		scope := compileSidecar(sc, &e)
		scNS := nsOrDefault(sc.Namespace)
		switch {
		case e.Len() > 0:
		case sc.WorkloadSelector == nil || len(sc.WorkloadSelector.Labels) == 0:
			// Istio applies a selector without labels to the whole
			// namespace.
			if prev, ok := claimed[scNS]; ok {
				e.Add("metadata", "%s already applies to every workload of namespace %s; Istio would use only one of them, so merge them", prev, fielderr.Quote(scNS))
				break
			}
			claimed[scNS] = where
			if scNS == ns {
				namespaceWide = scope
			} else if scNS == rootNamespace {
				root = scope
			}
		case scNS == ns && selects(sc.WorkloadSelector.Labels, labels):
			if selected != nil {
				e.Add("spec.workloadSelector", "%s selects this process too; Istio would use only one of them, so merge them", selected.name)
				break
			}
			selected = scope
		}
		scope.name = where
		e.Locate(where)
		errs.Merge("", e.Err())
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for _, s := range []*sidecarScope{selected, namespaceWide, root} {
		if s != nil {
			return s, nil
		}
	}
	return &sidecarScope{}, nil
}

// selects reports whether labels carry every label of selector.
func selects(selector, labels map[string]string) bool {
	for _, k := range slices.Sorted(maps.Keys(selector)) {
		if v, ok := labels[k]; !ok || v != selector[k] {
			return false
		}
	}
	return true
}

func compileSidecar(sc *sidecar.Sidecar, errs *fielderr.List) *sidecarScope {
	scope := &sidecarScope{}
	if sc.WorkloadSelector != nil {
		for _, k := range slices.Sorted(maps.Keys(sc.WorkloadSelector.Labels)) {
			v := sc.WorkloadSelector.Labels[k]
			switch {
			case k == "":
				errs.Add("spec.workloadSelector.labels", "empty key is not supported in selector")
			case strings.Contains(k, "*") || strings.Contains(v, "*"):
				errs.Add(fielderr.Key("spec.workloadSelector.labels", k), "wildcard is not supported in selector")
			}
		}
	}
	if len(sc.Egress) == 0 && sc.OutboundTrafficPolicy == nil {
		errs.Add("spec", "sidecar: empty configuration provided; set egress or outboundTrafficPolicy")
	}
	if len(sc.Egress) > 1 {
		errs.Add("spec.egress", "only one egress listener (without port) is supported; merge their hosts")
	}
	scNS := nsOrDefault(sc.Namespace)
	for i, l := range sc.Egress {
		path := fielderr.Index("spec.egress", i)
		if len(l.Hosts) == 0 {
			errs.Add(fielderr.Join(path, "hosts"), "sidecar: egress listener must have at least one host")
		}
		for j, h := range l.Hosts {
			hp := fielderr.Index(fielderr.Join(path, "hosts"), j)
			ns, host, ok := strings.Cut(h, "/")
			if !ok {
				errs.Add(hp, "%s: a host must be \"namespace/host\" (the namespace a name, \".\", \"*\" or \"~\")", fielderr.Quote(h))
				continue
			}
			// "~" alone imports from no namespace; "~ns" (ns a name, "." or
			// "*") excludes what the host covers in ns.
			exclude := false
			if rest, ok := strings.CutPrefix(ns, "~"); ok && rest != "" {
				ns, exclude = rest, true
			}
			switch {
			case ns == ".":
				ns = scNS
			case ns == "*", ns == "~" && !exclude:
			case !isDNSLabel(ns):
				errs.Add(hp, "%s: the namespace before '/' must be \".\", \"*\", \"~\" or a DNS-1123 label, optionally after \"~\" to exclude it", fielderr.Quote(h))
				continue
			}
			host = strings.ToLower(host)
			if err := checkWildcardHost(host); err != "" {
				errs.Add(hp, "%s: %s", fielderr.Quote(h), err)
				continue
			}
			scope.egress = append(scope.egress, egressHost{namespace: ns, host: host, exclude: exclude})
		}
		scope.limited = true
	}
	if p := sc.OutboundTrafficPolicy; p != nil {
		switch strings.ToUpper(p.Mode) {
		case "", "REGISTRY_ONLY": // REGISTRY_ONLY is the enum's zero value
			scope.registryOnly = true
		case "ALLOW_ANY":
		default:
			errs.Add("spec.outboundTrafficPolicy.mode", "unknown mode %s; use ALLOW_ANY or REGISTRY_ONLY", fielderr.Quote(p.Mode))
		}
	}
	return scope
}

// unknownHostAction is what Explain says of a host the mesh does not know.
func (s *sidecarScope) unknownHostAction() string {
	if s.registryOnly {
		return "BlackHoleCluster (" + s.name + ": outboundTrafficPolicy REGISTRY_ONLY)"
	}
	return "passthrough"
}

// blackHole is Envoy's answer from the BlackHoleCluster: 502, nothing
// sent.
func blackHole(req *http.Request) *http.Response {
	httpbody.CloseRequest(req)
	return reply.New(req, http.StatusBadGateway, nil, "")
}

// blackHoleGRPC returns the error of a gRPC call to authority, a host the
// mesh does not know, under REGISTRY_ONLY; nil when it may pass through.
func (m *Mesh) blackHoleGRPC(authority string) error {
	s := m.snap.Load()
	if !s.scope.registryOnly {
		return nil
	}
	return status.Errorf(codes.Unavailable, "switchyard: %s is not a known host and %s sets outboundTrafficPolicy REGISTRY_ONLY (BlackHoleCluster); add a ServiceEntry for it", authority, s.scope.name)
}
