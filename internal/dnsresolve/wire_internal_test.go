package dnsresolve

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

// rr is a record to put in a test response.
type rr struct {
	owner  string
	typ    dnsmessage.Type
	class  dnsmessage.Class
	ttl    uint32
	addr   string
	target string
}

// response builds a response to (id, q) with the given header bits and
// answers, and an OPT record carrying extRCode when ext is set.
func response(t testing.TB, h dnsmessage.Header, q dnsmessage.Question, answers []rr, ext *dnsmessage.RCode) []byte {
	t.Helper()
	h.Response = true
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	require.NoError(t, b.StartQuestions())
	require.NoError(t, b.Question(q))
	require.NoError(t, b.StartAnswers())
	for _, a := range answers {
		class := a.class
		if class == 0 {
			class = dnsmessage.ClassINET
		}
		hdr := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(a.owner), Class: class, TTL: a.ttl}
		switch a.typ {
		case dnsmessage.TypeA:
			require.NoError(t, b.AResource(hdr, dnsmessage.AResource{A: netip.MustParseAddr(a.addr).As4()}))
		case dnsmessage.TypeAAAA:
			require.NoError(t, b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(a.addr).As16()}))
		case dnsmessage.TypeCNAME:
			require.NoError(t, b.CNAMEResource(hdr, dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(a.target)}))
		case dnsmessage.TypeTXT:
			require.NoError(t, b.TXTResource(hdr, dnsmessage.TXTResource{TXT: []string{"x"}}))
		}
	}
	if ext != nil {
		require.NoError(t, b.StartAdditionals())
		var oh dnsmessage.ResourceHeader
		require.NoError(t, oh.SetEDNS0(ednsPayload, *ext, false))
		require.NoError(t, b.OPTResource(oh, dnsmessage.OPTResource{}))
	}
	msg, err := b.Finish()
	require.NoError(t, err)
	return msg
}

func question(name string, typ dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}
}

func TestDecodeReplyFollowsTheChainFromTheQuestion(t *testing.T) {
	q := question("www.test.", dnsmessage.TypeA)
	msg := response(t, dnsmessage.Header{ID: 9, RecursionAvailable: true}, q, []rr{
		{owner: "WWW.test.", typ: dnsmessage.TypeCNAME, ttl: 300, target: "Edge.Test."},
		{owner: "other.test.", typ: dnsmessage.TypeA, ttl: 1, addr: "10.6.6.6"}, // not on the chain
		{owner: "edge.test.", typ: dnsmessage.TypeA, ttl: 60, addr: "10.0.0.1"},
		{owner: "edge.test.", typ: dnsmessage.TypeTXT, ttl: 1},                  // another type
		{owner: "edge.test.", typ: dnsmessage.TypeA, ttl: 40, addr: "10.0.0.2"}, // the smaller TTL wins
		{owner: "edge.test.", typ: dnsmessage.TypeA, ttl: 60, addr: "10.0.0.1"}, // duplicate
		{owner: "edge.test.", typ: dnsmessage.TypeA, class: dnsmessage.ClassCHAOS, ttl: 1, addr: "10.6.6.7"},
	}, nil)
	r, err := decodeReply(msg, 9, q)
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}, r.addrs)
	assert.Equal(t, uint32(40), r.ttl)
	assert.Equal(t, 7, r.answers)
	assert.False(t, r.chainTooLong)

	// A question in another case is still ours (RFC 4343).
	r, err = decodeReply(msg, 9, question("www.TEST.", dnsmessage.TypeA))
	require.NoError(t, err)
	assert.Len(t, r.addrs, 2)
}

func TestDecodeReplyRejectsWhatIsNotOurAnswer(t *testing.T) {
	q := question("web.test.", dnsmessage.TypeA)
	good := response(t, dnsmessage.Header{ID: 5}, q, []rr{{owner: "web.test.", typ: dnsmessage.TypeA, ttl: 1, addr: "10.0.0.1"}}, nil)
	for name, tc := range map[string]struct {
		msg []byte
		id  uint16
		q   dnsmessage.Question
	}{
		"other id":       {good, 6, q},
		"other name":     {good, 5, question("api.test.", dnsmessage.TypeA)},
		"other type":     {good, 5, question("web.test.", dnsmessage.TypeAAAA)},
		"a query":        {func() []byte { m := append([]byte(nil), good...); m[2] &^= 0x80; return m }(), 5, q},
		"too short":      {good[:5], 5, q},
		"empty":          {nil, 5, q},
		"no question":    {good[:12], 5, q},
		"cut in a name":  {good[:15], 5, q},
		"wrong question": {response(t, dnsmessage.Header{ID: 5}, question("web.test.", dnsmessage.TypeMX), nil, nil), 5, q},
	} {
		_, err := decodeReply(tc.msg, tc.id, tc.q)
		assert.ErrorIs(t, err, errMismatch, name)
	}
	// Ours, but broken after the question: an error that is not a
	// mismatch.
	_, err := decodeReply(good[:len(good)-2], 5, q)
	require.Error(t, err)
	assert.NotErrorIs(t, err, errMismatch)
}

