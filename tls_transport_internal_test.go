package switchyard

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/subset"
)

// TestTransportFollowsTLSDuringInstall: install publishes a snapshot
// before it retires the endpoint transports whose settings changed; a
// request in between must get a transport with the cluster's current TLS,
// not the one it had (found by the xds package's TLS off/on pushes under
// load).
func TestTransportFollowsTLSDuringInstall(t *testing.T) {
	yes := true
	cfg := func(tls *subset.ClientTLS) Config {
		return Config{
			ServiceEntries: []subset.ServiceEntry{{Name: "svc", Hosts: []string{"svc.test"}, Resolution: "STATIC",
				Ports: []subset.Port{{Number: 80, Name: "http", Protocol: "HTTP"}}, Endpoints: []subset.WorkloadEntry{{Address: "127.0.0.1"}}}},
			DestinationRules: []subset.DestinationRule{{Name: "svc", Host: "svc.test", TrafficPolicy: &subset.TrafficPolicy{TLS: tls}}},
		}
	}
	m, err := New(cfg(&subset.ClientTLS{Mode: "SIMPLE", InsecureSkipVerify: &yes}))
	require.NoError(t, err)
	defer m.Close()
	c1 := m.snap.Load().registry.Lookup("svc.test").Cluster("", 80)
	require.NotNil(t, c1.TLS)
	ep1 := c1.Endpoints()[0]
	old := m.transportFor(c1, ep1)
	stale, ok := m.transports.Load(ep1.State)
	require.True(t, ok)

	require.NoError(t, m.Update(cfg(&subset.ClientTLS{Mode: "DISABLE"})))
	c2 := m.snap.Load().registry.Lookup("svc.test").Cluster("", 80)
	require.Nil(t, c2.TLS)
	ep2 := c2.Endpoints()[0]
	require.Same(t, ep1.State, ep2.State, "the endpoint keeps its state across the update")
	// As a request between the snapshot's publication and the
	// transports' retirement sees them:
	m.transports.Store(ep2.State, stale)

	got := m.transportFor(c2, ep2)
	assert.NotSame(t, old, got, "the transport of the old TLS settings was used")
	cur, _ := m.transports.Load(ep2.State)
	assert.Nil(t, cur.(*endpointTransport).settings.tls, "the stored transport originates the old TLS")
	assert.Same(t, got, m.transportFor(c2, ep2), "the replacement is kept")
}
