package switchyard

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/telemetry"
)

// historyLen bounds the updates and ejection events the admin handler
// remembers.
const historyLen = 64

// history remembers the most recent configuration updates and ejection
// events.
type history struct {
	mu        sync.Mutex
	updates   []UpdateRecord
	ejections []EjectionRecord
}

// UpdateRecord is one configuration update, as the admin handler lists it.
type UpdateRecord struct {
	// Time is when the update was applied or rejected.
	Time time.Time `json:"time"`
	// Applied is false for a rejected update.
	Applied bool `json:"applied"`
	// Error is why the update was rejected.
	Error string `json:"error,omitempty"`
	// Resources counts the configuration's resources by kind:
	// "ServiceEntry", "DestinationRule", "VirtualService".
	Resources map[string]int `json:"resources"`
}

// EjectionRecord is one ejection or return by outlier detection.
type EjectionRecord struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Cluster is the endpoint's cluster, "outbound|9080|v1|reviews".
	Cluster string `json:"cluster"`
	// Host is the cluster's service host.
	Host string `json:"host"`
	// Subset is the cluster's subset, "" for all endpoints.
	Subset string `json:"subset,omitempty"`
	// Endpoint is the endpoint's address.
	Endpoint string `json:"endpoint"`
	// Ejected is true for an ejection, false for a return.
	Ejected bool `json:"ejected"`
	// Reason names the counter that triggered an ejection.
	Reason string `json:"reason,omitempty"`
	// Duration is how long an ejected endpoint stays out, at least.
	Duration string `json:"duration,omitempty"`
}

func keep[T any](list []T, v T) []T {
	if len(list) >= historyLen {
		list = append(list[:0:0], list[len(list)-historyLen+1:]...)
	}
	return append(list, v)
}

// recordUpdate remembers a configuration update, whose resources
// counts by kind (as counts does), and counts it.
func (m *Mesh) recordUpdate(resources map[string]int, err error) {
	r := UpdateRecord{Time: m.opts.clock.Now(), Applied: err == nil, Resources: resources}
	if err != nil {
		r.Error = err.Error()
	}
	m.history.mu.Lock()
	m.history.updates = keep(m.history.updates, r)
	m.history.mu.Unlock()
	if ms := m.tel.Metrics(); ms != nil {
		result := "applied"
		if err != nil {
			result = "rejected"
		}
		ms.Updates.Add(context.Background(), 1, metric.WithAttributes(telemetry.KeyUpdateResult.String(result)))
	}
}

// recordEjection remembers an ejection or return and counts ejections.
func (m *Mesh) recordEjection(c *cluster.Cluster, e ejection.Event) {
	r := EjectionRecord{Time: m.opts.clock.Now(), Cluster: c.Name, Host: c.Host, Subset: c.Subset,
		Endpoint: e.Endpoint.Address, Ejected: e.Ejected, Reason: e.Reason}
	if e.Ejected {
		r.Duration = e.Duration.String()
	}
	m.history.mu.Lock()
	m.history.ejections = keep(m.history.ejections, r)
	m.history.mu.Unlock()
	if ms := m.tel.Metrics(); e.Ejected && ms != nil {
		ms.Ejections.Add(context.Background(), 1, metric.WithAttributes(telemetry.KeyHost.String(c.Host),
			telemetry.KeySubset.String(c.Subset), telemetry.KeyEjectReason.String(e.Reason)))
	}
}

// observeEjected feeds the ejected-endpoints gauge: the endpoints ejected
// now, summed by host and subset.
func (m *Mesh) observeEjected(observe func(host, subset string, n int64)) {
	s := m.snap.Load()
	if s == nil {
		return
	}
	type key struct{ host, subset string }
	counts := map[key]int64{}
	var order []key
	for _, svc := range s.registry.All() {
		for _, c := range svc.Clusters() {
			d := c.Detector()
			if d == nil {
				continue
			}
			k := key{c.Host, c.Subset}
			if _, ok := counts[k]; !ok {
				order = append(order, k)
				counts[k] = 0
			}
			for _, ep := range c.Endpoints() {
				if d.Ejected(ep) {
					counts[k]++
				}
			}
		}
	}
	for _, k := range order {
		observe(k.host, k.subset, counts[k])
	}
}
