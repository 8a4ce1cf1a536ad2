package delivery

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// BlockedError is returned when a destination address is not publicly
// routable and not allowed by configuration.
type BlockedError struct {
	Addr  netip.Addr
	Range string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is blocked (%s); allow it with delivery.allow_networks", e.Addr, e.Range)
}

// blockedRanges are the ranges that are not publicly routable.
var blockedRanges = func() []struct {
	p    netip.Prefix
	name string
} {
	list := []struct{ cidr, name string }{
		{"0.0.0.0/8", "this network"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"fc00::/7", "unique local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"64:ff9b:1::/48", "local-use NAT64"},
		{"ff00::/8", "multicast"},
		{"2001:db8::/32", "documentation"},
	}
	out := make([]struct {
		p    netip.Prefix
		name string
	}, len(list))
	for i, r := range list {
		out[i].p = netip.MustParsePrefix(r.cidr)
		out[i].name = r.name
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Guard decides which destination addresses deliveries may reach. The
// zero Guard refuses every address that is not publicly routable.
type Guard struct {
	allow []netip.Prefix
}

// NewGuard returns a guard that also allows the given CIDRs.
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, s := range allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allow network %q: %w", s, err)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Allows reports whether addr is in a network the configuration allows
// (delivery.allow_networks), as opposed to merely public.
func (g *Guard) Allows(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Check returns a *BlockedError when addr may not be reached.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	if g.Allows(addr) {
		return nil
	}
	// Addresses that embed an IPv4 address are judged by it too.
	if addr.Is6() && (nat64.Contains(addr) || sixToFour.Contains(addr)) {
		b := addr.As16()
		var v4 netip.Addr
		if nat64.Contains(addr) {
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		} else {
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if err := g.Check(v4); err != nil {
			return &BlockedError{Addr: addr, Range: "embeds " + err.(*BlockedError).Range + " " + v4.String()}
		}
	}
	for _, r := range blockedRanges {
		if r.p.Contains(addr) {
			return &BlockedError{Addr: addr, Range: r.name}
		}
	}
	return nil
}

// Control is a net.Dialer Control hook: it checks the address actually
// being connected to, after DNS resolution, so a name that resolves to a
// blocked address is refused too.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("destination %q is not an IP address", host)
	}
	return g.Check(addr)
}
