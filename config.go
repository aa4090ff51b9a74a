package switchyard

import (
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
