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

// resolvePolicy applies Istio's precedence (most specific first): subset
// port-level settings, subset policy components, rule port-level settings,
// rule policy.
func resolvePolicy(dr *subset.DestinationRule, ss subset.Subset, port uint32) Policy {
	var p Policy
	if dr == nil {
		return p
	}
	if tp := dr.TrafficPolicy; tp != nil {
		p = Policy{LoadBalancer: tp.LoadBalancer, ConnectionPool: tp.ConnectionPool, OutlierDetection: tp.OutlierDetection, TLS: tp.TLS, RetryBudget: tp.RetryBudget}
		if pl := portLevel(tp, port); pl != nil {
			p = Policy{LoadBalancer: pl.LoadBalancer, ConnectionPool: pl.ConnectionPool, OutlierDetection: pl.OutlierDetection, TLS: pl.TLS, RetryBudget: tp.RetryBudget}
		}
	}
	if tp := ss.TrafficPolicy; tp != nil {
		if tp.LoadBalancer != nil {
			p.LoadBalancer = tp.LoadBalancer
		}
		if tp.ConnectionPool != nil {
			p.ConnectionPool = tp.ConnectionPool
		}
		if tp.OutlierDetection != nil {
			p.OutlierDetection = tp.OutlierDetection
		}
		if tp.TLS != nil {
			p.TLS = tp.TLS
		}
		if tp.RetryBudget != nil {
			p.RetryBudget = tp.RetryBudget
		}
		if pl := portLevel(tp, port); pl != nil {
			p.LoadBalancer, p.ConnectionPool, p.OutlierDetection, p.TLS = pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection, pl.TLS
		}
	}
	return p
}

func portLevel(tp *subset.TrafficPolicy, port uint32) *subset.PortTrafficPolicy {
	for i := range tp.PortLevelSettings {
		if tp.PortLevelSettings[i].Port.Number == port {
			return &tp.PortLevelSettings[i]
		}
	}
	return nil
}
