package stack

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/udp"
	"github.com/accelnet/accel/vi"
)

// UDPSocket is a UDP socket on a stack. Its calls never block: where Linux
// would wait they return EAGAIN, and the caller waits on Stack.WaitFD or
// spins. Errors are unix.Errno values, as the socket API reports them.
type UDPSocket struct {
	s      *Stack
	local  netip.AddrPort // valid once bound
	remote netip.AddrPort // valid once connected
	q      *udp.Queue
	err    unix.Errno // pending asynchronous error (SO_ERROR)
	twin   int        // the kernel twin, or -1
	closed bool
	// adopted: the twin is the application's own socket (the shim): its
	// options and memberships are the application's to set, it reports
	// its own errors, and it is never closed here.
	adopted bool
	// detached: handed back to the kernel; only what was queued remains.
	// Written under the stack's lock, read without it (Detached is asked
	// on every call the shim makes).
	detached atomic.Bool
	// rxGen counts datagrams queued, for edge-triggered readiness.
	rxGen uint64
	// wantDst and wantStamp: each datagram keeps the address it was sent
	// to and its arrival time (IP_PKTINFO, SO_TIMESTAMP; SetRecvMeta).
	wantDst, wantStamp bool

	groups                          []netip.Addr
	reuseAddr, reusePort, broadcast bool
	ttl, tos, mcastTTL              uint8
	mcastNoLoop                     bool
	// mcastIf and boundDev: IP_MULTICAST_IF, or SO_BINDTODEVICE, names
	// the stack's interface (SetMulticastIf, SetBoundToDevice).
	mcastIf, boundDev bool
	// rxFrames: the frames this socket's receive buffer asked the device
	// to keep ready, while it is on its port's list (reserveRx).
	rxFrames int
	// path is the way out of the last unicast send.
	path pathCache
	// counts are what the program took and gave (Counts): kept under
	// the stack's lock, which every receive and send holds anyway, and
	// not in atomics of their own (four locked additions a round trip).
	counts Counts
}

// Counts are a socket's datagrams and bytes, received (taken by the
// program, not peeked) and sent (handed to the VI or the kernel twin).
type Counts struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
}

// Counts returns the socket's counts.
func (u *UDPSocket) Counts() Counts { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.counts }

// pathCache is a socket's way to its last unicast destination, as Linux
// keeps one a socket (sk_dst_cache): the route, the path MTU and the next
// hop's address. A request and response exchange sends to one peer over
// and over, and looking them up again (a scan of the kernel's routes and
// two maps) was 50 of a send's 150 ns before its doorbell. It is kept in
// Kernel mode only, where every change of a route, a neighbour or a path
// MTU reaches the stack and moves its pathGen, and only for a neighbour
// the kernel has confirmed: a stale one's sends ask the kernel to probe
// it (kernel.lookup).
type pathCache struct {
	ok  bool
	gen uint32
	dst [4]byte
	hop hop
	mtu int
	mac wire.MAC
}

// valid reports whether the cache holds the way to dst, as it stands.
func (c *pathCache) valid(s *Stack, dst [4]byte) bool {
	return c.ok && c.gen == s.pathGen && c.dst == dst
}

// rxTruesize is what Linux charges a small datagram against SO_RCVBUF
// (its skb's truesize): the default 212992 bytes held 256 datagrams of 64
// bytes from a veth, where the kernel dropped the rest of a burst of 1000
// that came while the reader was away (measured).
const rxTruesize = 832

// reserveRx tells a device that keeps frames ready for the kernel
// (vi.RxReserver) how many a burst could fill before the application
// reads: what the bound sockets' receive buffers would hold of small
// datagrams in the kernel. Called with the lock held, as a socket joins
// or leaves its port's list (on) or changes its buffer.
func (s *Stack) reserveRx(u *UDPSocket, on bool) {
	n := 0
	if on {
		n = (u.q.Limit() + rxTruesize - 1) / rxTruesize
	}
	if n == u.rxFrames {
		return
	}
	s.rxFrames += n - u.rxFrames
	u.rxFrames = n
	if r, ok := s.dev.(vi.RxReserver); ok {
		r.ReserveRx(s.rxFrames)
	}
}

