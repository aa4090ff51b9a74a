// Package meshopt lets packages of this module read options of the
// switchyard package without widening its public API.
package meshopt

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/switchyard-go/switchyard/mtls"
	"github.com/switchyard-go/switchyard/route"
)

// The switchyard package sets these when it is initialised.
var (
	// WorkloadCertificates reports whether opt (a switchyard.Option) is
	// switchyard.WithWorkloadCertificates, and its source.
	WorkloadCertificates func(opt any) (*mtls.Source, bool)
	// MeterProvider reports whether opt is switchyard.WithMeterProvider,
	// and its provider.
	MeterProvider func(opt any) (metric.MeterProvider, bool)

	// How the xds package installs its translations in mesh (a
	// *switchyard.Mesh). Each returns a token of the configuration it
	// installed, which ConfigToken returns until the configuration in
	// force changes again (SetEndpoints does not change it), so that a
	// configuration installed by someone else is recognised.

	// Update is mesh.Update(cfg), cfg a switchyard.Config.
	Update func(mesh, cfg any) (token any, err error)
	// ReviseVirtualServices replaces, in the configuration in force, the
	// VirtualServices at the indexes at (ascending, without repeats) with
	// vals, as Modify would with the list copied and changed, without
	// copying the list. It does so only while the configuration in force
	// is that of token (checked as one step with the change, so that an
	// Update by someone else between the caller's check and the change is
	// not revised), and reports false otherwise, changing nothing.
	ReviseVirtualServices func(mesh, token any, at []int, vals []route.VirtualService) (next any, ok bool, err error)
	// ConfigToken returns the token of the configuration in force.
	ConfigToken func(mesh any) any
	// SetEndpoints is mesh.SetEndpoints(host, endpoints), endpoints a
	// []subset.WorkloadEntry, while the configuration in force is that of
	// token (checked as one step with the change); it reports false,
	// changing nothing, otherwise.
	SetEndpoints func(mesh, token any, host string, endpoints any) (bool, error)
)
