package ejection_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/switchyard-go/switchyard/internal/ejection"
)

// TestNewDetectorTakesDefaults builds a detector with no configuration,
// options or clock: a nil cfg panicked.
func TestNewDetectorTakesDefaults(t *testing.T) {
	eps := endpoints(2)
	d := ejection.NewDetector(nil, eps, ejection.DetectorOptions{})
	d.Start()
	defer d.Stop()
	assert.Equal(t, eps, d.Available())
	for range ejection.DefaultConsecutive5xx {
		d.Record(eps[0], ejection.Outcome{Status: http.StatusServiceUnavailable})
	}
	assert.True(t, d.Ejected(eps[0]), "Istio's default of consecutive 5xx errors ejects")
	assert.Equal(t, eps[1:], d.Available())
}
