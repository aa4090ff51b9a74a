package pool

import "time"

// Settings is Istio's ConnectionPoolSettings: limits per destination
// cluster.
type Settings struct {
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
	// HTTP2KeepAlive sends HTTP/2 PING frames to find dead connections.
	HTTP2KeepAlive *HTTP2KeepAlive `json:"http2KeepAlive,omitempty"`
}

// HTTP2KeepAlive is Istio's HTTPSettings.ConnectionKeepalive: health
// checks of HTTP/2 connections with PING frames. Both fields are required.
type HTTP2KeepAlive struct {
	// Interval is how long a connection may go without receiving a frame
	// before a PING is sent.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout is how long to wait for the PING's answer before closing
	// the connection.
	Timeout time.Duration `json:"timeout,omitempty"`
}
