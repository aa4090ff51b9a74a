package dnsresolve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// Default paths of the files a [System] resolver reads.
const (
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultHosts      = "/etc/hosts"
)

// reloadInterval is how long a read of resolv.conf or the hosts file is
// trusted before the file is checked for changes (Go's resolver also uses
// 5 s).
const reloadInterval = 5 * time.Second

// SystemConfig configures a [System] resolver. The zero value reads the
// system's files and asks for A and AAAA records.
type SystemConfig struct {
	// ResolvConf is the resolv.conf(5) file naming the nameservers, search
	// domains and options. If empty, [DefaultResolvConf].
	ResolvConf string
	// Hosts is the hosts(5) file consulted before DNS. If empty,
	// [DefaultHosts]; a missing file is an empty table.
	Hosts string
	// Family selects A, AAAA or both.
	Family Family
	// Dial opens the connection to a nameserver ("udp" or "tcp", "ip:53");
	// for "udp" it must return a datagram connection. If nil, a
	// net.Dialer. Tests redirect it to a server on loopback.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Fallback resolves when ResolvConf is missing, unreadable or names no
	// usable nameserver; its answers carry no TTL. If nil,
	// net.DefaultResolver.
	Fallback *net.Resolver
	// Clock times the checks for changed files. If nil, the wall clock.
	// Network timeouts always run on the wall clock.
	Clock clock.Clock
}

// System resolves as the platform's stub resolver does, but reports TTLs: it
// answers from the hosts file first, then queries the nameservers of
// resolv.conf itself (search list, ndots, timeout, attempts, rotate,
// single-request, use-vc), over UDP with a retry over TCP when the answer is
// truncated. Both files are re-read when they change (checked at most every
// 5 s; never with "options no-reload").
//
// A search-list expansion that gets NXDOMAIN or no data moves on to the
// next; any other failure (timeout, SERVFAIL, bad response) ends the lookup
// with that error, as c-ares (Envoy's resolver) and Go's StrictErrors do,
// so that a flaky server cannot substitute another name's addresses. For
// the same reason, when one of the A and AAAA queries fails, the lookup
// fails rather than return half the addresses.
//
// It is safe for concurrent use.
type System struct {
	resolvPath string
	hostsPath  string
	family     Family
	dial       func(ctx context.Context, network, address string) (net.Conn, error)
	fallback   *net.Resolver
	clk        clock.Clock
	hostname   func() (string, error)

	rotation atomic.Uint32

	mu    sync.Mutex // serialises reloads
	conf  atomic.Pointer[loadedConf]
	hosts atomic.Pointer[loadedHosts]
}

// fileStamp identifies a version of a file for reloading.
type fileStamp struct {
	checked time.Time // when the file was last stat'ed
	exists  bool
	mtime   time.Time
	size    int64
}

type loadedConf struct {
	stamp fileStamp
	conf  *resolvConf // nil: unusable, use the fallback
	err   error       // why conf is nil
}

type loadedHosts struct {
	stamp fileStamp
	table hostsTable
}

