// Package retry implements Istio's HTTPRetry with Envoy's behaviour: the
// retry_on conditions, per-try timeouts, fully jittered exponential back-off,
// body replay and the x-envoy-attempt-count header.
//
// A [Policy] is compiled once from a [Config] (nil means Istio's default
// policy: 2 retries on connect-failure, refused-stream, unavailable and
// cancelled). [Policy.Do] runs the attempt loop over any [Attempter]; the
// mesh's attempter picks an endpoint, admits the attempt against the
// cluster's limits and reports the outcome to outlier detection, and
// [Policy.RoundTripper] wraps any http.RoundTripper on its own:
//
//	p, err := retry.New(&retry.Config{Attempts: 3, RetryOn: "5xx,reset", PerTryTimeout: time.Second})
//	client := &http.Client{Transport: p.RoundTripper(http.DefaultTransport)}
//
// Conditions follow Envoy: 5xx and gateway-error also retry resets and
// per-try timeouts; retriable-4xx means 409; numeric codes match real
// upstream statuses only; gRPC names match a grpc-status response header; an
// x-envoy-ratelimited response retries only under envoy-ratelimited; an
// overflow of a connection-pool limit is never retried. Back-off before
// retry N is drawn uniformly from [0, min(2^(N-1)·base, 10·base)), base 25ms,
// and never sleeps past the request's deadline. Request bodies are replayed
// through GetBody, or buffered up to a limit (64 KiB by default); a larger
// body is sent once and not retried.
//
// For gRPC, [Policy.InvokeGRPC] runs the same loop on the gRPC conditions
// with grpc-previous-rpc-attempts, [Policy.OpenStream] retries a stream
// until its first response message, and [Policy.UnaryClientInterceptor] and
// [Policy.StreamClientInterceptor] wrap a plain grpc.ClientConn.
package retry
