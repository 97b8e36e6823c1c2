package stack

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/vi"
)

// TCP on the stack: the stack demultiplexes segments by 4-tuple to
// connections (tcp.Conn) and by local port to listeners (tcp.Listener),
// builds and sends what they output, and runs their timers. Its calls
// never block: where Linux would wait they return EAGAIN, and the caller
// waits as for UDP (ArmWait) or spins.
//
// Every TCP socket of a Kernel-mode stack has a kernel twin: a kernel TCP
// socket bound to the same address and port, never listening nor
// connected. It reserves the port, so that the kernel never hands it out
// again (an ephemeral port of an active open is the twin's), and the
// kernel answers with a RST whatever the filter does not steer to us.

// TCPSocket is a TCP connection on a stack.
type TCPSocket struct {
	s      *Stack
	c      *tcp.Conn
	t      tcp.Tuple
	l      *TCPListener // the listener whose SYN queue holds it
	twin   int          // active opens: the kernel socket reserving the port
	steer  bool         // a 4-tuple filter is installed for it
	closed bool         // the application closed it; it lingers until CLOSED
	inTW   bool         // counted in tcpState.timeWait
	linger *time.Duration
}

// TCPListener is a listening TCP socket on a stack.
type TCPListener struct {
	s     *Stack
	l     *tcp.Listener
	local netip.AddrPort
	twin  int
}

// tcpState is what a stack keeps of TCP.
type tcpState struct {
	conns     map[tcp.Tuple]*TCPSocket
	listeners map[uint16]*TCPListener
	ports     map[uint16]int // connections by local port (ephemeral ports without a kernel)
	isn       *tcp.ISN
	cookies   *tcp.Cookies
	reply     tcp.Segment
	emit      func(*tcp.Segment)
	emitTo    tcp.Tuple
	last      *TCPSocket // the connection the last segment went to (inputTCP)
	timeWait  int        // connections in TIME-WAIT
}

func (s *Stack) tcp() (*tcpState, error) {
	if s.tcpst != nil {
		return s.tcpst, nil
	}
	isn, err := tcp.NewISN()
	if err != nil {
		return nil, err
	}
	cookies, err := tcp.NewCookies()
	if err != nil {
		return nil, err
	}
	if s.kern != nil {
		// Without it, connections keep their MSS whatever the path says.
		s.tcpICMPErr = s.kern.openICMP()
	}
	st := &tcpState{conns: map[tcp.Tuple]*TCPSocket{}, listeners: map[uint16]*TCPListener{}, ports: map[uint16]int{}, isn: isn, cookies: cookies}
	st.emit = func(seg *tcp.Segment) { s.sendTCP(st.emitTo, seg) }
	s.tcpst = st
	s.timed.Store(true)
	return st, nil
}

// mss is the MSS for a peer: the route's MTU, or the path's as ICMP
// said, less the IPv4 and TCP headers.
func (s *Stack) mss(dst netip.Addr) uint16 {
	mtu := s.info.MTU
	if r, ok := s.routes.lookup(dst.As4()); ok {
		mtu = r.mtu
	}
	if s.kern != nil {
		mtu = s.kern.pathMTU(dst.As4(), mtu)
	}
	return uint16(max(mtu-40, 536))
}

