// Package telemetry connects a mesh to OpenTelemetry: it resolves the
// tracer and meter providers (explicit ones, else the global ones, followed
// as they change), holds the mesh's instruments and caches the attribute
// sets of the request path so that recording a measurement allocates
// nothing. While no provider is set (the global defaults, or no-op
// providers) a request pays two atomic loads and two comparisons.
package telemetry
