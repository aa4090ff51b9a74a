package router

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// dependency is a host a VirtualService routes or mirrors to and the
// service it resolved to: the virtual host compiled from it holds that
// service's clusters, so it is valid only while the host resolves to the
// same service.
type dependency struct {
	host string // lower-case
	svc  *cluster.Service
}

// depsOf returns the hosts vs routes and mirrors to, with their services
// in reg.
func depsOf(vs *route.VirtualService, reg *cluster.Registry) []dependency {
	var deps []dependency
	var add func(h string)
	add = func(h string) {
		h = strings.ToLower(h)
		if full, short := reg.FullName(h, vs.Namespace); short {
			// A short name binds to the service of its full name when
			// there is one (Registry.Resolve): depend on that too.
			add(full)
		}
		for _, d := range deps {
			if d.host == h {
				return
			}
		}
		deps = append(deps, dependency{host: h, svc: reg.Lookup(h)})
	}
	for i := range vs.HTTP {
		hr := &vs.HTTP[i]
		for _, rd := range hr.Route {
			add(rd.Destination.Host)
		}
		if hr.Mirror != nil {
			add(hr.Mirror.Host)
		}
		for _, m := range hr.Mirrors {
			add(m.Destination.Host)
		}
	}
	return deps
}

// reusable returns the virtual host t compiled from a VirtualService equal
// to vs, if every host it depends on resolves to the same service in reg;
// else nil. A nil t has none.
func (t *Table) reusable(vs *route.VirtualService, reg *cluster.Registry) *VirtualHost {
	if t == nil || len(vs.Hosts) == 0 {
		return nil
	}
	key, err := parseHost(vs.Hosts[0], false)
	if err != nil {
		return nil
	}
	vh := t.owner(key)
	if vh == nil || vh.spec == nil || !SameVirtualService(vh.spec, vs) {
		return nil
	}
	for _, d := range vh.deps {
		if reg.Lookup(d.host) != d.svc {
			return nil
		}
	}
	return vh
}

// owner returns the virtual host a VirtualService host key routes to in t,
// if any.
func (t *Table) owner(key hostKey) *VirtualHost {
	if strings.HasPrefix(key.host, "*") {
		for _, w := range t.wildcard {
			if w.suffix == key.host[1:] {
				return t.vhs[w.vh]
			}
		}
		return nil
	}
	e := t.hosts[key.host]
	if e == nil {
		return nil
	}
	return t.vhs[e.any]
}

// defaultOf returns the default route t has for svc, or nil.
func (t *Table) defaultOf(svc *cluster.Service) *VirtualHost {
	if t == nil {
		return nil
	}
	return t.defaults[svc]
}

// routedBy returns the VirtualService that already routes host key in t,
// as it is being compiled, or nil; wildcards are in wild.
func (t *Table) routedBy(key hostKey, wild map[hostKey]*route.VirtualService) *route.VirtualService {
	if strings.HasPrefix(key.host, "*") {
		return wild[key]
	}
	if vh := t.owner(key); vh != nil {
		return vh.spec
	}
	return nil
}

// specOf returns the copy of vs a virtual host keeps: a pointer into the
// configuration's slice would keep the whole slice alive for as long as
// the virtual host lives, across the updates that reuse it.
func specOf(vs *route.VirtualService) *route.VirtualService {
	c := *vs
	return &c
}

// SameVirtualService reports whether two VirtualServices are equal: a
// copy of an unchanged one is recognised by its fields and the identity
// of its slices, without walking its routes; others are compared deeply.
func SameVirtualService(a, b *route.VirtualService) bool {
	return a == b || copiedVirtualService(a, b) || reflect.DeepEqual(a, b)
}

// copiedVirtualService reports whether b is a copy of a: its fields
// equal, its slices the same in memory.
// TestCopiedVirtualServiceComparesEveryField keeps it in step with the
// type.
func copiedVirtualService(a, b *route.VirtualService) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && sameSlice(a.Hosts, b.Hosts) && sameSlice(a.Gateways, b.Gateways) &&
		sameSlice(a.HTTP, b.HTTP) && sameSlice(a.TLS, b.TLS) && sameSlice(a.TCP, b.TCP) && sameSlice(a.ExportTo, b.ExportTo)
}

// sameSlice reports whether a and b are the same elements in memory, or
// both empty.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// SameBinding reports whether two versions of a VirtualService differ at
// most in their HTTP routes (none in both, or some in both): whatever
// decides which hosts and gateways it routes, and its TCP and TLS routes,
// is equal. Revise takes such changes.
func SameBinding(a, b *route.VirtualService) bool {
	if (len(a.HTTP) == 0) != (len(b.HTTP) == 0) {
		return false
	}
	x, y := *a, *b
	x.HTTP, y.HTTP = nil, nil
	return reflect.DeepEqual(&x, &y)
}

// Revise returns t with the virtual hosts of the VirtualServices at the
// indexes changed recompiled, sharing the rest: the n VirtualServices
// services(0)…services(n-1) are the configuration t was compiled from but
// for those, each of which
// SameBinding with its version in t; src, env and b are those t was
// compiled with, and t's registry stands. It costs the changed
// VirtualServices and a copy of one pointer per VirtualService, and
// returns the same problems as CompileFrom would. It reports false, and
// does nothing, for a change it cannot take that way.
func (t *Table) Revise(n int, services func(i int) *route.VirtualService, changed []int, src match.Source, env *Env, b Binding) (*Table, bool, error) {
	if t == nil || n+1 != len(t.vhs) {
		return nil, false, nil
	}
	if len(changed) == 0 {
		return t, true, nil
	}
	src.Gateway = b.name()
	if env == nil {
		env = &Env{}
	}
	next := *t
	next.vhs = slices.Clone(t.vhs)
	next.vsWarns = maps.Clone(t.vsWarns)
	var errs fielderr.List
	for _, i := range changed {
		vs, old, warns := services(i), t.vhs[i+1], t.vsWarns[i]
		if old == nil || len(warns) >= fielderr.MaxReported || len(old.warns) > len(warns) {
			return nil, false, nil // the placement's warnings may have been cut short
		}
		var e fielderr.List
		vh := compileVirtualService(vs, t.registry, src, env, &e)
		vh.spec, vh.deps, vh.warns = specOf(vs), depsOf(vs, t.registry), e.Warnings()
		e.AddWarnings(warns[len(old.warns):]) // those of its hosts' placement, unchanged
		e.Locate(fielderr.Resource("VirtualService", vs.Namespace, vs.Name))
		next.vhs[i+1] = vh
		if ws := e.Warnings(); len(ws) > 0 {
			next.vsWarns[i] = ws
		} else {
			delete(next.vsWarns, i)
		}
		errs.AddList(&e)
	}
	if err := errs.Err(); err != nil {
		return nil, true, err
	}
	var all fielderr.List
	for _, i := range slices.Sorted(maps.Keys(next.vsWarns)) {
		all.AddWarnings(next.vsWarns[i])
	}
	next.warnings = all.Warnings()
	return &next, true, nil
}
