package switchyard

// Outstanding returns the requests admitted and waiting, summed over the
// clusters of host: what a test reads to see that every call and stream
// gave back its connection-pool admission.
func Outstanding(m *Mesh, host string) (active, pending int) {
	svc := m.snap.Load().registry.Lookup(host)
	if svc == nil {
		return 0, 0
	}
	for _, c := range svc.Clusters() {
		if lim := c.Limiter(); lim != nil {
			a, p := lim.Outstanding()
			active, pending = active+a, pending+p
		}
	}
	return active, pending
}

// Overflows returns the requests the limits of host's clusters refused.
func Overflows(m *Mesh, host string) (n int64) {
	svc := m.snap.Load().registry.Lookup(host)
	if svc == nil {
		return 0
	}
	for _, c := range svc.Clusters() {
		if lim := c.Limiter(); lim != nil {
			n += lim.Stats().Overflows.Load()
		}
	}
	return n
}
