package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"

	"github.com/switchyard-go/switchyard"
)

// liveHeap is the heap in use after garbage collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeap compares the live heap of an xDS-fed mesh of
// -xds.services services (sidecar persona) with the same mesh read from
// YAML (yamlMeshHeap): heap-xds-B and heap-yaml-B per service, and their
// ratio. The control plane runs in a process of its own, so that only the
// client's side is measured. The xDS mesh also keeps what it received (to
// recognise resources re-sent unchanged) and its translation (to translate
// pushes incrementally).
func BenchmarkHeap(b *testing.B) {
	bs := startPlaneProcess(b, *benchServices, "127.0.0.1:9")
	var xdsB, yamlB float64
	for b.Loop() {
		before := liveHeap()
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		m, err := NewMesh(ctx, bs)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		xdsB = float64(liveHeap() - before)
		y, n := yamlMeshHeap(b, m)
		yamlB = float64(n)
		y.Close()
		m.Close()
	}
	n := float64(*benchServices)
	b.ReportMetric(xdsB/n, "heap-xds-B/service")
	b.ReportMetric(yamlB/n, "heap-yaml-B/service")
	b.ReportMetric(xdsB/yamlB, "xds/yaml")
}

// yamlMeshHeap builds the mesh a process holds that reads m's
// configuration from YAML: the configuration rendered as Istio's documents
// (the admin handler's config dump, one document each), parsed, and built
// by switchyard.New. It returns that mesh and the heap it holds, the
// documents' bytes dropped after parsing (whatever the parse keeps of them
// counts).
func yamlMeshHeap(t testing.TB, m *Mesh) (*switchyard.Mesh, uint64) {
	t.Helper()
	before := liveHeap()
	rec := httptest.NewRecorder()
	m.Mesh.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	var dump map[string][]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &dump); err != nil {
		t.Fatalf("config dump: %v", err)
	}
	var docs [][]byte
	for _, kind := range slices.Sorted(maps.Keys(dump)) {
		for _, d := range dump[kind] {
			docs = append(docs, d)
		}
	}
	rec, dump = nil, nil
	cfg, err := switchyard.Parse(bytes.Join(docs, []byte("\n---\n")))
	if err != nil {
		t.Fatalf("the configuration as YAML: %v", err)
	}
	docs = nil
	y, err := switchyard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = switchyard.Config{}
	return y, liveHeap() - before
}
