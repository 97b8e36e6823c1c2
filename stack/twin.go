package stack

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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
	sa, err := unix.Getsockname(u.twin)
	if err != nil {
		return 0, err
	}
	k.twins[u.twin] = u
	return uint16(sa.(*unix.SockaddrInet4).Port), nil
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
		if sa, err := unix.Getsockname(u.twin); err == nil {
			k.twins[u.twin] = u
			u.local = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(sa.(*unix.SockaddrInet4).Port))
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
