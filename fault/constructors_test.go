package fault_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/meshtest"
)

// TestNilOptionsMeanDefaults injects a delay with nil clock and rand
// options, which left the injector without either.
func TestNilOptionsMeanDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		n.Add("svc:80", "svc", nil)
		inj, err := fault.New(&fault.Config{Delay: &fault.Delay{FixedDelay: time.Second, Percentage: pct(100)}}, fault.WithClock(nil), fault.WithRand(nil), nil)
		require.NoError(t, err)
		req, _ := http.NewRequest("GET", "http://svc/", nil)
		start := time.Now()
		resp, err := inj.RoundTripper(n.Transport()).RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, time.Second, time.Since(start), "delayed on the real clock (synctest's)")
	})
}