func TestDecodeReplyCodesAndReferrals(t *testing.T) {
	q := question("web.test.", dnsmessage.TypeA)
	badVers := dnsmessage.RCode(16) // BADVERS: needs the OPT record's extension bits
	r, err := decodeReply(response(t, dnsmessage.Header{ID: 1, RecursionAvailable: true}, q, nil, &badVers), 1, q)
	require.NoError(t, err)
	assert.Equal(t, badVers, r.rcode)
	assert.True(t, r.additionals)

	r, err = decodeReply(response(t, dnsmessage.Header{ID: 1}, q, nil, nil), 1, q)
	require.NoError(t, err)
	assert.True(t, r.lame(), "neither authoritative nor recursive, and empty")
	r, err = decodeReply(response(t, dnsmessage.Header{ID: 1, Authoritative: true}, q, nil, nil), 1, q)
	require.NoError(t, err)
	assert.False(t, r.lame(), "an authoritative empty answer is no data")
	assert.Empty(t, r.addrs)

	var chain []rr
	for i := range maxChain + 2 {
		chain = append(chain, rr{owner: name(i), typ: dnsmessage.TypeCNAME, ttl: 1, target: name(i + 1)})
	}
	chain = append(chain, rr{owner: name(maxChain + 2), typ: dnsmessage.TypeA, ttl: 1, addr: "10.0.0.1"})
	r, err = decodeReply(response(t, dnsmessage.Header{ID: 1, RecursionAvailable: true}, question(name(0), dnsmessage.TypeA), chain, nil), 1, question(name(0), dnsmessage.TypeA))
	require.NoError(t, err)
	assert.True(t, r.chainTooLong)
	assert.Empty(t, r.addrs)
}

func name(i int) string { return "n" + strings.Repeat("x", i) + ".test." }

func TestNewQueryIsAWellFormedEDNSQuery(t *testing.T) {
	q := question("web.test.", dnsmessage.TypeAAAA)
	msg, err := newQuery(0xbeef, q)
	require.NoError(t, err)
	assert.Equal(t, len(msg)-2, int(msg[0])<<8|int(msg[1]), "TCP length prefix")
	var m dnsmessage.Message
	require.NoError(t, m.Unpack(msg[2:]))
	assert.Equal(t, uint16(0xbeef), m.Header.ID)
	assert.True(t, m.Header.RecursionDesired)
	assert.Equal(t, []dnsmessage.Question{q}, m.Questions)
	require.Len(t, m.Additionals, 1)
	assert.Equal(t, dnsmessage.TypeOPT, m.Additionals[0].Header.Type)
	assert.Equal(t, dnsmessage.Class(ednsPayload), m.Additionals[0].Header.Class)
}

