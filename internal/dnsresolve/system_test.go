package dnsresolve_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/dnstest"
)

// oneServer is a resolv.conf naming lab server 0, failing fast.
const oneServer = "nameserver 127.0.0.1\nsearch a.test b.test\noptions timeout:1 attempts:1\n"

var ctx = context.Background()

func TestSystemResolvesAAndAAAAWithTheSmallestTTL(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("web.test.", dnstest.AAAA(20, "2001:db8::1"), dnstest.A(30, "10.0.0.2"), dnstest.A(30, "10.0.0.1"), dnstest.A(30, "10.0.0.2"))
	sys := l.system(oneServer)

	ans, err := sys.LookupHost(ctx, "web.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.2", "10.0.0.1", "2001:db8::1"), ans.Addrs, "IPv4 first, in server order, without duplicates")
	assert.Equal(t, 20*time.Second, ans.TTL)
	assert.Equal(t, 1, srv.Count("web.test.", dnsmessage.TypeA, "udp"))
	assert.Equal(t, 1, srv.Count("web.test.", dnsmessage.TypeAAAA, "udp"))
	assert.Zero(t, srv.Count("", 0, "tcp"))
	assert.NoError(t, sys.ConfigError())
}

func TestSystemFamilyLimitsTheQueries(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("web.test.", dnstest.A(30, "10.0.0.1"), dnstest.AAAA(20, "2001:db8::1"))
	for _, tc := range []struct {
		family dnsresolve.Family
		want   []netip.Addr
		asked  dnsmessage.Type
	}{
		{dnsresolve.FamilyIPv4, addrs("10.0.0.1"), dnsmessage.TypeA},
		{dnsresolve.FamilyIPv6, addrs("2001:db8::1"), dnsmessage.TypeAAAA},
	} {
		t.Run(tc.family.String(), func(t *testing.T) {
			srv.ResetQueries()
			sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = tc.family })
			ans, err := sys.LookupHost(ctx, "web.test.")
			require.NoError(t, err)
			assert.Equal(t, tc.want, ans.Addrs)
			assert.Equal(t, 1, srv.Count("", 0, ""))
			assert.Equal(t, 1, srv.Count("", tc.asked, ""))
		})
	}
	_, err := dnsresolve.NewSystem(dnsresolve.SystemConfig{Family: 7})
	assert.ErrorContains(t, err, "SystemConfig.Family 7 is not a Family")
}

func TestSystemFollowsCNAMEChainsWithTheirTTLs(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("www.test.", dnstest.CNAME(300, "edge.test."))
	srv.Set("edge.test.", dnstest.CNAME(5, "origin.test."))
	srv.Set("origin.test.", dnstest.A(60, "10.0.0.7"))
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })

	ans, err := sys.LookupHost(ctx, "www.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.7"), ans.Addrs)
	assert.Equal(t, 5*time.Second, ans.TTL, "the answer lives as long as the shortest link")

	// A chain to a name without addresses is no data; a loop is a bad
	// response.
	srv.Set("dangling.test.", dnstest.CNAME(30, "empty.test."))
	srv.Set("empty.test.")
	_, err = sys.LookupHost(ctx, "dangling.test.")
	assert.Equal(t, dnsresolve.ErrNoData, kindOf(t, err))
	srv.Set("loop1.test.", dnstest.CNAME(30, "loop2.test."))
	srv.Set("loop2.test.", dnstest.CNAME(30, "loop1.test."))
	_, err = sys.LookupHost(ctx, "loop1.test.")
	assert.Equal(t, dnsresolve.ErrBadResponse, kindOf(t, err))
	assert.ErrorContains(t, err, "CNAME chain longer than")
}

