// Package meshopt lets packages of this module read options of the
// switchyard package without widening its public API.
package meshopt

import "github.com/switchyard-go/switchyard/mtls"

// WorkloadCertificates reports whether opt (a switchyard.Option) is
// switchyard.WithWorkloadCertificates, and its source. The switchyard
// package sets it when it is initialised.
var WorkloadCertificates func(opt any) (*mtls.Source, bool)
