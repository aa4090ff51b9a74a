package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// Status is where a Mesh stands with its control plane. While the control
// plane is unreachable the mesh keeps routing by the last configuration it
// received, and Status, the admin page, Explain and the mesh's metrics say
// so.
type Status struct {
	// Server is the control plane's URI, from the bootstrap.
	Server string `json:"server"`
	// Connected is true while a stream to the control plane is up and the
	// control plane has answered on it.
	Connected bool `json:"connected"`
	// Since is when Connected last changed; the zero time before the first
	// answer or failure.
	Since time.Time `json:"since,omitzero"`
	// Error, while not Connected, says why the last stream ended or could
	// not start.
	Error string `json:"error,omitempty"`
	// Problems are what [Mesh.Err] reports, one entry each: rejected
	// resources, a translation the mesh refused, the control plane
	// unreachable.
	Problems []string `json:"problems,omitempty"`
	// Counts are the resources subscribed to, by type ("Listener",
	// "RouteConfiguration", "Cluster", "ClusterLoadAssignment") and
	// state ("REQUESTED", "ACKED", "NACKED", "DOES_NOT_EXIST").
	Counts map[string]map[string]int `json:"counts"`
	// Resources lists each resource subscribed to, by type and name.
	Resources []ResourceStatus `json:"resources"`
}

// ResourceStatus is one resource a Mesh subscribes to.
type ResourceStatus struct {
	// Type is "Listener", "RouteConfiguration", "Cluster" or
	// "ClusterLoadAssignment".
	Type string `json:"type"`
	// Name is the resource's name.
	Name string `json:"name"`
	// State is "REQUESTED" (nothing received yet), "ACKED" (the version
	// in force is the last one sent), "NACKED" (the last version sent was
	// rejected; the previous one, if any, stays in force) or
	// "DOES_NOT_EXIST".
	State string `json:"state"`
	// Version is the version_info of the response that carried the
	// version in force.
	Version string `json:"version,omitempty"`
	// Error says why the last version sent was rejected.
	Error string `json:"error,omitempty"`
}

// typeNames are the resource types' short names, by type URL.
var typeNames = map[string]string{
	xdsclient.ListenerTypeURL: "Listener",
	xdsclient.RouteTypeURL:    "RouteConfiguration",
	xdsclient.ClusterTypeURL:  "Cluster",
	xdsclient.EndpointTypeURL: "ClusterLoadAssignment",
}

// Status returns where the mesh stands with its control plane now.
func (m *Mesh) Status() Status {
	cs := m.client.ConnectionState()
	s := Status{Server: cs.Server, Connected: cs.Connected, Since: cs.Since, Counts: map[string]map[string]int{}, Resources: []ResourceStatus{}}
	if !cs.Connected && cs.Err != nil {
		s.Error = cs.Err.Error()
	}
	if err := m.Err(); err != nil {
		s.Problems = strings.Split(err.Error(), "\n")
	}
	for _, r := range m.client.Dump() {
		rs := ResourceStatus{Type: typeNames[r.TypeURL], Name: r.Name, State: r.Status.String(), Version: r.Version}
		if r.Err != nil {
			rs.Error = r.Err.Error()
		}
		if s.Counts[rs.Type] == nil {
			s.Counts[rs.Type] = map[string]int{}
		}
		s.Counts[rs.Type][rs.State]++
		s.Resources = append(s.Resources, rs)
	}
	return s
}

// source is the Explanation's Source: the control plane and whether the
// configuration in force is current. It is cheap: Explain may be called
// per request.
func (m *Mesh) source() string {
	cs := m.client.ConnectionState()
	m.mu.Lock()
	rejected := len(m.rejected)
	m.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "xDS from %s: ", cs.Server)
	switch {
	case cs.Connected:
		fmt.Fprintf(&b, "connected since %s", cs.Since.UTC().Format(time.RFC3339))
	case cs.Since.IsZero():
		b.WriteString("not connected yet")
	default:
		fmt.Fprintf(&b, "unreachable since %s (%v); the last configuration received stays in force", cs.Since.UTC().Format(time.RFC3339), cs.Err)
	}
	if rejected > 0 {
		fmt.Fprintf(&b, "; %d resources rejected (Mesh.Err names them), the previous version of each in force", rejected)
	}
	return b.String()
}

