package stack

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/vi/memvi"
)

// BenchmarkTCPConnect is connections per second between two stacks over
// the memory VI: one iteration is a handshake, an accept, and a close of
// both ends (the stack's own cost, without a kernel on the way).
//
//	go test -run '^$' -bench TCPConnect ./stack/
func BenchmarkTCPConnect(b *testing.B) {
	n := newNet(b, memvi.Options{Frames: 4096}, nil)
	l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8100), 128, tcp.Config{MSL: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	to := netip.AddrPortFrom(addrB.Addr(), 8100)
	// Resolve first.
	c, _ := n.a.DialTCP(to, tcp.Config{})
	n.settle(5 * time.Millisecond)
	if s, err := l.Accept(); err == nil {
		s.Close()
	}
	c.Close()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		c, err := n.a.DialTCP(to, tcp.Config{MSL: time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		s := acceptPolling(b, n, l)
		c.Close()
		s.Close()
		n.c.t += time.Millisecond
		n.a.Poll()
		n.b.Poll()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conn/s")
}

// BenchmarkTCPIdleMemory is the memory an established, idle connection
// costs the stack (both ends' heap divided by the connections): buffers
// are taken at the first byte, so an idle connection holds only its state.
//
//	go test -run '^$' -bench TCPIdleMemory -benchtime 1x ./stack/
func BenchmarkTCPIdleMemory(b *testing.B) {
	const conns = 500
	n := newNet(b, memvi.Options{Frames: 8192}, nil)
	l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8200), conns, tcp.Config{})
	if err != nil {
		b.Fatal(err)
	}
	to := netip.AddrPortFrom(addrB.Addr(), 8200)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep []*TCPSocket
	for i := 0; i < conns; i++ {
		c, err := n.a.DialTCP(to, tcp.Config{})
		if err != nil {
			b.Fatal(err)
		}
		keep = append(keep, c)
		n.settle(200 * time.Microsecond)
	}
	for i := 0; len(keep) < 2*conns && i < 10000; i++ {
		s, err := l.Accept()
		if err != nil {
			n.settle(100 * time.Microsecond)
			continue
		}
		keep = append(keep, s)
	}
	if len(keep) != 2*conns {
		b.Fatalf("%d connections accepted, want %d", len(keep)-conns, conns)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(2*conns), "B/conn")
	runtime.KeepAlive(keep)
}

// BenchmarkTCPOverMemory is the stack's own cost of a TCP round trip of
// 64 bytes each way between two stacks over the memory VI (no system
// call in the way): one iteration is a write, a read, a write back and a
// read back. Compare with two iterations of BenchmarkUDPOverMemory.
//
//	go test -run '^$' -bench OverMemory ./stack/
func BenchmarkTCPOverMemory(b *testing.B) {
	n := newNet(b, memvi.Options{Frames: 4096}, nil)
	l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8101), 8, tcp.Config{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := n.a.DialTCP(netip.AddrPortFrom(addrB.Addr(), 8101), tcp.Config{NoDelay: true})
	if err != nil {
		b.Fatal(err)
	}
	s := acceptPolling(b, n, l)
	s.Conn(func(c *tcp.Conn) { c.SetNoDelay(true) })
	msg, buf := make([]byte, 64), make([]byte, 64)
	read := func(u *TCPSocket) {
		for got := 0; got < len(buf); {
			k, err := u.Read(buf[got:])
			if err != nil && err != unix.EAGAIN {
				b.Fatal(err)
			}
			got += k
		}
	}
	rt := func() {
		c.Write(msg)
		read(s)
		s.Write(msg)
		read(c)
	}
	for range 100 {
		rt()
	}
	b.ResetTimer()
	for range b.N {
		rt()
	}
}

// acceptPolling polls both stacks of n until l has a connection to accept.
func acceptPolling(tb testing.TB, n *net2, l *TCPListener) *TCPSocket {
	tb.Helper()
	for range 1000 {
		n.a.Poll()
		n.b.Poll()
		if s, err := l.Accept(); err == nil {
			return s
		}
	}
	tb.Fatal("no connection")
	return nil
}