// tcpTwin makes a kernel TCP socket bound to ap, reserving its port, and
// returns it with the port the kernel gave.
func (s *Stack) tcpTwin(ap netip.AddrPort) (int, uint16, error) {
	if s.kern == nil {
		return -1, ap.Port(), nil
	}
	var fd int
	err := vi.InNetns(s.kern.netns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, 0, err
	}
	// As a TCP listener's port may be taken again while connections of
	// an earlier one linger in TIME-WAIT (Linux's servers set it too).
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	bound, err := SockName(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, bound.Port(), nil
}

// ListenTCP makes a listener on local (its address the stack's or the
// wildcard) with a backlog.
func (s *Stack) ListenTCP(local netip.AddrPort, backlog int, cfg tcp.Config) (*TCPListener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.tcp()
	if err != nil {
		return nil, err
	}
	if a := local.Addr(); !a.IsUnspecified() && a.As4() != s.addr {
		return nil, unix.EADDRNOTAVAIL
	}
	if st.listeners[local.Port()] != nil {
		return nil, unix.EADDRINUSE
	}
	twin, port, err := s.tcpTwin(local)
	if err != nil {
		return nil, err
	}
	local = netip.AddrPortFrom(local.Addr(), port)
	if cfg.MSS == 0 {
		cfg.MSS = uint16(max(s.info.MTU-40, 536))
	}
	l := &TCPListener{s: s, l: tcp.NewListener(cfg, backlog, st.isn, st.cookies), local: local, twin: twin}
	if steer, ok := s.dev.(vi.Steering); ok {
		if err := steer.Steer(vi.Flow{Proto: unix.IPPROTO_TCP, Local: local}); err != nil {
			if twin >= 0 {
				unix.Close(twin)
			}
			return nil, &SteerError{err}
		}
	}
	st.listeners[port] = l
	return l, nil
}

// Addr is the listener's local address and port.
func (l *TCPListener) Addr() netip.AddrPort { return l.local }

// Accept takes an established connection, or EAGAIN.
func (l *TCPListener) Accept() (*TCPSocket, error) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFast()
	a, ok := l.l.Accept()
	if !ok {
		return nil, unix.EAGAIN
	}
	u := s.tcpst.conns[a.Tuple]
	if u == nil {
		return nil, unix.EAGAIN
	}
	u.l = nil
	return u, nil
}

// Pending is how many connections wait for Accept.
func (l *TCPListener) Pending() int {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.s.pollFast()
	return l.l.Pending()
}

// Close stops listening; connections not yet accepted are reset.
func (l *TCPListener) Close() error {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tcpst
	if st.listeners[l.local.Port()] != l {
		return nil
	}
	delete(st.listeners, l.local.Port())
	if steer, ok := s.dev.(vi.Steering); ok {
		steer.Unsteer(vi.Flow{Proto: unix.IPPROTO_TCP, Local: l.local})
	}
	for {
		a, ok := l.l.Accept()
		if !ok {
			break
		}
		if u := st.conns[a.Tuple]; u != nil {
			u.c.Abort()
			s.tcpOutput(u)
			s.dropConn(u)
		}
	}
	for t, u := range st.conns {
		if u.l == l {
			u.c.Abort()
			s.tcpOutput(u)
			s.dropConn(u)
			delete(st.conns, t)
		}
	}
	if l.twin >= 0 {
		unix.Close(l.twin)
	}
	return nil
}

// DialTCP opens a connection to remote from an ephemeral port; the
// handshake goes on in the stack (the connection is in SYN-SENT).
func (s *Stack) DialTCP(remote netip.AddrPort, cfg tcp.Config) (*TCPSocket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.tcp()
	if err != nil {
		return nil, err
	}
	r, ok := s.routes.lookup(remote.Addr().As4())
	if !ok || !r.ours {
		return nil, unix.ENETUNREACH
	}
	local := netip.AddrPortFrom(netip.AddrFrom4(s.addr), 0)
	twin, port, err := s.tcpTwin(local)
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port = s.ephemeral(); port == 0 {
			return nil, unix.EADDRNOTAVAIL
		}
	}
	local = netip.AddrPortFrom(local.Addr(), port)
	if cfg.MSS == 0 {
		cfg.MSS = s.mss(remote.Addr())
	}
	u := &TCPSocket{s: s, c: tcp.New(cfg), t: tcp.Tuple{Local: local, Remote: remote}, twin: twin}
	if steer, ok := s.dev.(vi.Steering); ok {
		if err := steer.Steer(vi.Flow{Proto: unix.IPPROTO_TCP, Local: local, Remote: remote}); err != nil {
			if twin >= 0 {
				unix.Close(twin)
			}
			return nil, &SteerError{err}
		}
		u.steer = true
	}
	now := s.cfg.Now()
	u.c.Connect(now, st.isn.Next(local, remote, now))
	st.conns[u.t] = u
	st.ports[port]++
	s.tcpOutput(u)
	return u, nil
}