func TestSystemKeepsFailureKindsApart(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("empty.test.")
	for _, name := range []string{"servfail.test.", "refused.test.", "dropped.test.", "half.test."} {
		srv.Set(name, dnstest.A(30, "10.0.0.1"), dnstest.AAAA(30, "2001:db8::1"))
	}
	srv.SetBehavior("servfail.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure})
	srv.SetBehavior("refused.test.", dnstest.Behavior{RCode: dnsmessage.RCodeRefused})
	srv.SetBehavior("dropped.test.", dnstest.Behavior{Drop: true})
	srv.SetBehavior("half.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure, Only: dnsmessage.TypeAAAA})
	sys := l.system(oneServer)

	for _, tc := range []struct {
		host string
		want error
	}{
		{"missing.test.", dnsresolve.ErrNotFound},
		{"empty.test.", dnsresolve.ErrNoData},
		{"servfail.test.", dnsresolve.ErrServerFailure},
		{"refused.test.", dnsresolve.ErrBadResponse},
		{"dropped.test.", dnsresolve.ErrTimeout},
		// One family failing fails the lookup: half an answer would
		// drop endpoints that still exist.
		{"half.test.", dnsresolve.ErrServerFailure},
		{"bad..name", dnsresolve.ErrInvalidName},
		{"-lead.test", dnsresolve.ErrInvalidName},
		{"white space", dnsresolve.ErrInvalidName},
		{"1.2.3", dnsresolve.ErrInvalidName},
		{"", dnsresolve.ErrInvalidName},
	} {
		t.Run(tc.host, func(t *testing.T) {
			_, err := sys.LookupHost(ctx, tc.host)
			require.Error(t, err)
			assert.Equal(t, tc.want, kindOf(t, err))
			var e *dnsresolve.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.host, e.Host)
			if tc.want != dnsresolve.ErrInvalidName {
				assert.Equal(t, "127.0.0.1:53", e.Server)
				assert.Equal(t, tc.host, e.Name)
			}
			assert.Equal(t, dnsresolve.IsAnswer(err), tc.want == dnsresolve.ErrNotFound || tc.want == dnsresolve.ErrNoData)
		})
	}
	assert.Zero(t, srv.Count("bad..name", 0, ""), "an invalid name is never sent")

	// A nameserver that is not listening: unreachable.
	down := newLab(t, 0)
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	down.routes["127.0.0.1:53"] = ln.LocalAddr().String()
	require.NoError(t, ln.Close())
	_, err = down.system(oneServer).LookupHost(ctx, "web.test.")
	assert.Equal(t, dnsresolve.ErrUnreachable, kindOf(t, err))
	assert.ErrorContains(t, err, "dnsresolve: lookup web.test. (web.test. at 127.0.0.1:53): nameserver unreachable: ")
}

func TestSystemTriesEveryServerAndAttemptOnFailure(t *testing.T) {
	l := newLab(t, 2)
	for _, s := range l.servers {
		s.Set("web.test.", dnstest.A(30, "10.0.0.1"))
		s.SetBehavior("web.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure})
	}
	sys := l.system("nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions attempts:3 timeout:1\n",
		func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	_, err := sys.LookupHost(ctx, "web.test.")
	assert.Equal(t, dnsresolve.ErrServerFailure, kindOf(t, err))
	assert.Equal(t, 3, l.servers[0].Count("web.test.", dnsmessage.TypeA, ""))
	assert.Equal(t, 3, l.servers[1].Count("web.test.", dnsmessage.TypeA, ""))

	// NXDOMAIN is final: the other server is not asked.
	l.servers[0].ResetQueries()
	l.servers[1].ResetQueries()
	_, err = sys.LookupHost(ctx, "gone.test.")
	assert.Equal(t, dnsresolve.ErrNotFound, kindOf(t, err))
	assert.Equal(t, 1, l.servers[0].Count("", 0, ""))
	assert.Zero(t, l.servers[1].Count("", 0, ""))
}

func TestSystemMovesToTheNextServerAfterATimeout(t *testing.T) {
	l := newLab(t, 2)
	l.servers[0].SetBehavior("", dnstest.Behavior{Drop: true})
	l.servers[1].Set("web.test.", dnstest.A(30, "10.0.0.1"))
	sys := l.system("nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions timeout:1\n",
		func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	ans, err := sys.LookupHost(ctx, "web.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.1"), ans.Addrs)
	assert.Equal(t, 1, l.servers[0].Count("", 0, ""))
}

func TestSystemRotateSpreadsQueries(t *testing.T) {
	l := newLab(t, 2)
	for _, s := range l.servers {
		s.Set("web.test.", dnstest.A(30, "10.0.0.1"))
	}
	conf := "nameserver 127.0.0.1\nnameserver 127.0.0.2\n"
	four := func() {
		sys := l.system(conf, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
		for range 4 {
			_, err := sys.LookupHost(ctx, "web.test.")
			require.NoError(t, err)
		}
	}
	four()
	assert.Equal(t, []int{4, 0}, []int{l.servers[0].Count("", 0, ""), l.servers[1].Count("", 0, "")}, "without rotate the first server takes all")
	l.servers[0].ResetQueries()
	conf += "options rotate\n"
	four()
	assert.Equal(t, []int{2, 2}, []int{l.servers[0].Count("", 0, ""), l.servers[1].Count("", 0, "")})
}

func TestSystemRetriesTruncatedAnswersOverTCP(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("tc.test.", dnstest.A(30, "10.0.0.1"))
	srv.SetBehavior("tc.test.", dnstest.Behavior{Truncate: true})
	var big []dnstest.Record
	var want []netip.Addr
	for i := range 100 { // 100 A records do not fit in 1232 bytes
		a := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		big = append(big, dnstest.A(30, a.String()))
		want = append(want, a)
	}
	srv.Set("big.test.", big...)
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })

	ans, err := sys.LookupHost(ctx, "tc.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.1"), ans.Addrs)
	assert.Equal(t, 1, srv.Count("tc.test.", 0, "udp"))
	assert.Equal(t, 1, srv.Count("tc.test.", 0, "tcp"))

	ans, err = sys.LookupHost(ctx, "big.test.")
	require.NoError(t, err)
	assert.Equal(t, want, ans.Addrs)
	assert.Equal(t, 1, srv.Count("big.test.", 0, "tcp"))

	// use-vc: TCP only.
	srv.ResetQueries()
	sys = l.system(oneServer+"options use-vc\n", func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	_, err = sys.LookupHost(ctx, "tc.test.")
	require.NoError(t, err)
	assert.Zero(t, srv.Count("", 0, "udp"))
	assert.Equal(t, 1, srv.Count("", 0, "tcp"))
}

func TestSystemSearchListAndNdots(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	for _, tc := range []struct {
		conf, host string
		want       []string
	}{
		{"search a.test b.test", "web", []string{"web.a.test.", "web.b.test.", "web."}},
		{"search a.test b.test", "web.x", []string{"web.x.", "web.x.a.test.", "web.x.b.test."}},
		{"search a.test b.test\noptions ndots:2", "web.x", []string{"web.x.a.test.", "web.x.b.test.", "web.x."}},
		{"search a.test b.test\noptions ndots:0", "web", []string{"web.", "web.a.test.", "web.b.test."}},
		{"search a.test b.test", "web.x.", []string{"web.x."}},
		{"domain d.test", "web", []string{"web.d.test.", "web."}},
		{"search a.test\ndomain d.test", "web", []string{"web.d.test.", "web."}},
		{"domain d.test\nsearch a.test .", "web", []string{"web.a.test.", "web."}},
	} {
		t.Run(tc.conf+"/"+tc.host, func(t *testing.T) {
			srv.ResetQueries()
			sys := l.system("nameserver 127.0.0.1\n"+tc.conf+"\n", func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
			_, err := sys.LookupHost(ctx, tc.host)
			assert.Equal(t, dnsresolve.ErrNotFound, kindOf(t, err))
			var got []string
			for _, q := range srv.Queries() {
				got = append(got, q.Name)
			}
			assert.Equal(t, tc.want, got)
		})
	}

	// The first name with data wins; the rest are not asked.
	srv.ResetQueries()
	srv.Set("web.b.test.", dnstest.A(30, "10.0.0.2"))
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	ans, err := sys.LookupHost(ctx, "web")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.2"), ans.Addrs)
	assert.Equal(t, 2, srv.Count("", 0, ""))

	// No data on one name and NXDOMAIN on the others: no data.
	srv.Set("web.b.test.")
	_, err = sys.LookupHost(ctx, "web")
	assert.Equal(t, dnsresolve.ErrNoData, kindOf(t, err))
}

func TestSystemSearchStopsAtAFailure(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("web.a.test.", dnstest.A(30, "10.0.0.1"))
	srv.SetBehavior("web.a.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure})
	srv.Set("web.b.test.", dnstest.A(30, "10.6.6.6")) // another host: never substituted
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	_, err := sys.LookupHost(ctx, "web")
	assert.Equal(t, dnsresolve.ErrServerFailure, kindOf(t, err))
	var e *dnsresolve.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "web", e.Host)
	assert.Equal(t, "web.a.test.", e.Name)
	assert.Zero(t, srv.Count("web.b.test.", 0, ""))
}

func TestSystemAnswersFromTheHostsFileFirst(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("web.test.", dnstest.A(30, "10.9.9.9"))
	srv.Set("v6only.test.", dnstest.A(30, "10.9.9.8"))
	l.hosts = l.write("hosts", "# comment\n"+
		"10.0.0.1 web.test Alias # trailing comment\n"+
		"2001:db8::1 web.test\n"+
		"10.0.0.2 web.test\n"+
		"10.0.0.1 web.test\n"+
		"::1 v6only.test\n"+
		"not-an-ip broken.test\n")
	sys := l.system(oneServer)

	ans, err := sys.LookupHost(ctx, "WEB.test")
	require.NoError(t, err)
	assert.Equal(t, dnsresolve.Answer{Addrs: addrs("10.0.0.1", "10.0.0.2", "2001:db8::1")}, ans, "TTL 0: the refresh rate applies")
	ans, err = sys.LookupHost(ctx, "alias.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.1"), ans.Addrs)
	assert.Zero(t, srv.Count("", 0, ""), "no query for names in the hosts file")

	// A hosts entry without an address of the wanted family defers to DNS.
	sys4 := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	ans, err = sys4.LookupHost(ctx, "v6only.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.9.9.8"), ans.Addrs)
	assert.Equal(t, 30*time.Second, ans.TTL)
}

func TestSystemLiteralAddressesNeedNoQuery(t *testing.T) {
	l := newLab(t, 1)
	sys := l.system(oneServer)
	ans, err := sys.LookupHost(ctx, "10.1.2.3")
	require.NoError(t, err)
	assert.Equal(t, dnsresolve.Answer{Addrs: addrs("10.1.2.3")}, ans)
	ans, err = sys.LookupHost(ctx, "2001:db8::5")
	require.NoError(t, err)
	assert.Equal(t, addrs("2001:db8::5"), ans.Addrs)

	sys4 := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	_, err = sys4.LookupHost(ctx, "2001:db8::5")
	assert.Equal(t, dnsresolve.ErrNoData, kindOf(t, err))
	assert.Zero(t, l.servers[0].Count("", 0, ""))
}

// fallbackTo returns a net.Resolver that sends every query, whatever
// nameserver the machine's resolv.conf names, to srv on loopback.
func fallbackTo(srv *dnstest.Server) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr().String())
	}}
}

