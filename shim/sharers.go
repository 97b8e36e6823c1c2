package shim

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// A socket bound with SO_REUSEADDR or SO_REUSEPORT may share its port with
// sockets of other processes, or ones this process left with the kernel.
// Linux gives those their share: a copy of every multicast or broadcast
// datagram to each, a connected socket its peer's datagrams, a reuseport
// group its hash. The filter would steer all of it to the VI, and they
// would get nothing (a kernel subscriber of a group went from 20 of 20
// datagrams to 0 when an accelerated one joined after it; socat's
// UDP-LISTEN with fork lost its connected children's datagrams to the
// parent's next socket). So such a bind looks for them first, and leaves
// the socket with the kernel if one is there. A sharer that binds after
// the decision is not seen (the README says so).
//
// The look is a probe: a socket without SO_REUSEADDR bound to the same
// address and port fails with EADDRINUSE exactly when a socket is there
// whose address overlaps (the same, or the wildcard on either side),
// three system calls. Only when this process accelerates a socket on the
// port too (a reuseport group of threads) must it ask whose they are:
// sock_diag lists the port's sockets, but each dump walks the kernel's
// whole UDP hash table (16384 slots here), 37-60 us against the probe's
// few.

// sharerOf returns a socket the kernel serves that shares ap's port with
// an overlapping address, described for the log, or "" if none does.
func (sh *Shim) sharerOf(ap netip.AddrPort) (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open a probe socket: %w", err)
	}
	err = unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
	unix.Close(fd)
	switch {
	case err == nil:
		return "", nil
	case err != unix.EADDRINUSE:
		return "", fmt.Errorf("bind a probe socket to %v: %w", ap, err)
	case !sh.portAccelerated(ap.Port()):
		return "a socket of another process or one left with the kernel", nil
	}
	return kernelSharer(ap, sh.ownsInode)
}

// inetDiagReqLen is struct inet_diag_req_v2 (linux/inet_diag.h): family,
// protocol, extensions, padding, the states, and the socket id (ports,
// addresses, interface, cookie).
const inetDiagReqLen = 56

// kernelSharer returns a UDP socket the kernel serves that shares ap's
// port with overlapping addresses (either is the wildcard, or they are
// equal), described for the log, or "" if there is none. ours says which
// socket inodes are this process's accelerated sockets, which the stack
// serves together.
func kernelSharer(ap netip.AddrPort, ours func(inode uint32) bool) (string, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return "", fmt.Errorf("open sock_diag: %w", err)
	}
	defer unix.Close(fd)
	var req [unix.NLMSG_HDRLEN + inetDiagReqLen]byte
	h := req[:unix.NLMSG_HDRLEN]
	binary.NativeEndian.PutUint32(h[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(h[4:6], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(h[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	r := req[unix.NLMSG_HDRLEN:]
	r[0], r[1] = unix.AF_INET, unix.IPPROTO_UDP
	binary.NativeEndian.PutUint32(r[4:8], ^uint32(0)) // every state
	binary.BigEndian.PutUint16(r[8:10], ap.Port())    // the kernel keeps only this port's
	if err := unix.Sendto(fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "", fmt.Errorf("ask sock_diag for port %d: %w", ap.Port(), err)
	}
	want := ap.Addr().As4()
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return "", fmt.Errorf("read sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return "", fmt.Errorf("parse sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return "", nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return "", fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return "", nil
			}
			// struct inet_diag_msg: family, state, timer, retrans,
			// the socket id (48 bytes), expires, rqueue, wqueue,
			// uid, inode.
			d := m.Data
			if len(d) < 72 || binary.BigEndian.Uint16(d[4:6]) != ap.Port() {
				continue
			}
			inode := binary.NativeEndian.Uint32(d[68:72])
			if ours(inode) {
				continue
			}
			src := [4]byte(d[8:12])
			if src != want && src != [4]byte{} && want != [4]byte{} {
				continue
			}
			desc := fmt.Sprintf("%v", netip.AddrPortFrom(netip.AddrFrom4(src), ap.Port()))
			if dport := binary.BigEndian.Uint16(d[6:8]); dport != 0 {
				desc += fmt.Sprintf(" connected to %v", netip.AddrPortFrom(netip.AddrFrom4([4]byte(d[24:28])), dport))
			}
			return fmt.Sprintf("%s (inode %d)", desc, inode), nil
		}
	}
}
