package engine

import (
	"context"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/pool"
)

// Admit passes an attempt to c through the cluster's connection-pool
// limits, waiting for a connection while the pending queue has room. It
// returns the limiter to Release when the attempt ends (nil for a cluster
// without limits), or a *pool.OverflowError, never retried, when a limit is
// full, or ctx's cause if it ends first.
func Admit(ctx context.Context, c *cluster.Cluster) (*pool.Limiter, error) {
	lim := c.Limiter()
	if lim == nil {
		return nil, nil
	}
	if err := lim.Acquire(ctx); err != nil {
		return nil, err
	}
	return lim, nil
}
