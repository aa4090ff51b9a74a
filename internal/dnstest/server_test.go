package dnstest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/dns/dnsmessage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func query(t *testing.T, name string, typ dnsmessage.Type, id uint16) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	require.NoError(t, b.StartQuestions())
	require.NoError(t, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}))
	msg, err := b.Finish()
	require.NoError(t, err)
	return msg
}

// exchange sends msg over network and returns the parsed response.
func exchange(t *testing.T, s *Server, network string, msg []byte) dnsmessage.Message {
	t.Helper()
	c, err := net.DialTimeout(network, s.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	var resp []byte
	if network == "udp" {
		_, err = c.Write(msg)
		require.NoError(t, err)
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		require.NoError(t, err)
		resp = buf[:n]
	} else {
		_, err = c.Write(append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...))
		require.NoError(t, err)
		var l [2]byte
		_, err = io.ReadFull(c, l[:])
		require.NoError(t, err)
		resp = make([]byte, int(l[0])<<8|int(l[1]))
		_, err = io.ReadFull(c, resp)
		require.NoError(t, err)
	}
	var m dnsmessage.Message
	require.NoError(t, m.Unpack(resp))
	return m
}

func TestServerAnswersFromZoneOverUDPAndTCP(t *testing.T) {
	s := start(t)
	s.Set("Web.Test", A(30, "10.0.0.1"), A(30, "10.0.0.2"), AAAA(40, "2001:db8::1"))
	for _, network := range []string{"udp", "tcp"} {
		m := exchange(t, s, network, query(t, "web.test.", dnsmessage.TypeA, 7))
		assert.Equal(t, uint16(7), m.Header.ID)
		assert.True(t, m.Header.Response)
		assert.Equal(t, dnsmessage.RCodeSuccess, m.Header.RCode)
		require.Len(t, m.Answers, 2, network)
		assert.Equal(t, [4]byte{10, 0, 0, 1}, m.Answers[0].Body.(*dnsmessage.AResource).A)
		assert.Equal(t, uint32(30), m.Answers[0].Header.TTL)
	}
	m := exchange(t, s, "udp", query(t, "WEB.test.", dnsmessage.TypeAAAA, 8))
	require.Len(t, m.Answers, 1)
	assert.Equal(t, netip.MustParseAddr("2001:db8::1").As16(), m.Answers[0].Body.(*dnsmessage.AAAAResource).AAAA)

	assert.Equal(t, 2, s.Count("web.test", dnsmessage.TypeA, ""))
	assert.Equal(t, 1, s.Count("web.test", dnsmessage.TypeA, "tcp"))
	assert.Equal(t, 3, s.Count("", 0, ""))
	assert.Equal(t, Query{Name: "web.test.", Type: dnsmessage.TypeAAAA, Network: "udp"}, s.Queries()[2])
}

func TestServerFollowsCNAMEsAndReportsMissingNames(t *testing.T) {
	s := start(t)
	s.Set("alias.test.", CNAME(10, "mid.test"))
	s.Set("mid.test.", CNAME(20, "real.test"))
	s.Set("real.test.", A(30, "10.0.0.9"))
	m := exchange(t, s, "udp", query(t, "alias.test.", dnsmessage.TypeA, 1))
	require.Len(t, m.Answers, 3)
	assert.Equal(t, dnsmessage.TypeCNAME, m.Answers[0].Header.Type)
	assert.Equal(t, "mid.test.", m.Answers[0].Body.(*dnsmessage.CNAMEResource).CNAME.String())
	assert.Equal(t, "real.test.", m.Answers[2].Header.Name.String())

	m = exchange(t, s, "udp", query(t, "nope.test.", dnsmessage.TypeA, 2))
	assert.Equal(t, dnsmessage.RCodeNameError, m.Header.RCode)

	s.Set("empty.test.")
	m = exchange(t, s, "udp", query(t, "empty.test.", dnsmessage.TypeA, 3))
	assert.Equal(t, dnsmessage.RCodeSuccess, m.Header.RCode)
	assert.Empty(t, m.Answers)

	s.Delete("real.test")
	m = exchange(t, s, "udp", query(t, "real.test.", dnsmessage.TypeA, 4))
	assert.Equal(t, dnsmessage.RCodeNameError, m.Header.RCode)
}