// Explain is switchyard.Mesh's Explain, with the explanation's Source
// naming the control plane and whether the configuration in force is
// current.
func (m *Mesh) Explain(req *http.Request) switchyard.Explanation {
	e := m.Mesh.Explain(req)
	e.Source = m.source()
	return e
}

// ExplainGRPC is switchyard.Mesh's ExplainGRPC, with Source as in
// [Mesh.Explain].
func (m *Mesh) ExplainGRPC(ctx context.Context, target, method string) switchyard.Explanation {
	e := m.Mesh.ExplainGRPC(ctx, target, method)
	e.Source = m.source()
	return e
}

// AdminHandler is switchyard.Mesh's AdminHandler with the control plane
// added: the page shows where the mesh stands with it, "state" carries it
// as "controlPlane" (its resources limited to those not ACKED), and "xds"
// serves [Mesh.Status] whole.
func (m *Mesh) AdminHandler() http.Handler {
	inner := m.Mesh.AdminHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			inner.ServeHTTP(w, r)
			return
		}
		switch p := strings.TrimSuffix(r.URL.Path, "/"); {
		case strings.HasSuffix(r.URL.Path, "/") || p == "":
			inner.ServeHTTP(w, r)
		case path.Base(p) == "xds":
			writeJSON(w, m.Status())
		case path.Base(p) == "state":
			s := m.Status()
			notACKed := s.Resources[:0]
			for _, rs := range s.Resources {
				if rs.State != "ACKED" {
					notACKed = append(notACKed, rs)
				}
			}
			s.Resources = notACKed
			writeJSON(w, struct {
				switchyard.AdminState
				ControlPlane Status `json:"controlPlane"`
			}{m.AdminState(), s})
		default:
			inner.ServeHTTP(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// meterProvider is the meter provider among the mesh's options, or OTel's
// global one.
func meterProvider(opts []switchyard.Option) metric.MeterProvider {
	for _, opt := range opts {
		if mp, ok := meshopt.MeterProvider(opt); ok && mp != nil {
			return mp
		}
	}
	return otel.GetMeterProvider()
}

// The metrics of the control plane. Their attributes: server.address (the
// control plane's URI) and, for rejections, switchyard.xds.type.
const (
	nameConnected  = "switchyard.xds.connected"
	nameRejections = "switchyard.xds.rejections"
	keyXDSType     = attribute.Key("switchyard.xds.type")
	keyServer      = attribute.Key("server.address")
)

// instruments are the mesh's control-plane metrics.
type instruments struct {
	rejections metric.Int64Counter
	reg        metric.Registration
	server     attribute.KeyValue
}

// newInstruments creates the metrics: switchyard.xds.connected, 1 while
// the control plane answers and 0 while the mesh runs on the last
// configuration it received; switchyard.xds.rejections, the resources
// rejected (NACKed). A meter that refuses an instrument leaves it out.
func (m *Mesh) newInstruments(mp metric.MeterProvider, server string) *instruments {
	meter := mp.Meter("github.com/switchyard-go/switchyard/xds")
	in := &instruments{server: keyServer.String(server)}
	in.rejections, _ = meter.Int64Counter(nameRejections, metric.WithUnit("{resource}"),
		metric.WithDescription("Resources pushed by the control plane and rejected (NACKed); the previous version of each stays in force."))
	connected, err := meter.Int64ObservableGauge(nameConnected, metric.WithUnit("1"),
		metric.WithDescription("1 while the control plane answers, 0 while the mesh routes by the last configuration it received."))
	if err == nil {
		in.reg, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			v := int64(0)
			if m.client.ConnectionState().Connected {
				v = 1
			}
			o.ObserveInt64(connected, v, metric.WithAttributes(in.server))
			return nil
		}, connected)
	}
	return in
}

// rejected counts a resource of type key rejected.
func (in *instruments) rejected(key string) {
	if in == nil || in.rejections == nil {
		return
	}
	in.rejections.Add(context.Background(), 1, metric.WithAttributes(in.server, keyXDSType.String(typeNames[typeURLOf(key)])))
}

// close unregisters the gauge's callback.
func (in *instruments) close() {
	if in != nil && in.reg != nil {
		_ = in.reg.Unregister()
	}
}
