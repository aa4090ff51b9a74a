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

// ConnectionPool is Istio's ConnectionPoolSettings: limits per destination
// cluster.
type ConnectionPool struct {
	// TCP holds connection-level settings.
	TCP *TCPSettings `json:"tcp,omitempty"`
	// HTTP holds request-level settings.
	HTTP *HTTPSettings `json:"http,omitempty"`
}

// TCPSettings is Istio's ConnectionPoolSettings.TCPSettings.
type TCPSettings struct {
	// MaxConnections bounds concurrent connections; 0 means unlimited.
	MaxConnections int32 `json:"maxConnections,omitempty"`
	// ConnectTimeout bounds a connection attempt; 10s when zero.
	ConnectTimeout time.Duration `json:"connectTimeout,omitempty"`
	// TCPKeepalive sets SO_KEEPALIVE.
	TCPKeepalive *TCPKeepalive `json:"tcpKeepalive,omitempty"`
	// MaxConnectionDuration closes connections older than this.
	MaxConnectionDuration time.Duration `json:"maxConnectionDuration,omitempty"`
	// IdleTimeout closes idle connections; 1h when nil, never when 0.
	IdleTimeout *time.Duration `json:"idleTimeout,omitempty"`
}

// TCPKeepalive is Istio's TCPSettings.TcpKeepalive.
type TCPKeepalive struct {
	// Probes is the number of unanswered probes before the connection is
	// dropped.
	Probes uint32 `json:"probes,omitempty"`
	// Time is the idle time before probes start.
	Time time.Duration `json:"time,omitempty"`
	// Interval is the time between probes.
	Interval time.Duration `json:"interval,omitempty"`
}

// HTTPSettings is Istio's ConnectionPoolSettings.HTTPSettings.
type HTTPSettings struct {
	// HTTP1MaxPendingRequests bounds requests waiting for a connection; 0
	// means unlimited.
	HTTP1MaxPendingRequests int32 `json:"http1MaxPendingRequests,omitempty"`
	// HTTP2MaxRequests bounds outstanding requests; 0 means unlimited.
	HTTP2MaxRequests int32 `json:"http2MaxRequests,omitempty"`
	// MaxRequestsPerConnection closes a connection after this many
	// requests; 0 means unlimited, 1 disables keep-alive.
	MaxRequestsPerConnection int32 `json:"maxRequestsPerConnection,omitempty"`
	// MaxRetries bounds concurrent retries; 0 means unlimited.
	MaxRetries int32 `json:"maxRetries,omitempty"`
	// IdleTimeout closes connections idle this long; 1h when nil.
	IdleTimeout *time.Duration `json:"idleTimeout,omitempty"`
	// H2UpgradePolicy is DEFAULT, DO_NOT_UPGRADE or UPGRADE.
	H2UpgradePolicy string `json:"h2UpgradePolicy,omitempty"`
	// UseClientProtocol keeps the caller's protocol.
	UseClientProtocol bool `json:"useClientProtocol,omitempty"`
	// MaxConcurrentStreams bounds HTTP/2 streams per connection.
	MaxConcurrentStreams int32 `json:"maxConcurrentStreams,omitempty"`
}
