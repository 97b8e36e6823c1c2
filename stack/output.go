package stack

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// sendUDP builds a datagram from src to dst in a frame and sends it, or
// queues it while its next hop resolves. It returns an errno for the
// caller's socket call.
func (s *Stack) sendUDP(u *UDPSocket, r hop, mtu int, dst [4]byte, sport, dport uint16, payload []byte) error {
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
		// IP_MULTICAST_LOOP: our own members hear a group's datagram
		// too. A broadcast is looped back always, as Linux's
		// ip_mc_output does for a broadcast route: the sender's port
		// on this host hears it.
		if f.DstMAC == wire.Broadcast || (!u.mcastNoLoop && s.groups[dst] > 0) {
			s.deliverUDP(dst, dport, netip.AddrPortFrom(netip.AddrFrom4(s.addr), sport), payload)
		}
		return s.countUDP(s.transmit(d))
	}
	var mac wire.MAC
	res := resolved
	if u.path.valid(s, dst) {
		mac = u.path.mac
	} else if mac, res = s.res.lookup(r.nexthop); res == resolved && s.kern != nil && s.kern.confirmed(r.nexthop) {
		u.path = pathCache{ok: true, gen: s.pathGen, dst: dst, hop: r, mtu: mtu, mac: mac}
	}
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

// Transmit batching. Ringing the device's doorbell (a system call in
// copy mode) costs more than the rest of a send, so a thread that sends
// datagram after datagram without receiving in between (a feed, a
// benchmark) rings once per txBatch frames: its sends are queued, and the
// doorbell rings when txBatch are queued, at the stack's next receive,
// poll or wait (any thread), or txFlushAfter after the first was queued,
// whichever comes first. A send that follows a receive, or a pause of
// Config.TxStreamGap, rings at once: request and response traffic never
// waits.
const (
	txBatch      = 32
	txFlushAfter = 100 * time.Microsecond
)

// transmit sends one built frame.
func (s *Stack) transmit(d vi.Desc) error {
	s.one[0] = d
	// The gap counts from the end of the previous send (its doorbell
	// included) to this one. Only a send with no receive before it can
	// belong to a stream, so only such a send reads the clock (twice):
	// request and response traffic reads it for none. The first send
	// after a receive leaves lastSend older than it is, which can only
	// make the next send look less like a stream: batching then starts at
	// a stream's third datagram instead of its second.
	streaming := false
	if !s.rxSinceSend {
		streaming = s.cfg.Now()-s.lastSend < s.cfg.TxStreamGap
		defer func() { s.lastSend = s.cfg.Now() }()
	}
	s.rxSinceSend = false
	if db, ok := s.dev.(vi.Doorbell); ok && streaming {
		n := db.Queue(s.one[:])
		if n == 0 {
			// The ring is full of queued frames: send them, and retry.
			s.ring()
			n = db.Queue(s.one[:])
		}
		if n != 1 {
			s.dev.Free(s.one[:])
			s.drop(DropTxRing)
			return unix.ENOBUFS
		}
		if s.txQueued++; s.txQueued >= txBatch {
			return s.ringErr()
		}
		if s.txQueued == 1 && s.flushTimer != nil {
			s.flushTimer.Reset(txFlushAfter)
		}
		return nil
	}
	n, err := s.dev.Send(s.one[:])
	s.txQueued = 0 // Send rang for everything on the ring
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

// ring sends what transmit queued. Receives, polls and waits call it:
// nothing queued waits behind a thread that went to read.
func (s *Stack) ring() {
	s.rxSinceSend = true
	if s.txQueued > 0 {
		s.ringErr()
	}
}

func (s *Stack) ringErr() error {
	s.txQueued = 0
	if err := s.dev.(vi.Doorbell).Ring(); err != nil {
		return unix.EIO
	}
	return nil
}

// flushQueued is the flush timer's: it sends what waited txFlushAfter.
func (s *Stack) flushQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.txQueued > 0 {
		s.ringErr()
	}
}

func (s *Stack) countUDP(err error) error {
	if err == nil {
		s.stats.TxUDP++
	}
	return err
}
