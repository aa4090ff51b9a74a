// Package outlier holds Istio's OutlierDetection ([Config]): passive
// ejection of a cluster's failing endpoints, which the mesh carries out with
// Envoy's behaviour.
//
// # Ejection
//
// Every attempt's outcome is reduced to an HTTP status (a connect failure or
// reset counts as 503, a timeout as 504). Consecutive 5xx, consecutive
// gateway errors (502, 503, 504) and, with splitExternalLocalOriginErrors,
// consecutive local-origin failures are counted per endpoint; an endpoint is
// ejected the moment a count reaches its threshold, unless that would eject
// more than maxEjectionPercent (at least one endpoint can always be
// ejected). It returns on the first interval sweep after baseEjectionTime ×
// the times it has been ejected (capped at max(300s, baseEjectionTime)).
// Below minHealthPercent healthy endpoints the cluster panics and balances
// over all of them; with the default 0 it never panics, and with every
// endpoint ejected requests get 503 "no healthy upstream".
//
// Ejection state survives a configuration update for every endpoint that
// remains: requests still in flight on the old configuration keep
// recording, their failures count with the new ones, and an ejection through
// either configuration is one ejection.
package outlier
