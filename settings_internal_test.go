package switchyard

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/switchyard-go/switchyard/pool"
)

func TestTransportSettingsFollowIstio(t *testing.T) {
	d := settingsOf(nil)
	assert.Equal(t, 10*time.Second, d.connectTimeout, "MeshConfig connectTimeout default")
	assert.Equal(t, time.Hour, d.idleTimeout, "idle timeout default 1h")
	tr := d.newTransport("10.0.0.1:80", new(atomic.Int64))
	assert.Equal(t, time.Hour, tr.IdleConnTimeout)
	assert.False(t, tr.DisableKeepAlives)

	zero := time.Duration(0)
	idle := 5 * time.Minute
	s := settingsOf(&pool.Settings{
		TCP:  &pool.TCPSettings{ConnectTimeout: time.Second, IdleTimeout: &zero, TCPKeepalive: &pool.TCPKeepalive{Probes: 3, Time: time.Minute, Interval: 10 * time.Second}},
		HTTP: &pool.HTTPSettings{IdleTimeout: &idle, H2UpgradePolicy: "DO_NOT_UPGRADE"},
	})
	assert.Equal(t, time.Second, s.connectTimeout)
	assert.Equal(t, net.KeepAliveConfig{Enable: true, Idle: time.Minute, Interval: 10 * time.Second, Count: 3}, s.keepAlive)
	assert.Equal(t, idle, s.idleTimeout, "http.idleTimeout overrides tcp.idleTimeout")
	tr = s.newTransport("", new(atomic.Int64))
	assert.True(t, tr.Protocols.HTTP1())
	assert.False(t, tr.Protocols.HTTP2())

	s = settingsOf(&pool.Settings{TCP: &pool.TCPSettings{IdleTimeout: &zero}})
	assert.Zero(t, s.idleTimeout, "0s disables the idle timeout")

	s = settingsOf(&pool.Settings{HTTP: &pool.HTTPSettings{H2UpgradePolicy: "UPGRADE", UseClientProtocol: false}})
	assert.Equal(t, "UPGRADE", s.h2)
}