func TestSystemFallsBackWithoutAUsableResolvConf(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("fallback.test.", dnstest.A(30, "10.0.0.1"), dnstest.AAAA(30, "2001:db8::1"))
	for _, tc := range []struct {
		name, path, content string
	}{
		{"missing", "/nonexistent/resolv.conf", ""},
		{"no nameserver", "", "search a.test\noptions ndots:2\n"},
		{"only invalid nameservers", "", "nameserver dns.example\nnameserver 300.1.1.1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := l.system(tc.content, func(c *dnsresolve.SystemConfig) {
				if tc.path != "" {
					c.ResolvConf = tc.path
				}
				c.Fallback = fallbackTo(srv)
			})
			assert.Error(t, sys.ConfigError())
			ans, err := sys.LookupHost(ctx, "fallback.test.")
			require.NoError(t, err)
			assert.Equal(t, dnsresolve.Answer{Addrs: addrs("10.0.0.1", "2001:db8::1")}, ans, "the fallback knows no TTL")

			_, err = sys.LookupHost(ctx, "missing.test.")
			assert.Equal(t, dnsresolve.ErrNotFound, kindOf(t, err))
			var e *dnsresolve.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "fallback", e.Server)
		})
	}
}

func TestSystemReloadsAChangedResolvConf(t *testing.T) {
	l := newLab(t, 2)
	l.servers[0].Set("web.test.", dnstest.A(30, "10.0.0.1"))
	l.servers[1].Set("web.test.", dnstest.A(30, "10.0.0.2"))
	fake := clock.NewFake(time.Unix(1000, 0))
	sys := l.system("nameserver 127.0.0.1\n", func(c *dnsresolve.SystemConfig) {
		c.Clock = fake
		c.Family = dnsresolve.FamilyIPv4
	})
	lookup := func() netip.Addr {
		t.Helper()
		ans, err := sys.LookupHost(ctx, "web.test.")
		require.NoError(t, err)
		return ans.Addrs[0]
	}
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), lookup())

	l.write("resolv.conf", "nameserver 127.0.0.2 # the other one\n")
	fake.Advance(4 * time.Second)
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), lookup(), "checked at most every 5 s")
	fake.Advance(time.Second)
	assert.Equal(t, netip.MustParseAddr("10.0.0.2"), lookup())

	// The hosts file too.
	l.write("hosts", "10.7.7.7 web.test\n")
	fake.Advance(5 * time.Second)
	assert.Equal(t, netip.MustParseAddr("10.7.7.7"), lookup())

	// A file that disappears sends lookups to the fallback.
	require.NoError(t, os.Remove(l.dir+"/resolv.conf"))
	fake.Advance(5 * time.Second)
	assert.ErrorContains(t, sys.ConfigError(), "no such file")

	// options no-reload: never re-read.
	sys = l.system("nameserver 127.0.0.1\noptions no-reload\n", func(c *dnsresolve.SystemConfig) {
		c.Clock = fake
		c.Family = dnsresolve.FamilyIPv4
	})
	l.write("hosts", "")
	l.write("resolv.conf", "nameserver 127.0.0.2\n")
	fake.Advance(time.Minute)
	ans, err := sys.LookupHost(ctx, "web.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.1"), ans.Addrs)
}

