package outlier

import "time"

// Config is Istio's OutlierDetection: passive ejection of failing endpoints.
type Config struct {
	// Consecutive5xxErrors ejects an endpoint after this many 5xx in a row.
	// Nil means 5; 0 disables.
	Consecutive5xxErrors *uint32 `json:"consecutive5xxErrors,omitempty"`
	// ConsecutiveGatewayErrors ejects after this many 502, 503 or 504 in a
	// row. Nil or 0 disables.
	ConsecutiveGatewayErrors *uint32 `json:"consecutiveGatewayErrors,omitempty"`
	// ConsecutiveErrors is deprecated and ignored by Istio.
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// SplitExternalLocalOriginErrors counts local-origin failures (connect
	// errors, timeouts) separately from upstream statuses.
	SplitExternalLocalOriginErrors bool `json:"splitExternalLocalOriginErrors,omitempty"`
	// ConsecutiveLocalOriginFailures ejects after this many local-origin
	// failures in a row, when split. Nil means 5.
	ConsecutiveLocalOriginFailures *uint32 `json:"consecutiveLocalOriginFailures,omitempty"`
	// Interval is the sweep period that returns ejected endpoints; 10s when
	// zero.
	Interval time.Duration `json:"interval,omitempty"`
	// BaseEjectionTime is multiplied by the times an endpoint has been
	// ejected; 30s when zero.
	BaseEjectionTime time.Duration `json:"baseEjectionTime,omitempty"`
	// MaxEjectionPercent bounds the share of endpoints ejected; 10 when zero.
	// At least one endpoint can always be ejected.
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
	// MinHealthPercent is the panic threshold; 0 disables panic mode.
	MinHealthPercent int32 `json:"minHealthPercent,omitempty"`
}