// inputTCP takes a segment (RFC 9293) for a connection or a listener.
func (s *Stack) inputTCP(ip wire.IPv4, now time.Duration) {
	st := s.tcpst
	src, dst := ip.Src(), ip.Dst()
	t, err := wire.ParseTCP(ip.Payload(), src, dst)
	if err != nil {
		s.drop(tcpErrDrop(err))
		return
	}
	if st == nil {
		s.drop(DropTCPNoSocket)
		return
	}
	var seg tcp.Segment
	if wire.ParseTCPOptions(t.Options(), &seg.Opts) != nil {
		s.drop(DropTCPOptions)
		return
	}
	seg.Seq, seg.Ack, seg.Flags, seg.Window, seg.Payload = tcp.Seq(t.Seq()), tcp.Seq(t.Ack()), t.Flags(), t.Window(), t.Payload()
	tuple := tcp.Tuple{Local: netip.AddrPortFrom(netip.AddrFrom4(dst), t.DstPort()), Remote: netip.AddrPortFrom(netip.AddrFrom4(src), t.SrcPort())}
	s.stats.RxTCP++
	u := st.last
	if u == nil || u.t != tuple {
		// The last connection a segment went to takes the next one too,
		// most of the time: one comparison instead of hashing the tuple.
		if u = st.conns[tuple]; u != nil {
			st.last = u
		}
	}
	if u != nil && u.c.ReusableBy(&seg) && st.listeners[tuple.Local.Port()] != nil {
		// A new incarnation of a connection in TIME-WAIT (RFC 6191):
		// the old one goes, the listener takes the SYN.
		s.dropConn(u)
		delete(st.conns, tuple)
		u = nil
	}
	if u != nil {
		u.c.Input(now, &seg)
		s.tcpOutputAt(u, now)
		if u.l != nil {
			u.l.l.Update(tuple)
		}
		s.reap(u)
		return
	}
	l := st.listeners[tuple.Local.Port()]
	if l == nil || (!l.local.Addr().IsUnspecified() && l.local.Addr() != tuple.Local.Addr()) {
		// Steered here, but no socket (closed while its filter went):
		// RFC 9293 §3.10.7.1, a closed port answers with a RST.
		s.drop(DropTCPNoSocket)
		s.resetFor(tuple, &seg)
		return
	}
	switch v, c := l.l.Input(now, tuple, &seg, &st.reply); v {
	case tcp.Reply:
		st.emitTo = tuple
		st.emit(&st.reply)
	case tcp.Made:
		u := &TCPSocket{s: s, c: c, t: tuple, l: l, twin: -1}
		st.conns[tuple] = u
		if c.State() == tcp.Established {
			u.l = nil // a cookie's connection is already in the accept queue
			l.l.Update(tuple)
		}
		s.tcpOutput(u)
	}
}

// resetFor answers a segment to no connection (RFC 9293 §3.10.7.1).
func (s *Stack) resetFor(t tcp.Tuple, seg *tcp.Segment) {
	if seg.Flags&wire.TCPRst != 0 {
		return
	}
	r := &s.tcpst.reply
	*r = tcp.Segment{Flags: wire.TCPRst}
	if seg.Flags&wire.TCPAck != 0 {
		r.Seq = seg.Ack
	} else {
		r.Ack = seg.Seq.Add(seg.Len())
		r.Flags |= wire.TCPAck
	}
	s.sendTCP(t, r)
}

// tcpOutput sends what a connection has to send.
func (s *Stack) tcpOutput(u *TCPSocket) { s.tcpOutputAt(u, s.cfg.Now()) }

