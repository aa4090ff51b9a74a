package outlier_test

import (
	"context"
	"testing"

	"github.com/switchyard-go/switchyard/outlier"
)

// BenchmarkRecord is the cost of reporting an attempt's outcome to outlier
// detection: a success resets the counters, a 5xx counts (below the
// threshold, so nothing is ejected).
func BenchmarkRecord(b *testing.B) {
	eps := endpoints(10)
	d := outlier.NewDetector(&outlier.Config{Consecutive5xxErrors: u32(1 << 30)}, eps, outlier.DetectorOptions{})
	for _, c := range []struct {
		name   string
		status int
	}{{"success", 200}, {"5xx", 503}} {
		o := outlier.Outcome{Status: c.status}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.Record(eps[i%len(eps)], o)
				i++
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d.Record(eps[i%len(eps)], o)
					i++
				}
			})
		})
	}
}

// BenchmarkAdmission is the cost of passing a cluster's connection-pool
// limits: acquire and release, below the limits.
func BenchmarkAdmission(b *testing.B) {
	l := outlier.NewLimiter(outlier.Limits{MaxConnections: 1 << 20, MaxPending: 1 << 20, MaxRequests: 1 << 20})
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
