// Package dnsresolve resolves host names with their TTLs and keeps the
// addresses of a host current: the building block of ServiceEntry
// `resolution: DNS` (Envoy's STRICT_DNS) and `DNS_ROUND_ROBIN` (LOGICAL_DNS).
//
// # Resolving
//
// A [Resolver] returns an [Answer]: the addresses and the TTL they may be
// cached for. The mesh takes one by Option, so that tests are deterministic
// ([ResolverFunc] adapts a function). [System] is the real one. Go's
// net.Resolver reports no TTL, so System does what the platform's stub
// resolver does, itself:
//
//   - the hosts file first (TTL 0: the consumer's refresh rate applies);
//   - then the nameservers of resolv.conf, with its search list, ndots,
//     timeout, attempts, rotate, single-request and use-vc options, A and
//     AAAA queries in parallel, over UDP with EDNS(0) and again over TCP when
//     the answer is truncated;
//   - CNAME chains followed inside the answer, the TTL being the smallest
//     along the chain;
//   - NXDOMAIN ([ErrNotFound]), no data ([ErrNoData]), SERVFAIL
//     ([ErrServerFailure]), timeouts ([ErrTimeout]), unreachable servers
//     ([ErrUnreachable]) and unusable answers ([ErrBadResponse]) kept apart;
//   - when resolv.conf is missing or names no usable nameserver, the
//     platform resolver (net.DefaultResolver by default), without TTL.
//
// The DNS messages are built and parsed with golang.org/x/net/dns/dnsmessage,
// the package Go's own resolver uses, rather than github.com/miekg/dns: x/net
// is already a direct dependency while miekg/dns would add a module (and its
// own x/ dependencies) for features we do not use; dnsmessage parses without
// allocating per record and is fuzzed upstream; and the part miekg/dns would
// save (a client exchange, a resolv.conf reader that knows fewer options than
// we need) is small next to what we must write either way: the search list,
// the strict failure rules, the hosts file and the fallback.
//
// # Refreshing
//
// A [Refresher] keeps one host resolved: at once, then when the answer's TTL
// runs out (clamped to [MinRefresh, MaxRefresh]; Envoy's respect_dns_ttl,
// which Istio sets) or after the refresh rate (Istio's dnsRefreshRate, 60 s)
// when there is no TTL. A failed resolution keeps the last good set and is
// retried with exponential backoff; its state (last error, last success,
// consecutive failures) is in [Refresher.State]. OnUpdate hears the set when
// it changes. In [Strict] mode every address is an endpoint and an
// authoritative NXDOMAIN or no-data answer empties the set (as Envoy does);
// in [Logical] mode only the first address is, and an empty answer is a
// failure.
//
//	r, err := dnsresolve.NewRefresher(dnsresolve.RefresherConfig{
//		Host:     "api.example.com",
//		Resolver: sys,
//		OnUpdate: func(addrs []netip.Addr) { cluster.SetEndpoints(addrs) },
//	})
//	...
//	defer r.Close()
package dnsresolve
