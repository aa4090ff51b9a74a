package dnsresolve_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/dnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lab is a set of DNS servers on loopback and the files that point a
// System resolver at them. Server i stands for nameserver 127.0.0.(i+1):53
// in resolv.conf; the resolver's Dial routes that address to the server's
// real port and refuses every other address, so no test ever queries the
// machine's own nameservers.
type lab struct {
	t       *testing.T
	dir     string
	servers []*dnstest.Server
	routes  map[string]string // "127.0.0.1:53" -> "127.0.0.1:<port>"
	hosts   string
}

func newLab(t *testing.T, n int) *lab {
	t.Helper()
	l := &lab{t: t, dir: t.TempDir(), routes: map[string]string{}}
	for i := range n {
		s, err := dnstest.Start()
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Close()) })
		l.servers = append(l.servers, s)
		l.routes[fmt.Sprintf("127.0.0.%d:53", i+1)] = s.Addr().String()
	}
	l.hosts = l.write("hosts", "")
	return l
}

// write writes a file in the lab's directory and returns its path.
func (l *lab) write(name, content string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	require.NoError(l.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// dial is the lab's SystemConfig.Dial.
func (l *lab) dial(ctx context.Context, network, address string) (net.Conn, error) {
	to, ok := l.routes[address]
	if !ok {
		return nil, fmt.Errorf("lab: no route to %s", address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// system returns a resolver reading resolvConf (file content) and the lab's
// hosts file; edit adjusts the config.
func (l *lab) system(resolvConf string, edit ...func(*dnsresolve.SystemConfig)) *dnsresolve.System {
	l.t.Helper()
	cfg := dnsresolve.SystemConfig{
		ResolvConf: l.write("resolv.conf", resolvConf),
		Hosts:      l.hosts,
		Dial:       l.dial,
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := dnsresolve.NewSystem(cfg)
	require.NoError(l.t, err)
	return s
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// kinds are the sentinels every lookup error wraps exactly one of.
var kinds = []error{
	dnsresolve.ErrNotFound, dnsresolve.ErrNoData, dnsresolve.ErrServerFailure, dnsresolve.ErrTimeout,
	dnsresolve.ErrUnreachable, dnsresolve.ErrBadResponse, dnsresolve.ErrInvalidName,
}

// kindOf returns the one sentinel err wraps, failing the test if it wraps
// none or several.
func kindOf(t *testing.T, err error) error {
	t.Helper()
	var found []error
	for _, k := range kinds {
		if errors.Is(err, k) {
			found = append(found, k)
		}
	}
	require.Len(t, found, 1, "error %v should wrap exactly one kind", err)
	return found[0]
}
