package shim

import (
	"fmt"
	"net/netip"
	"slices"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack"
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
// the decision is seen within a second (watchSharers), and the socket goes
// back to the kernel then.
//
// The look is a probe: a socket without SO_REUSEADDR bound to the same
// address and port fails with EADDRINUSE exactly when a socket is there
// whose address overlaps (the same, or the wildcard on either side),
// three system calls. Only when this process accelerates a socket on the
// port too (a reuseport group of threads) must it ask whose they are:
// sock_diag lists the port's sockets, but each dump walks the kernel's
// whole UDP hash table (16384 slots here), 37-60 us against the probe's
// 7-8.

// sharerOf returns a socket the kernel serves that shares ap's port with
// an overlapping address, described for the log, or "" if none does.
func (sh *Shim) sharerOf(st *stack.Stack, ap netip.AddrPort) (string, error) {
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
	return kernelSharer(st, ap, sh.ownsInode)
}

// kernelSharer returns a UDP socket the kernel serves that shares ap's
// port with an overlapping address (either is the wildcard, or they are
// equal), described for the log, or "" if there is none, as st's
// namespace has them. ours says which socket inodes are this process's
// accelerated sockets, which the stack serves together.
func kernelSharer(st *stack.Stack, ap netip.AddrPort, ours func(inode uint32) bool) (who string, err error) {
	err = st.KernelUDPSockets(ap.Port(), func(local, remote netip.AddrPort, inode uint32) {
		if who == "" && !ours(inode) && overlap(local.Addr(), ap.Addr()) {
			who = describe(local, remote, inode)
		}
	})
	return who, err
}

// overlap reports whether sockets bound to a and b on one port can both
// receive a datagram.
func overlap(a, b netip.Addr) bool {
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}

func describe(local, remote netip.AddrPort, inode uint32) string {
	if remote.Port() != 0 {
		return fmt.Sprintf("%v connected to %v (inode %d)", local, remote, inode)
	}
	return fmt.Sprintf("%v (inode %d)", local, inode)
}

// watchSharers hands back to the kernel each accelerated socket bound
// with SO_REUSEADDR or SO_REUSEPORT whose port a socket the kernel serves
// has come to share since the bind: the newcomer (a second subscriber of
// a group, say) would otherwise get nothing the filter steers to the VI.
// The progress engine calls it once a second: one sock_diag dump of every
// UDP socket per stack that has such sockets (37-60 us here), none for a
// stack without.
func (sh *Shim) watchSharers() {
	// The sockets to watch, by stack and port (a socket with several
	// fds is met once an fd).
	stacks := map[*ifStack]map[uint16][]*Socket{}
	ours := map[uint32]bool{}
	sh.fds.each(func(fd int, s *Socket) {
		if s.u.Detached() {
			return
		}
		ours[s.inode] = true
		port := s.u.LocalAddr().Port()
		if port == 0 || !s.u.Reuses() {
			return
		}
		if stacks[s.is] == nil {
			stacks[s.is] = map[uint16][]*Socket{}
		}
		if !slices.Contains(stacks[s.is][port], s) {
			stacks[s.is][port] = append(stacks[s.is][port], s)
		}
	})
	for is, ports := range stacks {
		type sharer struct {
			who   string
			inode uint32
		}
		shared := map[*Socket]sharer{}
		err := is.st.KernelUDPSockets(0, func(local, remote netip.AddrPort, inode uint32) {
			if ours[inode] {
				return
			}
			for _, s := range ports[local.Port()] {
				if _, seen := shared[s]; !seen && overlap(s.u.LocalAddr().Addr(), local.Addr()) {
					shared[s] = sharer{describe(local, remote, inode), inode}
				}
			}
		})
		if err != nil {
			sh.log.Warn("cannot look for sockets sharing the accelerated ports", zap.Error(err))
			continue
		}
		for s, o := range shared {
			// A socket this process decided while the dump ran (a
			// reuseport group binding at start-up) was not in ours.
			if sh.ownsInode(o.inode) {
				continue
			}
			sh.log.Warn("a socket the kernel serves now shares an accelerated socket's port: that socket goes back to the kernel",
				zap.Stringer("local", s.u.LocalAddr()), zap.String("sharer", o.who))
			sh.Handover(s, "a socket the kernel serves came to share its port")
		}
	}
}
