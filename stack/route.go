package stack

import "net/netip"

// route is one entry of the routing table the stack sends by.
type route struct {
	dst     netip.Prefix
	gateway [4]byte // zero: on-link
	ifindex int
	mtu     int // 0: the interface's
}

// routeTable is a small list searched for the longest prefix: hosts have
// a handful of routes, and the lookup is one per send to a new destination
// at worst.
type routeTable struct {
	routes  []route
	ifindex int // the stack's interface: routes through others are not ours
	ifmtu   int
}

// hop is a lookup's answer.
type hop struct {
	nexthop [4]byte
	mtu     int
	ours    bool // through the stack's interface; else the kernel's business
}

func (t *routeTable) setStatic(addr netip.Prefix, gw netip.Addr, ifindex, mtu int) {
	t.ifindex, t.ifmtu = ifindex, mtu
	t.routes = []route{{dst: addr.Masked(), ifindex: ifindex}}
	if gw.IsValid() {
		t.routes = append(t.routes, route{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), gateway: gw.As4(), ifindex: ifindex})
	}
}

// lookup finds the route to dst (longest prefix). ok is false when there
// is none at all (ENETUNREACH). Multicast and the limited broadcast need
// no route of the main table: Linux sends them through its local and
// multicast routes; here they leave through the stack's interface.
func (t *routeTable) lookup(dst [4]byte) (h hop, ok bool) {
	a := netip.AddrFrom4(dst)
	if a.IsMulticast() || dst == [4]byte{255, 255, 255, 255} {
		return hop{nexthop: dst, mtu: t.ifmtu, ours: true}, true
	}
	best := -1
	for i, r := range t.routes {
		if r.dst.Contains(a) && (best < 0 || r.dst.Bits() > t.routes[best].dst.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return hop{}, false
	}
	r := t.routes[best]
	h = hop{nexthop: dst, mtu: t.ifmtu, ours: r.ifindex == t.ifindex}
	if r.gateway != ([4]byte{}) {
		h.nexthop = r.gateway
	}
	if r.mtu != 0 {
		h.mtu = r.mtu
	}
	return h, true
}