func (s *Stack) tcpOutputAt(u *TCPSocket, now time.Duration) {
	st := s.tcpst
	st.emitTo = u.t
	u.c.Output(now, st.emit)
	if tw := u.c.State() == tcp.TimeWait; tw != u.inTW {
		s.countTimeWait(u, tw)
	}
}

// countTimeWait follows a connection into and out of TIME-WAIT, and
// closes it at once when the bound is reached.
func (s *Stack) countTimeWait(u *TCPSocket, tw bool) {
	st := s.tcpst
	if !tw {
		st.timeWait--
		u.inTW = false
		return
	}
	if st.timeWait >= s.cfg.MaxTimeWait {
		u.c.EndTimeWait()
		s.stats.TimeWaitOverflow++
		return
	}
	st.timeWait++
	u.inTW = true
}

// reap forgets a connection that reached CLOSED after the application
// closed it (or that never reached the application).
func (s *Stack) reap(u *TCPSocket) {
	if u.c.State() == tcp.Closed && (u.closed || u.l != nil) {
		s.dropConn(u)
		delete(s.tcpst.conns, u.t)
	}
}

func (s *Stack) dropConn(u *TCPSocket) {
	if u.inTW {
		s.countTimeWait(u, false)
	}
	if s.tcpst.last == u {
		s.tcpst.last = nil
	}
	if u.l == nil && u.t.Local.Port() != 0 {
		if st := s.tcpst; st.ports[u.t.Local.Port()] > 0 {
			if st.ports[u.t.Local.Port()]--; st.ports[u.t.Local.Port()] == 0 {
				delete(st.ports, u.t.Local.Port())
			}
		}
	}
	if u.steer {
		if steer, ok := s.dev.(vi.Steering); ok {
			steer.Unsteer(vi.Flow{Proto: unix.IPPROTO_TCP, Local: u.t.Local, Remote: u.t.Remote})
		}
		u.steer = false
	}
	if u.twin >= 0 {
		unix.Close(u.twin)
		u.twin = -1
	}
}

// closeTCP resets every connection and closes every listener (the stack
// closes): their filters go, their kernel twins close.
func (s *Stack) closeTCP() {
	st := s.tcpst
	if st == nil {
		return
	}
	for t, u := range st.conns {
		u.c.Abort()
		s.tcpOutput(u)
		s.dropConn(u)
		delete(st.conns, t)
	}
	for port, l := range st.listeners {
		if steer, ok := s.dev.(vi.Steering); ok {
			steer.Unsteer(vi.Flow{Proto: unix.IPPROTO_TCP, Local: l.local})
		}
		if l.twin >= 0 {
			unix.Close(l.twin)
		}
		delete(st.listeners, port)
	}
}

// tcpTimers runs the connections' timers and says when next.
func (s *Stack) tcpTimers(now time.Duration) time.Duration {
	st := s.tcpst
	if st == nil {
		return 0
	}
	next := time.Duration(0)
	for _, u := range st.conns {
		d := u.c.Deadline()
		if d != 0 && d <= now {
			s.tcpOutput(u)
			if u.l != nil {
				u.l.l.Update(u.t)
			}
			s.reap(u)
			d = u.c.Deadline()
		}
		next = earliest(next, d)
	}
	return next
}

