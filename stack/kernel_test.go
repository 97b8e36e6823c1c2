package stack

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xsk"
)

// accelerate makes a Kernel-mode stack on host h's interface.
func accelerate(t *testing.T, h *netns.Host, bits int) *Stack {
	t.Helper()
	return accelerateCfg(t, h, bits, nil)
}

// accelerateCfg is accelerate with the stack's configuration adjusted.
func accelerateCfg(t *testing.T, h *netns.Host, bits int, adjust func(*Config)) *Stack {
	t.Helper()
	var port *xsk.Port
	var s *Stack
	var dev vi.Device
	err := h.Do(func() error {
		var err error
		if port, err = xsk.Open(xsk.Config{Interface: h.Ifname, Frames: 1024, RingSize: 256}); err != nil {
			return err
		}
		v, err := port.NewVI()
		if err != nil {
			return err
		}
		cfg := Config{Device: v, Addr: netip.PrefixFrom(h.Addr, bits), Kernel: true}
		if adjust != nil {
			adjust(&cfg) // it may wrap the device (vi/fault)
		}
		dev = cfg.Device
		s, err = New(cfg)
		return err
	})
	if err != nil {
		if port != nil {
			port.Close()
		}
		t.Fatalf("accelerate %s: %v", h.NS, err)
	}
	t.Cleanup(func() { s.Close(); dev.Close(); port.Close() })
	return s
}

// kernelUDP is a plain kernel socket on host h.
func kernelUDP(t *testing.T, h *netns.Host, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h.Addr.AsSlice(), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// await spins on a stack socket until a datagram or an error other than
// EAGAIN comes, for at most 3s.
func await(t *testing.T, u *UDPSocket, size int) ([]byte, netip.AddrPort, error) {
	t.Helper()
	b := make([]byte, size)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		n, from, err := u.RecvFrom(b, false, false)
		if err != unix.EAGAIN {
			return b[:n], from, err
		}
		time.Sleep(50 * time.Microsecond)
	}
	t.Fatal("nothing arrived within 3s")
	return nil, netip.AddrPort{}, nil
}

// pollUntil polls the stack until done, for at most 3s: what the shim's
// progress engine does for a program that is not in a socket call.
func pollUntil(s *Stack, done func() bool) {
	for end := time.Now().Add(3 * time.Second); !done() && time.Now().Before(end); {
		s.Poll()
		time.Sleep(100 * time.Microsecond)
	}
}

func kernelRecv(t *testing.T, c *net.UDPConn) (string, *net.UDPAddr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, 65536)
	n, from, err := c.ReadFromUDP(b)
	if err != nil {
		t.Fatalf("kernel socket: %v", err)
	}
	return string(b[:n]), from
}

