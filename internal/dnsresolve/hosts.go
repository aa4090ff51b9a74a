package dnsresolve

import (
	"bufio"
	"bytes"
	"net/netip"
	"slices"
	"strings"
)

// hostsTable maps a lower-case, rooted name to its addresses in file order.
type hostsTable map[string][]netip.Addr

// parseHosts reads hosts(5) content: "address name [aliases...]" per line,
// '#' starts a comment, lines that do not begin with an IP address are
// skipped. Every name on a line (canonical name and aliases alike) maps to
// the address.
func parseHosts(data []byte) hostsTable {
	t := hostsTable{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), 64*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			key := hostsKey(name)
			if !slices.Contains(t[key], a) {
				t[key] = append(t[key], a)
			}
		}
	}
	// A line longer than the scanner's buffer ends the scan; the lines
	// read so far stand, as a truncated read would in glibc.
	return t
}

// hostsKey is the table key of name: lower case and rooted.
func hostsKey(name string) string { return rooted(strings.ToLower(name)) }
