package shim

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/stack"
	"github.com/accelnet/accel/udp"
)

// ErrForget says: the fd is the kernel's again for good (a socket handed
// back to the kernel has nothing queued any more); make the call in the
// kernel, and stop asking.
var ErrForget = errors.New("shim: forget the fd")

// touch records that a thread is polling the socket's stack.
func (s *Socket) touch() {
	if !s.is.polled.Load() {
		s.is.polled.Store(true)
	}
}

// Bind binds an fd. A candidate socket is decided first; ErrPass leaves
// the call to the kernel.
func (sh *Shim) Bind(fd int, ap netip.AddrPort) error {
	s := sh.fds.get(fd)
	if s == nil {
		var err error
		if s, err = sh.Decide(fd, config.UDPRecv, ap, netip.AddrPort{}); s == nil || err != nil {
			if err != nil {
				return err
			}
			return ErrForget
		}
	}
	a := ap.Addr()
	if !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && a != s.u.StackAddr() {
		// An address the stack does not own (another address of the
		// interface): the kernel's socket it is.
		sh.release(fd, s, "bound to "+a.String()+", not the stack's address")
		return ErrForget
	}
	if ap.Port() != 0 && s.u.Reuses() {
		who, err := sh.sharerOf(s.u.Stack(), ap)
		if err != nil {
			sh.log.Warn("cannot look for sockets sharing the port; accelerating it anyway", zap.Stringer("local", ap), zap.Error(err))
		} else if who != "" {
			sh.log.Info("port shared with a socket the kernel serves", zap.Stringer("local", ap), zap.String("sharer", who))
			sh.release(fd, s, "its port is shared with a socket the kernel serves")
			return ErrForget
		}
	}
	return sh.steered(fd, s, s.u.Bind(ap))
}

// ownsInode reports whether inode is one of this process's accelerated
// sockets (whose kernel sockets are the application's own fds).
func (sh *Shim) ownsInode(inode uint32) (yes bool) {
	sh.fds.each(func(fd int, s *Socket) {
		yes = yes || (s.inode == inode && !s.u.Detached())
	})
	return yes
}

// portAccelerated reports whether one of this process's accelerated
// sockets is bound to port.
func (sh *Shim) portAccelerated(port uint16) (yes bool) {
	sh.fds.each(func(fd int, s *Socket) {
		yes = yes || (!s.u.Detached() && s.u.LocalAddr().Port() == port)
	})
	return yes
}

// steered finishes a bind or connect: a flow that cannot be steered to
// the VI leaves the socket with the kernel, whose side of the call has
// succeeded.
func (sh *Shim) steered(fd int, s *Socket, err error) error {
	var se *stack.SteerError
	if errors.As(err, &se) {
		sh.release(fd, s, se.Error())
		return nil
	}
	return err
}

// Connect connects an fd; the zero ap disconnects (AF_UNSPEC).
func (sh *Shim) Connect(fd int, ap netip.AddrPort) error {
	s := sh.fds.get(fd)
	if s == nil {
		if !ap.IsValid() {
			return ErrPass
		}
		var err error
		if s, err = sh.Decide(fd, config.UDPSend, localOf(fd), ap); s == nil || err != nil {
			if err != nil {
				return err
			}
			return ErrForget
		}
	}
	if s.u.Detached() {
		return ErrPass
	}
	return sh.steered(fd, s, s.u.Connect(ap))
}

func localOf(fd int) netip.AddrPort {
	ap, _ := stack.SockName(fd)
	return ap
}

// dropFDs takes the socket off all its fds; tell says the C side is
// told (Forgot) that they are the kernel's alone again.
func (sh *Shim) dropFDs(s *Socket, tell bool) {
	s.mu.Lock()
	fds := s.fds
	s.fds = nil
	s.mu.Unlock()
	for _, f := range fds {
		sh.fds.set(f, nil)
		if tell && sh.Forgot != nil {
			sh.Forgot(f)
		}
	}
}

// release gives a socket back to the kernel for good (it holds nothing
// yet, or the caller moved what it held) and forgets its fds.
func (sh *Shim) release(fd int, s *Socket, why string) {
	sh.dropFDs(s, false)
	s.u.Close()
	sh.dropFromEpolls(s)
	sh.fallback(fd, why)
}