// NewUDPOn makes an unbound UDP socket whose kernel twin is fd, an
// AF_INET datagram socket that stays the caller's: the shim's application
// socket, which keeps the fd number, the options and the kernel's view of
// the port. It needs a Kernel-mode stack.
func (s *Stack) NewUDPOn(fd int) (*UDPSocket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kern == nil {
		return nil, unix.EOPNOTSUPP
	}
	if err := s.kern.watchTwin(fd); err != nil {
		return nil, err
	}
	return &UDPSocket{s: s, q: udp.NewQueue(s.cfg.RcvBuf), twin: fd, adopted: true, ttl: s.cfg.TTL, mcastTTL: 1}, nil
}

// portSockets are the sockets bound to one port.
type portSockets struct{ socks []*UDPSocket }

// NewUDP makes an unbound UDP socket.
func (s *Stack) NewUDP() (*UDPSocket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &UDPSocket{s: s, q: udp.NewQueue(s.cfg.RcvBuf), twin: -1, ttl: s.cfg.TTL, mcastTTL: 1}
	if s.kern != nil {
		fd, err := s.kern.newTwin()
		if err != nil {
			return nil, err
		}
		u.twin = fd
	}
	return u, nil
}

func (u *UDPSocket) connected() bool { return u.remote.IsValid() }

// LocalAddr is the bound address (zero before bind).
func (u *UDPSocket) LocalAddr() netip.AddrPort { return u.local }

// RemoteAddr is the connected peer (zero when not connected).
func (u *UDPSocket) RemoteAddr() netip.AddrPort { return u.remote }

// SetMulticastIf and SetBoundToDevice say whether IP_MULTICAST_IF, or a
// device binding (SO_BINDTODEVICE, SO_BINDTOIFINDEX), names the stack's
// interface: then a group's (either) or the limited broadcast's (the
// binding) datagram leaves through it whatever the routes say, as in Linux.
func (u *UDPSocket) SetMulticastIf(on bool)   { u.s.mu.Lock(); u.mcastIf = on; u.s.mu.Unlock() }
func (u *UDPSocket) SetBoundToDevice(on bool) { u.s.mu.Lock(); u.boundDev = on; u.s.mu.Unlock() }

// SetReuseAddr and SetReusePort allow several sockets on one port, as
// SO_REUSEADDR and SO_REUSEPORT do for UDP. Set them before Bind.
func (u *UDPSocket) SetReuseAddr(on bool) { u.s.mu.Lock(); u.reuseAddr = on; u.s.mu.Unlock() }
func (u *UDPSocket) SetReusePort(on bool) { u.s.mu.Lock(); u.reusePort = on; u.s.mu.Unlock() }

// Reuses reports whether SO_REUSEADDR or SO_REUSEPORT is on: the port may
// be shared with other sockets.
func (u *UDPSocket) Reuses() bool {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	return u.reuseAddr || u.reusePort
}

// SetBroadcast is SO_BROADCAST: without it, sending to a broadcast address
// fails with EACCES.
func (u *UDPSocket) SetBroadcast(on bool) { u.s.mu.Lock(); u.broadcast = on; u.s.mu.Unlock() }

// SetTTL, SetTOS and SetMulticastTTL are IP_TTL, IP_TOS, IP_MULTICAST_TTL.
func (u *UDPSocket) SetTTL(v uint8)          { u.s.mu.Lock(); u.ttl = v; u.s.mu.Unlock() }
func (u *UDPSocket) SetTOS(v uint8)          { u.s.mu.Lock(); u.tos = v; u.s.mu.Unlock() }
func (u *UDPSocket) SetMulticastTTL(v uint8) { u.s.mu.Lock(); u.mcastTTL = v; u.s.mu.Unlock() }

// SetMulticastLoop is IP_MULTICAST_LOOP (on by default, as in Linux): a
// datagram to a group is also delivered to the stack's own members of it.
func (u *UDPSocket) SetMulticastLoop(on bool) { u.s.mu.Lock(); u.mcastNoLoop = !on; u.s.mu.Unlock() }

// SetRcvBuf is SO_RCVBUF: Linux doubles the value asked for to leave room
// for its bookkeeping, and RcvBuf reports the doubled value.
func (u *UDPSocket) SetRcvBuf(n int) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	u.q.SetLimit(max(2*n, 2304))
	u.s.reserveRx(u, u.rxFrames > 0)
}

