package pool_test

import (
	"context"
	"testing"

	"github.com/switchyard-go/switchyard/pool"
)

// BenchmarkAdmission is the cost of passing a cluster's connection-pool
// limits: acquire and release, below the limits.
func BenchmarkAdmission(b *testing.B) {
	l := pool.NewLimiter(pool.Limits{MaxConnections: 1 << 20, MaxPending: 1 << 20, MaxRequests: 1 << 20})
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := l.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Acquire(ctx); err != nil {
					b.Error(err)
					return
				}
				l.Release()
			}
		})
	})
}