func TestSystemIgnoresForgedRepliesAndRejectsMalformedOnes(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })

	// A reply with another ID is not ours: it is ignored, and the query
	// times out.
	srv.SetResponder(func(q []byte, _ string) []byte {
		out := append([]byte(nil), q...)
		out[0] ^= 0xff
		out[2] |= 0x80
		return out
	})
	_, err := sys.LookupHost(ctx, "web.test.")
	assert.Equal(t, dnsresolve.ErrTimeout, kindOf(t, err))

	// Our ID and question, but an answer count with no answer behind it.
	srv.SetResponder(func(q []byte, _ string) []byte {
		out := append([]byte(nil), q[:len(q)-11]...) // drop the OPT record
		out[2] |= 0x80
		out[7] = 1  // ANCOUNT 1
		out[11] = 0 // ARCOUNT 0
		return out
	})
	_, err = sys.LookupHost(ctx, "web.test.")
	assert.Equal(t, dnsresolve.ErrBadResponse, kindOf(t, err))
	assert.ErrorContains(t, err, "unparsable response")
}

func TestSystemCancellationInterruptsALookup(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.SetBehavior("", dnstest.Behavior{Delay: time.Hour})
	sys := l.system("nameserver 127.0.0.1\noptions timeout:30 attempts:5\n")
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for srv.Count("", 0, "") < 2 { // both queries are out
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := sys.LookupHost(cctx, "web.test.")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 25*time.Second, "returned at cancellation, not after the 30 s timeout")
	var e *dnsresolve.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "web.test.", e.Host)
}

