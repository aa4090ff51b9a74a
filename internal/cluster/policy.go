package cluster

import (
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/retry"
	"github.com/switchyard-go/switchyard/subset"
)

// Policy is the traffic policy in force for one cluster (host, subset,
// port) after Istio's precedence rules; a nil component means Istio's
// default.
type Policy struct {
	// LoadBalancer is the balancing configuration.
	LoadBalancer *balancer.Settings
	// ConnectionPool holds the cluster's limits.
	ConnectionPool *pool.Settings
	// OutlierDetection configures ejection.
	OutlierDetection *outlier.Config
	// TLS is the upstream TLS mode.
	TLS *subset.ClientTLS
	// RetryBudget limits retries.
	RetryBudget *retry.Budget
}
