package switchyard

import (
	"reflect"
	"strings"

	"github.com/switchyard-go/switchyard/gateway"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/sidecar"
	"github.com/switchyard-go/switchyard/subset"
)

// kind is one resource kind the mesh reads. The table below is the one
// place that lists them: Parse decodes by it, the admin page's config dump
// writes by it, and update records count by it. Adding a kind is a row
// here, its field in Config, and the package that compiles it.
type kind struct {
	// name is the kind, as manifests write it: "ServiceEntry".
	name string
	// group is the kind's key in the config dump: "serviceEntries".
	group string
	// decode decodes a spec into a new resource with that name and namespace,
	// and appends it to cfg.
	decode func(cfg *Config, d *decoder, spec node, name, namespace string)
	// each calls f with the metadata and spec of each resource of the kind
	// in cfg, in order.
	each func(cfg *Config, f func(name, namespace string, spec reflect.Value))
	// count returns the number of resources of the kind in cfg.
	count func(cfg *Config) int
}

// kinds are the kinds Parse reads, in the order the config dump and
// counts list them.
var kinds = []*kind{
	kindOf("ServiceEntry", "serviceEntries", func(c *Config) *[]subset.ServiceEntry { return &c.ServiceEntries },
		func(se *subset.ServiceEntry) (*string, *string) { return &se.Name, &se.Namespace }),
	kindOf("DestinationRule", "destinationRules", func(c *Config) *[]subset.DestinationRule { return &c.DestinationRules },
		func(dr *subset.DestinationRule) (*string, *string) { return &dr.Name, &dr.Namespace }),
	kindOf(virtualServiceKind, "virtualServices", func(c *Config) *[]route.VirtualService { return &c.VirtualServices },
		func(vs *route.VirtualService) (*string, *string) { return &vs.Name, &vs.Namespace }),
	kindOf("Gateway", "gateways", func(c *Config) *[]gateway.Gateway { return &c.Gateways },
		func(g *gateway.Gateway) (*string, *string) { return &g.Name, &g.Namespace }),
	kindOf("Sidecar", "sidecars", func(c *Config) *[]sidecar.Sidecar { return &c.Sidecars },
		func(s *sidecar.Sidecar) (*string, *string) { return &s.Name, &s.Namespace }),
}

// kindOf builds the row of kind name for resources of type T, which live in
// the Config slice list returns, named by the fields meta points to.
func kindOf[T any](name, group string, list func(*Config) *[]T, meta func(*T) (name, namespace *string)) *kind {
	return &kind{
		name:  name,
		group: group,
		decode: func(cfg *Config, d *decoder, spec node, name, namespace string) {
			v := decodeSpec[T](d, spec)
			n, ns := meta(&v)
			*n, *ns = name, namespace
			l := list(cfg)
			*l = append(*l, v)
		},
		count: func(cfg *Config) int { return len(*list(cfg)) },
		each: func(cfg *Config, f func(name, namespace string, spec reflect.Value)) {
			l := *list(cfg)
			for i := range l {
				n, ns := meta(&l[i])
				f(*n, *ns, reflect.ValueOf(l[i]))
			}
		},
	}
}

// kindNamed returns the row of the kind called name, or nil.
func kindNamed(name string) *kind {
	for _, k := range kinds {
		if k.name == name {
			return k
		}
	}
	return nil
}

// kindList names the kinds for errors: "ServiceEntry, DestinationRule or
// VirtualService".
func kindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// virtualServiceKind is the name of VirtualService's kind.
const virtualServiceKind = "VirtualService"

// counts counts cfg's resources by kind.
func counts(cfg Config) map[string]int {
	out := make(map[string]int, len(kinds))
	for _, k := range kinds {
		out[k.name] = k.count(&cfg)
	}
	return out
}