// SetRcvLimit sets the receive buffer to exactly n bytes of accounting:
// the shim mirrors what the kernel reports for the application's socket.
func (u *UDPSocket) SetRcvLimit(n int) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	u.q.SetLimit(n)
	u.s.reserveRx(u, u.rxFrames > 0)
}

// Retwin moves an adopted socket's twin to another fd of the same kernel
// socket (a dup), before the application closes the one it was on.
func (u *UDPSocket) Retwin(fd int) error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !u.adopted || u.twin < 0 || s.kern == nil {
		return unix.EINVAL
	}
	k := s.kern
	_, bound := k.twins[u.twin]
	if !u.detached.Load() {
		k.unwatchTwin(u)
	}
	u.twin = fd
	if !u.detached.Load() {
		if err := k.watchTwin(fd); err != nil {
			return err
		}
		if bound {
			k.twins[fd] = u
		}
	}
	return nil
}

// Twin is the socket's kernel twin fd, or -1.
func (u *UDPSocket) Twin() int { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.twin }

// SteerError is a failure to steer the socket's flow to the VI: the
// kernel side of the call succeeded, and the socket can only stay with
// the kernel.
type SteerError struct{ Err error }

func (e *SteerError) Error() string { return "steer the flow to the VI: " + e.Err.Error() }
func (e *SteerError) Unwrap() error { return e.Err }

// RcvBuf is SO_RCVBUF as getsockopt reports it.
func (u *UDPSocket) RcvBuf() int { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.q.Limit() }

// Bind gives the socket its local address. Port 0 takes an ephemeral port
// (from the kernel twin, so the kernel never hands it out again).
func (u *UDPSocket) Bind(ap netip.AddrPort) error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.bind(ap)
}

func (u *UDPSocket) bind(ap netip.AddrPort) error {
	s := u.s
	switch {
	case u.closed:
		return unix.EBADF
	case u.local.IsValid():
		return unix.EINVAL
	case !ap.Addr().Is4():
		return unix.EAFNOSUPPORT
	}
	a := ap.Addr().As4()
	if !ap.Addr().IsUnspecified() && a != s.addr && !ap.Addr().IsMulticast() && a != s.bcast && a != [4]byte{255, 255, 255, 255} {
		return unix.EADDRNOTAVAIL
	}
	port := ap.Port()
	if u.twin >= 0 {
		p, err := s.kern.bindTwin(u, ap)
		if err != nil {
			return err
		}
		port = p
	} else if port == 0 {
		if port = s.ephemeral(); port == 0 {
			return unix.EADDRINUSE
		}
	} else if !s.portFree(u, ap.Addr(), port) {
		return unix.EADDRINUSE
	}
	u.local = netip.AddrPortFrom(ap.Addr(), port)
	ps := s.ports[port]
	if ps == nil {
		ps = &portSockets{}
		s.ports[port] = ps
	}
	ps.socks = append(ps.socks, u)
	s.reserveRx(u, true)
	if err := s.steer(u, true); err != nil {
		u.unbind()
		return err
	}
	return nil
}

// portFree applies Linux's rule for UDP: a port is shared only by sockets
// that all set SO_REUSEADDR (or all SO_REUSEPORT), unless their addresses
// differ and neither is the wildcard.
func (s *Stack) portFree(u *UDPSocket, addr netip.Addr, port uint16) bool {
	ps := s.ports[port]
	if ps == nil {
		return true
	}
	for _, o := range ps.socks {
		overlap := addr.IsUnspecified() || o.local.Addr().IsUnspecified() || addr == o.local.Addr()
		shared := (u.reuseAddr && o.reuseAddr) || (u.reusePort && o.reusePort)
		if overlap && !shared {
			return false
		}
	}
	return true
}

// ephemeral picks a free port from Linux's default ip_local_port_range
// for a stack without a kernel twin.
func (s *Stack) ephemeral() uint16 {
	const lo, n = 32768, 60999 - 32768 + 1
	start := rand.IntN(n)
	for i := range n {
		p := uint16(lo + (start+i)%n)
		if s.ports[p] == nil && (s.tcpst == nil || (s.tcpst.ports[p] == 0 && s.tcpst.listeners[p] == nil)) {
			return p
		}
	}
	return 0
}

func (u *UDPSocket) unbind() {
	u.s.unport(u)
	u.local = netip.AddrPort{}
}