func TestKernelModeStackSpeaksFirst(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	a := kernelUDP(t, pair.A, 9000)
	u, _ := s.NewUDP()
	if err := u.Bind(netip.AddrPortFrom(pair.B.Addr, 0)); err != nil {
		t.Fatal(err)
	}
	// Neither neighbour table knows the other: B's kernel resolves A on
	// the stack's behalf, the datagram waits and then goes.
	if _, err := u.SendTo([]byte("hello A"), netip.AddrPortFrom(pair.A.Addr, 9000)); err != nil {
		t.Fatal(err)
	}
	pollUntil(s, func() bool { return s.Stats().TxUDP > 0 })
	msg, from := kernelRecv(t, a)
	if msg != "hello A" || from.Port != int(u.LocalAddr().Port()) {
		t.Fatalf("A got %q from %v; the socket is %v", msg, from, u.LocalAddr())
	}
	a.WriteToUDP([]byte("hello B"), from)
	b, src, err := await(t, u, 64)
	if err != nil || string(b) != "hello B" || src.Port() != 9000 {
		t.Fatalf("B got %q from %v: %v", b, src, err)
	}
	st := s.Stats()
	if st.TxUDP != 1 || st.RxUDP != 1 || st.TxKernel != 0 {
		t.Fatalf("not through the VI: %+v", st)
	}
	// The ephemeral port is the kernel's too: it will not hand it out.
	err = pair.B.Do(func() error {
		_, err := net.ListenUDP("udp4", &net.UDPAddr{IP: pair.B.Addr.AsSlice(), Port: int(u.LocalAddr().Port())})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("the kernel gave out the stack's port: %v", err)
	}
}

func TestKernelModePeerSpeaksFirst(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	u, _ := s.NewUDP()
	if err := u.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 9100)); err != nil {
		t.Fatal(err)
	}
	a := kernelUDP(t, pair.A, 0)
	// A's kernel asks B for its address; B's kernel answers (ARP is not
	// filtered) and the datagram comes through the VI.
	if _, err := a.WriteToUDP([]byte("ping"), &net.UDPAddr{IP: pair.B.Addr.AsSlice(), Port: 9100}); err != nil {
		t.Fatal(err)
	}
	b, from, err := await(t, u, 64)
	if err != nil || string(b) != "ping" {
		t.Fatalf("got %q: %v", b, err)
	}
	if _, err := u.SendTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	// If B's kernel had not yet told the stack about A, the datagram
	// waits for the notification, which a poll picks up.
	pollUntil(s, func() bool { return s.Stats().TxUDP > 0 })
	if msg, _ := kernelRecv(t, a); msg != "pong" {
		t.Fatalf("A got %q", msg)
	}
	if st := s.Stats(); st.RxUDP != 1 || st.TxUDP != 1 {
		t.Fatalf("not through the VI: %+v", st)
	}
}

