package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/udp"
	"github.com/accelnet/accel/vi"
)

// Every UDP socket of a Kernel-mode stack has a twin: a kernel UDP socket
// bound to the same address and port. It reserves the port against the
// kernel and picks ephemeral ports; it receives what never reaches the VI
// (loopback, other interfaces, fragments the kernel reassembled); it sends
// what the VI should not (other routes, datagrams over the path MTU, which
// the kernel fragments); and, with IP_RECVERR, it hears the ICMP errors
// about the flow, since the filter leaves ICMP to the kernel.

func (k *kernel) newTwin() (int, error) {
	var fd int
	err := vi.InNetns(k.netns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	if err := k.watchTwin(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// watchTwin puts a twin in the stack's epoll set.
func (k *kernel) watchTwin(fd int) error {
	return unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLERR, Fd: int32(fd)})
}

// unwatchTwin takes a twin out of the stack's sight: its data stays in
// the kernel socket.
func (k *kernel) unwatchTwin(u *UDPSocket) {
	delete(k.twins, u.twin)
	unix.EpollCtl(k.epfd, unix.EPOLL_CTL_DEL, u.twin, nil)
}

// bindTwin binds the twin as the socket asks and returns the port the
// kernel gave it.
func (k *kernel) bindTwin(u *UDPSocket, ap netip.AddrPort) (uint16, error) {
	if u.reuseAddr && !u.adopted {
		unix.SetsockoptInt(u.twin, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if u.reusePort && !u.adopted {
		unix.SetsockoptInt(u.twin, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err := unix.Bind(u.twin, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return 0, err
	}
	ap, err := SockName(u.twin)
	if err != nil {
		return 0, err
	}
	k.twins[u.twin] = u
	return ap.Port(), nil
}

// SockName is the local address of fd, an IPv4 socket. unix.Getsockname
// reads the socket's protocol too (SO_PROTOCOL, which only L2TP's
// addresses need): a system call more in each of a decision's two.
func SockName(fd int) (netip.AddrPort, error) {
	var sa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	if _, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return netip.AddrPort{}, fmt.Errorf("getsockname: %w", e)
	}
	if sa.Addr.Family != unix.AF_INET || n < unix.SizeofSockaddrInet4 {
		return netip.AddrPort{}, fmt.Errorf("getsockname: family %d: %w", sa.Addr.Family, unix.EAFNOSUPPORT)
	}
	in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
	return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port), nil
}

// connectTwin connects the twin to ap, or disconnects it for the zero ap.
func (k *kernel) connectTwin(u *UDPSocket, ap netip.AddrPort) error {
	if !ap.IsValid() {
		var sa [16]byte // struct sockaddr with family AF_UNSPEC
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(u.twin), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
		if e != 0 {
			return e
		}
		return nil
	}
	if err := unix.Connect(u.twin, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return err
	}
	if !u.local.IsValid() {
		// The kernel bound the twin: take its port.
		if ap, err := SockName(u.twin); err == nil {
			k.twins[u.twin] = u
			u.local = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		}
	}
	return nil
}

// sendTwin sends through the kernel.
func (k *kernel) sendTwin(u *UDPSocket, b []byte, to netip.AddrPort) (int, error) {
	err := unix.Sendto(u.twin, b, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())})
	if err != nil {
		return 0, err
	}
	k.s.stats.TxKernel++
	return len(b), nil
}

// errGroupBound is why requeue leaves a socket's datagrams where they are.
var errGroupBound = errors.New("bound to a multicast or broadcast address, which a datagram re-sent to a unicast address would not reach")

// requeue moves the datagrams queued for u into its twin, the kernel's
// socket, so that every process that shares the socket after a fork or an
// exec reads them: the kernel's socket is all those processes have. (An
// inetd-style service, or socat's UDP-RECVFROM with fork, waits for a
// datagram, forks, and reads it in the child; the child found nothing.)
// Each goes through a raw socket as the IPv4 datagram its peer sent, from
// the peer's address and port to the socket's, which the kernel delivers
// locally (over loopback, never onto the wire) to the socket bound there.
// They keep their order, behind what the twin already holds. The TTL and
// TOS the peer sent are not kept (a socket that asks for them is the
// kernel's from the start), nor the interface IP_PKTINFO would name.
//
// A datagram that cannot be moved stays queued here, to be read first by
// this process, as it was before: all of them when the socket is bound to
// a group or broadcast address, or when no raw socket can be had (it
// needs CAP_NET_RAW, which AF_XDP needs too); from the first the kernel
// refuses. It returns how many moved. Called with s.mu held.
func (k *kernel) requeue(u *UDPSocket) (int, error) {
	if u.twin < 0 || u.q.Len() == 0 {
		return 0, nil
	}
	bound := u.local.Addr().As4()
	if netip.AddrFrom4(bound).IsMulticast() || u.isBroadcast(bound) {
		return 0, errGroupBound
	}
	var raw int
	err := vi.InNetns(k.netns, func() (err error) {
		raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("open a raw socket to re-send the queued datagrams: %w", err)
	}
	defer unix.Close(raw)
	// k.buf (64 KB, used under s.mu) holds the largest datagram with its
	// headers: hdr + udp.MaxPayload is 65535.
	const hdr = wire.IPv4Len + wire.UDPLen
	pkt := k.buf[:hdr+udp.MaxPayload]
	moved := 0
	for {
		n, _, from, m, ok := u.q.PopMeta(pkt[hdr:], true)
		if !ok {
			break
		}
		// The address it was sent to, if the socket is bound to all
		// and the datagram kept it (IP_PKTINFO), so that the kernel
		// reports the same; else the socket's, or the stack's.
		dst := bound
		if dst == ([4]byte{}) {
			dst = k.s.addr
			if a := netip.AddrFrom4(m.Dst); m.Dst != ([4]byte{}) && !a.IsMulticast() && !u.isBroadcast(m.Dst) {
				dst = m.Dst
			}
		}
		src := from.Addr().As4()
		wire.UDP(pkt[wire.IPv4Len:]).Build(from.Port(), u.local.Port(), src, dst, n)
		wire.IPv4(pkt).Build(&wire.IPv4Header{TTL: 64, Protocol: wire.ProtoUDP, Src: src, Dst: dst}, wire.UDPLen+n)
		if err := unix.Sendto(raw, pkt[:hdr+n], unix.MSG_DONTWAIT, &unix.SockaddrInet4{Addr: dst}); err != nil {
			return moved, fmt.Errorf("re-send a queued datagram to %v: %w", netip.AddrFrom4(dst), err)
		}
		u.q.PopMeta(nil, false)
		moved++
		k.s.stats.Requeued++
		k.s.changes++
	}
	return moved, nil
}

// drainTwin moves what the twin received into the socket's queue, in the
// order it arrived, and takes its errors.
func (k *kernel) drainTwin(u *UDPSocket) {
	var oob [128]byte
	for range 64 {
		n, oobn, _, from, err := unix.Recvmsg(u.twin, k.buf, oob[:], unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			// A pending error (sk_err), reported once by recv. For our
			// own twins the error queue below tells what it was about;
			// an adopted twin has no IP_RECVERR, and the kernel's error
			// is the socket's, exactly as the application would see it.
			if e, ok := err.(unix.Errno); ok && u.adopted {
				u.setErr(e)
				break
			}
			continue
		}
		if sa, ok := from.(*unix.SockaddrInet4); ok {
			ap := netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
			if !u.q.PushMeta(k.buf[:n], ap, twinMeta(u, oob[:oobn])) {
				k.s.drop(DropUDPRcvBuf)
			} else {
				u.queued()
				k.s.stats.RxKernel++
			}
		}
	}
	if !u.adopted {
		k.readErrors(u)
	}
}

// twinMeta is the Meta of a datagram the twin received (nothing when the
// socket did not ask), from its control messages: the destination of
// IP_PKTINFO, the kernel's timestamp (or the time now when the kernel
// gave none).
func twinMeta(u *UDPSocket, oob []byte) udp.Meta {
	if !u.wantDst && !u.wantStamp {
		return udp.Meta{}
	}
	var m udp.Meta
	if u.local.IsValid() {
		m.Dst = u.local.Addr().As4()
	}
	cmsgs, _ := unix.ParseSocketControlMessage(oob)
	for _, c := range cmsgs {
		h := c.Header
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(c.Data) >= unix.SizeofInet4Pktinfo:
			copy(m.Dst[:], c.Data[8:12]) // ipi_addr: the header's destination
		case h.Level == unix.SOL_SOCKET && (h.Type == unix.SO_TIMESTAMPNS || h.Type == unix.SO_TIMESTAMP) && len(c.Data) >= 16:
			// A timespec, or a timeval (microseconds).
			sec, frac := int64(binary.NativeEndian.Uint64(c.Data[0:8])), int64(binary.NativeEndian.Uint64(c.Data[8:16]))
			if h.Type == unix.SO_TIMESTAMP {
				frac *= 1e3
			}
			m.Stamp = sec*1e9 + frac
		}
	}
	if u.wantStamp && m.Stamp == 0 {
		m.Stamp = time.Now().UnixNano()
	}
	return m
}

// readErrors takes the twin's ICMP errors (IP_RECVERR): a refused or
// unreachable peer becomes the socket's pending error when it is
// connected, as Linux reports it; "fragmentation needed" lowers the path
// MTU to the destination (RFC 1191), above which datagrams go through the
// kernel, which fragments them.
func (k *kernel) readErrors(u *UDPSocket) {
	var oob [256]byte
	for range 16 {
		n, oobn, _, from, err := unix.Recvmsg(u.twin, nil, oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		_ = n
		if err != nil {
			break
		}
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, c := range cmsgs {
			if c.Header.Level != unix.IPPROTO_IP || c.Header.Type != unix.IP_RECVERR || len(c.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&c.Data[0]))
			if ee.Origin != unix.SO_EE_ORIGIN_ICMP {
				continue
			}
			errno := unix.Errno(ee.Errno)
			if errno == unix.EMSGSIZE {
				if sa, ok := from.(*unix.SockaddrInet4); ok && ee.Info >= 68 {
					k.pmtu[sa.Addr] = int(ee.Info)
					k.s.pathGen++
				}
				continue
			}
			if u.connected() {
				u.setErr(errno)
			}
		}
	}
	// Clear the twin's sk_err, which the error queue has explained.
	unix.GetsockoptInt(u.twin, unix.SOL_SOCKET, unix.SO_ERROR)
}

// pathMTU is the MTU toward dst: the route's, lowered by what ICMP said.
func (k *kernel) pathMTU(dst [4]byte, mtu int) int {
	if p, ok := k.pmtu[dst]; ok && p < mtu {
		return p
	}
	return mtu
}

func (k *kernel) closeTwin(u *UDPSocket) {
	k.unwatchTwin(u)
	if !u.adopted {
		unix.Close(u.twin)
	}
	u.twin = -1
}
