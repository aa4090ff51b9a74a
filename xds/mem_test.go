package xds

import (
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
