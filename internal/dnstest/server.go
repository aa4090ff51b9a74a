// Package dnstest is a small authoritative DNS server for tests: it listens
// on 127.0.0.1 (UDP and TCP, one port), answers A, AAAA and CNAME queries
// from a zone that a test changes while the server runs, can be told to
// fail a name (NXDOMAIN, SERVFAIL, any RCODE), to delay, drop or truncate
// its answers, or to send raw bytes, and records every query it receives.
//
//	srv, err := dnstest.Start()
//	...
//	defer srv.Close()
//	srv.Set("api.test.", dnstest.A(30, "10.0.0.1"), dnstest.A(30, "10.0.0.2"))
//	srv.SetBehavior("down.test.", dnstest.Behavior{RCode: dnsmessage.RCodeServerFailure})
//
// It speaks only to loopback and is safe for concurrent use.
package dnstest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Record is one resource record of the zone.
type Record struct {
	// Type is TypeA, TypeAAAA or TypeCNAME.
	Type dnsmessage.Type
	// TTL is in seconds.
	TTL uint32
	// Addr is the address of an A or AAAA record.
	Addr netip.Addr
	// Target is the canonical name of a CNAME record.
	Target string
}

// A returns an A record; it panics if addr is not an IPv4 address (a bug in
// the test).
func A(ttl uint32, addr string) Record {
	a := netip.MustParseAddr(addr)
	if !a.Is4() {
		panic("dnstest: A record with non-IPv4 address " + addr)
	}
	return Record{Type: dnsmessage.TypeA, TTL: ttl, Addr: a}
}

// AAAA returns an AAAA record; it panics if addr is not an IPv6 address.
func AAAA(ttl uint32, addr string) Record {
	a := netip.MustParseAddr(addr)
	if !a.Is6() {
		panic("dnstest: AAAA record with non-IPv6 address " + addr)
	}
	return Record{Type: dnsmessage.TypeAAAA, TTL: ttl, Addr: a}
}

// CNAME returns a CNAME record pointing to target.
func CNAME(ttl uint32, target string) Record {
	return Record{Type: dnsmessage.TypeCNAME, TTL: ttl, Target: target}
}

// Behavior changes how the server answers a name.
type Behavior struct {
	// RCode, if not RCodeSuccess, is sent with no records.
	RCode dnsmessage.RCode
	// Delay holds the answer back this long (on the wall clock).
	Delay time.Duration
	// Drop sends no answer at all.
	Drop bool
	// Truncate answers over UDP with the TC bit set and no records.
	Truncate bool
	// Only, if not zero, limits the behaviour to queries of this type;
	// other types are answered normally.
	Only dnsmessage.Type
}

// Query is one query the server received.
type Query struct {
	Name    string // lower case, with the trailing dot
	Type    dnsmessage.Type
	Network string // "udp" or "tcp"
}

// Server is a running DNS server. Build it with [Start]; Close it.
type Server struct {
	udp  *net.UDPConn
	tcp  *net.TCPListener
	addr netip.AddrPort

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	zone      map[string][]Record
	behavior  map[string]Behavior
	fallback  Behavior // for names without their own
	responder func(query []byte, network string) []byte
	queries   []Query
	conns     map[net.Conn]struct{}
}

// Start listens on 127.0.0.1 on a free port for both UDP and TCP and serves
// until Close.
func Start() (*Server, error) {
	var lastErr error
	for range 10 { // the UDP port may be taken for TCP: try another
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			udp.Close()
			lastErr = err
			continue
		}
		s := &Server{
			udp:      udp,
			tcp:      tcp,
			addr:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)),
			zone:     map[string][]Record{},
			behavior: map[string]Behavior{},
			conns:    map[net.Conn]struct{}{},
		}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.wg.Add(2)
		go s.serveUDP()
		go s.serveTCP()
		return s, nil
	}
	return nil, lastErr
}

