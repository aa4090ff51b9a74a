package xds

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// The first endpoints of a cluster (a ClusterLoadAssignment the
// translation in force did not have, as in the initial sync) are applied
// by the full path, not the endpoint fast path: a configuration compiled
// without them and then given them would keep the warnings of its empty
// subsets (and hold the mesh twice).
func TestArrivingEndpointsTakeTheFullPath(t *testing.T) {
	p := startPlane(t)
	p.push(canary{v1: backend(t, "v1"), v2: backend(t, "v2")}.resources(90, 10))
	m := newTestMesh(t, p)
	require.Empty(t, m.Warnings())
	m.mu.Lock()
	v1 := m.rs.endpoints[clusterV1]
	// v1's endpoints go, with a change of something else: the full path
	// compiles v1 without endpoints, and warns of it.
	m.setLocked(edsKey, clusterV1, nil)
	m.setLocked(cdsKey, clusterV2, m.rs.clusters[clusterV2])
	m.applyLocked()
	m.mu.Unlock()
	require.Len(t, m.Warnings(), 1)
	require.Contains(t, m.Warnings()[0].Error(), `subset "v1" selects no endpoint`)

	// They come back alone.
	before := m.Mesh.Config()
	m.mu.Lock()
	m.setLocked(edsKey, clusterV1, v1)
	m.applyLocked()
	m.mu.Unlock()
	require.False(t, sameConfig(before, m.Mesh.Config()), "endpoints that arrived took the fast path")
	require.Empty(t, m.Warnings())
	require.Equal(t, "v1=90 v2=10", shares(m))
	requireRoutesAsTranslated(t, m)
}

// TestHeapBudget: an xDS-fed mesh (sidecar persona, the control plane in a
// process of its own) holds at most heapBudget times the heap of the same
// mesh read from YAML (yamlMeshHeap): issue 18's goal, 1.2. It measures
// 0.98 at this size (1.02 at 1,000 services): the translation shares equal
// maps, ports, subsets and policies that a mesh read from YAML holds once
// per document, which pays for what the xDS-fed mesh keeps besides (the
// ADS client's resource states, the decoded resources and the indexes
// that let a push re-translate only what it touches). 1.43 at the start
// of the fourth stop of 2026-11-30; 2.1 against the translation's own
// output before the third.
func TestHeapBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 300-service mesh three times")
	}
	const services, heapBudget = 300, 1.2
	bs := startPlaneProcess(t, services, "127.0.0.1:9")
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	// A first mesh, closed, initialises what a process does once (the
	// protobuf descriptors of Envoy's types).
	m, err := NewMesh(ctx, bs)
	require.NoError(t, err)
	m.Close()
	before := liveHeap()
	m, err = NewMesh(ctx, bs)
	require.NoError(t, err)
	defer m.Close()
	xdsB := float64(liveHeap() - before)
	y, n := yamlMeshHeap(t, m)
	defer y.Close()
	yamlB := float64(n)
	t.Logf("per service: xDS %.0f B, YAML %.0f B: %.2f×", xdsB/services, yamlB/services, xdsB/yamlB)
	require.LessOrEqual(t, xdsB/yamlB, heapBudget)
}

// watchKeys is the "type|name" of every watch of m, as its NamesWatches
// and wildcard watches stand, "*" for a wildcard one. Called with m.mu
// held.
func watchKeys(m *Mesh) map[string]bool {
	got := map[string]bool{}
	for k, nw := range m.names {
		for _, name := range nw.Names() {
			got[watch{kind(k), name}.String()] = true
		}
	}
	if len(m.wildcards) > 0 {
		got[ldsKey+"*"], got[cdsKey+"*"] = true, true
	}
	return got
}
