package switchyard

import (
	"reflect"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/router"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// revise is compile for the common update that changes nothing, or only
// the HTTP routes of some VirtualServices, each where it was in prev's
// configuration: it keeps prev's registry, sidecar scope, TCP table and
// gateways, and recompiles only the virtual hosts of the VirtualServices
// changed, so that the update costs what changed (and one comparison per
// resource, a pointer comparison where cfg shares prev's slices). It
// reports false for any other change, which compile takes. A resource is
// unchanged when it is the same element of the same slice or deep-equal,
// so, as everywhere, a configuration must not be changed in place once
// given to the mesh. It compares every kind of Config but Skipped
// (TestReviseKnowsEveryKind).
func (m *Mesh) revise(cfg Config, prev *snapshot) (*snapshot, bool, error) {
	p := &prev.cfg
	if !sameResources(cfg.ServiceEntries, p.ServiceEntries, cluster.SameEntry) || !sameResources(cfg.DestinationRules, p.DestinationRules, cluster.SameRule) ||
		!sameResources(cfg.Gateways, p.Gateways, deepEqual) || !sameResources(cfg.Sidecars, p.Sidecars, deepEqual) ||
		len(cfg.VirtualServices) != len(p.VirtualServices) {
		return nil, false, nil
	}
	var changed []int
	if len(cfg.VirtualServices) > 0 && &cfg.VirtualServices[0] != &p.VirtualServices[0] {
		for i := range cfg.VirtualServices {
			a, b := &p.VirtualServices[i], &cfg.VirtualServices[i]
			if router.SameVirtualService(a, b) {
				continue
			}
			if !router.SameBinding(a, b) || (len(cfg.Gateways) > 0 && !meshOnly(b)) {
				return nil, false, nil
			}
			changed = append(changed, i)
		}
	}
	src := match.Source{Labels: m.opts.sourceLabels, Namespace: m.opts.sourceNamespace}
	table, ok, err := prev.table.Revise(cfg.VirtualServices, changed, src, &m.env,
		router.Binding{Admit: prev.scope.admitVirtualService, AdmitService: prev.scope.admitService})
	if !ok || err != nil {
		return nil, ok, err
	}
	s, err := m.finish(&snapshot{cfg: cfg, registry: prev.registry, table: table, tcp: prev.tcp, gateways: prev.gateways, scope: prev.scope})
	return s, true, err
}

// sameResources reports whether a and b hold equal resources in the same
// order: the same slice, or elements equal by eq.
func sameResources[T any](a, b []T, eq func(a, b *T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	if sameSlice(a, b) {
		return true
	}
	for i := range a {
		if !eq(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func deepEqual[T any](a, b *T) bool { return reflect.DeepEqual(a, b) }

// meshOnly reports whether vs routes for the mesh alone, so that no
// Gateway's table holds its routes.
func meshOnly(vs *route.VirtualService) bool {
	for _, g := range vs.Gateways {
		if g != router.MeshGateway {
			return false
		}
	}
	return true
}

// sameSlice reports whether a and b are the same elements in memory (or
// both empty).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