func TestParseResolvConf(t *testing.T) {
	c, err := parseResolvConf([]byte(`# comment
; another
nameserver 10.0.0.53
nameserver   2001:db8::53
nameserver dns.example.com
nameserver fe80::1%eth0
nameserver 10.0.0.54
search a.test b.test.
options ndots:5 timeout:3 attempts:4 rotate single-request-reopen use-vc no-reload edns0 unknown:1
options timeout:99 attempts:0
`), "host.d.test")
	require.NoError(t, err)
	assert.Equal(t, &resolvConf{
		servers:       []string{"10.0.0.53:53", "[2001:db8::53]:53", "[fe80::1%eth0]:53"},
		search:        []string{"a.test.", "b.test."},
		ndots:         5,
		timeout:       30 * time.Second,
		attempts:      1,
		rotate:        true,
		singleRequest: true,
		useTCP:        true,
		noReload:      true,
	}, c)

	c, err = parseResolvConf([]byte("nameserver 127.0.0.53\noptions ndots:99 timeout:0\n"), "node1.cluster.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"cluster.test."}, c.search, "the default search domain comes from the host name")
	assert.Equal(t, 15, c.ndots)
	assert.Equal(t, time.Second, c.timeout)
	assert.Equal(t, defaultAttempts, c.attempts)

	c, err = parseResolvConf([]byte("nameserver 127.0.0.53\nsearch\n"), "node1.cluster.test")
	require.NoError(t, err)
	assert.Empty(t, c.search, "an empty search line clears the default")

	_, err = parseResolvConf([]byte("search a.test\n"), "")
	assert.ErrorIs(t, err, errNoNameserver)
}

func TestParseHosts(t *testing.T) {
	h := parseHosts([]byte("127.0.0.1 localhost\n" +
		"10.0.0.1\tWeb.Test web # comment 10.9.9.9 x\n" +
		"fe80::1%eth0 link.test\n" +
		"10.0.0.1 web.test\n" +
		"garbage line\n" +
		"10.0.0.2\n" +
		"#10.0.0.3 commented.test\n"))
	assert.Equal(t, hostsTable{
		"localhost.": {netip.MustParseAddr("127.0.0.1")},
		"web.test.":  {netip.MustParseAddr("10.0.0.1")},
		"web.":       {netip.MustParseAddr("10.0.0.1")},
		"link.test.": {netip.MustParseAddr("fe80::1%eth0")},
	}, h)
}

func TestIsDomainName(t *testing.T) {
	for s, want := range map[string]bool{
		"web": true, "web.test": true, "web.test.": true, "_grpc._tcp.svc": true, "a-b.c": true, "3com.net": true,
		"": false, ".": false, "a..b": false, "-a.b": false, "a-.b": false, "a b": false, "a/b": false, "1.2.3": false,
		strings.Repeat("a", 63) + ".b": true, strings.Repeat("a", 64) + ".b": false,
		strings.Repeat("a.", 126) + "b": true, strings.Repeat("a.", 127): true, strings.Repeat("a.", 127) + "b": false,
	} {
		assert.Equal(t, want, isDomainName(s), "%q", s)
	}
}

// FuzzDecodeReply feeds arbitrary bytes to the response parser: it must
// never panic, and what it accepts must be consistent.
func FuzzDecodeReply(f *testing.F) {
	qa := question("www.test.", dnsmessage.TypeA)
	f.Add(response(f, dnsmessage.Header{ID: 1, RecursionAvailable: true}, qa, []rr{
		{owner: "www.test.", typ: dnsmessage.TypeCNAME, ttl: 30, target: "edge.test."},
		{owner: "edge.test.", typ: dnsmessage.TypeA, ttl: 60, addr: "10.0.0.1"},
	}, nil), true)
	ext := dnsmessage.RCodeServerFailure
	f.Add(response(f, dnsmessage.Header{ID: 1, Truncated: true}, qa, nil, &ext), true)
	qaaaa := question("www.test.", dnsmessage.TypeAAAA)
	f.Add(response(f, dnsmessage.Header{ID: 1, Authoritative: true}, qaaaa, []rr{
		{owner: "www.test.", typ: dnsmessage.TypeAAAA, ttl: 5, addr: "2001:db8::1"},
		{owner: "www.test.", typ: dnsmessage.TypeCNAME, ttl: 5, target: "www.test."},
	}, nil), false)
	f.Add([]byte{0, 1, 0x80, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0xc0, 12, 0, 1, 0, 1}, true)
	f.Fuzz(func(t *testing.T, msg []byte, v4 bool) {
		q := qa
		if !v4 {
			q = qaaaa
		}
		r, err := decodeReply(msg, 1, q)
		if err != nil {
			return
		}
		for _, a := range r.addrs {
			if !a.IsValid() || a.Is4() != v4 {
				t.Fatalf("address %v for a %v question", a, q.Type)
			}
		}
		if len(r.addrs) > 0 && r.chainTooLong {
			t.Fatal("addresses from a chain that was cut")
		}
	})
}

// FuzzParseResolvConf checks that any file content parses without panic
// into a configuration within the limits.
func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.53\nsearch a.test b.test\noptions ndots:5 timeout:3 attempts:2 rotate\n"), "h.example")
	f.Add([]byte("domain x\noptions ndots:-1 timeout:99999999999999999999 attempts:\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, hostname string) {
		c, err := parseResolvConf(data, hostname)
		if err != nil {
			return
		}
		if len(c.servers) == 0 || len(c.servers) > maxNameservers || c.ndots < 0 || c.ndots > maxNdots ||
			c.timeout < time.Second || c.timeout > maxTimeout || c.attempts < 1 || c.attempts > maxAttempts {
			t.Fatalf("out of limits: %+v", c)
		}
		for _, n := range c.nameList("web") {
			if len(n) > maxNameLen || !strings.HasSuffix(n, ".") {
				t.Fatalf("bad name %q", n)
			}
		}
	})
}

// FuzzParseHosts checks that any hosts file parses without panic.
func FuzzParseHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost # x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, v := range parseHosts(data) {
			if !strings.HasSuffix(k, ".") || len(v) == 0 {
				t.Fatalf("entry %q: %v", k, v)
			}
		}
	})
}
