// Package outlier implements Istio's OutlierDetection and
// ConnectionPoolSettings for one destination cluster, with Envoy's
// behaviour: passive ejection of failing endpoints ([Detector]) and the
// admission limits that shed load past the cluster's capacity ([Limiter]).
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
// A detector built with [DetectorOptions.Previous] (on Update) carries the
// ejection state of the endpoints it shares with the one it replaces, and
// shares it from then on under one lock: requests still in flight on the old
// configuration keep recording through the old detector, their failures
// count with the new ones, and an ejection through either detector is one
// ejection that every started detector of the cluster is told of.
//
// # Admission
//
// tcp.maxConnections bounds the requests active at once (one per connection,
// as HTTP/1.1); http.http1MaxPendingRequests bounds those waiting for one;
// http.http2MaxRequests bounds all outstanding requests; http.maxRetries
// (or the retry budget) bounds concurrent retries. A request past a limit
// fails at once with [ErrOverflow], which the mesh answers with 503 and
// x-envoy-overloaded: true, never retries and never counts for ejection.
// Zero or unset limits are unlimited.
//
//	l := outlier.NewLimiter(outlier.LimitsFrom(pool))
//	client := &http.Client{Transport: l.RoundTripper(http.DefaultTransport)}
package outlier
