package router

import (
	"reflect"
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
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
	if vh == nil || vh.spec == nil || (vh.spec != vs && !reflect.DeepEqual(vh.spec, vs)) {
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
			if w.suffix == key.host[1:] && w.port == key.port {
				return w.vh
			}
		}
		return nil
	}
	e := t.hosts[key.host]
	if e == nil {
		return nil
	}
	if key.port == 0 {
		return e.any
	}
	for _, p := range e.ports {
		if p.port == key.port {
			return p.vh
		}
	}
	return nil
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
