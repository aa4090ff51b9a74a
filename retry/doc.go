// Package retry holds Istio's retry configuration (HTTPRetry) and the
// DestinationRule's retry budget.
package retry
