package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockDiag is a stack's NETLINK_SOCK_DIAG socket, in its namespace: the
// shim asks it which UDP sockets the kernel has on a port (a port shared
// with a socket the kernel serves stays with the kernel).
type sockDiag struct {
	mu  sync.Mutex // one dump at a time: each is read to its end
	fd  int
	seq uint32
	buf []byte
}

// inetDiagReqLen is struct inet_diag_req_v2 (linux/inet_diag.h): family,
// protocol, extensions, padding, the states, and the socket id (ports,
// addresses, interface, cookie).
const inetDiagReqLen = 56

// KernelUDPSockets calls fn with each IPv4 UDP socket of the stack's
// network namespace bound to port (0: every port), from one sock_diag
// dump: its local and remote address and its inode. The kernel walks its
// whole UDP hash table for a dump (16384 slots here: 37-60 us), whatever
// the port. It needs a Kernel-mode stack.
func (s *Stack) KernelUDPSockets(port uint16, fn func(local, remote netip.AddrPort, inode uint32)) error {
	if s.kern == nil {
		return unix.EOPNOTSUPP
	}
	d := &s.kern.diag
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	var req [unix.NLMSG_HDRLEN + inetDiagReqLen]byte
	h := req[:unix.NLMSG_HDRLEN]
	binary.NativeEndian.PutUint32(h[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(h[4:6], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(h[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(h[8:12], d.seq)
	r := req[unix.NLMSG_HDRLEN:]
	r[0], r[1] = unix.AF_INET, unix.IPPROTO_UDP
	binary.NativeEndian.PutUint32(r[4:8], ^uint32(0)) // every state
	binary.BigEndian.PutUint16(r[8:10], port)         // the kernel keeps only this port's
	if err := unix.Sendto(d.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("ask sock_diag for port %d: %w", port, err)
	}
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			return fmt.Errorf("read sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(d.buf[:n])
		if err != nil {
			return fmt.Errorf("parse sock_diag: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != d.seq {
				continue // what an earlier, failed dump left
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return nil
			}
			// struct inet_diag_msg: family, state, timer, retrans,
			// the socket id (ports, then 16-byte addresses, the
			// interface, the cookie), expires, rqueue, wqueue,
			// uid, inode.
			b := m.Data
			if len(b) < 72 {
				continue
			}
			local := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), binary.BigEndian.Uint16(b[4:6]))
			remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[24:28])), binary.BigEndian.Uint16(b[6:8]))
			fn(local, remote, binary.NativeEndian.Uint32(b[68:72]))
		}
	}
}
