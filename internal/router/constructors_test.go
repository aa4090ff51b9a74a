package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// TestCompileWithoutEnvOrRegistry compiles with a nil Env and a nil
// registry, both of which panicked, and a Mirrorer of negative size, whose
// channel could not be made.
func TestCompileWithoutEnvOrRegistry(t *testing.T) {
	tb, err := Compile(nil, nil, match.Source{}, nil)
	require.NoError(t, err)
	assert.Nil(t, tb.Lookup("reviews"))

	tb, err = Compile([]route.VirtualService{{Name: "x", Hosts: []string{"reviews"}, HTTP: []route.HTTPRoute{{
		Timeout: time.Second,
		Route:   []route.RouteDestination{{Destination: route.Destination{Host: "reviews"}}},
	}}}}, nil, match.Source{}, nil)
	require.NoError(t, err, "Istio accepts a route to a host nothing defines")
	require.Len(t, tb.Warnings(), 1)
	assert.EqualError(t, tb.Warnings()[0], `VirtualService "x": spec.http[0].route[0].destination: no ServiceEntry defines host "reviews": requests routed here get 503 (Envoy's cluster_not_found)`)

	m := NewMirrorer(-1)
	m.Close()
}
