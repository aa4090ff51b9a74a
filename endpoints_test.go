package switchyard_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/subset"
)

// SetEndpoints replaces a host's endpoints keeping the live state of those
// that stay, refuses what it cannot apply by name, and holds until an
// Update changes the entry.
func TestSetEndpoints(t *testing.T) {
	cfg, err := switchyard.Parse([]byte(exampleMesh + `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: passthrough}
spec:
  hosts: [passthrough]
  ports: [{number: 80, name: http}]
  resolution: NONE
`))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithEndpointTransport(func(string) http.RoundTripper { return http.DefaultTransport }))
	require.NoError(t, err)
	defer m.Close()
	v1 := map[string]string{"version": "v1"}
	before := switchyard.EndpointStates(m)["outbound|9080|v1|reviews 10.0.0.1:9080"]
	require.NotNil(t, before)
	before.Begin()
	defer before.End()

	require.NoError(t, m.SetEndpoints("Reviews", []subset.WorkloadEntry{{Address: "10.0.0.1", Labels: v1}, {Address: "10.0.0.9", Labels: v1}}))
	states := switchyard.EndpointStates(m)
	require.Same(t, before, states["outbound|9080|v1|reviews 10.0.0.1:9080"], "the endpoint that stays keeps its state")
	require.NotNil(t, states["outbound|9080|v1|reviews 10.0.0.9:9080"])
	require.Nil(t, states["outbound|9080|v2|reviews 10.0.0.2:9080"], "v2 lost its endpoint")

	for host, ws := range map[string][]subset.WorkloadEntry{
		"ratings":     nil,
		"passthrough": nil,
		"reviews":     {{Address: "not an address!"}},
	} {
		err := m.SetEndpoints(host, ws)
		require.Error(t, err, host)
		require.Contains(t, err.Error(), `"`+host+`"`)
	}
	require.NotNil(t, switchyard.EndpointStates(m)["outbound|9080|v1|reviews 10.0.0.9:9080"], "a refused call changes nothing")

	// An Update that leaves the entry alone keeps the endpoints set; one
	// that changes its endpoints replaces them.
	next := cfg.Clone()
	next.VirtualServices = next.VirtualServices[:0]
	require.NoError(t, m.Update(next))
	require.NotNil(t, switchyard.EndpointStates(m)["outbound|9080|v1|reviews 10.0.0.9:9080"])
	next = next.Clone()
	next.ServiceEntries[0].Endpoints = next.ServiceEntries[0].Endpoints[:1]
	require.NoError(t, m.Update(next))
	states = switchyard.EndpointStates(m)
	require.Nil(t, states["outbound|9080|v1|reviews 10.0.0.9:9080"])
	require.Same(t, before, states["outbound|9080|v1|reviews 10.0.0.1:9080"])

	m.Close()
	require.ErrorIs(t, m.SetEndpoints("reviews", nil), switchyard.ErrClosed)
}