// sendFlags are the flags the stack handles; any other goes to the kernel.
const sendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL | unix.MSG_CONFIRM

// Send sends one datagram gathered from bufs, to to (zero: the connected
// peer). A candidate socket is decided first.
func (sh *Shim) Send(fd int, bufs [][]byte, to netip.AddrPort, flags int) (int, error) {
	s := sh.fds.get(fd)
	if s == nil {
		if !to.IsValid() {
			return 0, ErrPass
		}
		var err error
		if s, err = sh.Decide(fd, config.UDPSend, localOf(fd), to); s == nil || err != nil {
			if err != nil {
				return 0, err
			}
			return 0, ErrForget
		}
	}
	if flags&^sendFlags != 0 || s.shutWR.Load() || s.u.Detached() {
		// MSG_MORE (corking), MSG_OOB, a shut-down socket: the kernel's
		// socket does exactly what Linux does.
		return 0, ErrPass
	}
	s.touch()
	b, pooled := gather(bufs)
	n, err := s.u.SendTo(b, to)
	if pooled != nil {
		scratch.Put(pooled)
	}
	if err == unix.ENOBUFS {
		// No frame or no room on the TX ring: the kernel would wait for
		// send buffer space. Non-blocking callers get EAGAIN.
		if s.nonblock.Load() || flags&unix.MSG_DONTWAIT != 0 {
			return 0, unix.EAGAIN
		}
		return 0, ErrWait
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// scratch gathers and scatters datagrams for calls with several iovecs.
var scratch = sync.Pool{New: func() any { b := make([]byte, udp.MaxPayload); return &b }}

func gather(bufs [][]byte) ([]byte, *[]byte) {
	switch len(bufs) {
	case 0:
		return nil, nil
	case 1:
		return bufs[0], nil
	}
	p := scratch.Get().(*[]byte)
	b := (*p)[:0]
	for _, x := range bufs {
		if len(b)+len(x) > cap(b) {
			// Longer than any datagram: the stack refuses it by length.
			return make([]byte, totalLen(bufs)), p
		}
		b = append(b, x...)
	}
	return b, p
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// Recv takes one datagram into bufs. It returns the bytes copied (or the
// datagram's length with MSG_TRUNC), MSG_TRUNC in msgFlags when the
// datagram was longer than bufs, and the sender.
func (sh *Shim) Recv(fd int, bufs [][]byte, flags int) (n, msgFlags int, from netip.AddrPort, err error) {
	n, msgFlags, from, _, err = sh.RecvMsg(fd, bufs, flags)
	return n, msgFlags, from, err
}

// Ancillary is what recvmsg reports beside the data, for the options the
// socket has on: IP_PKTINFO (the interface, the local address and the
// destination of the header) and a receive timestamp (SO_TIMESTAMP as a
// timeval, SO_TIMESTAMPNS as a timespec).
type Ancillary struct {
	PktInfo          bool
	Ifindex          int
	SpecDst, Dst     [4]byte
	Stamp, StampNS   bool
	StampUnixNanosec int64
}

// RecvMsg is Recv with the datagram's ancillary data.
func (sh *Shim) RecvMsg(fd int, bufs [][]byte, flags int) (n, msgFlags int, from netip.AddrPort, anc Ancillary, err error) {
	s := sh.fds.get(fd)
	if s == nil {
		return 0, 0, from, anc, ErrPass
	}
	if flags&unix.MSG_ERRQUEUE != 0 {
		// The error queue is the kernel socket's. Other flags UDP
		// ignores (MSG_NOSIGNAL, MSG_WAITALL, MSG_CMSG_CLOEXEC, ...)
		// the stack ignores too.
		return 0, 0, from, anc, ErrPass
	}
	s.touch()
	var b []byte
	var pooled *[]byte
	if len(bufs) == 1 {
		b = bufs[0]
	} else if len(bufs) > 1 {
		pooled = scratch.Get().(*[]byte)
		b = (*pooled)[:min(totalLen(bufs), udp.MaxPayload)]
	}
	got, from, meta, err := s.u.RecvMeta(b, flags&unix.MSG_PEEK != 0, true)
	if pooled != nil {
		if err == nil {
			scatter(bufs, b[:min(got, len(b))])
		}
		scratch.Put(pooled)
	}
	switch {
	case err == unix.EAGAIN:
		if s.u.Detached() {
			sh.forget(s)
			return 0, 0, from, anc, ErrForget
		}
		if s.nonblock.Load() || flags&unix.MSG_DONTWAIT != 0 {
			return 0, 0, from, anc, unix.EAGAIN
		}
		if s.shutRD.Load() {
			// Linux: a blocking receive on a socket shut for reading
			// returns 0 instead of waiting; a non-blocking one EAGAIN.
			return 0, 0, from, anc, nil
		}
		return 0, 0, from, anc, ErrWait
	case err != nil:
		return 0, 0, from, anc, err
	}
	n = got
	if got > len(b) {
		msgFlags = unix.MSG_TRUNC
		if flags&unix.MSG_TRUNC == 0 {
			n = len(b)
		}
	}
	if flags&unix.MSG_PEEK == 0 {
		sh.settle(s)
	}
	if s.pktinfo.Load() {
		anc.PktInfo, anc.Ifindex, anc.Dst = true, s.u.Stack().Ifindex(), meta.Dst
		// ipi_spec_dst: the local address the datagram was for, or for
		// a group or broadcast the interface's (fib_compute_spec_dst).
		anc.SpecDst = meta.Dst
		if d := netip.AddrFrom4(meta.Dst); d != s.u.StackAddr() {
			anc.SpecDst = s.u.StackAddr().As4()
		}
	}
	if s.stamp.Load() && meta.Stamp != 0 {
		anc.Stamp, anc.StampNS, anc.StampUnixNanosec = true, s.stampNS.Load(), meta.Stamp
	}
	return n, msgFlags, from, anc, nil
}

func scatter(bufs [][]byte, b []byte) {
	for _, x := range bufs {
		if len(b) == 0 {
			return
		}
		k := copy(x, b)
		b = b[k:]
	}
}

// forget drops the fds of a socket handed back to the kernel whose queue
// is empty: from now on the kernel alone serves them.
func (sh *Shim) forget(s *Socket) {
	sh.dropFDs(s, true)
	sh.keep(s)
	s.u.Close()
}

// settle forgets a socket handed back to the kernel once the stack holds
// nothing more of it. It reports whether it did.
func (sh *Shim) settle(s *Socket) bool {
	if s.u.Detached() && s.u.Queued() == 0 {
		sh.forget(s)
		return true
	}
	return false
}

// Ready is the socket's poll(2) state.
func (sh *Shim) Ready(s *Socket) (in, out, errp, hup bool) {
	return sh.ready(s, false)
}

// ready is Ready; edge (an edge-triggered waiter) polls the stack even
// when data already waits, so that new datagrams behind it count.
func (sh *Shim) ready(s *Socket, edge bool) (in, out, errp, hup bool) {
	s.touch()
	if edge {
		in = s.u.ReadablePolled()
	} else {
		in = s.u.Readable()
	}
	return s.readiness(in, s.u.HasError())
}

// readiness is a socket's poll answer given what its stack says: whether
// a datagram waits and whether an error is pending.
func (s *Socket) readiness(readable, err bool) (in, out, errp, hup bool) {
	// A UDP socket is always writable: sends never queue.
	return readable || s.shutRD.Load(), true, err, s.shutRD.Load() && s.shutWR.Load()
}

// Close drops an fd; the socket closes with its last fd. The caller then
// closes the fd in the kernel.
func (sh *Shim) Close(fd int) {
	sh.mu.Lock()
	delete(sh.pre, fd)
	if e := sh.epolls[fd]; e != nil {
		delete(sh.epolls, fd)
		// Parents forget it, as the kernel does at its last close; a
		// duplicate of the fd still holds the instance.
		if !slices.Contains(slices.Collect(maps.Values(sh.epolls)), e) {
			for _, p := range sh.epolls {
				p.mu.Lock()
				p.drop(func(x *epEntry) bool { return x.sub == e })
				p.mu.Unlock()
			}
		}
	}
	sh.mu.Unlock()
	s := sh.fds.get(fd)
	if s == nil {
		return
	}
	sh.fds.set(fd, nil)
	// A thread asleep on the fd wakes to find it closed (the preload
	// then returns EBADF): the socket's next datagram may never come.
	defer s.u.Stack().Wake()
	s.mu.Lock()
	for i, f := range s.fds {
		if f == fd {
			s.fds = append(s.fds[:i], s.fds[i+1:]...)
			break
		}
	}
	rest := len(s.fds)
	var next int
	if rest > 0 {
		next = s.fds[0]
	}
	s.mu.Unlock()
	if rest > 0 {
		if s.u.Twin() == fd {
			s.u.Retwin(next)
		}
		return
	}
	sh.keep(s)
	s.u.Close()
	sh.dropFromEpolls(s)
}

// keep files a closed socket's counters for the stats file.
func (sh *Shim) keep(s *Socket) {
	st := s.stats(-1)
	sh.mu.Lock()
	if len(sh.gone) < 4096 {
		sh.gone = append(sh.gone, st)
	}
	sh.mu.Unlock()
}

// Dup records that newfd now refers to oldfd's socket (dup, dup2, dup3,
// F_DUPFD), after the kernel made it. A socket that newfd was is closed.
func (sh *Shim) Dup(oldfd, newfd int) {
	if oldfd == newfd {
		return
	}
	if sh.fds.get(newfd) != nil {
		sh.Close(newfd)
	}
	s := sh.fds.get(oldfd)
	if s == nil {
		return
	}
	s.mu.Lock()
	s.fds = append(s.fds, newfd)
	s.mu.Unlock()
	sh.fds.set(newfd, s)
}

// DupEpoll makes newfd a duplicate of the epoll fd oldfd. Both are one
// instance, so they share one shadow, which epoll_ctl on either fills and
// a wait on either reads: it is made now if oldfd has none yet, since an
// accelerated member may be added through one fd and waited for through
// the other.
func (sh *Shim) DupEpoll(oldfd, newfd int) {
	if oldfd == newfd {
		return
	}
	sh.Close(newfd)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.epolls[newfd] = sh.shadow(oldfd)
}

// SetNonblock mirrors O_NONBLOCK (fcntl F_SETFL, ioctl FIONBIO).
func (sh *Shim) SetNonblock(fd int, on bool) {
	if s := sh.fds.get(fd); s != nil {
		s.nonblock.Store(on)
	}
}

// Shutdown mirrors a shutdown the kernel accepted.
func (sh *Shim) Shutdown(fd, how int) {
	s := sh.fds.get(fd)
	if s == nil {
		return
	}
	if how == unix.SHUT_RD || how == unix.SHUT_RDWR {
		s.shutRD.Store(true)
	}
	if how == unix.SHUT_WR || how == unix.SHUT_RDWR {
		s.shutWR.Store(true)
	}
	sh.shutdowns.Add(1)
	s.u.Stack().Wake()
}

// SetAsync is O_ASYNC turned on (fcntl F_SETFL, ioctl FIOASYNC): the
// socket goes back to the kernel, which signals what comes to it.
func (sh *Shim) SetAsync(fd int) {
	if s := sh.fds.get(fd); s != nil {
		sh.Handover(s, asyncIO+" is on: the kernel's socket gives it")
	}
}

// SetOption mirrors an option the kernel accepted on fd. A kernel-only
// option hands the socket back to the kernel. Candidate sockets record
// their multicast memberships for the decision.
func (sh *Shim) SetOption(fd, level, name int, val []byte) {
	s := sh.fds.get(fd)
	if s == nil {
		sh.setPre(fd, level, name, val)
		return
	}
	if (level == unix.IPPROTO_IP && name == unix.IP_PKTINFO) || (level == unix.SOL_SOCKET && (name == unix.SO_TIMESTAMP || name == unix.SO_TIMESTAMPNS)) {
		sh.recvOptions(s, fd)
		return
	}
	if level == unix.SOL_SOCKET && (name == unix.SO_BINDTODEVICE || name == unix.SO_BINDTOIFINDEX) && (s.onDevice(name, val) || intOf(val) == 0) {
		// Bound to the device the stack is on (the stack is that
		// already), or unbound.
		s.boundToDevice(fd)
		return
	}
	if what := KernelOnly(level, name); what != "" && intOf(val) != 0 {
		sh.Handover(s, what+" is on: the kernel's socket gives it")
		return
	}
	switch {
	case level == unix.IPPROTO_IP && name == unix.IP_MULTICAST_IF:
		if !s.multicastIf(val) {
			sh.Handover(s, "IP_MULTICAST_IF names another interface")
		}
	case level == unix.IPPROTO_IP && name == unix.IP_ADD_MEMBERSHIP && len(val) >= 4:
		s.u.JoinGroup(netip.AddrFrom4([4]byte(val[:4])))
	case level == unix.IPPROTO_IP && name == unix.IP_DROP_MEMBERSHIP && len(val) >= 4:
		s.u.LeaveGroup(netip.AddrFrom4([4]byte(val[:4])))
	case level == unix.SOL_SOCKET && (name == unix.SO_RCVTIMEO || name == unix.SO_SNDTIMEO):
		tv, err := unix.GetsockoptTimeval(fd, level, name)
		if err == nil {
			if name == unix.SO_RCVTIMEO {
				s.rcvtimeo.Store(tv.Nano())
			} else {
				s.sndtimeo.Store(tv.Nano())
			}
		}
	case level == unix.SOL_SOCKET && (name == unix.SO_RCVBUF || name == unix.SO_RCVBUFFORCE):
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			s.u.SetRcvLimit(v)
		}
	default:
		// Read back what the kernel made of it (clamps, doubling).
		if v, err := unix.GetsockoptInt(fd, level, name); err == nil {
			s.mirror(level, name, v)
		}
	}
}

// setPre records the options a socket sets before its decision that the
// decision needs: its groups and its IP_MULTICAST_IF.
func (sh *Shim) setPre(fd, level, name int, val []byte) {
	if level != unix.IPPROTO_IP {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := sh.pre[fd]
	if p == nil {
		p = &preSocket{}
		sh.pre[fd] = p
	}
	switch {
	case name == unix.IP_MULTICAST_IF:
		p.mcastIf = append([]byte{}, val...)
	case name == unix.IP_ADD_MEMBERSHIP && len(val) >= 4:
		p.groups = append(p.groups, netip.AddrFrom4([4]byte(val[:4])))
	case name == unix.IP_DROP_MEMBERSHIP && len(val) >= 4:
		if i := slices.Index(p.groups, netip.AddrFrom4([4]byte(val[:4]))); i >= 0 {
			p.groups = slices.Delete(p.groups, i, i+1)
		}
	}
}

// multicastIf takes an IP_MULTICAST_IF value (an in_addr, or an ip_mreqn
// as Linux also reads): false when it names another interface than the
// stack's, whose kernel socket must send the groups' datagrams;
// otherwise it tells the stack whether it names the stack's.
func (s *Socket) multicastIf(val []byte) bool {
	var addr [4]byte
	ifindex := 0
	switch {
	case len(val) >= 12:
		copy(addr[:], val[4:8])
		ifindex = intOf(val[8:12])
	case len(val) >= 4:
		copy(addr[:], val[:4])
	}
	a := netip.AddrFrom4(addr)
	if (ifindex != 0 && ifindex != s.u.Stack().Ifindex()) || (!a.IsUnspecified() && a != s.u.StackAddr()) {
		return false
	}
	s.u.SetMulticastIf(ifindex != 0 || !a.IsUnspecified())
	return true
}

// boundToDevice tells the stack whether the kernel's socket is bound to
// the stack's interface (UDPSocket.SetBoundToDevice).
func (s *Socket) boundToDevice(fd int) {
	dev, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	s.u.SetBoundToDevice(err == nil && dev == s.is.key.ifname)
}

// onDevice reports whether a SO_BINDTODEVICE (an interface name) or
// SO_BINDTOIFINDEX (an index) value names the interface s's stack is on.
func (s *Socket) onDevice(name int, val []byte) bool {
	if name == unix.SO_BINDTOIFINDEX {
		return len(val) >= 4 && intOf(val) == s.u.Stack().Ifindex()
	}
	dev, _, _ := strings.Cut(string(val), "\x00")
	return dev != "" && dev == s.is.key.ifname
}

func intOf(b []byte) int {
	switch {
	case len(b) >= 4:
		return int(int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24))
	case len(b) >= 1:
		return int(b[0])
	}
	return 0
}

// SocketError is SO_ERROR: the stack's pending error, cleared; ErrPass
// when the stack has none (the kernel's own is then the answer).
func (sh *Shim) SocketError(fd int) (int, error) {
	s := sh.fds.get(fd)
	if s == nil {
		return 0, ErrPass
	}
	if err := s.u.Error(); err != nil {
		if e, ok := err.(unix.Errno); ok {
			return int(e), nil
		}
	}
	return 0, ErrPass
}

// InQueue is FIONREAD (SIOCINQ) for UDP: the size of the first datagram.
func (sh *Shim) InQueue(fd int) (int, error) {
	s := sh.fds.get(fd)
	if s == nil {
		return 0, ErrPass
	}
	s.touch()
	s.u.Readable()
	if s.u.Queued() == 0 && s.u.Detached() {
		return 0, ErrPass
	}
	return s.u.Pending(), nil
}

// recvOptions reads what ancillary data the kernel's socket now asks for
// (after a setsockopt, or at adoption) and has the stack keep it: Linux's
// rules between SO_TIMESTAMP and SO_TIMESTAMPNS (the last one set decides
// the format, turning either off turns both off) are the kernel's, read
// back.
func (sh *Shim) recvOptions(s *Socket, fd int) {
	on := func(level, name int) bool {
		v, err := unix.GetsockoptInt(fd, level, name)
		return err == nil && v != 0
	}
	pkt := on(unix.IPPROTO_IP, unix.IP_PKTINFO)
	ns := on(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS)
	stamp := ns || on(unix.SOL_SOCKET, unix.SO_TIMESTAMP)
	s.pktinfo.Store(pkt)
	s.stamp.Store(stamp)
	s.stampNS.Store(ns)
	s.u.SetRecvMeta(pkt, stamp)
}

// Handover gives a socket back to the kernel: its filter goes, what the
// stack queued is still read first, and then the kernel's socket serves
// it. Before a fork or an exec every socket is handed over, so that
// parent and children share the kernel's socket as they would without
// accel (ARCHITECTURE §7); then (share) what the stack queued moves into
// the kernel's socket, for whichever process reads first.
func (sh *Shim) Handover(s *Socket, why string) { sh.handover(s, why, false) }

func (sh *Shim) handover(s *Socket, why string, share bool) {
	if s.u.Detached() {
		return
	}
	moved, err := s.u.Detach(share)
	sh.restoreEpolls(s)
	sh.fallback(-1, why)
	if err != nil {
		sh.log.Warn("queued datagrams stay with this process: another that shares the socket will not see them",
			zap.String("reason", why), zap.Int("moved", moved), zap.Int("kept", s.u.Queued()), zap.Error(err))
	}
	sh.log.Info("socket handed back to the kernel", zap.String("reason", why), zap.Int("requeued", moved), zap.Int("queued", s.u.Queued()))
	sh.settle(s)
}

// HandoverAll hands every socket back to the kernel (fork).
func (sh *Shim) HandoverAll(why string) {
	seen := map[*Socket]bool{}
	sh.fds.each(func(fd int, s *Socket) {
		if !seen[s] {
			seen[s] = true
			sh.handover(s, why, true)
		}
	})
}

// Timeout is the socket's SO_RCVTIMEO (recv) or SO_SNDTIMEO, 0 for none.
func (s *Socket) Timeout(send bool) time.Duration {
	if send {
		return time.Duration(s.sndtimeo.Load())
	}
	return time.Duration(s.rcvtimeo.Load())
}

// HandoverInherited hands back the sockets a new program inherits across
// an exec (those with an fd not marked close-on-exec).
func (sh *Shim) HandoverInherited(why string) {
	seen := map[*Socket]bool{}
	sh.fds.each(func(fd int, s *Socket) {
		if seen[s] {
			return
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
			seen[s] = true
			sh.handover(s, why, true)
		}
	})
}
