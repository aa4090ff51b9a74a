package switchyard

import (
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// Config is a mesh's configuration: Istio's three traffic resources as Go
// values. [Parse] builds one from YAML or JSON manifests; a Go program can
// equally build one by hand. The field names of every type follow Istio's
// schema, so YAML and Go describe the same model.
type Config struct {
	// ServiceEntries define the hosts, their ports and their endpoints.
	ServiceEntries []subset.ServiceEntry
	// DestinationRules define subsets and traffic policy per host.
	DestinationRules []subset.DestinationRule
	// VirtualServices define the routes per host.
	VirtualServices []route.VirtualService
}

// Append returns c with the resources of other added after its own.
func (c Config) Append(other Config) Config {
	c.ServiceEntries = append(c.ServiceEntries[:len(c.ServiceEntries):len(c.ServiceEntries)], other.ServiceEntries...)
	c.DestinationRules = append(c.DestinationRules[:len(c.DestinationRules):len(c.DestinationRules)], other.DestinationRules...)
	c.VirtualServices = append(c.VirtualServices[:len(c.VirtualServices):len(c.VirtualServices)], other.VirtualServices...)
	return c
}

// Clone returns a copy of c whose resource slices, and each VirtualService's
// routes and their destination lists, may be changed without touching c.
// Other pointed-to values are shared.
func (c Config) Clone() Config {
	out := Config{
		ServiceEntries:   append([]subset.ServiceEntry(nil), c.ServiceEntries...),
		DestinationRules: append([]subset.DestinationRule(nil), c.DestinationRules...),
		VirtualServices:  append([]route.VirtualService(nil), c.VirtualServices...),
	}
	for i := range out.VirtualServices {
		vs := &out.VirtualServices[i]
		vs.HTTP = append([]route.HTTPRoute(nil), vs.HTTP...)
		for j := range vs.HTTP {
			vs.HTTP[j].Route = append([]route.RouteDestination(nil), vs.HTTP[j].Route...)
			vs.HTTP[j].Match = append([]match.Request(nil), vs.HTTP[j].Match...)
		}
	}
	return out
}
