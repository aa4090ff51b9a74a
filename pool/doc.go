// Package pool holds Istio's ConnectionPoolSettings ([Settings]) and the
// admission control that enforces them for one destination cluster, with
// Envoy's behaviour — inside the mesh, or on its own around any transport.
//
// tcp.maxConnections bounds the requests active at once (one per connection,
// as HTTP/1.1); http.http1MaxPendingRequests bounds those waiting for one;
// http.http2MaxRequests bounds all outstanding requests; http.maxRetries
// (or the retry budget) bounds concurrent retries. A request past a limit
// fails at once with [ErrOverflow], which the mesh answers with 503 and
// x-envoy-overloaded: true, never retries and never counts for ejection.
// Zero or unset limits are unlimited. The TCP-level settings (connect
// timeout, keep-alive, idle timeout, connection lifetime) apply to the
// mesh's own transports.
//
//	l := pool.NewLimiter(pool.LimitsFrom(&pool.Settings{HTTP: &pool.HTTPSettings{HTTP2MaxRequests: 100}}))
//	client := &http.Client{Transport: l.RoundTripper(http.DefaultTransport)}
package pool