// unport takes a socket off its port's list: it receives no more.
func (s *Stack) unport(u *UDPSocket) {
	ps := s.ports[u.local.Port()]
	if ps == nil {
		return
	}
	for i, o := range ps.socks {
		if o == u {
			ps.socks = append(ps.socks[:i], ps.socks[i+1:]...)
			s.reserveRx(u, false)
			break
		}
	}
	if len(ps.socks) == 0 {
		delete(s.ports, u.local.Port())
	}
}

// Connect sets the peer; the zero AddrPort disconnects (AF_UNSPEC). An
// unbound socket is bound to an ephemeral port first, as Linux does.
func (u *UDPSocket) Connect(ap netip.AddrPort) error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.closed {
		return unix.EBADF
	}
	if ap.IsValid() {
		if !ap.Addr().Is4() {
			return unix.EAFNOSUPPORT
		}
		if !u.broadcast && u.isBroadcast(ap.Addr().As4()) {
			return unix.EACCES
		}
		if _, ok := s.routes.lookup(ap.Addr().As4()); !ok {
			return unix.ENETUNREACH
		}
		if !u.local.IsValid() {
			if err := u.bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); err != nil {
				return err
			}
		}
	}
	if u.twin >= 0 {
		if err := s.kern.connectTwin(u, ap); err != nil {
			return err
		}
	}
	if !u.local.IsValid() {
		u.remote = ap
		return nil
	}
	// Re-steer: a connected socket takes only its peer's datagrams.
	s.steer(u, false)
	u.remote = ap
	return s.steer(u, true)
}

func (u *UDPSocket) isBroadcast(a [4]byte) bool {
	return a == u.s.bcast || a == [4]byte{255, 255, 255, 255}
}

// takeErr reports and clears the pending error, as sock_error does.
func (u *UDPSocket) takeErr() error {
	if e := u.err; e != 0 {
		u.setErr(0)
		return e
	}
	return nil
}

// setErr sets the pending error (s.mu held).
func (u *UDPSocket) setErr(e unix.Errno) {
	u.err = e
	u.s.changes++
}

// queued counts a datagram queued on the socket (s.mu held).
func (u *UDPSocket) queued() {
	u.rxGen++
	u.s.changes++
}

// Error is SO_ERROR: the pending error, cleared.
func (u *UDPSocket) Error() error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	return u.takeErr()
}

// SendTo sends one datagram to to, or to the connected peer if to is zero.
func (u *UDPSocket) SendTo(b []byte, to netip.AddrPort) (int, error) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	n, err := u.sendTo(b, to)
	if err == nil {
		u.counts.TxPackets++
		u.counts.TxBytes += uint64(n)
	}
	return n, err
}

