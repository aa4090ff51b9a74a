package meshtest

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/subset"
)

// ServiceEntry returns a ServiceEntry for host with one HTTP port whose
// endpoints are the backends (nil ones skipped), with their labels.
// Resolution is STATIC when every backend address is an IP, DNS otherwise.
// A backend listening on another port than port is reached through the
// endpoint's named port.
func ServiceEntry(host string, port uint32, backends ...*Backend) subset.ServiceEntry {
	se := subset.ServiceEntry{
		Name:       host,
		Hosts:      []string{host},
		Ports:      []subset.Port{{Number: port, Name: "http", Protocol: "HTTP"}},
		Resolution: "STATIC",
	}
	for _, b := range backends {
		if b == nil {
			continue
		}
		h, p, err := net.SplitHostPort(b.Addr)
		if err != nil {
			h, p = b.Addr, strconv.Itoa(int(port))
		}
		if _, err := netip.ParseAddr(h); err != nil {
			se.Resolution = "DNS"
		}
		ep := subset.WorkloadEntry{Address: h, Labels: b.Labels}
		if n, _ := strconv.ParseUint(p, 10, 16); uint32(n) != port {
			ep.Ports = map[string]uint32{"http": uint32(n)}
		}
		se.Endpoints = append(se.Endpoints, ep)
	}
	return se
}

// Clock is a fake clock for switchyard.WithClock: time stands still until
// Advance moves it, and timers fire inside Advance. It is safe for
// concurrent use.
type Clock struct {
	fake *clock.Fake
}

// NewClock returns a fake clock that reads start.
func NewClock(start time.Time) *Clock { return &Clock{fake: clock.NewFake(start)} }

// Now returns the fake time.
func (c *Clock) Now() time.Time { return c.fake.Now() }

// AfterFunc schedules f for when the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer { return c.fake.AfterFunc(d, f) }

// Advance moves the clock forward by d, running due timers in order.
func (c *Clock) Advance(d time.Duration) { c.fake.Advance(d) }

// Pending reports how many timers have not fired or been stopped.
func (c *Clock) Pending() int { return c.fake.Pending() }

// NewRand returns a deterministic random source for switchyard.WithRand.
// It is safe for concurrent use.
func NewRand(seed uint64) interface{ Uint64() uint64 } { return rng.NewSeeded(seed) }
