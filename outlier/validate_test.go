package outlier_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/outlier"
)

func u32(v uint32) *uint32 { return &v }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{(&outlier.Config{ConsecutiveErrors: 5}).Validate(), "consecutiveErrors: deprecated and ignored by Istio; use consecutive5xxErrors or consecutiveGatewayErrors"},
		{(&outlier.Config{ConsecutiveLocalOriginFailures: u32(3)}).Validate(), "consecutiveLocalOriginFailures: needs splitExternalLocalOriginErrors: true"},
		{(&outlier.Config{MaxEjectionPercent: 101}).Validate(), "maxEjectionPercent: 101 is outside 0-100"},
	} {
		require.Error(t, tc.err)
		assert.Equal(t, tc.want, tc.err.Error())
	}
}
