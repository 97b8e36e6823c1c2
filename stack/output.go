package stack

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// sendUDP builds a datagram from src to dst in a frame and sends it, or
// queues it while its next hop resolves. It returns an errno for the
// caller's socket call.
func (s *Stack) sendUDP(u *UDPSocket, r hop, dst [4]byte, sport, dport uint16, payload []byte) error {
	if s.dev.Alloc(s.one[:]) != 1 {
		s.drop(DropNoFrame)
		return unix.ENOBUFS
	}
	d := s.one[0]
	b := s.dev.Bytes(d)
	n := copy(b[wire.UDPHeadersLen:], payload)
	s.ipID++
	// DF set: the stack sends only what fits the path MTU and leaves
	// fragmentation to the kernel twin. The ID of such atomic datagrams
	// carries no meaning (RFC 6864 §4.1); a counter is enough.
	f := wire.UDPFrame{SrcMAC: s.mac, IP: wire.IPv4Header{TOS: u.tos, TTL: u.ttl, DF: true, ID: s.ipID, Src: s.addr, Dst: dst},
		SrcPort: sport, DstPort: dport}
	if dst == s.bcast || dst == [4]byte{255, 255, 255, 255} {
		f.DstMAC = wire.Broadcast
	} else if dst[0]&0xf0 == 0xe0 {
		f.DstMAC = multicastMAC(dst)
		f.IP.TTL = u.mcastTTL
	}
	d.Len = uint32(wire.BuildUDPFrame(b, &f, n))
	if f.DstMAC != (wire.MAC{}) {
		if dst[0]&0xf0 == 0xe0 && !u.mcastNoLoop && s.groups[dst] > 0 {
			// IP_MULTICAST_LOOP: our own members hear it too.
			s.deliverUDP(dst, dport, netip.AddrPortFrom(netip.AddrFrom4(s.addr), sport), payload)
		}
		return s.countUDP(s.transmit(d))
	}
	mac, res := s.res.lookup(r.nexthop)
	switch res {
	case resolved:
		wire.Ethernet(b).SetDst(mac)
		return s.countUDP(s.transmit(d))
	case resolving:
		return s.queuePending(r.nexthop, d, u, s.cfg.Now())
	}
	s.dev.Free(s.one[:])
	return unix.EHOSTUNREACH
}

// multicastMAC maps a group to its Ethernet address (RFC 1112 §6.4).
func multicastMAC(g [4]byte) wire.MAC {
	return wire.MAC{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]}
}

// transmit sends one built frame.
func (s *Stack) transmit(d vi.Desc) error {
	s.one[0] = d
	n, err := s.dev.Send(s.one[:])
	if n != 1 {
		s.dev.Free(s.one[:])
		s.drop(DropTxRing)
		return unix.ENOBUFS
	}
	if err != nil {
		return unix.EIO
	}
	return nil
}

func (s *Stack) countUDP(err error) error {
	if err == nil {
		s.stats.TxUDP++
	}
	return err
}
