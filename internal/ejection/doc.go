// Package ejection carries out outlier detection for the mesh's clusters:
// a [Detector] per cluster counts each attempt's outcome per endpoint and
// ejects an endpoint the moment a count reaches its threshold, with Envoy's
// rules (see package outlier for the semantics).
//
// A detector built with [DetectorOptions.Previous] (on Update) carries the
// ejection state of the endpoints it shares with the one it replaces, and
// shares it from then on under one lock: requests still in flight on the
// old configuration keep recording through the old detector, their
// failures count with the new ones, and an ejection through either detector
// is one ejection that every started detector of the cluster is told of.
package ejection