// NewSystem returns a resolver configured by cfg. It reads the files at
// once, but a missing or unusable resolv.conf is not an error: lookups then
// go to cfg.Fallback until the file becomes usable.
func NewSystem(cfg SystemConfig) (*System, error) {
	if cfg.Family > FamilyIPv6 {
		return nil, fmt.Errorf("dnsresolve: SystemConfig.Family %d is not a Family", cfg.Family)
	}
	s := &System{
		resolvPath: cfg.ResolvConf,
		hostsPath:  cfg.Hosts,
		family:     cfg.Family,
		dial:       cfg.Dial,
		fallback:   cfg.Fallback,
		clk:        cfg.Clock,
		hostname:   os.Hostname,
	}
	if s.resolvPath == "" {
		s.resolvPath = DefaultResolvConf
	}
	if s.hostsPath == "" {
		s.hostsPath = DefaultHosts
	}
	if s.dial == nil {
		var d net.Dialer
		s.dial = d.DialContext
	}
	if s.fallback == nil {
		s.fallback = net.DefaultResolver
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	s.reload(true)
	return s, nil
}

// ConfigError reports why resolv.conf is not in use (and lookups go to the
// fallback resolver), or nil when it is.
func (s *System) ConfigError() error {
	s.reload(false)
	return s.conf.Load().err
}

// reload re-reads the files that changed since they were read, if their
// check is due (or force).
func (s *System) reload(force bool) {
	now := s.clk.Now()
	due := func(st fileStamp) bool { return force || now.Sub(st.checked) >= reloadInterval }
	confDue := func(c *loadedConf) bool {
		return c == nil || due(c.stamp) && (force || c.conf == nil || !c.conf.noReload)
	}
	hostsDue := func(h *loadedHosts) bool { return h == nil || due(h.stamp) }
	if !confDue(s.conf.Load()) && !hostsDue(s.hosts.Load()) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conf.Load(); confDue(c) {
		st := stamp(s.resolvPath, now)
		if c == nil || !st.sameFile(c.stamp) {
			s.conf.Store(s.readConf(st))
		} else {
			next := *c
			next.stamp.checked = now
			s.conf.Store(&next)
		}
	}
	if h := s.hosts.Load(); hostsDue(h) {
		st := stamp(s.hostsPath, now)
		if h == nil || !st.sameFile(h.stamp) {
			s.hosts.Store(&loadedHosts{stamp: st, table: readHosts(s.hostsPath)})
		} else {
			next := *h
			next.stamp.checked = now
			s.hosts.Store(&next)
		}
	}
}

func stamp(path string, now time.Time) fileStamp {
	st := fileStamp{checked: now}
	if fi, err := os.Stat(path); err == nil {
		st.exists, st.mtime, st.size = true, fi.ModTime(), fi.Size()
	}
	return st
}

func (a fileStamp) sameFile(b fileStamp) bool {
	return a.exists == b.exists && a.mtime.Equal(b.mtime) && a.size == b.size
}

// maxFileSize bounds what is read of resolv.conf or the hosts file.
const maxFileSize = 4 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}

func (s *System) readConf(st fileStamp) *loadedConf {
	data, err := readFile(s.resolvPath)
	if err != nil {
		return &loadedConf{stamp: st, err: fmt.Errorf("dnsresolve: %w", err)}
	}
	hn, _ := s.hostname()
	conf, err := parseResolvConf(data, hn)
	if err != nil {
		return &loadedConf{stamp: st, err: fmt.Errorf("dnsresolve: %s: %w", s.resolvPath, err)}
	}
	return &loadedConf{stamp: st, conf: conf}
}

func readHosts(path string) hostsTable {
	data, err := readFile(path)
	if err != nil {
		// Missing or unreadable: no entries, as for glibc when the
		// file is absent.
		return hostsTable{}
	}
	return parseHosts(data)
}

// LookupHost implements [Resolver].
func (s *System) LookupHost(ctx context.Context, host string) (Answer, error) {
	if host == "" {
		return Answer{}, &Error{Host: host, Kind: ErrInvalidName}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !s.family.wants(a) {
			return Answer{}, &Error{Host: host, Kind: ErrNoData, Cause: fmt.Errorf("address family is not %s", s.family)}
		}
		return Answer{Addrs: []netip.Addr{a}}, nil
	}
	s.reload(false)
	if addrs := s.fromHosts(host); len(addrs) > 0 {
		return Answer{Addrs: addrs}, nil
	}
	if !isDomainName(host) {
		return Answer{}, &Error{Host: host, Kind: ErrInvalidName}
	}
	lc := s.conf.Load()
	if lc.conf == nil {
		return s.lookupFallback(ctx, host)
	}
	ans, err := s.lookupDNS(ctx, lc.conf, host)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Host = host
		}
		return Answer{}, err
	}
	return ans, nil
}

// fromHosts returns the hosts-file addresses of host in the wanted
// families, IPv4 first.
func (s *System) fromHosts(host string) []netip.Addr {
	list := s.hosts.Load().table[hostsKey(host)]
	if len(list) == 0 {
		return nil
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if a.Is4() && s.family.wants(a) {
			out = append(out, a)
		}
	}
	for _, a := range list {
		if !a.Is4() && s.family.wants(a) {
			out = append(out, a)
		}
	}
	return out
}

