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
// is none at all (ENETUNREACH). Multicast and the limited broadcast leave
// through the stack's interface, as Linux sends them through the device
// of the source address or the one the socket names; a socket that
// names none looks at the main table in Kernel mode (lookupTable,
// UDPSocket.SendTo).
func (t *routeTable) lookup(dst [4]byte) (h hop, ok bool) {
	if outOfTable(dst) {
		return hop{nexthop: dst, mtu: t.ifmtu, ours: true}, true
	}
	return t.lookupTable(dst)
}

// outOfTable reports a group or the limited broadcast.
func outOfTable(dst [4]byte) bool {
	return dst[0]&0xf0 == 0xe0 || dst == [4]byte{255, 255, 255, 255}
}

// lookupTable is lookup in the main table alone.
func (t *routeTable) lookupTable(dst [4]byte) (h hop, ok bool) {
	a := netip.AddrFrom4(dst)
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
