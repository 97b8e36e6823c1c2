package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/vi"
)

// ICMP for TCP. A connection's kernel twin is bound, never connected, so
// the kernel matches no socket to an ICMP error about the connection's
// segments and drops it (a UDP twin hears its errors through IP_RECVERR,
// twin.go). The stack reads destination-unreachable messages itself from
// a raw ICMP socket (the privilege AF_XDP already needs), the kernel
// filtering out every other type, and takes "fragmentation needed" for
// its connections: RFC 1191 path MTU discovery, with RFC 5927 §4.1's
// check that the quoted sequence number is one in flight, so that a
// forged message cannot shrink a connection's segments blindly.

// icmpFilter is ICMP_FILTER (linux/icmp.h): a raw ICMP socket's mask of
// the types it does not want.
const icmpFilter = 1

// openICMP makes the raw ICMP socket and watches it; a stack without
// TCP never opens it.
func (k *kernel) openICMP() error {
	if k.icmp >= 0 {
		return nil
	}
	var fd int
	err := vi.InNetns(k.netns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		return fmt.Errorf("kernel mode: raw ICMP socket for TCP's path MTU: %w", err)
	}
	block := ^uint32(1 << wire.ICMPUnreachable)
	if err := unix.SetsockoptInt(fd, unix.SOL_RAW, icmpFilter, int(int32(block))); err != nil {
		unix.Close(fd)
		return fmt.Errorf("kernel mode: ICMP_FILTER: %w", err)
	}
	if err := unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("kernel mode: watch the ICMP socket: %w", err)
	}
	k.icmp = fd
	return nil
}

// readICMP takes the destination-unreachable messages queued.
func (k *kernel) readICMP() {
	for range 64 {
		n, _, err := unix.Recvfrom(k.icmp, k.buf, unix.MSG_DONTWAIT)
		if err != nil || n <= 0 {
			return
		}
		k.icmpInput(k.buf[:n])
	}
}

// icmpInput takes one ICMP message with its IPv4 header.
func (k *kernel) icmpInput(b []byte) {
	ip, err := wire.ParseIPv4(b)
	if err != nil {
		return
	}
	m, err := wire.ParseICMP(ip.Payload())
	if err != nil || m.Type() != wire.ICMPUnreachable || m.Code() != wire.ICMPFragNeeded {
		return
	}
	q, err := m.Quoted()
	if err != nil || q.Protocol() != wire.ProtoTCP || q.Src() != k.s.addr {
		return
	}
	seg := q[q.HeaderLen():]
	mtu := m.NextHopMTU()
	if len(seg) < 8 || mtu < 68 {
		// A router older than RFC 1191 says no MTU: left alone.
		return
	}
	st := k.s.tcpst
	if st == nil {
		return
	}
	// The quote holds the TCP header's first 8 bytes only: ports and
	// sequence number, read in place.
	t := tcp.Tuple{
		Local:  netip.AddrPortFrom(netip.AddrFrom4(q.Src()), binary.BigEndian.Uint16(seg[0:2])),
		Remote: netip.AddrPortFrom(netip.AddrFrom4(q.Dst()), binary.BigEndian.Uint16(seg[2:4])),
	}
	u := st.conns[t]
	if u == nil {
		return
	}
	quoted := tcp.Seq(binary.BigEndian.Uint32(seg[4:8]))
	if !u.c.InFlight(quoted) {
		k.s.drop(DropICMPStale)
		return
	}
	if p, ok := k.pmtu[q.Dst()]; !ok || mtu < p {
		k.pmtu[q.Dst()] = mtu
		k.s.pathGen++
	}
	u.c.SetPathMTU(mtu)
	k.s.tcpOutput(u)
}