// TestTimeWaitBound: past Config.MaxTimeWait, a connection that closes
// first goes to CLOSED without TIME-WAIT (Linux past tcp_max_tw_buckets),
// so that closing many connections cannot hold memory without bound.
func TestTimeWaitBound(t *testing.T) {
	n := newNet(t, memvi.Options{Frames: 4096}, nil)
	n.a.cfg.MaxTimeWait = 3
	l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8102), 16, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const conns = 8
	var clients []*TCPSocket
	for range conns {
		c, err := n.a.DialTCP(netip.AddrPortFrom(addrB.Addr(), 8102), tcp.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := acceptPolling(t, n, l)
		c.Write([]byte("bye"))
		c.Close() // the client closes first: TIME-WAIT is its
		n.settle(time.Millisecond)
		buf := make([]byte, 8)
		if k, _ := s.Read(buf); string(buf[:k]) != "bye" {
			t.Fatalf("server read %q", buf[:k]) // (unread data would make its close a RST)
		}
		s.Close()
		n.settle(time.Millisecond)
		clients = append(clients, c)
	}
	inTW := 0
	for _, c := range clients {
		switch st := c.State(); st {
		case tcp.TimeWait:
			inTW++
		case tcp.Closed:
		default:
			t.Fatalf("a client in %v", st)
		}
	}
	st := n.a.Stats()
	if inTW != 3 || st.TimeWaitOverflow != conns-3 {
		t.Fatalf("%d in TIME-WAIT, %d overflowed; want 3 and %d", inTW, st.TimeWaitOverflow, conns-3)
	}
	n.a.mu.Lock()
	left := len(n.a.tcpst.conns)
	n.a.mu.Unlock()
	if left != 3 {
		t.Fatalf("%d connections kept, want the 3 in TIME-WAIT", left)
	}
}

// TestTCPReadiness walks a connection through the poll states Linux's
// tcp_poll gives, over the memory VI on the virtual clock: no POLLOUT
// while connecting; POLLOUT once established; POLLIN with data; POLLIN
// and POLLRDHUP at the peer's FIN; POLLHUP once both sides are shut; a
// refused connect ends in POLLERR|POLLHUP; a listener is POLLIN while a
// connection waits; the generation moves with each event.
func TestTCPReadiness(t *testing.T) {
	n := newNet(t, memvi.Options{Frames: 4096}, nil)
	l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8103), 4, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.a.DialTCP(netip.AddrPortFrom(addrB.Addr(), 8103), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const in, out, rdhup, hup, errp = unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLRDHUP, unix.EPOLLHUP, unix.EPOLLERR
	has := func(what string, ev, want, not uint32) {
		t.Helper()
		if ev&want != want || ev&not != 0 {
			t.Fatalf("%s: events %#x, want %#x set and %#x clear", what, ev, want, not)
		}
	}
	has("connecting", c.Ready(), 0, in|out|hup|errp)
	n.settle(time.Millisecond)
	has("listener with a connection waiting", l.Ready(), in, 0)
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	has("listener drained", l.Ready(), 0, in)
	has("established", c.Ready(), out, in|hup|errp|rdhup)
	g := c.Generation()
	s.Write([]byte("data"))
	n.settle(time.Millisecond)
	has("data waiting", c.Ready(), in|out, hup|rdhup)
	if c.Generation() == g {
		t.Fatal("the generation did not move with data")
	}
	s.Shutdown()
	n.settle(time.Millisecond)
	has("peer's FIN", c.Ready(), in|out|rdhup, hup)
	buf := make([]byte, 8)
	c.Read(buf)
	has("all read, EOF", c.Ready(), in|out|rdhup, hup)
	c.Shutdown()
	n.settle(time.Millisecond)
	has("both shut", c.Ready(), in|hup, errp|out)

	refused, err := n.a.DialTCP(netip.AddrPortFrom(addrB.Addr(), 8199), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n.settle(time.Millisecond)
	has("refused", refused.Ready(), errp|hup|in, 0)
	if _, err := refused.Read(buf); err != unix.ECONNREFUSED {
		t.Fatalf("read on a refused connection: %v", err)
	}
}
