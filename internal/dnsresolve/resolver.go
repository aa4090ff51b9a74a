package dnsresolve

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Resolver looks up the addresses of a host name. Implementations must be
// safe for concurrent use and must bound the work of one lookup themselves
// (the [System] resolver does, through resolv.conf's timeout and attempts).
type Resolver interface {
	// LookupHost returns the addresses of host and how long they may be
	// cached. A literal IP address resolves to itself.
	//
	// An error wraps one of the sentinels below ([ErrNotFound], [ErrNoData],
	// [ErrServerFailure], [ErrTimeout], [ErrUnreachable], [ErrBadResponse],
	// [ErrInvalidName]), or, when ctx ends first, ctx's cause.
	LookupHost(ctx context.Context, host string) (Answer, error)
}

// ResolverFunc adapts a function to [Resolver]; for tests and for wiring a
// custom lookup.
type ResolverFunc func(ctx context.Context, host string) (Answer, error)

// LookupHost calls f.
func (f ResolverFunc) LookupHost(ctx context.Context, host string) (Answer, error) {
	return f(ctx, host)
}

// Answer is the outcome of a successful lookup.
type Answer struct {
	// Addrs are the host's addresses without duplicates: IPv4 first, then
	// IPv6, each family in the order the source gave them (so that Addrs[0]
	// is the address a LOGICAL_DNS cluster would use).
	Addrs []netip.Addr
	// TTL is how long the answer may be cached: the smallest TTL of the
	// records it was built from, CNAMEs included. Zero means unknown (an
	// /etc/hosts entry, a literal address, the fallback resolver, or a
	// record whose TTL was 0); a consumer then uses its own refresh rate.
	TTL time.Duration
}

// Family selects the address families a lookup asks for.
type Family uint8

// Families.
const (
	// FamilyAll asks for A and AAAA records (Envoy's ALL).
	FamilyAll Family = iota
	// FamilyIPv4 asks for A records only (Envoy's V4_ONLY).
	FamilyIPv4
	// FamilyIPv6 asks for AAAA records only (Envoy's V6_ONLY).
	FamilyIPv6
)

// String returns "all", "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case FamilyAll:
		return "all"
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// wants reports whether f includes a's family.
func (f Family) wants(a netip.Addr) bool {
	switch f {
	case FamilyIPv4:
		return a.Is4()
	case FamilyIPv6:
		return a.Is6()
	}
	return true
}

// The kinds of lookup failure. Every error of a [Resolver] in this package
// is an [*Error] that wraps exactly one of them (or the context's cause).
var (
	// ErrNotFound: the name does not exist (NXDOMAIN for every name
	// tried). An authoritative answer, not a failure of the resolver.
	ErrNotFound = errors.New("dnsresolve: no such host")
	// ErrNoData: the name exists but has no address of the families asked
	// for (NOERROR with no A/AAAA record, or a CNAME chain that ends
	// without one). Also an authoritative answer.
	ErrNoData = errors.New("dnsresolve: no address records")
	// ErrServerFailure: the nameservers answered SERVFAIL (temporary).
	ErrServerFailure = errors.New("dnsresolve: server failure")
	// ErrTimeout: no nameserver answered within the timeout, on any try.
	ErrTimeout = errors.New("dnsresolve: timeout")
	// ErrUnreachable: the nameservers could not be reached (connection
	// refused, no route).
	ErrUnreachable = errors.New("dnsresolve: nameserver unreachable")
	// ErrBadResponse: the answers could not be used: malformed, REFUSED,
	// NOTIMP or another unexpected code, a lame referral, a CNAME loop.
	ErrBadResponse = errors.New("dnsresolve: bad response")
	// ErrInvalidName: the host is not a valid domain name or IP address.
	ErrInvalidName = errors.New("dnsresolve: invalid host name")
)

// Error is a failed lookup: which host, where it failed and why.
type Error struct {
	// Host is the name that was looked up, as given.
	Host string
	// Name is the fully qualified name of the query that decided the
	// outcome (a search-list expansion of Host); empty if none was sent.
	Name string
	// Server is the nameserver ("ip:port") that gave the deciding answer
	// or error; empty if none.
	Server string
	// Kind is one of the sentinels above, or the context's cause.
	Kind error
	// Cause is the underlying error (a network error, a parse error), if
	// any.
	Cause error
}

// Error formats the failure as
// "dnsresolve: lookup HOST (NAME at SERVER): KIND: CAUSE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dnsresolve: lookup ")
	b.WriteString(e.Host)
	if e.Name != "" || e.Server != "" {
		b.WriteString(" (")
		b.WriteString(e.Name)
		if e.Server != "" {
			if e.Name != "" {
				b.WriteString(" ")
			}
			b.WriteString("at ")
			b.WriteString(e.Server)
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "dnsresolve: "))
	} else {
		b.WriteString("failed")
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that errors.Is matches either.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// IsAnswer reports whether err is an authoritative statement that host has
// no address ([ErrNotFound] or [ErrNoData]) rather than a failure to find
// out.
func IsAnswer(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoData)
}
