package retrypolicy

import "time"

// Config mirrors retry.Config field for field, so that the public type
// converts to it: (*retrypolicy.Config)(cfg). Config is Istio's HTTPRetry.
type Config struct {
	// Attempts is the number of retries: up to 1+Attempts requests are
	// sent. 0 disables retries.
	Attempts int32 `json:"attempts"`
	// PerTryTimeout bounds every attempt, the first included; at least 1ms.
	PerTryTimeout time.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn lists, comma-separated, the conditions under which to retry:
	// Envoy's retry_on values, gRPC status names and HTTP status codes.
	RetryOn string `json:"retryOn,omitempty"`
	// RetryRemoteLocalities lets retries go to other localities.
	RetryRemoteLocalities *bool `json:"retryRemoteLocalities,omitempty"`
	// RetryIgnorePreviousHosts makes a retry avoid endpoints already tried.
	// Nil means true.
	RetryIgnorePreviousHosts *bool `json:"retryIgnorePreviousHosts,omitempty"`
	// Backoff is the base interval between retries; 25ms when zero.
	Backoff time.Duration `json:"backoff,omitempty"`
}