// sendTCP builds a segment into a frame and sends it to t.Remote.
func (s *Stack) sendTCP(t tcp.Tuple, seg *tcp.Segment) {
	dst := t.Remote.Addr().As4()
	r, ok := s.routes.lookup(dst)
	if !ok || !r.ours {
		s.drop(DropUnresolved)
		return
	}
	if s.dev.Alloc(s.one[:]) != 1 {
		s.drop(DropNoFrame)
		return
	}
	d := s.one[0]
	b := s.dev.Bytes(d)
	const hdrs = wire.EthernetLen + wire.IPv4Len
	optLen := seg.Opts.Len()
	tb := wire.TCP(b[hdrs:])
	n := copy(tb[wire.TCPLen+optLen:], seg.Payload)
	seg.Opts.Build(tb[wire.TCPLen:])
	src := t.Local.Addr().As4()
	tb.Build(&wire.TCPHeader{SrcPort: t.Local.Port(), DstPort: t.Remote.Port(), Seq: uint32(seg.Seq), Ack: uint32(seg.Ack),
		Flags: seg.Flags, Window: seg.Window}, optLen, src, dst, n)
	s.ipID++
	wire.IPv4(b[wire.EthernetLen:]).Build(&wire.IPv4Header{TTL: s.cfg.TTL, DF: true, ID: s.ipID, Protocol: wire.ProtoTCP, Src: src, Dst: dst},
		wire.TCPLen+optLen+n)
	wire.Ethernet(b).Build(wire.MAC{}, s.mac, wire.EtherTypeIPv4)
	d.Len = uint32(hdrs + wire.TCPLen + optLen + n)
	mac, res := s.res.lookup(r.nexthop)
	switch res {
	case resolved:
		wire.Ethernet(b).SetDst(mac)
		if s.transmit(d) == nil {
			s.stats.TxTCP++
		}
	case resolving:
		// TCP retransmits what is lost; the frame waits like a datagram.
		s.queuePending(r.nexthop, d, nil, s.cfg.Now())
	default:
		s.one[0] = d
		s.dev.Free(s.one[:])
		s.drop(DropUnresolved)
	}
}

func tcpErrDrop(err error) Drop {
	switch err {
	case wire.ErrChecksum:
		return DropTCPChecksum
	}
	return DropTCPTruncated
}

// Read takes received data: EAGAIN when none yet, 0 at the end of the
// peer's stream, or the error that ended the connection.
func (u *TCPSocket) Read(p []byte) (int, error) {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFast()
	n := u.c.Read(p)
	if n > 0 {
		if u.c.AckDue() {
			s.tcpOutput(u) // a window update
		}
		return n, nil
	}
	if err := connErrno(u.c.Err()); err != nil {
		return 0, err
	}
	if u.c.EOF() || u.c.State() == tcp.Closed {
		return 0, nil
	}
	return 0, unix.EAGAIN
}

// Write queues data: how much the send buffer took, EAGAIN when full, or
// EPIPE once writing is over.
func (u *TCPSocket) Write(p []byte) (int, error) { return u.Send(p, false) }

// Send is Write with MSG_MORE: more says that the application has more
// to send at once, so a partial segment waits for it (Conn.SetMore).
func (u *TCPSocket) Send(p []byte, more bool) (int, error) {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFast()
	u.c.SetMore(more)
	if err := connErrno(u.c.Err()); err != nil {
		return 0, err
	}
	n := u.c.Write(p)
	if n == 0 && len(p) > 0 {
		if u.c.Writable() == 0 && (u.c.State() == tcp.Established || u.c.State() == tcp.SynSent || u.c.State() == tcp.SynReceived || u.c.State() == tcp.CloseWait) {
			return 0, unix.EAGAIN
		}
		return 0, unix.EPIPE
	}
	s.tcpOutput(u)
	return n, nil
}

// State is the connection's state.
func (u *TCPSocket) State() tcp.State { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.c.State() }

// LocalAddr and RemoteAddr are the connection's ends.
func (u *TCPSocket) LocalAddr() netip.AddrPort  { return u.t.Local }
func (u *TCPSocket) RemoteAddr() netip.AddrPort { return u.t.Remote }

// Shutdown ends the writing side: a FIN follows the queued data.
func (u *TCPSocket) Shutdown() {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u.c.Close()
	s.tcpOutput(u)
}

// SetLinger is SO_LINGER: off (nil), or on with a time. On with zero,
// Close aborts the connection with a RST and no TIME-WAIT; on with a
// time, a blocking close waits until Flushed or the time passes (the
// caller waits: the stack never blocks), and the connection goes on
// closing in the stack either way, as on Linux.
func (u *TCPSocket) SetLinger(d *time.Duration) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	if d != nil {
		v := max(*d, 0)
		d = &v
	}
	u.linger = d
}

