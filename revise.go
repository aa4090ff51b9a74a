package switchyard

import (
	"fmt"
	"iter"
	"reflect"
	"slices"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/patchlist"
	"github.com/switchyard-go/switchyard/internal/router"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
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
	old := prev.virtualServices()
	if !sameResources(cfg.ServiceEntries, p.ServiceEntries, cluster.SameEntry) || !sameResources(cfg.DestinationRules, p.DestinationRules, cluster.SameRule) ||
		!sameResources(cfg.Gateways, p.Gateways, deepEqual) || !sameResources(cfg.Sidecars, p.Sidecars, deepEqual) ||
		len(cfg.VirtualServices) != old.Len() {
		return nil, false, nil
	}
	services := func(i int) *route.VirtualService { return &cfg.VirtualServices[i] }
	var changed []int
	if len(cfg.VirtualServices) > 0 && (prev.vs != nil || &cfg.VirtualServices[0] != &p.VirtualServices[0]) {
		var ok bool
		if changed, ok = revisedRoutes(prev, old, services, func(yield func(int) bool) {
			for i := range cfg.VirtualServices {
				if !yield(i) {
					return
				}
			}
		}); !ok {
			return nil, false, nil
		}
	}
	return m.reviseRoutes(prev, &snapshot{cfg: cfg}, services, changed)
}

// revisedRoutes returns the indexes among those of idx at which the
// VirtualService of services differs from old's (prev's configuration),
// and false if one differs by more than its routes (or, with Gateways,
// serves one), which revising cannot take.
func revisedRoutes(prev *snapshot, old *patchlist.List[route.VirtualService], services func(int) *route.VirtualService, idx iter.Seq[int]) ([]int, bool) {
	var changed []int
	for i := range idx {
		a, b := old.At(i), services(i)
		if router.SameVirtualService(a, b) {
			continue
		}
		if !router.SameBinding(a, b) || (len(prev.cfg.Gateways) > 0 && !meshOnly(b)) {
			return nil, false
		}
		changed = append(changed, i)
	}
	return changed, true
}

// reviseRoutes completes next, prev's configuration with the VirtualServices
// at the indexes changed replaced (services(i) is next's i-th), from prev's
// compiled parts and those VirtualServices recompiled. It reports false for
// a change the routing table cannot take so.
func (m *Mesh) reviseRoutes(prev, next *snapshot, services func(i int) *route.VirtualService, changed []int) (*snapshot, bool, error) {
	src := match.Source{Labels: m.opts.sourceLabels, Namespace: m.opts.sourceNamespace}
	table, ok, err := prev.table.Revise(prev.virtualServices().Len(), services, changed, src, &m.env,
		router.Binding{Admit: prev.scope.admitVirtualService, AdmitService: prev.scope.admitService})
	if !ok || err != nil {
		return nil, ok, err
	}
	next.registry, next.table, next.tcp, next.gateways, next.scope = prev.registry, table, prev.tcp, prev.gateways, prev.scope
	s, err := m.finish(next)
	return s, true, err
}

func init() {
	// The xds package installs its translations so: a push of some
	// services' routes without copying the list, and a token of what it
	// installed to recognise a configuration changed by someone else. The
	// token is the snapshot, which only a new configuration replaces.
	meshopt.Update = func(mesh, cfg any) (any, error) {
		s, err := mesh.(*Mesh).modify(func(Config) (Config, error) { return cfg.(Config), nil })
		return tokenOf(s), err
	}
	meshopt.ReviseVirtualServices = func(mesh, token any, at []int, vals []route.VirtualService) (any, bool, error) {
		s, ok, err := mesh.(*Mesh).reviseVirtualServices(token, at, vals)
		return tokenOf(s), ok, err
	}
	meshopt.ConfigToken = func(mesh any) any { return mesh.(*Mesh).snap.Load() }
	meshopt.SetEndpoints = func(mesh, token any, host string, endpoints any) (bool, error) {
		m := mesh.(*Mesh)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed.Load() {
			return true, ErrClosed
		}
		if token != any(m.snap.Load()) {
			return false, nil
		}
		return true, m.setEndpointsLocked(host, endpoints.([]subset.WorkloadEntry))
	}
}

// tokenOf is s as a token: nil, not a nil *snapshot, when none was
// installed.
func tokenOf(s *snapshot) any {
	if s == nil {
		return nil
	}
	return s
}

// reviseVirtualServices replaces the VirtualServices at the indexes at
// (ascending, without repeats) of the configuration in force with vals, as
// Modify would with a copy of the list so changed, but without the copy,
// and returns the snapshot installed:
// the xDS-fed mesh's push of one service's routes in a mesh of thousands
// then costs that service. Config flattens the list when called. It
// changes nothing, and reports false, unless the snapshot in force is
// token (the one the caller's indexes are of): checked under m.mu, so no
// Update can slip between the check and the change.
func (m *Mesh) reviseVirtualServices(token any, at []int, vals []route.VirtualService) (*snapshot, bool, error) {
	if len(at) != len(vals) {
		return nil, true, fmt.Errorf("switchyard: %d indexes for %d VirtualServices", len(at), len(vals))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, true, ErrClosed
	}
	cur := m.snap.Load()
	if token != any(cur) {
		return nil, false, nil
	}
	old := cur.virtualServices()
	for k, i := range at {
		if i < 0 || i >= old.Len() || (k > 0 && at[k-1] >= i) {
			return nil, true, fmt.Errorf("switchyard: VirtualService indexes %v: not ascending within the %d in force", at, old.Len())
		}
	}
	list := old.With(at, vals)
	next := &snapshot{cfg: cur.cfg, vs: list}
	next.cfg.VirtualServices = nil // list holds them
	var s *snapshot
	var err error
	changed, ok := revisedRoutes(cur, old, list.At, slices.Values(at))
	if ok {
		s, ok, err = m.reviseRoutes(cur, next, list.At, changed)
	}
	if !ok {
		s, err = m.compile(next.config(), cur)
	}
	// As many resources of each kind as in cur: counted without
	// flattening the list.
	n := counts(cur.cfg)
	n[virtualServiceKind] = list.Len()
	m.recordUpdate(n, err)
	if err != nil {
		return nil, true, err
	}
	m.install(s)
	return s, true, nil
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