// lookupFallback asks the platform resolver, which reports no TTL.
func (s *System) lookupFallback(ctx context.Context, host string) (Answer, error) {
	network := "ip"
	switch s.family {
	case FamilyIPv4:
		network = "ip4"
	case FamilyIPv6:
		network = "ip6"
	}
	got, err := s.fallback.LookupNetIP(ctx, network, host)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, &Error{Host: host, Kind: context.Cause(ctx), Cause: err}
		}
		kind := ErrBadResponse
		var de *net.DNSError
		if errors.As(err, &de) {
			switch {
			case de.IsNotFound:
				kind = ErrNotFound
			case de.IsTimeout:
				kind = ErrTimeout
			case de.IsTemporary:
				kind = ErrServerFailure
			}
		}
		return Answer{}, &Error{Host: host, Server: "fallback", Kind: kind, Cause: err}
	}
	var v4, v6 []netip.Addr
	for _, a := range got {
		if a.Is4In6() {
			a = a.Unmap() // LookupNetIP may map IPv4 answers (golang.org/issue/53554)
		}
		switch {
		case !s.family.wants(a):
		case a.Is4():
			if !slices.Contains(v4, a) {
				v4 = append(v4, a)
			}
		default:
			if !slices.Contains(v6, a) {
				v6 = append(v6, a)
			}
		}
	}
	if len(v4)+len(v6) == 0 {
		return Answer{}, &Error{Host: host, Server: "fallback", Kind: ErrNoData}
	}
	return Answer{Addrs: append(v4, v6...)}, nil
}

// lookupDNS walks the search list.
func (s *System) lookupDNS(ctx context.Context, conf *resolvConf, host string) (Answer, error) {
	names := conf.nameList(host)
	if len(names) == 0 {
		return Answer{}, &Error{Kind: ErrInvalidName}
	}
	var empty *Error // the last NXDOMAIN or no-data outcome, NODATA preferred
	for _, name := range names {
		ans, err := s.lookupName(ctx, conf, name)
		if err == nil {
			return ans, nil
		}
		e, ok := err.(*Error)
		if !ok || !IsAnswer(e) {
			return Answer{}, err
		}
		if empty == nil || e.Kind == ErrNoData || empty.Kind != ErrNoData {
			empty = e
		}
	}
	return Answer{}, empty
}

// qtypes lists the query types of a family, A first.
func (f Family) qtypes() []dnsmessage.Type {
	switch f {
	case FamilyIPv4:
		return []dnsmessage.Type{dnsmessage.TypeA}
	case FamilyIPv6:
		return []dnsmessage.Type{dnsmessage.TypeAAAA}
	}
	return []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
}

// lookupName queries one fully qualified name for every wanted type, in
// parallel unless resolv.conf says single-request.
func (s *System) lookupName(ctx context.Context, conf *resolvConf, name string) (Answer, error) {
	types := s.family.qtypes()
	type result struct {
		r   reply
		err error
	}
	results := make([]result, len(types))
	if conf.singleRequest || len(types) == 1 {
		for i, t := range types {
			results[i].r, results[i].err = s.query(ctx, conf, name, t)
		}
	} else {
		var wg sync.WaitGroup
		for i, t := range types {
			wg.Go(func() { results[i].r, results[i].err = s.query(ctx, conf, name, t) })
		}
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return Answer{}, &Error{Name: name, Kind: context.Cause(ctx)}
	}
	var ans Answer
	ttl := ^uint32(0)
	var noData, notFound error
	for _, res := range results {
		switch {
		case res.err == nil:
			ans.Addrs = append(ans.Addrs, res.r.addrs...)
			ttl = min(ttl, res.r.ttl)
		case errors.Is(res.err, ErrNoData):
			noData = res.err
		case errors.Is(res.err, ErrNotFound):
			notFound = res.err
		default:
			return Answer{}, res.err // strict: never half an answer
		}
	}
	if len(ans.Addrs) > 0 {
		ans.TTL = time.Duration(ttl) * time.Second
		return ans, nil
	}
	if noData != nil {
		return Answer{}, noData
	}
	return Answer{}, notFound
}

