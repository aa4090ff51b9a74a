package ejection_test

import (
	"testing"

	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/outlier"
)

// BenchmarkRecord is the cost of reporting an attempt's outcome to outlier
// detection: a success resets the counters, a 5xx counts (below the
// threshold, so nothing is ejected).
func BenchmarkRecord(b *testing.B) {
	eps := endpoints(10)
	d := ejection.NewDetector(&outlier.Config{Consecutive5xxErrors: u32(1 << 30)}, eps, ejection.DetectorOptions{})
	for _, c := range []struct {
		name   string
		status int
	}{{"success", 200}, {"5xx", 503}} {
		o := ejection.Outcome{Status: c.status}
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