func TestKernelModeGateway(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	far, err := pair.AddBehind(pair.A, netip.MustParsePrefix("198.19.0.0/24"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := accelerate(t, pair.B, 24)
	c := kernelUDP(t, far, 9200)
	u, _ := s.NewUDP()
	if err := u.Connect(netip.AddrPortFrom(far.Addr, 9200)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.SendTo([]byte("via A"), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(s, func() bool { return s.Stats().TxUDP > 0 })
	msg, from := kernelRecv(t, c)
	if msg != "via A" {
		t.Fatalf("far host got %q", msg)
	}
	c.WriteToUDP([]byte("back via A"), from)
	if b, _, err := await(t, u, 64); err != nil || string(b) != "back via A" {
		t.Fatalf("got %q: %v", b, err)
	}
}

func TestKernelModeRefused(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	kernelUDP(t, pair.A, 9300) // resolves nothing; only makes sure A is up
	u, _ := s.NewUDP()
	if err := u.Connect(netip.AddrPortFrom(pair.A.Addr, 9301)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.SendTo([]byte("anyone?"), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	// A's kernel answers port unreachable; B's kernel gives it to the
	// twin; the socket reports it once.
	_, _, err := await(t, u, 64)
	if err != unix.ECONNREFUSED {
		t.Fatalf("after port unreachable: %v, want ECONNREFUSED", err)
	}
	if _, _, err := u.RecvFrom(make([]byte, 8), false, false); err != unix.EAGAIN {
		t.Fatalf("the error was reported twice: %v", err)
	}
}

func TestKernelModeMulticast(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	group := netip.MustParseAddr("239.7.7.7")
	var socks []*UDPSocket
	for range 2 {
		u, _ := s.NewUDP()
		u.SetReuseAddr(true)
		if err := u.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 9400)); err != nil {
			t.Fatal(err)
		}
		if err := u.JoinGroup(group); err != nil {
			t.Fatal(err)
		}
		socks = append(socks, u)
	}
	out, _ := exec.Command("ip", "-n", pair.B.NS, "maddr", "show", "dev", pair.B.Ifname).CombinedOutput()
	if !strings.Contains(string(out), group.String()) {
		t.Fatalf("the kernel did not join %v (so no IGMP):\n%s", group, out)
	}
	a := kernelUDP(t, pair.A, 0)
	var ifindex int
	pair.A.Do(func() error {
		ifc, err := net.InterfaceByName(pair.A.Ifname)
		if err == nil {
			ifindex = ifc.Index
		}
		return err
	})
	raw, _ := a.SyscallConn()
	raw.Control(func(fd uintptr) {
		unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)})
	})
	if _, err := a.WriteToUDP([]byte("to the group"), &net.UDPAddr{IP: group.AsSlice(), Port: 9400}); err != nil {
		t.Fatal(err)
	}
	for i, u := range socks {
		if b, _, err := await(t, u, 64); err != nil || string(b) != "to the group" {
			t.Fatalf("member %d got %q: %v", i, b, err)
		}
	}
	if s.Stats().RxUDP != 1 {
		t.Fatalf("the group's datagram did not come through the VI: %+v", s.Stats())
	}
}

func TestKernelModeLargeDatagrams(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	a := kernelUDP(t, pair.A, 9500)
	u, _ := s.NewUDP()
	if err := u.Bind(netip.AddrPortFrom(pair.B.Addr, 9501)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789", 300)
	// Over the MTU: the kernel twin sends it, fragmented.
	if _, err := u.SendTo([]byte(big), netip.AddrPortFrom(pair.A.Addr, 9500)); err != nil {
		t.Fatal(err)
	}
	if msg, _ := kernelRecv(t, a); msg != big {
		t.Fatalf("A got %d bytes, want %d", len(msg), len(big))
	}
	// Fragments to the stack's port pass the filter to the kernel, which
	// reassembles them for the twin; the socket gets the whole datagram.
	a.WriteToUDP([]byte(big), &net.UDPAddr{IP: pair.B.Addr.AsSlice(), Port: 9501})
	b, _, err := await(t, u, 4000)
	if err != nil || string(b) != big {
		t.Fatalf("got %d bytes: %v", len(b), err)
	}
	if st := s.Stats(); st.TxKernel != 1 || st.RxKernel != 1 || st.RxUDP != 0 {
		t.Fatalf("counters %+v: want one datagram each way through the kernel", st)
	}
}

func TestKernelModePathMTU(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	far, err := pair.AddBehind(pair.A, netip.MustParsePrefix("198.19.0.0/24"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := accelerate(t, pair.B, 24)
	c := kernelUDP(t, far, 9600)
	u, _ := s.NewUDP()
	if err := u.Connect(netip.AddrPortFrom(far.Addr, 9600)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1200)
	copy(big, "first")
	// Fits our link, not the far one: the router drops it (DF) and says
	// "fragmentation needed" (RFC 1191); the twin hears it.
	if _, err := u.SendTo(big, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	to := far.Addr.As4()
	s.mu.Lock()
	k := s.kern
	s.mu.Unlock()
	learnt := func() bool { s.mu.Lock(); defer s.mu.Unlock(); return k.pmtu[to] == 1000 }
	pollUntil(s, learnt)
	if !learnt() {
		t.Fatalf("path MTU to %v not learnt: %v", far.Addr, k.pmtu)
	}
	// Now the same size goes through the kernel, which fragments it.
	copy(big, "again")
	if _, err := u.SendTo(big, netip.AddrPort{}); err != nil {
		t.Fatalf("send after the path MTU fell: %v", err)
	}
	msg, _ := kernelRecv(t, c)
	if len(msg) != 1200 || msg[:5] != "again" {
		t.Fatalf("far host got %d bytes %q", len(msg), msg[:5])
	}
	if st := s.Stats(); st.TxKernel != 1 {
		t.Fatalf("counters %+v: want the second datagram sent by the kernel", st)
	}
	// Smaller datagrams still go through the VI.
	before := s.Stats().TxUDP
	u.SendTo([]byte("small"), netip.AddrPort{})
	pollUntil(s, func() bool { return s.Stats().TxUDP > before })
	if msg, _ := kernelRecv(t, c); msg != "small" {
		t.Fatalf("far host got %q", msg)
	}
}

func TestKernelModeRoutesKeptCurrent(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	u, _ := s.NewUDP()
	dst := netip.MustParseAddrPort("203.0.113.9:9")
	if _, err := u.SendTo([]byte("x"), dst); err != unix.ENETUNREACH {
		t.Fatalf("no route yet: %v, want ENETUNREACH", err)
	}
	if out, err := exec.Command("ip", "-n", pair.B.NS, "route", "add", "203.0.113.0/24", "via", pair.A.Addr.String()).CombinedOutput(); err != nil {
		t.Fatalf("ip route add: %v %s", err, out)
	}
	var err error
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		s.Poll()
		if _, err = u.SendTo([]byte("x"), dst); err != unix.ENETUNREACH {
			break
		}
	}
	if err != nil {
		t.Fatalf("after the kernel learnt the route: %v", err)
	}
}

// TestKernelModeWait sleeps on the armed fd and wakes for a datagram.
func TestKernelModeWait(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.B, 24)
	u, _ := s.NewUDP()
	if err := u.Bind(netip.AddrPortFrom(pair.B.Addr, 9800)); err != nil {
		t.Fatal(err)
	}
	a := kernelUDP(t, pair.A, 0)
	w := s.ArmWait()
	var pfd []unix.PollFd
	for _, fd := range w.FDs[:w.N] {
		pfd = append(pfd, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	// The Go runtime's preemption signal interrupts poll (EINTR):
	// a wait goes on until its deadline.
	poll := func(ms int) (int, error) {
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for {
			left := max(int(time.Until(end)/time.Millisecond), 0)
			n, err := unix.Poll(pfd, left)
			if err != unix.EINTR || left == 0 {
				return n, err
			}
		}
	}
	// quiet arms a wait that nothing wakes for 50 ms. The kernel may have
	// said something (a neighbour's state, a route, over netlink) that
	// wakes a sleep or two; a wake-up fd left raised wakes every sleep,
	// ten in a row. (It did, in make test: the watcher, descheduled
	// between its write and the flag that said to read it back; see
	// kernel.pending. Run beside the preload tests, three tries each
	// failed within 3 batches of 5 runs before the fix; 14 batches after
	// it passed.)
	quiet := func() {
		t.Helper()
		for range 10 {
			if s.ArmWait() != w {
				t.Fatal("the wait's fds changed")
			}
			if n, _ := poll(50); n == 0 {
				return
			}
			s.DisarmWait()
		}
		t.Fatal("ten sleeps in a row woke with nothing to do")
	}
	// sleep waits armed: nothing for 50 ms, then the datagram from
	// sender wakes it within 2 s and is queued once disarmed.
	sleep := func(sender *net.UDPConn, msg string) {
		t.Helper()
		quiet()
		go func() {
			time.Sleep(20 * time.Millisecond)
			sender.WriteToUDP([]byte(msg), &net.UDPAddr{IP: pair.B.Addr.AsSlice(), Port: 9800})
		}()
		start := time.Now()
		if n, err := poll(3000); n < 1 || err != nil {
			t.Fatalf("no wake-up for %q: %d %v", msg, n, err)
		}
		s.DisarmWait()
		if time.Since(start) > 2*time.Second {
			t.Fatal("woke late")
		}
		if b, _, err := await(t, u, 64); err != nil || string(b) != msg {
			t.Fatalf("got %q %v", b, err)
		}
	}
	s.DisarmWait()
	sleep(a, "wake")
	// A datagram from the host itself comes through the kernel (the
	// socket's twin), which no polled fd watches: the watcher raises the
	// wake-up fd for the sleeper, and the last sleeper lowers it.
	sleep(kernelUDP(t, pair.B, 0), "twin")
	quiet()
	s.DisarmWait()
}

// TestOwnedAddress runs a stack on an address the kernel does not have:
// the filter steers that address's ARP to the stack, which answers it
// (arp/), learns the asker, and carries UDP both ways.
func TestOwnedAddress(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	owned := netip.MustParseAddr("198.18.0.50")
	var port *xsk.Port
	var s *Stack
	err := pair.B.Do(func() error {
		var err error
		if port, err = xsk.Open(xsk.Config{Interface: pair.B.Ifname, Frames: 1024, RingSize: 256}); err != nil {
			return err
		}
		v, err := port.NewVI()
		if err != nil {
			return err
		}
		s, err = New(Config{Device: v, Addr: netip.PrefixFrom(owned, 24)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); port.Close() })
	u, _ := s.NewUDP()
	if err := u.Bind(netip.AddrPortFrom(owned, 9900)); err != nil {
		t.Fatal(err)
	}
	a := kernelUDP(t, pair.A, 0)
	a.WriteToUDP([]byte("who has .50?"), &net.UDPAddr{IP: owned.AsSlice(), Port: 9900})
	b, from, err := await(t, u, 64)
	if err != nil || string(b) != "who has .50?" {
		t.Fatalf("got %q: %v", b, err)
	}
	if _, err := u.SendTo([]byte("I do"), from); err != nil {
		t.Fatal(err)
	}
	pollUntil(s, func() bool { return s.Stats().TxUDP > 0 })
	if msg, src := kernelRecv(t, a); msg != "I do" || src.IP.String() != owned.String() {
		t.Fatalf("A got %q from %v", msg, src)
	}
	st := s.Stats()
	if st.ARPIn == 0 || st.ARPOut == 0 {
		t.Fatalf("the stack did not speak ARP: %+v", st)
	}
	out, _ := exec.Command("ip", "-n", pair.A.NS, "neigh", "show", owned.String()).CombinedOutput()
	if !strings.Contains(string(out), net.HardwareAddr(s.mac[:]).String()) {
		t.Fatalf("A's kernel did not learn .50 at B's MAC: %s", out)
	}
}

// TestTransmitBatching: a socket that only sends rings the device's
// doorbell once per batch, and the last datagrams of a burst still leave
// (by the flush timer) with nobody calling the stack; a send that follows
// a receive rings at once.
func TestTransmitBatching(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	// A wide stream gap: the race detector and a busy machine must not
	// make back-to-back sends look like a pause.
	s := accelerateCfg(t, pair.A, 24, func(c *Config) { c.TxStreamGap = 50 * time.Millisecond })
	peer := kernelUDP(t, pair.B, 9810)
	u, _ := s.NewUDP()
	if err := u.Connect(netip.AddrPortFrom(pair.B.Addr, 9810)); err != nil {
		t.Fatal(err)
	}
	kicks := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.dev.Stats().Kicks }
	msg := make([]byte, 64)
	// Resolve the peer first: a datagram waiting for ARP is not batched.
	if _, err := u.SendTo(msg, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	got := false
	pollUntil(s, func() bool {
		peer.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, _, err := peer.ReadFromUDP(buf)
		got = err == nil
		return got
	})
	if !got {
		t.Fatal("the first datagram never arrived")
	}
	const n = 200
	before := kicks()
	for i := range n {
		msg[0] = byte(i)
		if _, err := u.SendTo(msg, netip.AddrPort{}); err != nil {
			t.Fatal(err)
		}
	}
	// No call into the stack from here: the timer sends the tail.
	for i := range n {
		peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		k, _, err := peer.ReadFromUDP(buf)
		if err != nil || k != 64 || buf[0] != byte(i) {
			t.Fatalf("datagram %d: %d bytes, first %d, %v", i, k, buf[0], err)
		}
	}
	if k := kicks() - before; k > n/8 {
		t.Errorf("%d doorbells for %d datagrams sent back to back", k, n)
	}
	// Request and response: each send after a receive rings at once.
	before = kicks()
	for i := range 20 {
		u.Readable() // the receive between sends
		if _, err := u.SendTo(msg, netip.AddrPort{}); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := peer.ReadFromUDP(buf); err != nil {
			t.Fatalf("send %d after a receive did not leave at once: %v", i, err)
		}
	}
	if k := kicks() - before; k < 20 {
		t.Errorf("%d doorbells for 20 sends that each followed a receive", k)
	}
}

// TestSockName checks SockName against unix.Getsockname, and that it
// refuses a socket of another family.
func TestSockName(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if ap, err := SockName(fd); err != nil || ap != netip.MustParseAddrPort("0.0.0.0:0") {
		t.Errorf("unbound: %v %v", ap, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in := sa.(*unix.SockaddrInet4)
	want := netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port))
	if ap, err := SockName(fd); err != nil || ap != want || ap.Port() == 0 {
		t.Errorf("bound: %v %v, want %v", ap, err, want)
	}
	u, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(u)
	if _, err := SockName(u); !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Errorf("AF_UNIX: %v, want EAFNOSUPPORT", err)
	}
	if _, err := SockName(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("fd -1: %v, want EBADF", err)
	}
}

// TestPathCache sends from a Kernel-mode stack's socket to one peer
// again and again, which its path cache serves, and changes the peer's
// link address meanwhile: the kernel's neighbour entry changes with it,
// and the next datagram must go to the new address (the peer's kernel
// drops one sent to the old). Then the route to the peer moves to
// another interface: the next datagram must go through the kernel.
func TestPathCache(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	b := kernelUDP(t, pair.B, 9000)
	u, _ := s.NewUDP()
	to := netip.AddrPortFrom(pair.B.Addr, 9000)
	send := func(msg string) {
		t.Helper()
		if _, err := u.SendTo([]byte(msg), to); err != nil {
			t.Fatalf("send %q: %v", msg, err)
		}
	}
	send("first") // waits for A's kernel to resolve B
	pollUntil(s, func() bool { return s.Stats().TxUDP > 0 })
	if msg, _ := kernelRecv(t, b); msg != "first" {
		t.Fatalf("B got %q", msg)
	}
	send("second")
	if msg, _ := kernelRecv(t, b); msg != "second" {
		t.Fatalf("B got %q", msg)
	}
	s.mu.Lock()
	cached := u.path.valid(s, pair.B.Addr.As4())
	s.mu.Unlock()
	if !cached {
		t.Fatal("the path to B is not cached after two sends")
	}

	const mac = "02:00:5e:10:00:42"
	for _, c := range [][]string{
		{"ip", "-n", pair.B.NS, "link", "set", pair.B.Ifname, "address", mac},
		{"ip", "-n", pair.A.NS, "neigh", "replace", pair.B.Addr.String(), "lladdr", mac, "dev", pair.A.Ifname, "nud", "reachable"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	// The stack hears of the change (netlink) at a poll.
	gen := func() uint32 { s.mu.Lock(); defer s.mu.Unlock(); return s.pathGen }
	before := gen()
	pollUntil(s, func() bool { return gen() != before })
	send("after the new address")
	if msg, _ := kernelRecv(t, b); msg != "after the new address" {
		t.Fatalf("B got %q", msg)
	}

	// A route to B alone through another interface (a veth of A's
	// own): not the stack's way out any more.
	for _, c := range [][]string{
		{"ip", "-n", pair.A.NS, "link", "add", "other0", "type", "veth", "peer", "name", "other1"},
		{"ip", "-n", pair.A.NS, "link", "set", "other0", "up"},
		{"ip", "-n", pair.A.NS, "link", "set", "other1", "up"},
		{"ip", "-n", pair.A.NS, "route", "add", pair.B.Addr.String() + "/32", "dev", "other0"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	before = gen()
	pollUntil(s, func() bool { return gen() != before })
	tx, txk := s.Stats().TxUDP, s.Stats().TxKernel
	send("through the other interface")
	if st := s.Stats(); st.TxUDP != tx || st.TxKernel != txk+1 {
		t.Fatalf("after the route moved: TxUDP %d -> %d, TxKernel %d -> %d; want the kernel's", tx, st.TxUDP, txk, st.TxKernel)
	}
}
