// Package retry implements Istio's HTTPRetry with Envoy's behaviour: the
// retry_on conditions, per-try timeouts, fully jittered exponential back-off,
// body replay and the x-envoy-attempt-count header.
//
// A [Policy] is compiled once from a [Config] (nil means Istio's default
// policy: 2 retries on connect-failure, refused-stream, unavailable and
// cancelled). The mesh applies it to every route; on its own,
// [Policy.RoundTripper] wraps any http.RoundTripper and
// [Policy.UnaryClientInterceptor] and [Policy.StreamClientInterceptor] any
// grpc.ClientConn:
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
// and never sleeps past the request's deadline. A request body is sent as
// it is read, never read ahead (a stream goes out at once); what an attempt
// sends is kept, up to a limit (64 KiB by default), so that a retry can
// replay it and read on. Once more than the limit has been sent the request
// is not retried; a body with GetBody is replayed through GetBody. A
// discarded response is drained in the background, for at most 100 ms and
// never past its attempt's per-try timeout, so it never delays the retry.
// An error that originates in the request itself (a header net/http refuses
// to send, a failing body) is returned as it is, never retried.
//
// For gRPC, the same loop runs on the gRPC conditions with
// grpc-previous-rpc-attempts, and a stream is retried until its first
// response message, replaying what it sent.
package retry