func TestServerBehaviors(t *testing.T) {
	s := start(t)
	s.Set("web.test.", A(30, "10.0.0.1"))

	s.SetBehavior("web.test", Behavior{RCode: dnsmessage.RCodeServerFailure})
	m := exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeA, 1))
	assert.Equal(t, dnsmessage.RCodeServerFailure, m.Header.RCode)
	assert.Empty(t, m.Answers)

	s.SetBehavior("web.test", Behavior{Truncate: true})
	m = exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeA, 2))
	assert.True(t, m.Header.Truncated)
	assert.Empty(t, m.Answers)
	m = exchange(t, s, "tcp", query(t, "web.test.", dnsmessage.TypeA, 3))
	assert.False(t, m.Header.Truncated)
	assert.Len(t, m.Answers, 1)

	s.SetBehavior("web.test", Behavior{})
	s.SetBehavior("", Behavior{RCode: dnsmessage.RCodeRefused})
	m = exchange(t, s, "udp", query(t, "other.test.", dnsmessage.TypeA, 4))
	assert.Equal(t, dnsmessage.RCodeRefused, m.Header.RCode)
	m = exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeA, 5))
	assert.Equal(t, dnsmessage.RCodeRefused, m.Header.RCode, "the default applies to names without their own behaviour")
}

func TestServerTruncatesLargeUDPAnswers(t *testing.T) {
	s := start(t)
	var rs []Record
	for i := range 60 { // 60 A records: about 1 KB, over 512
		rs = append(rs, A(30, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}).String()))
	}
	s.Set("big.test.", rs...)
	m := exchange(t, s, "udp", query(t, "big.test.", dnsmessage.TypeA, 1))
	assert.True(t, m.Header.Truncated)
	m = exchange(t, s, "tcp", query(t, "big.test.", dnsmessage.TypeA, 2))
	assert.Len(t, m.Answers, 60)
}

func TestServerDropDelayAndResponder(t *testing.T) {
	s := start(t)
	s.Set("web.test.", A(30, "10.0.0.1"))
	s.SetBehavior("web.test.", Behavior{Drop: true})
	c, err := net.Dial("udp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(query(t, "web.test.", dnsmessage.TypeA, 1))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = c.Read(make([]byte, 512))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a dropped query gets no answer")
	assert.Equal(t, 1, s.Count("web.test.", 0, "udp"), "a dropped query is still counted")

	s.SetBehavior("web.test.", Behavior{Delay: 20 * time.Millisecond})
	start := time.Now()
	m := exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeA, 2))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	assert.Len(t, m.Answers, 1)

	s.SetResponder(func(q []byte, network string) []byte {
		out := append([]byte(nil), q...)
		out[2] |= 0x80 // QR: echo the query back as a response with no answers
		return out
	})
	m = exchange(t, s, "tcp", query(t, "web.test.", dnsmessage.TypeA, 3))
	assert.True(t, m.Header.Response)
	assert.Empty(t, m.Answers)
}

func TestServerCloseEndsDelayedAnswersAndOpenConnections(t *testing.T) {
	s, err := Start()
	require.NoError(t, err)
	s.Set("web.test.", A(30, "10.0.0.1"))
	s.SetBehavior("", Behavior{Delay: time.Hour})
	c, err := net.Dial("udp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(query(t, "web.test.", dnsmessage.TypeA, 1))
	require.NoError(t, err)
	tc, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer tc.Close()
	// Wait until the UDP query is in (and delayed), then close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s.Count("", 0, "udp") == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, s.Close()) // returns: no goroutine waits an hour (goleak checks)
}

func TestServerBehaviorForOneType(t *testing.T) {
	s := start(t)
	s.Set("web.test.", A(30, "10.0.0.1"), AAAA(30, "2001:db8::1"))
	s.SetBehavior("web.test.", Behavior{RCode: dnsmessage.RCodeServerFailure, Only: dnsmessage.TypeAAAA})
	m := exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeA, 1))
	assert.Equal(t, dnsmessage.RCodeSuccess, m.Header.RCode)
	assert.Len(t, m.Answers, 1)
	m = exchange(t, s, "udp", query(t, "web.test.", dnsmessage.TypeAAAA, 2))
	assert.Equal(t, dnsmessage.RCodeServerFailure, m.Header.RCode)
}