func (u *UDPSocket) sendTo(b []byte, to netip.AddrPort) (int, error) {
	s := u.s
	if u.closed {
		return 0, unix.EBADF
	}
	if err := u.takeErr(); err != nil {
		return 0, err
	}
	if !to.IsValid() {
		if !u.connected() {
			return 0, unix.EDESTADDRREQ
		}
		to = u.remote
	}
	if !to.Addr().Is4() {
		return 0, unix.EAFNOSUPPORT
	}
	if to.Port() == 0 {
		return 0, unix.EINVAL // udp_sendmsg: no datagram to port 0
	}
	if len(b) > udp.MaxPayload {
		return 0, unix.EMSGSIZE
	}
	dst := to.Addr().As4()
	if !u.broadcast && u.isBroadcast(dst) {
		return 0, unix.EACCES
	}
	if !u.local.IsValid() {
		if err := u.bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); err != nil {
			return 0, err
		}
	}
	if u.path.valid(s, dst) {
		return s.sendUDPCached(u, dst, to.Port(), b)
	}
	r, ok := s.routes.lookup(dst)
	if !ok {
		return 0, unix.ENETUNREACH
	}
	if s.kern != nil && outOfTable(dst) && u.local.Addr().IsUnspecified() && !u.boundDev && !(dst[0]&0xf0 == 0xe0 && u.mcastIf) {
		// Bound to no address and naming no interface, a group's or the
		// limited broadcast's datagram follows the main table in Linux
		// (ip_route_output_key_hash_rcu): with no route it is
		// ENETUNREACH, and a route through another interface is the
		// kernel's to send. (A stack that owns its address is the whole
		// host: its interface is the only way out.)
		t, ok := s.routes.lookupTable(dst)
		if !ok {
			return 0, unix.ENETUNREACH
		}
		r.ours = t.ours
	}
	// Routes through other interfaces, loopback, and datagrams over the
	// path MTU (which the kernel fragments) go through the kernel twin.
	mtu := r.mtu
	if s.kern != nil {
		mtu = s.kern.pathMTU(dst, mtu)
	}
	if dst == s.addr && u.twin < 0 {
		// To ourselves with no kernel to loop it: deliver it here.
		if k, full := s.deliverUDP(dst, to.Port(), netip.AddrPortFrom(netip.AddrFrom4(s.addr), u.local.Port()), b); k == 0 && full {
			s.drop(DropUDPRcvBuf)
		}
		return len(b), nil
	}
	if !r.ours || dst == s.addr || 28+len(b) > mtu {
		if u.twin < 0 {
			if !r.ours {
				return 0, unix.ENETUNREACH
			}
			return 0, unix.EMSGSIZE
		}
		return s.kern.sendTwin(u, b, to)
	}
	if err := s.sendUDP(u, r, mtu, dst, u.local.Port(), to.Port(), b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// sendUDPCached is SendTo's way for a destination the socket's path
// cache holds: what SendTo checks of the route and the MTU, with the
// cache's answers.
func (s *Stack) sendUDPCached(u *UDPSocket, dst [4]byte, dport uint16, b []byte) (int, error) {
	c := &u.path
	if 28+len(b) > c.mtu {
		// Over the path MTU: the kernel fragments it (the cache holds
		// only routes through the stack's interface, to others).
		if u.twin < 0 {
			return 0, unix.EMSGSIZE
		}
		return s.kern.sendTwin(u, b, netip.AddrPortFrom(netip.AddrFrom4(dst), dport))
	}
	if err := s.sendUDP(u, c.hop, c.mtu, dst, u.local.Port(), dport, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// RecvFrom takes one datagram. With peek it stays queued; with trunc the
// datagram's whole length is returned even if b was shorter (MSG_PEEK,
// MSG_TRUNC). EAGAIN when none is there.
func (u *UDPSocket) RecvFrom(b []byte, peek, trunc bool) (int, netip.AddrPort, error) {
	n, from, _, err := u.RecvMeta(b, peek, trunc)
	return n, from, err
}

// RecvMeta is RecvFrom with the datagram's Meta (its destination and
// arrival time, when SetRecvMeta asked for them).
func (u *UDPSocket) RecvMeta(b []byte, peek, trunc bool) (int, netip.AddrPort, udp.Meta, error) {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.closed {
		return 0, netip.AddrPort{}, udp.Meta{}, unix.EBADF
	}
	s.ring()
	if u.q.Len() == 0 && !u.detached.Load() {
		s.pollFast()
	}
	if err := u.takeErr(); err != nil {
		return 0, netip.AddrPort{}, udp.Meta{}, err
	}
	n, full, from, m, ok := u.q.PopMeta(b, peek)
	if !ok {
		return 0, netip.AddrPort{}, udp.Meta{}, unix.EAGAIN
	}
	if !peek {
		s.changes++
		u.counts.RxPackets++
		u.counts.RxBytes += uint64(full)
	}
	if trunc {
		n = full
	}
	return n, from, m, nil
}

// SetRecvMeta says what each datagram must keep from now on: the address
// it was sent to (IP_PKTINFO) and the time it arrived (SO_TIMESTAMP,
// SO_TIMESTAMPNS; taken when the stack queues it, a software receive
// timestamp as Linux's). A twin of the stack's own is asked for the
// same, for the datagrams that come through the kernel.
func (u *UDPSocket) SetRecvMeta(dst, stamp bool) {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u.wantDst, u.wantStamp = dst, stamp
	if u.twin >= 0 && !u.adopted {
		unix.SetsockoptInt(u.twin, unix.IPPROTO_IP, unix.IP_PKTINFO, boolInt(dst))
		unix.SetsockoptInt(u.twin, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, boolInt(stamp))
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// meta is what the socket keeps of a datagram sent to dst arriving now
// (nothing when it did not ask).
func (u *UDPSocket) meta(dst [4]byte) udp.Meta {
	if !u.wantDst && !u.wantStamp {
		return udp.Meta{}
	}
	m := udp.Meta{Dst: dst}
	if u.wantStamp {
		m.Stamp = time.Now().UnixNano()
	}
	return m
}

// Readable reports whether a datagram or an error is waiting (POLLIN).
func (u *UDPSocket) Readable() bool { return u.readable(false) }

// ReadablePolled is Readable after polling the stack even when data
// already waits: an edge-triggered waiter must see the datagrams that
// arrived behind those queued (they make a new edge).
func (u *UDPSocket) ReadablePolled() bool { return u.readable(true) }

// readable polls the stack when nothing waits, or always, and says
// whether a datagram waits. A pending error is not data: poll reports it
// as POLLERR alone, as Linux's datagram_poll does (HasError).
func (u *UDPSocket) readable(always bool) bool {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring()
	if (always || u.q.Len() == 0) && !u.detached.Load() {
		s.pollFast()
	}
	return u.q.Len() > 0
}

// Readiness reports for each socket of us, all on this stack, whether a
// datagram waits (readable), whether an error is pending (errs) and its
// Generation (gens), after one poll of the stack under one lock: an epoll
// set's scan pays for its sockets' stack once, not once per socket.
// readable, errs and gens are as long as us. It returns the stack's count
// of changes; given the count of an earlier answer (since) and no change
// since, it fills nothing and says so (filled false): what it filled then
// still holds, and a scan of an idle set costs one look at the stack.
func (s *Stack) Readiness(us []*UDPSocket, readable, errs []bool, gens []uint64, since uint64) (changes uint64, filled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring()
	s.pollFast()
	if since == s.changes {
		return since, false
	}
	for i, u := range us {
		readable[i] = u.q.Len() > 0
		errs[i] = u.err != 0
		gens[i] = u.rxGen
	}
	return s.changes, true
}

// Queued is how many datagrams wait, without polling.
func (u *UDPSocket) Queued() int { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.q.Len() }

// Generation counts the datagrams ever queued on the socket: a change
// since a waiter last looked is an edge (EPOLLET).
func (u *UDPSocket) Generation() uint64 { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.rxGen }

// Detach hands the socket back to the kernel: its filter goes, its port
// is released in the stack, and its twin is no longer read, so the kernel
// socket alone receives from now on. What was already queued can still be
// read; sending still works, through the kernel. Before a fork or an exec
// the shim detaches every socket another process may share, with share
// set: what was queued then moves into the kernel's socket, where every
// process that shares it can read it (requeue), and Detach returns how
// many datagrams moved, and why some could not.
func (u *UDPSocket) Detach(share bool) (requeued int, err error) {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.closed || u.detached.Load() {
		return 0, nil
	}
	share = share && s.kern != nil
	// Most of the queue moves while the filter still steers the flow
	// here, and the rest (what arrives while it goes) after: only the
	// datagrams of that moment can come out of order, behind ones the
	// kernel took directly.
	if share {
		requeued, err = s.kern.requeue(u)
	}
	for len(u.groups) > 0 {
		g := u.groups[0]
		u.groups = u.groups[1:]
		if s.groups[g.As4()]--; s.groups[g.As4()] == 0 {
			delete(s.groups, g.As4())
		}
	}
	if u.local.IsValid() {
		s.steer(u, false)
		// Frames the filter steered before it went may still be on their
		// way (an XDP program that read the old entry runs to its end,
		// under RCU): take them for a while, still delivering to the
		// socket, so that none is stranded in the ring.
		for end := time.Now().Add(detachDrain); time.Now().Before(end); {
			s.drain()
		}
		s.unport(u)
	}
	if u.twin >= 0 && s.kern != nil {
		s.kern.unwatchTwin(u)
	}
	u.detached.Store(true)
	// A thread asleep on the stack for this socket would sleep through
	// what the kernel's socket now receives (a fork, or the progress
	// engine, handing it over while another thread waits in recv): it
	// wakes, finds the socket handed over, and waits in the kernel.
	if s.kern != nil {
		s.kern.wake()
	}
	if share && err == nil {
		var more int
		more, err = s.kern.requeue(u)
		requeued += more
	}
	return requeued, err
}

// detachDrain is how long Detach drains the device after the filter goes.
const detachDrain = time.Millisecond

// Detached reports whether the socket was handed back to the kernel.
func (u *UDPSocket) Detached() bool { return u.detached.Load() }

// Pending is FIONREAD: the size of the first datagram, 0 if none.
func (u *UDPSocket) Pending() int {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	n, _, _ := u.q.Peek()
	return n
}

// Drops counts datagrams the socket's full buffer refused.
func (u *UDPSocket) Drops() uint64 { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.q.Drops() }

// JoinGroup is IP_ADD_MEMBERSHIP on the stack's interface. The twin joins
// too, so that the kernel speaks IGMP for the group (RFC 3376). As in
// Linux (IP_MULTICAST_ALL), a socket bound to the group's port receives
// the group's datagrams while any socket of the stack is a member.
func (u *UDPSocket) JoinGroup(g netip.Addr) error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !g.Is4() || !g.IsMulticast() {
		return unix.EINVAL
	}
	for _, have := range u.groups {
		if have == g {
			return unix.EADDRINUSE
		}
	}
	if u.twin >= 0 && !u.adopted {
		mreq := &unix.IPMreqn{Multiaddr: g.As4(), Ifindex: int32(s.info.Ifindex)}
		if err := unix.SetsockoptIPMreqn(u.twin, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return err
		}
	}
	u.groups = append(u.groups, g)
	s.groups[g.As4()]++
	return nil
}

// LeaveGroup is IP_DROP_MEMBERSHIP.
func (u *UDPSocket) LeaveGroup(g netip.Addr) error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.leave(g)
}

func (u *UDPSocket) leave(g netip.Addr) error {
	s := u.s
	for i, have := range u.groups {
		if have != g {
			continue
		}
		u.groups = append(u.groups[:i], u.groups[i+1:]...)
		if s.groups[g.As4()]--; s.groups[g.As4()] == 0 {
			delete(s.groups, g.As4())
		}
		if u.twin >= 0 && !u.adopted {
			mreq := &unix.IPMreqn{Multiaddr: g.As4(), Ifindex: int32(s.info.Ifindex)}
			unix.SetsockoptIPMreqn(u.twin, unix.IPPROTO_IP, unix.IP_DROP_MEMBERSHIP, mreq)
		}
		return nil
	}
	return unix.EADDRNOTAVAIL
}

// Close unbinds the socket; its flows go back to the kernel.
func (u *UDPSocket) Close() error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	return u.closeLocked()
}

func (u *UDPSocket) closeLocked() error {
	if u.closed {
		return nil
	}
	u.closed = true
	for len(u.groups) > 0 {
		u.leave(u.groups[0])
	}
	if u.detached.Load() {
		u.twin = -1
		return nil
	}
	if u.local.IsValid() {
		u.s.steer(u, false)
		u.unbind()
	}
	if u.twin >= 0 {
		// Its fd is still open: what it sent to a neighbour not yet
		// resolved goes on through the kernel after the close, as on
		// Linux.
		u.s.pendingToKernel(u)
		u.s.kern.closeTwin(u)
	}
	return nil
}

// deliverUDP queues a datagram for dst:port from from on the sockets that
// want it: for unicast the most specific one (connected to from, then
// bound to dst, then to the wildcard); for broadcast and multicast every
// one that matches. It reports how many took it, and whether one refused
// for a full buffer.
func (s *Stack) deliverUDP(dst [4]byte, port uint16, from netip.AddrPort, payload []byte) (delivered int, full bool) {
	ps := s.ports[port]
	if ps == nil {
		return 0, false
	}
	d := netip.AddrFrom4(dst)
	matches := func(u *UDPSocket) bool {
		if u.connected() && u.remote != from {
			return false
		}
		return u.local.Addr().IsUnspecified() || u.local.Addr() == d
	}
	if dst == s.addr {
		// The most specific socket takes it, and of equally specific
		// ones the last bound (Linux adds a bound socket at the head of
		// the port's chain and takes the first best score: two with
		// SO_REUSEADDR, the newer gets the unicast). When that one is in
		// a SO_REUSEPORT group, the group shares the flows, one socket
		// per flow (reuseport_select_sock).
		var best *UDPSocket
		bestScore, group := -1, 0
		for i := len(ps.socks) - 1; i >= 0; i-- {
			u := ps.socks[i]
			if !matches(u) {
				continue
			}
			switch sc := udpScore(u); {
			case sc > bestScore:
				best, bestScore, group = u, sc, 1
			case sc == bestScore && sameReuseGroup(best, u):
				group++
			}
		}
		if best == nil {
			return 0, false
		}
		if group > 1 {
			k := int(uint64(flowHash(from, port, s.hashSeed)) * uint64(group) >> 32)
			first := best
			for _, u := range ps.socks {
				if matches(u) && udpScore(u) == bestScore && sameReuseGroup(first, u) {
					if k == 0 {
						best = u
						break
					}
					k--
				}
			}
		}
		if !best.q.PushMeta(payload, from, best.meta(dst)) {
			return 0, true
		}
		best.queued()
		return 1, false
	}
	for _, u := range ps.socks {
		if matches(u) {
			if u.q.PushMeta(payload, from, u.meta(dst)) {
				u.queued()
				delivered++
			} else {
				full = true
			}
		}
	}
	return delivered, full
}

// ReusePortBound reports whether a socket with SO_REUSEPORT is bound to
// local's port and an address local shares with it (the same, or either
// the wildcard): one a new socket with SO_REUSEPORT on local would share
// the port with.
func (s *Stack) ReusePortBound(local netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.ports[local.Port()]
	if ps == nil {
		return false
	}
	for _, u := range ps.socks {
		a := u.local.Addr()
		if u.reusePort && (a == local.Addr() || a.IsUnspecified() || local.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// udpScore ranks the sockets a unicast datagram matches: connected over
// bound to the wildcard, a specific address over the wildcard.
func udpScore(u *UDPSocket) int {
	score := 0
	if u.connected() {
		score += 2
	}
	if !u.local.Addr().IsUnspecified() {
		score++
	}
	return score
}

// sameReuseGroup reports whether u shares a's SO_REUSEPORT group: both
// set it, bound to the same address, and neither connected (Linux picks
// a connected socket by its score, not from the group).
func sameReuseGroup(a, u *UDPSocket) bool {
	return a.reusePort && u.reusePort && !a.connected() && !u.connected() && a.local.Addr() == u.local.Addr()
}

// flowHash spreads flows (source address and port, destination port) over
// a SO_REUSEPORT group; the stack's random seed keeps a peer from choosing
// which socket its flows land on.
func flowHash(from netip.AddrPort, port uint16, seed uint32) uint32 {
	a := from.Addr().As4()
	h := seed ^ (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]))
	h = (h ^ (uint32(from.Port())<<16 | uint32(port))) * 0x9e3779b1
	h ^= h >> 15
	h *= 0x85ebca6b
	return h ^ h>>13
}

// flow is what a socket asks the device to steer to it: its peer's
// datagrams when connected, else everything to its address and port.
func (s *Stack) flow(u *UDPSocket) vi.Flow {
	f := vi.Flow{Proto: unix.IPPROTO_UDP, Local: u.local}
	if u.connected() {
		// A connection filter names our own address, never the wildcard.
		f.Local = netip.AddrPortFrom(netip.AddrFrom4(s.addr), u.local.Port())
		f.Remote = u.remote
	}
	return f
}

// steer adds (on) or removes the socket's filter. Sockets sharing a port
// share its filter; the last one out removes it.
func (s *Stack) steer(u *UDPSocket, on bool) error {
	st, ok := s.dev.(vi.Steering)
	if !ok || !u.local.IsValid() {
		return nil
	}
	f := s.flow(u)
	if on {
		if s.steered[f] == 0 {
			if err := st.Steer(f); err != nil {
				if u.adopted {
					return &SteerError{err}
				}
				return unix.EADDRINUSE
			}
		}
		s.steered[f]++
		return nil
	}
	if s.steered[f] == 0 {
		return nil
	}
	if s.steered[f]--; s.steered[f] == 0 {
		delete(s.steered, f)
		st.Unsteer(f)
	}
	return nil
}

// StackAddr is the address of the socket's stack.
func (u *UDPSocket) StackAddr() netip.Addr { return netip.AddrFrom4(u.s.addr) }

// HasError reports a pending error without clearing it (POLLERR).
func (u *UDPSocket) HasError() bool { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.err != 0 }

// Stack is the stack the socket lives on.
func (u *UDPSocket) Stack() *Stack { return u.s }