// Linger is SO_LINGER as set.
func (u *TCPSocket) Linger() *time.Duration {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	return u.linger
}

// Flushed reports whether everything written, and the FIN, has been
// acknowledged (or the connection is over): what a lingering close
// waits for.
func (u *TCPSocket) Flushed() bool {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFast()
	switch u.c.State() {
	case tcp.FinWait2, tcp.TimeWait, tcp.Closed:
		return true
	}
	return false
}

// Close closes the socket: a FIN after the queued data (or a RST when
// received data was left unread, as Linux does, RFC 2525 §2.17, or when
// SO_LINGER is on with zero); the connection lives on in the stack until
// CLOSED.
func (u *TCPSocket) Close() error {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u.closed = true
	if u.c.Readable() > 0 || (u.linger != nil && *u.linger == 0) {
		u.c.Abort()
	} else {
		u.c.Close()
	}
	s.tcpOutput(u)
	s.reap(u)
	return nil
}

// connErrno maps how a connection ended to the socket API's errno.
func connErrno(err error) error {
	switch err {
	case nil:
		return nil
	case tcp.ErrRefused:
		return unix.ECONNREFUSED
	case tcp.ErrReset:
		return unix.ECONNRESET
	case tcp.ErrTimedOut:
		return unix.ETIMEDOUT
	}
	return unix.EIO
}

// Err is the error that ended the connection (SO_ERROR), or nil.
func (u *TCPSocket) Err() error { u.s.mu.Lock(); defer u.s.mu.Unlock(); return connErrno(u.c.Err()) }

// Info is TCP_INFO.
func (u *TCPSocket) Info() tcp.Info { u.s.mu.Lock(); defer u.s.mu.Unlock(); return u.c.Info() }

// Conn lets the caller set the connection's options (setsockopt) under
// the stack's lock.
func (u *TCPSocket) Conn(fn func(c *tcp.Conn)) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	fn(u.c)
	u.s.tcpOutput(u)
}

// Ready is the connection's poll(2) state, as Linux's tcp_poll makes it,
// in epoll's bits (poll's are the same on Linux):
// POLLIN for data to read, the peer's FIN (with POLLRDHUP) or an error;
// POLLOUT once connected while the send buffer has room and writing is
// not over (a non-blocking connect completes with it); POLLERR for an
// error; POLLHUP when both directions are over or the connection is.
func (u *TCPSocket) Ready() uint32 {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFast()
	c := u.c
	var ev uint32
	st := c.State()
	if st == tcp.Closed || (c.PeerClosed() && c.Closing()) {
		ev |= unix.EPOLLHUP
	}
	if c.PeerClosed() || c.Err() != nil {
		ev |= unix.EPOLLIN | unix.EPOLLRDNORM | unix.EPOLLRDHUP
	}
	if st != tcp.SynSent && st != tcp.SynReceived {
		if c.Readable() > 0 {
			ev |= unix.EPOLLIN | unix.EPOLLRDNORM
		}
		if c.Writable() > 0 {
			ev |= unix.EPOLLOUT | unix.EPOLLWRNORM
		}
	}
	if c.Err() != nil {
		ev |= unix.EPOLLERR
	}
	return ev
}

// Generation counts what may change the connection's readiness (data,
// the peer's FIN, freed room, the handshake's end, an error), for
// edge-triggered waiters.
func (u *TCPSocket) Generation() uint64 {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	return u.c.Events()
}

// Ready is POLLIN when a connection waits for Accept.
func (l *TCPListener) Ready() uint32 {
	if l.Pending() > 0 {
		return unix.EPOLLIN | unix.EPOLLRDNORM
	}
	return 0
}

// Stats of a listener: SYN cookies sent and honoured.
func (l *TCPListener) Cookies() (sent, ok uint64) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.l.CookiesSent, l.l.CookiesOK
}
