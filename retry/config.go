package retry

import "time"

// Config is Istio's HTTPRetry.
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

// Budget is Istio's TrafficPolicy.RetryBudget: the share of active requests
// that may be retries.
type Budget struct {
	// Percent of active requests that may be retries; 20 when nil.
	Percent *float64 `json:"percent,omitempty"`
	// MinRetryConcurrency is the number of concurrent retries always
	// allowed; 3 when zero.
	MinRetryConcurrency uint32 `json:"minRetryConcurrency,omitempty"`
	// BudgetInterval is the window over which the budget is computed.
	BudgetInterval time.Duration `json:"budgetInterval,omitempty"`
}