func TestSystemConcurrentLookupsWhileAnswersChange(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	sets := [][]dnstest.Record{
		{dnstest.A(30, "10.0.0.1"), dnstest.A(30, "10.0.0.2")},
		{dnstest.A(10, "10.0.0.3")},
	}
	valid := map[string]bool{
		fmt.Sprint(addrs("10.0.0.1", "10.0.0.2")): true,
		fmt.Sprint(addrs("10.0.0.3")):             true,
	}
	srv.Set("web.test.", sets[0]...)
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.Set("web.test.", sets[i%2]...)
			time.Sleep(100 * time.Microsecond)
		}
	})
	var readers sync.WaitGroup
	errs := make(chan error, 8*25)
	for range 8 {
		readers.Go(func() {
			for range 25 {
				ans, err := sys.LookupHost(ctx, "web.test.")
				if err != nil {
					errs <- err
					continue
				}
				if !valid[fmt.Sprint(ans.Addrs)] {
					errs <- fmt.Errorf("answer %v is not one of the zone's sets", ans.Addrs)
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrorFormatting(t *testing.T) {
	err := &dnsresolve.Error{Host: "web", Name: "web.a.test.", Server: "10.0.0.53:53", Kind: dnsresolve.ErrTimeout, Cause: errors.New("i/o timeout")}
	assert.Equal(t, "dnsresolve: lookup web (web.a.test. at 10.0.0.53:53): timeout: i/o timeout", err.Error())
	assert.ErrorIs(t, err, dnsresolve.ErrTimeout)
	err = &dnsresolve.Error{Host: "bad..name", Kind: dnsresolve.ErrInvalidName}
	assert.Equal(t, "dnsresolve: lookup bad..name: invalid host name", err.Error())
	err = &dnsresolve.Error{Host: "x", Server: "fallback", Kind: dnsresolve.ErrNotFound}
	assert.Equal(t, "dnsresolve: lookup x (at fallback): no such host", err.Error())
}

// answerA answers a raw query with one A record, or nil if it cannot parse
// it.
func answerA(query []byte, addr string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30},
		dnsmessage.AResource{A: netip.MustParseAddr(addr).As4()})
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}

func TestSystemTreatsAnOversizedDatagramAsTruncated(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.SetResponder(func(q []byte, network string) []byte {
		if network == "udp" {
			return make([]byte, 8000) // larger than anything we read: cut
		}
		return answerA(q, "10.0.0.1")
	})
	sys := l.system(oneServer, func(c *dnsresolve.SystemConfig) { c.Family = dnsresolve.FamilyIPv4 })
	ans, err := sys.LookupHost(ctx, "web.test.")
	require.NoError(t, err)
	assert.Equal(t, addrs("10.0.0.1"), ans.Addrs)
	assert.Equal(t, 1, srv.Count("", 0, "tcp"))
}

func TestSystemSingleRequestAsksAThenAAAA(t *testing.T) {
	l := newLab(t, 1)
	srv := l.servers[0]
	srv.Set("web.test.", dnstest.A(30, "10.0.0.1"), dnstest.AAAA(30, "2001:db8::1"))
	sys := l.system(oneServer + "options single-request\n")
	for range 5 {
		_, err := sys.LookupHost(ctx, "web.test.")
		require.NoError(t, err)
	}
	var types []dnsmessage.Type
	for _, q := range srv.Queries() {
		types = append(types, q.Type)
	}
	a, aaaa := dnsmessage.TypeA, dnsmessage.TypeAAAA
	assert.Equal(t, []dnsmessage.Type{a, aaaa, a, aaaa, a, aaaa, a, aaaa, a, aaaa}, types)
}

func TestErrorWithoutKindOrCause(t *testing.T) {
	err := &dnsresolve.Error{Host: "x"}
	assert.Equal(t, "dnsresolve: lookup x: failed", err.Error())
	assert.Empty(t, err.Unwrap())
}
