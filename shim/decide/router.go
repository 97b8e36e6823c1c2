package decide

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// Kernel is the Router that asks the kernel, in the calling thread's
// network namespace.
type Kernel struct{}

var errNoInterface = errors.New("no interface has it")

// LocalInterface finds the interface that has addr.
func (Kernel) LocalInterface(addr netip.Addr) (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr {
					return ifc.Name, nil
				}
			}
		}
	}
	return "", errNoInterface
}

// RouteInterface asks the kernel for its route to dst (RTM_GETROUTE, as
// `ip route get` does) and returns the outgoing interface.
func (Kernel) RouteInterface(dst netip.Addr) (string, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return "", fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	const attrLen = unix.SizeofRtAttr + 4
	msg := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg+attrLen)
	*(*unix.NlMsghdr)(unsafe.Pointer(&msg[0])) = unix.NlMsghdr{Len: uint32(len(msg)), Type: unix.RTM_GETROUTE, Flags: unix.NLM_F_REQUEST, Seq: 1}
	*(*unix.RtMsg)(unsafe.Pointer(&msg[unix.SizeofNlMsghdr])) = unix.RtMsg{Family: unix.AF_INET, Dst_len: 32}
	a := msg[unix.SizeofNlMsghdr+unix.SizeofRtMsg:]
	binary.NativeEndian.PutUint16(a[0:2], attrLen)
	binary.NativeEndian.PutUint16(a[2:4], unix.RTA_DST)
	d := dst.As4()
	copy(a[4:], d[:])
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "", fmt.Errorf("ask the route to %v: %w", dst, err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return "", fmt.Errorf("read the route to %v: %w", dst, err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil || len(msgs) == 0 {
		return "", fmt.Errorf("parse the route to %v: %w", dst, err)
	}
	m := msgs[0]
	if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
		if e := -int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
			return "", syscall.Errno(e)
		}
	}
	if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
		return "", fmt.Errorf("route to %v: unexpected answer %d", dst, m.Header.Type)
	}
	oif := vi.AttrU32(m.Data[unix.SizeofRtMsg:], unix.RTA_OIF)
	ifc, err := net.InterfaceByIndex(int(oif))
	if err != nil {
		return "", fmt.Errorf("route to %v: interface %d: %w", dst, oif, err)
	}
	return ifc.Name, nil
}
