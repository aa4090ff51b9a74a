// Package visibility applies Istio's exportTo: which namespaces see a
// ServiceEntry, DestinationRule or VirtualService. "*" is every namespace
// (the default), "." the resource's own, "~" none (ServiceEntries only),
// and any other entry a namespace by name.
package visibility

import (
	"slices"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
)

// DefaultNamespace is the namespace of a resource that names none, as
// kubectl applies it.
const DefaultNamespace = "default"

// Validate checks exportTo as Istio's validation does, recording problems
// at path ("spec.exportTo"). namespace is the resource's own;
// serviceEntry allows "~".
func Validate(namespace string, exportTo []string, serviceEntry bool, path string, errs *fielderr.List) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	seen := map[string]bool{}
	for i, e := range exportTo {
		p := fielderr.Index(path, i)
		key := e
		if e == "." {
			key = namespace
		}
		switch {
		case seen[key] && key != e:
			errs.Add(p, `"." and %s both name the resource's own namespace`, fielderr.Quote(namespace))
			continue
		case seen[key]:
			errs.Add(p, "%s is listed twice", fielderr.Quote(e))
			continue
		case e == "~" && !serviceEntry:
			errs.Add(p, `"~" (no namespace) is only for ServiceEntries`)
			continue
		case e != "*" && e != "~" && e != "." && !hostname.Label(e):
			errs.Add(p, `%s is not ".", "*" or a namespace name (a DNS label)`, fielderr.Quote(e))
			continue
		}
		seen[key] = true
	}
	if len(exportTo) > 1 {
		if seen["*"] {
			errs.Add(path, `"*" exports to every namespace and cannot be combined with other entries`)
		}
		if seen["~"] {
			errs.Add(path, `"~" exports to no namespace and cannot be combined with other entries`)
		}
	}
}

// Visible reports whether a resource in namespace with exportTo is seen by
// a caller in client. An empty exportTo is "*".
func Visible(namespace string, exportTo []string, client string) bool {
	if len(exportTo) == 0 {
		return true
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return slices.ContainsFunc(exportTo, func(e string) bool {
		return e == "*" || e == client || (e == "." && namespace == client)
	})
}
