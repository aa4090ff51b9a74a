package outlier_test

import (
	"testing"
	"time"

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
		{(&outlier.Config{Interval: 1500 * time.Microsecond}).Validate(), "interval: 1.5ms is finer than a millisecond; Istio takes durations to ms precision"},
		{(&outlier.Config{ConsecutiveLocalOriginFailures: u32(3)}).Validate(), "consecutiveLocalOriginFailures: needs splitExternalLocalOriginErrors: true"},
		{(&outlier.Config{MaxEjectionPercent: 101}).Validate(), "maxEjectionPercent: 101 is outside 0-100"},
	} {
		require.Error(t, tc.err)
		assert.Equal(t, tc.want, tc.err.Error())
	}
}