// query asks the nameservers about (name, t): attempts rounds over the
// servers, moving on after a timeout, a network error, SERVFAIL or an
// unusable response; NXDOMAIN and no-data are final.
func (s *System) query(ctx context.Context, conf *resolvConf, name string, t dnsmessage.Type) (reply, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return reply{}, &Error{Name: name, Kind: ErrInvalidName, Cause: err}
	}
	q := dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET}
	start := 0
	if conf.rotate {
		start = int(s.rotation.Add(1) - 1)
	}
	var last error
	for range conf.attempts {
		for j := range conf.servers {
			server := conf.servers[(start+j)%len(conf.servers)]
			r, err := s.exchange(ctx, conf, server, q)
			if ctx.Err() != nil {
				return reply{}, &Error{Name: name, Server: server, Kind: context.Cause(ctx)}
			}
			if err != nil {
				kind := ErrUnreachable
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
					kind = ErrTimeout
				} else if errors.Is(err, errUnparsable) {
					kind = ErrBadResponse
				}
				last = &Error{Name: name, Server: server, Kind: kind, Cause: err}
				continue
			}
			switch {
			case r.rcode == dnsmessage.RCodeNameError:
				return reply{}, &Error{Name: name, Server: server, Kind: ErrNotFound}
			case r.rcode == dnsmessage.RCodeServerFailure:
				last = &Error{Name: name, Server: server, Kind: ErrServerFailure}
			case r.rcode != dnsmessage.RCodeSuccess:
				last = &Error{Name: name, Server: server, Kind: ErrBadResponse, Cause: fmt.Errorf("rcode %v", r.rcode)}
			case len(r.addrs) > 0:
				return r, nil
			case r.chainTooLong:
				last = &Error{Name: name, Server: server, Kind: ErrBadResponse, Cause: fmt.Errorf("CNAME chain longer than %d", maxChain)}
			case r.lame():
				last = &Error{Name: name, Server: server, Kind: ErrBadResponse, Cause: errors.New("lame referral")}
			default:
				return reply{}, &Error{Name: name, Server: server, Kind: ErrNoData}
			}
		}
	}
	return reply{}, last
}

// errUnparsable marks a response that matched the query but could not be
// parsed.
var errUnparsable = errors.New("unparsable response")

// exchange sends q to server and returns its reply: over UDP, and again over
// TCP if the UDP answer is truncated (RFC 7766); over TCP only with use-vc.
// Each network gets conf.timeout.
func (s *System) exchange(ctx context.Context, conf *resolvConf, server string, q dnsmessage.Question) (reply, error) {
	id := uint16(rand.Uint32())
	msg, err := newQuery(id, q)
	if err != nil {
		return reply{}, fmt.Errorf("%w: building query: %v", errUnparsable, err)
	}
	if !conf.useTCP {
		r, err := s.roundTrip(ctx, "udp", server, conf.timeout, id, q, msg)
		if err != nil || !r.hdr.Truncated {
			return r, err
		}
	}
	// A truncated TCP answer is used as it is, as glibc does
	// (golang.org/issue/64896).
	return s.roundTrip(ctx, "tcp", server, conf.timeout, id, q, msg)
}

// pastDeadline is a deadline that has passed, to interrupt blocked I/O.
var pastDeadline = time.Unix(1, 0)

func (s *System) roundTrip(ctx context.Context, network, server string, timeout time.Duration, id uint16, q dnsmessage.Question, msg []byte) (reply, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := s.dial(tctx, network, server)
	if err != nil {
		return reply{}, err
	}
	defer c.Close()
	if d, ok := tctx.Deadline(); ok {
		if err := c.SetDeadline(d); err != nil {
			return reply{}, err
		}
	}
	// The caller's cancellation interrupts a blocked read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(pastDeadline) })
	defer stop()

	if network == "udp" {
		if _, err := c.Write(msg[2:]); err != nil {
			return reply{}, err
		}
		// Room for more than we advertised: a datagram that fills the
		// buffer may have been cut, and is treated as truncated.
		buf := make([]byte, 4*ednsPayload)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return reply{}, err
			}
			if n == len(buf) {
				return reply{hdr: dnsmessage.Header{Truncated: true}}, nil
			}
			r, err := decodeReply(buf[:n], id, q)
			if err == errMismatch {
				continue // not ours: keep waiting until the deadline
			}
			if err != nil {
				return reply{}, fmt.Errorf("%w: %v", errUnparsable, err)
			}
			return r, nil
		}
	}
	if _, err := c.Write(msg); err != nil {
		return reply{}, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return reply{}, err
	}
	buf := make([]byte, int(l[0])<<8|int(l[1]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return reply{}, err
	}
	r, err := decodeReply(buf, id, q)
	if err != nil {
		return reply{}, fmt.Errorf("%w: %v", errUnparsable, err)
	}
	return r, nil
}
