package pool

import (
	"time"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Validate reports the problems of a connectionPool block, with field paths
// relative to it.
func (c *Settings) Validate() error {
	var errs fielderr.List
	if c.TCP == nil && c.HTTP == nil {
		errs.Add("", "a connection pool must set tcp or http")
	}
	if t := c.TCP; t != nil {
		if t.MaxConnections < 0 {
			errs.Add("tcp.maxConnections", "must not be negative")
		}
		errs.Millis("tcp.connectTimeout", t.ConnectTimeout)
		errs.Millis("tcp.maxConnectionDuration", t.MaxConnectionDuration)
		if t.IdleTimeout != nil && *t.IdleTimeout >= time.Millisecond {
			errs.Millis("tcp.idleTimeout", *t.IdleTimeout) // 0 turns it off
		}
		if k := t.TCPKeepalive; k != nil {
			errs.Millis("tcp.tcpKeepalive.time", k.Time)
			errs.Millis("tcp.tcpKeepalive.interval", k.Interval)
		}
	}
	if h := c.HTTP; h != nil {
		for _, f := range []struct {
			name string
			v    int32
		}{{"http1MaxPendingRequests", h.HTTP1MaxPendingRequests}, {"http2MaxRequests", h.HTTP2MaxRequests},
			{"maxRequestsPerConnection", h.MaxRequestsPerConnection}, {"maxRetries", h.MaxRetries}, {"maxConcurrentStreams", h.MaxConcurrentStreams}} {
			if f.v < 0 {
				errs.Add("http."+f.name, "must not be negative")
			}
		}
		if h.IdleTimeout != nil {
			errs.Millis("http.idleTimeout", *h.IdleTimeout)
		}
		if k := h.HTTP2KeepAlive; k != nil {
			for _, f := range []struct {
				name string
				v    time.Duration
			}{{"interval", k.Interval}, {"timeout", k.Timeout}} {
				if f.v == 0 {
					errs.Add("http.http2KeepAlive."+f.name, "required")
				}
				errs.Millis("http.http2KeepAlive."+f.name, f.v)
			}
		}
		if h.MaxRequestsPerConnection > 1 {
			errs.Add("http.maxRequestsPerConnection", "not supported: Go's http.Transport cannot close a connection after %d requests; use 1 (no keep-alive) or tcp.maxConnectionDuration", h.MaxRequestsPerConnection)
		}
		if h.MaxConcurrentStreams > 0 {
			errs.Add("http.maxConcurrentStreams", "not supported: Go's HTTP/2 client takes its stream limit from the server's SETTINGS frame")
		}
		switch h.H2UpgradePolicy {
		case "", "DEFAULT", "DO_NOT_UPGRADE":
		case "UPGRADE":
			if h.UseClientProtocol {
				errs.Add("http.useClientProtocol", "cannot be combined with h2UpgradePolicy UPGRADE")
			}
		default:
			errs.Add("http.h2UpgradePolicy", "unknown policy %s; use DEFAULT, DO_NOT_UPGRADE or UPGRADE", fielderr.Quote(h.H2UpgradePolicy))
		}
	}
	return errs.Err()
}
