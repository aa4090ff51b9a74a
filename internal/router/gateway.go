package router

import (
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// Binding says which VirtualServices a table routes with, as Istio binds
// them: the mesh's own table takes those without gateways or listing
// "mesh"; a Gateway's takes those listing it.
type Binding struct {
	// Gateway is the Gateway, "namespace/name"; "" is the mesh.
	Gateway string
	// Admit, for a Gateway, reports whether the gateway exposes host of vs
	// (its servers' hosts and their namespaces); nil admits every host.
	Admit func(vs *route.VirtualService, host string) bool
	// AdmitService, for the mesh, reports whether a ServiceEntry's host
	// is routed by default (a Sidecar's egress hosts); nil admits all.
	AdmitService func(svc *cluster.Service) bool
}

func (b Binding) name() string {
	if b.Gateway == "" {
		return "mesh"
	}
	return b.Gateway
}

// binds reports whether vs routes through b's gateway.
func (b Binding) binds(vs *route.VirtualService) bool {
	if len(vs.Gateways) == 0 {
		return b.Gateway == ""
	}
	for _, g := range vs.Gateways {
		if ResolveGateway(g, vs.Namespace) == b.name() {
			return true
		}
	}
	return false
}

// ResolveGateway returns gateway reference g of a VirtualService in
// namespace ns as Istio resolves it: "mesh", or "namespace/name" from
// "namespace/name", "name" (ns) or "name.namespace.svc.cluster.local".
func ResolveGateway(g, ns string) string {
	switch {
	case g == "mesh":
		return g
	case strings.Contains(g, "/"):
		return g
	case strings.Contains(g, "."):
		parts := strings.SplitN(g, ".", 3)
		return parts[1] + "/" + parts[0]
	}
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + g
}

// checkGatewayName returns what is wrong with a gateway reference, or "".
func checkGatewayName(g string) string {
	if g == "mesh" {
		return ""
	}
	ns, name, slash := strings.Cut(g, "/")
	if !slash {
		name, ns = g, ""
	}
	if slash && !isLabel(ns) {
		return "the namespace before '/' must be a DNS-1123 label"
	}
	if name == "" || strings.Contains(name, "/") {
		return "write \"mesh\", \"name\" or \"namespace/name\""
	}
	for _, l := range strings.Split(name, ".") {
		if !isLabel(l) {
			return "the name must be made of DNS-1123 labels"
		}
	}
	return ""
}

func isLabel(s string) bool {
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

// resolveMatchGateways returns hr, or a copy whose match blocks' gateways
// are resolved against the VirtualService's namespace ns and checked.
func resolveMatchGateways(hr *route.HTTPRoute, ns, path string, errs *fielderr.List) *route.HTTPRoute {
	var blocks []match.Request
	for i := range hr.Match {
		changed := false
		for j, g := range hr.Match[i].Gateways {
			if err := checkGatewayName(g); err != "" {
				errs.Add(fielderr.Index(fielderr.Join(fielderr.Index(fielderr.Join(path, "match"), i), "gateways"), j), "gateway %s: %s", fielderr.Quote(g), err)
			}
			changed = changed || ResolveGateway(g, ns) != g
		}
		if !changed {
			continue
		}
		if blocks == nil {
			blocks = append([]match.Request(nil), hr.Match...)
		}
		gws := make([]string, len(hr.Match[i].Gateways))
		for k, g := range hr.Match[i].Gateways {
			gws[k] = ResolveGateway(g, ns)
		}
		blocks[i].Gateways = gws
	}
	if blocks == nil {
		return hr
	}
	cp := *hr
	cp.Match = blocks
	return &cp
}
