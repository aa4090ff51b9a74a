package dnsresolve

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// ednsPayload is the UDP payload size we advertise in EDNS(0) and read
	// into: the DNS Flag Day 2020 value, which avoids IP fragmentation.
	ednsPayload = 1232
	// maxNameLen is the longest presentation-format name with its trailing
	// dot (RFC 1035: 255 octets on the wire).
	maxNameLen = 254
	// maxChain bounds the CNAME hops followed inside one response; glibc
	// and c-ares use similar small limits.
	maxChain = 16
)

// errMismatch marks a datagram that is not the answer to our query (wrong
// ID, not a response, another question): on UDP it is ignored, as it may be
// a forgery (golang.org/issue/13281).
var errMismatch = errors.New("response does not match the query")

// newQuery returns a recursive query for q with the given ID and an EDNS(0)
// OPT record, framed for TCP: the UDP datagram is msg[2:].
func newQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(ednsPayload, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	l := len(msg) - 2
	msg[0], msg[1] = byte(l>>8), byte(l)
	return msg, nil
}

// reply is what one response says about one question.
type reply struct {
	hdr   dnsmessage.Header
	rcode dnsmessage.RCode // with the EDNS(0) extension applied
	// answers counts the records of the answer section, of any type.
	answers int
	// additionals reports whether the additional section holds a record.
	additionals bool
	// addrs are the addresses of the question's type owned by the end of
	// the CNAME chain that starts at the question's name.
	addrs []netip.Addr
	// ttl is the smallest TTL along that chain, in seconds; meaningful
	// when addrs is not empty.
	ttl uint32
	// chainTooLong reports a CNAME chain longer than maxChain (a loop).
	chainTooLong bool
}

// lame reports a referral instead of an answer: a server that is neither
// authoritative nor recursive and sent nothing (golang.org/issue/15434).
func (r *reply) lame() bool {
	return r.rcode == dnsmessage.RCodeSuccess && !r.hdr.Authoritative &&
		!r.hdr.RecursionAvailable && r.answers == 0 && !r.additionals
}

// decodeReply parses msg as the response to the query (id, q). It returns
// errMismatch when msg is not that response, and another error when it is
// but cannot be parsed. It never panics, whatever msg holds.
func decodeReply(msg []byte, id uint16, q dnsmessage.Question) (reply, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return reply{}, errMismatch
	}
	if !h.Response || h.ID != id {
		return reply{}, errMismatch
	}
	rq, err := p.Question()
	if err != nil {
		return reply{}, errMismatch
	}
	if rq.Type != q.Type || rq.Class != q.Class || !equalFold(rq.Name, q.Name) {
		return reply{}, errMismatch
	}
	if err := p.SkipAllQuestions(); err != nil {
		return reply{}, fmt.Errorf("question section: %w", err)
	}
	r := reply{hdr: h, rcode: h.RCode}

	type cname struct {
		owner, target string
		ttl           uint32
	}
	type addr struct {
		owner string
		a     netip.Addr
		ttl   uint32
	}
	var cnames []cname
	var addrs []addr
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return reply{}, fmt.Errorf("answer %d: %w", r.answers, err)
		}
		r.answers++
		if rh.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil {
				return reply{}, fmt.Errorf("answer %d: %w", r.answers, err)
			}
			continue
		}
		switch {
		case rh.Type == dnsmessage.TypeCNAME:
			c, err := p.CNAMEResource()
			if err != nil {
				return reply{}, fmt.Errorf("answer %d (CNAME): %w", r.answers, err)
			}
			cnames = append(cnames, cname{lower(rh.Name), lower(c.CNAME), rh.TTL})
		case rh.Type == q.Type && q.Type == dnsmessage.TypeA:
			a, err := p.AResource()
			if err != nil {
				return reply{}, fmt.Errorf("answer %d (A): %w", r.answers, err)
			}
			addrs = append(addrs, addr{lower(rh.Name), netip.AddrFrom4(a.A), rh.TTL})
		case rh.Type == q.Type && q.Type == dnsmessage.TypeAAAA:
			a, err := p.AAAAResource()
			if err != nil {
				return reply{}, fmt.Errorf("answer %d (AAAA): %w", r.answers, err)
			}
			addrs = append(addrs, addr{lower(rh.Name), netip.AddrFrom16(a.AAAA), rh.TTL})
		default:
			if err := p.SkipAnswer(); err != nil {
				return reply{}, fmt.Errorf("answer %d: %w", r.answers, err)
			}
		}
	}

	// The authority and additional sections matter only for the EDNS(0)
	// extended RCODE and the lame-referral test: a malformed record there
	// ends the scan without failing the answer, as in Go's resolver.
	if err := p.SkipAllAuthorities(); err == nil {
		for {
			ah, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			r.additionals = true
			if ah.Type == dnsmessage.TypeOPT {
				r.rcode = ah.ExtendedRCode(h.RCode)
				break
			}
			if err := p.SkipAdditional(); err != nil {
				break
			}
		}
	}

	// Follow the chain from the question's name. Records owned by other
	// names are ignored: a recursive server may add unrelated data, and
	// accepting it would let a response poison the answer.
	cur := lower(q.Name)
	ttl := ^uint32(0)
	for hops := 0; ; hops++ {
		found := false
		for _, a := range addrs {
			if a.owner == cur {
				found = true
				if !slices.Contains(r.addrs, a.a) {
					r.addrs = append(r.addrs, a.a)
				}
				ttl = min(ttl, a.ttl)
			}
		}
		if found {
			r.ttl = ttl
			return r, nil
		}
		next := ""
		for _, c := range cnames {
			if c.owner == cur {
				next = c.target
				ttl = min(ttl, c.ttl)
				break
			}
		}
		if next == "" {
			return r, nil // the chain ends without an address: no data
		}
		if hops == maxChain {
			r.chainTooLong = true
			return r, nil
		}
		cur = next
	}
}

// lower returns n as a lower-case string.
func lower(n dnsmessage.Name) string { return strings.ToLower(n.String()) }

// equalFold compares names ignoring ASCII case (RFC 4343).
func equalFold(a, b dnsmessage.Name) bool {
	if a.Length != b.Length {
		return false
	}
	for i := 0; i < int(a.Length); i++ {
		x, y := a.Data[i], b.Data[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isDomainName reports whether s is a valid host name in presentation
// format: dot-separated labels of 1 to 63 letters, digits, hyphens or
// underscores (SRV-style labels), no label starting or ending with a hyphen,
// at most 253 characters (254 with a trailing dot), and not all digits and
// dots (which would read as an address). Go's resolver applies the same
// rule.
func isDomainName(s string) bool {
	if len(s) > maxNameLen || len(s) == maxNameLen && !strings.HasSuffix(s, ".") {
		return false
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return false
	}
	nonNumeric := false
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			switch c := label[i]; {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == '-':
				nonNumeric = true
			default:
				return false
			}
		}
	}
	return nonNumeric
}
