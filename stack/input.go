package stack

import (
	"net/netip"
	"time"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// input takes one received frame through the pipeline of the package
// comment. The frame goes back to the device after; what is kept is copied.
func (s *Stack) input(d vi.Desc, now time.Duration) {
	s.stats.RxFrames++
	eth, err := wire.ParseEthernet(s.dev.Bytes(d))
	if err != nil {
		s.drop(DropEthTruncated)
		return
	}
	// RFC 1122 §2.4: a host takes frames for its address, broadcast and
	// (group bit set) multicast.
	if dst := eth.Dst(); dst != s.mac && dst[0]&1 == 0 {
		s.drop(DropEthNotForUs)
		return
	}
	switch eth.Type() {
	case wire.EtherTypeARP:
		s.res.input(eth.Payload(), now)
	case wire.EtherTypeIPv4:
		s.inputIPv4(eth.Payload(), now)
	default:
		s.drop(DropEtherType)
	}
}

var ipErrDrop = map[error]Drop{
	wire.ErrTruncated: DropIPTruncated,
	wire.ErrVersion:   DropIPVersion,
	wire.ErrHeaderLen: DropIPHeaderLen,
	wire.ErrTotalLen:  DropIPTotalLen,
	wire.ErrChecksum:  DropIPChecksum,
}

var udpErrDrop = map[error]Drop{
	wire.ErrTruncated: DropUDPTruncated,
	wire.ErrTotalLen:  DropUDPLength,
	wire.ErrChecksum:  DropUDPChecksum,
}

// inputIPv4 follows RFC 1122 §3.2.1.
func (s *Stack) inputIPv4(b []byte, now time.Duration) {
	ip, err := wire.ParseIPv4(b)
	if err != nil {
		s.drop(ipErrDrop[err])
		return
	}
	if ip.TTL() == 0 {
		s.drop(DropIPTTL)
		return
	}
	// Reassembly is the kernel's (the filter passes fragments to it and
	// the socket's kernel twin receives the datagram).
	if ip.IsFragment() {
		s.drop(DropIPFragment)
		return
	}
	dst := ip.Dst()
	multicast := dst[0]&0xf0 == 0xe0
	if (dst != s.addr && dst != s.bcast && dst != [4]byte{255, 255, 255, 255} && !multicast) || (multicast && s.groups[dst] == 0) {
		s.drop(DropIPNotForUs)
		return
	}
	switch ip.Protocol() {
	case wire.ProtoUDP:
		s.inputUDP(ip, now)
	case wire.ProtoTCP:
		if dst != s.addr {
			s.drop(DropIPNotForUs) // TCP is unicast only
			return
		}
		s.inputTCP(ip, now)
	default:
		s.drop(DropIPProto)
	}
}

// inputUDP checks a datagram (RFC 768) and queues it on its sockets.
func (s *Stack) inputUDP(ip wire.IPv4, now time.Duration) {
	src, dst := ip.Src(), ip.Dst()
	u, err := wire.ParseUDP(ip.Payload(), src, dst)
	if err != nil {
		s.drop(udpErrDrop[err])
		return
	}
	from := netip.AddrPortFrom(netip.AddrFrom4(src), u.SrcPort())
	delivered, full := s.deliverUDP(dst, u.DstPort(), from, u.Payload())
	switch {
	case delivered > 0:
		s.stats.RxUDP++
	case full:
		s.drop(DropUDPRcvBuf)
	default:
		s.drop(DropUDPNoSocket)
	}
}
