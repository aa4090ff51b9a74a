package dnsresolve

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"
)

// resolvConf is what a resolver needs from resolv.conf(5).
type resolvConf struct {
	servers       []string      // "ip:53", at most maxNameservers
	search        []string      // rooted suffixes ("example.com.")
	ndots         int           // dots in a name that make it tried as is first
	timeout       time.Duration // per try and server
	attempts      int           // rounds over the servers
	rotate        bool          // start at a different server each query
	singleRequest bool          // A then AAAA, not in parallel
	useTCP        bool          // TCP only (use-vc)
	noReload      bool          // never re-read the file
}

// Limits and defaults of glibc's resolver (resolv.h, resolv.conf(5)).
const (
	maxNameservers  = 3 // MAXNS
	defaultNdots    = 1
	maxNdots        = 15
	defaultTimeout  = 5 * time.Second // RES_TIMEOUT
	maxTimeout      = 30 * time.Second
	defaultAttempts = 2 // RES_DFLRETRY
	maxAttempts     = 5 // RES_MAXRETRY
)

// errNoNameserver says that resolv.conf names no usable nameserver.
var errNoNameserver = errors.New("no usable nameserver line")

// parseResolvConf reads resolv.conf content as glibc does. hostname supplies
// the default search domain (the part after its first dot) when the file
// has neither "search" nor "domain". A file that names no usable nameserver
// is an error: the caller then falls back to the platform resolver rather
// than guess one.
func parseResolvConf(data []byte, hostname string) (*resolvConf, error) {
	c := &resolvConf{
		ndots:    defaultNdots,
		timeout:  defaultTimeout,
		attempts: defaultAttempts,
	}
	searchSet := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), 64*1024)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 0 && (line[0] == ';' || line[0] == '#') {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 || len(c.servers) >= maxNameservers {
				continue
			}
			// Only literal addresses: a name would need DNS to find DNS.
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				continue
			}
			c.servers = append(c.servers, net.JoinHostPort(a.String(), "53"))
		case "domain":
			// The last of "domain" and "search" wins.
			if len(f) > 1 {
				c.search = []string{rooted(f[1])}
				searchSet = true
			}
		case "search":
			c.search = c.search[:0:0]
			for _, s := range f[1:] {
				if s = rooted(s); s != "." {
					c.search = append(c.search, s)
				}
			}
			searchSet = true
		case "options":
			for _, o := range f[1:] {
				c.option(o)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !searchSet {
		if i := strings.IndexByte(hostname, '.'); i >= 0 && i < len(hostname)-1 {
			c.search = []string{rooted(hostname[i+1:])}
		}
	}
	if len(c.servers) == 0 {
		return nil, errNoNameserver
	}
	return c, nil
}

// option applies one word of an "options" line. Unknown options are
// ignored, as glibc does.
func (c *resolvConf) option(o string) {
	name, val, _ := strings.Cut(o, ":")
	switch name {
	case "ndots":
		c.ndots = min(max(leadingInt(val), 0), maxNdots)
	case "timeout":
		c.timeout = min(time.Duration(max(leadingInt(val), 1))*time.Second, maxTimeout)
	case "attempts":
		c.attempts = min(max(leadingInt(val), 1), maxAttempts)
	case "rotate":
		c.rotate = true
	case "single-request", "single-request-reopen":
		c.singleRequest = true
	case "use-vc", "usevc", "tcp":
		c.useTCP = true
	case "no-reload":
		c.noReload = true
	}
}

// leadingInt parses the decimal digits at the start of s, as atoi does; it
// saturates instead of overflowing.
func leadingInt(s string) int {
	n := 0
	for i := 0; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		n = min(n*10+int(s[i]-'0'), 1<<20)
	}
	return n
}

// rooted adds the trailing dot of a fully qualified name.
func rooted(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// nameList returns the fully qualified names to try for name, in order, as
// resolv.conf(5) says: a rooted name alone; a name with at least ndots dots
// as is first, then with each search suffix; a name with fewer dots with
// each suffix first, then as is. Names too long for DNS are left out.
func (c *resolvConf) nameList(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	asIs := name + "."
	first := strings.Count(name, ".") >= c.ndots
	names := make([]string, 0, len(c.search)+1)
	if first {
		names = append(names, asIs)
	}
	for _, s := range c.search {
		if fq := asIs + s; len(fq) <= maxNameLen {
			names = append(names, fq)
		}
	}
	if !first {
		names = append(names, asIs)
	}
	return names
}
