package xds

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/switchyard-go/switchyard"
)

// metricValue returns the last value of an Int64 gauge or the sum of an
// Int64 counter, and whether the reader has it.
func metricValue(t *testing.T, r *sdkmetric.ManualReader, name string) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var v int64
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					v = p.Value
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					v += p.Value
				}
			}
			return v, true
		}
	}
	return 0, false
}

// adminJSON gets path from the mesh's admin handler and decodes it.
func adminJSON(t *testing.T, m *Mesh, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v), rec.Body.String())
}

// TestControlPlaneStatus: Status, the admin page's state, Explain and the
// metrics say whether the control plane answers, which resources it
// rejected, and that the last configuration stays in force while it is
// away.
func TestControlPlaneStatus(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	p.push(cn.resources(100, 0))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m := newTestMesh(t, p, WithMeshOptions(switchyard.WithMeterProvider(mp)))
	req, _ := http.NewRequest(http.MethodGet, "http://"+listenerName+"/", nil)

	s := m.Status()
	assert.True(t, s.Connected)
	assert.Equal(t, p.addr, s.Server)
	assert.Empty(t, s.Problems)
	assert.Equal(t, map[string]map[string]int{
		"Listener": {"ACKED": 1}, "RouteConfiguration": {"ACKED": 1},
		"Cluster": {"ACKED": 2}, "ClusterLoadAssignment": {"ACKED": 2},
	}, s.Counts)
	i := slices.IndexFunc(s.Resources, func(r ResourceStatus) bool { return r.Type == "RouteConfiguration" && r.Name == routeName })
	require.GreaterOrEqual(t, i, 0, "the route configuration is listed")
	assert.Equal(t, "ACKED", s.Resources[i].State)
	assert.NotEmpty(t, s.Resources[i].Version)
	assert.Contains(t, m.Explain(req).Source, "xDS from "+p.addr+": connected since ")
	assert.Contains(t, m.Explain(req).String(), "configuration: xDS from ")
	assert.Contains(t, m.ExplainGRPC(context.Background(), listenerName, "/s.S/M").Source, "connected since")
	if v, ok := metricValue(t, reader, nameConnected); !ok || v != 1 {
		t.Errorf("%s = %d, %v; want 1", nameConnected, v, ok)
	}

	var state struct {
		Routes       []switchyard.AdminVirtualService `json:"routes"`
		ControlPlane Status                           `json:"controlPlane"`
	}
	adminJSON(t, m, "/state", &state)
	assert.NotEmpty(t, state.Routes, "the mesh's own state is still there")
	assert.True(t, state.ControlPlane.Connected)
	assert.Empty(t, state.ControlPlane.Resources, "state lists only resources not ACKED")
	var whole Status
	adminJSON(t, m, "/xds", &whole)
	assert.Len(t, whole.Resources, 6)

	// A rejected route: named everywhere, its previous version in force.
	bad := cn
	bad.route = func(r *routev3.Route) {
		r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "son"}},
		}}}
	}
	p.push(bad.resources(0, 100))
	waitFor(t, func() bool { return m.Status().Counts["RouteConfiguration"]["NACKED"] == 1 && m.Err() != nil })
	s = m.Status()
	require.NotEmpty(t, s.Problems)
	assert.Contains(t, s.Problems[0], "x-user")
	assert.Contains(t, m.Explain(req).Source, "1 resources rejected")
	adminJSON(t, m, "/state", &state)
	require.Len(t, state.ControlPlane.Resources, 1)
	assert.Equal(t, "NACKED", state.ControlPlane.Resources[0].State)
	assert.Contains(t, state.ControlPlane.Resources[0].Error, "x-user")
	if v, _ := metricValue(t, reader, nameRejections); v < 1 {
		t.Errorf("%s = %d, want the rejection counted", nameRejections, v)
	}

	// The control plane goes away: routing stays, and everything says so.
	p.push(cn.resources(100, 0))
	waitFor(t, func() bool { return m.Err() == nil })
	p.stop()
	waitFor(t, func() bool { return !m.Status().Connected })
	s = m.Status()
	assert.NotEmpty(t, s.Error)
	assert.False(t, s.Since.IsZero())
	src := m.Explain(req).Source
	assert.Contains(t, src, "unreachable since")
	assert.Contains(t, src, "the last configuration received stays in force")
	assert.Equal(t, "v1=100", shares(m))
	if v, ok := metricValue(t, reader, nameConnected); !ok || v != 0 {
		t.Errorf("%s = %d, %v; want 0 while unreachable", nameConnected, v, ok)
	}

	p.restart()
	waitFor(t, func() bool { return m.Status().Connected })
	assert.True(t, strings.Contains(m.Explain(req).Source, "connected since"))
}

// TestAdminHandlerServesTheMeshPage: the page and the mesh's other paths
// are the switchyard.Mesh's.
func TestAdminHandlerServesTheMeshPage(t *testing.T) {
	p := startPlane(t)
	cn := canary{v1: backend(t, "v1"), v2: backend(t, "v2")}
	p.push(cn.resources(100, 0))
	m := newTestMesh(t, p)
	for _, path := range []string{"/", "/config", "/clusters"} {
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		m.AdminHandler().ServeHTTP(got, httptest.NewRequest(http.MethodGet, path, nil))
		m.Mesh.AdminHandler().ServeHTTP(want, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, want.Code, got.Code, path)
		assert.Equal(t, want.Body.String(), got.Body.String(), path)
	}
	rec := httptest.NewRecorder()
	m.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/xds", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}