// Addr is the address the server listens on, for UDP and TCP.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops the server and waits for its goroutines, including answers
// being delayed.
func (s *Server) Close() error {
	s.cancel()
	err := errors.Join(s.udp.Close(), s.tcp.Close())
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// canonical is a name's zone key: lower case and rooted.
func canonical(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// Set replaces the records of name (no records: the name exists but has no
// data). CNAME targets are made canonical.
func (s *Server) Set(name string, records ...Record) {
	rs := make([]Record, len(records))
	for i, r := range records {
		if r.Type == dnsmessage.TypeCNAME {
			r.Target = canonical(r.Target)
		}
		rs[i] = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[canonical(name)] = rs
}

// Delete removes name from the zone: it is then NXDOMAIN.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, canonical(name))
}

// SetBehavior sets how name is answered; name "" sets the behaviour of every
// name that has none of its own. The zero Behavior restores normal answers.
func (s *Server) SetBehavior(name string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		s.fallback = b
		return
	}
	if b == (Behavior{}) {
		delete(s.behavior, canonical(name))
		return
	}
	s.behavior[canonical(name)] = b
}

// SetResponder makes f answer every query: it gets the raw query and returns
// the raw response, or nil to send nothing. nil restores the zone.
func (s *Server) SetResponder(f func(query []byte, network string) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = f
}

// Queries returns the queries received so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries for name (any name if "") of type t (any
// type if 0) arrived over network (any if "").
func (s *Server) Count(name string, t dnsmessage.Type, network string) int {
	if name != "" {
		name = canonical(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queries {
		if (name == "" || q.Name == name) && (t == 0 || q.Type == t) && (network == "" || q.Network == network) {
			n++
		}
	}
	return n
}

// ResetQueries forgets the queries received so far.
func (s *Server) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = nil
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	for {
		buf := make([]byte, 4096)
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if resp := s.handle(buf[:n], "udp"); resp != nil {
				_, _ = s.udp.WriteToUDPAddrPort(resp, from)
			}
		}()
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, int(l[0])<<8|int(l[1]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				resp := s.handle(msg, "tcp")
				if resp == nil {
					continue
				}
				framed := append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...)
				if _, err := c.Write(framed); err != nil {
					return
				}
			}
		}()
	}
}

// handle answers one query, or returns nil to stay silent.
func (s *Server) handle(query []byte, network string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	udpSize := 512
	if err := p.SkipAllQuestions(); err == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for {
			ah, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if ah.Type == dnsmessage.TypeOPT {
				udpSize = max(int(ah.Class), 512)
				break
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	name := canonical(q.Name.String())

	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: name, Type: q.Type, Network: network})
	responder := s.responder
	b, ok := s.behavior[name]
	if !ok {
		b = s.fallback
	}
	if b.Only != 0 && b.Only != q.Type {
		b = Behavior{}
	}
	var resp []byte
	if responder == nil && !b.Drop {
		resp = s.answerLocked(h, q, name, b, network == "udp", udpSize)
	}
	s.mu.Unlock()

	if responder != nil {
		return responder(query, network)
	}
	if b.Drop {
		return nil
	}
	if b.Delay > 0 {
		t := time.NewTimer(b.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return nil
		}
	}
	return resp
}

// answerLocked builds the response from the zone. s.mu must be held.
func (s *Server) answerLocked(h dnsmessage.Header, q dnsmessage.Question, name string, b Behavior, udp bool, udpSize int) []byte {
	rh := dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		OpCode:             h.OpCode,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		RCode:              b.RCode,
	}
	var answers []answer
	if rh.RCode == dnsmessage.RCodeSuccess {
		if _, exists := s.zone[name]; !exists {
			rh.RCode = dnsmessage.RCodeNameError
		}
		// Follow CNAMEs inside the zone, as a recursive server would,
		// at most 32 hops (a loop in the zone ends there).
		cur := name
		for hops := 0; hops < 32; hops++ {
			var next string
			for _, r := range s.zone[cur] {
				switch {
				case r.Type == dnsmessage.TypeCNAME:
					answers = append(answers, answer{cur, r})
					next = r.Target
				case r.Type == q.Type:
					answers = append(answers, answer{cur, r})
				}
			}
			if next == "" || q.Type == dnsmessage.TypeCNAME {
				break
			}
			cur = next
		}
	}
	if udp && b.Truncate {
		rh.Truncated = true
		answers = nil
	}
	msg, err := build(rh, q, answers)
	if err != nil {
		return nil
	}
	if udp && len(msg) > udpSize {
		rh.Truncated = true
		msg, err = build(rh, q, nil)
		if err != nil {
			return nil
		}
	}
	return msg
}

// answer is a record of a response with its owner name.
type answer struct {
	owner string
	r     Record
}

// build packs a response.
func build(h dnsmessage.Header, q dnsmessage.Question, answers []answer) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, a := range answers {
		r := a.r
		n, err := dnsmessage.NewName(a.owner)
		if err != nil {
			return nil, err
		}
		hdr := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET, TTL: r.TTL}
		switch r.Type {
		case dnsmessage.TypeA:
			err = b.AResource(hdr, dnsmessage.AResource{A: r.Addr.As4()})
		case dnsmessage.TypeAAAA:
			err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: r.Addr.As16()})
		case dnsmessage.TypeCNAME:
			var t dnsmessage.Name
			if t, err = dnsmessage.NewName(r.Target); err == nil {
				err = b.CNAMEResource(hdr, dnsmessage.CNAMEResource{CNAME: t})
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
