package pool_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/pool"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{(&pool.Settings{HTTP: &pool.HTTPSettings{MaxRequestsPerConnection: 5}}).Validate(), "http.maxRequestsPerConnection: not supported: Go's http.Transport cannot close a connection after 5 requests; use 1 (no keep-alive) or tcp.maxConnectionDuration"},
		{(&pool.Settings{HTTP: &pool.HTTPSettings{H2UpgradePolicy: "SOMETIMES"}}).Validate(), `http.h2UpgradePolicy: unknown policy "SOMETIMES"; use DEFAULT, DO_NOT_UPGRADE or UPGRADE`},
		{(&pool.Settings{TCP: &pool.TCPSettings{MaxConnections: -1}}).Validate(), "tcp.maxConnections: must not be negative"},
	} {
		require.Error(t, tc.err)
		assert.Equal(t, tc.want, tc.err.Error())
	}
}
