package switchyard

import (
	"github.com/switchyard-go/switchyard/gateway"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/sidecar"
	"github.com/switchyard-go/switchyard/subset"
)

// Config is a mesh's configuration: Istio's traffic resources as Go
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
	// Gateways define the ingress servers Mesh.Gateway serves.
	Gateways []gateway.Gateway
	// Sidecars scope the hosts the process sees and its outbound policy.
	Sidecars []sidecar.Sidecar
	// Skipped lists the documents Parse read and does not act on:
	// Kubernetes objects, Istio's other kinds (PeerAuthentication,
	// EnvoyFilter, …), the Gateway API. New ignores it.
	Skipped []SkippedResource
}

// SkippedResource is a document Parse skipped.
type SkippedResource struct {
	// APIVersion and Kind say what it is: "v1" and "Service".
	APIVersion, Kind string
	// Name and Namespace are its metadata's.
	Name, Namespace string
}

// String renders r as "Service default/reviews (v1)".
func (r SkippedResource) String() string {
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + r.Name
	}
	return r.Kind + " " + name + " (" + r.APIVersion + ")"
}

// Append returns c with the resources of other added after its own.
func (c Config) Append(other Config) Config {
	c.ServiceEntries = append(c.ServiceEntries[:len(c.ServiceEntries):len(c.ServiceEntries)], other.ServiceEntries...)
	c.DestinationRules = append(c.DestinationRules[:len(c.DestinationRules):len(c.DestinationRules)], other.DestinationRules...)
	c.VirtualServices = append(c.VirtualServices[:len(c.VirtualServices):len(c.VirtualServices)], other.VirtualServices...)
	c.Gateways = append(c.Gateways[:len(c.Gateways):len(c.Gateways)], other.Gateways...)
	c.Sidecars = append(c.Sidecars[:len(c.Sidecars):len(c.Sidecars)], other.Sidecars...)
	c.Skipped = append(c.Skipped[:len(c.Skipped):len(c.Skipped)], other.Skipped...)
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
		Gateways:         append([]gateway.Gateway(nil), c.Gateways...),
		Sidecars:         append([]sidecar.Sidecar(nil), c.Sidecars...),
		Skipped:          append([]SkippedResource(nil), c.Skipped...),
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
