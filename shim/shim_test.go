package shim

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/shim/decide"
	"github.com/accelnet/accel/tests/netns"
)

// echoPeer is a connected kernel UDP socket on host b that echoes what
// it gets, without allocating, until stop is closed.
func echoPeer(t *testing.T, b *netns.Host, local, remote netip.AddrPort, stop chan struct{}) {
	var fd int
	err := b.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err = unix.Bind(fd, &unix.SockaddrInet4{Addr: local.Addr().As4(), Port: int(local.Port())}); err != nil {
			return err
		}
		return unix.Connect(fd, &unix.SockaddrInet4{Addr: remote.Addr().As4(), Port: int(remote.Port())})
	})
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Usec: 100000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n, err := unix.Read(fd, buf); err == nil {
				unix.Write(fd, buf[:n])
			}
		}
	}()
	t.Cleanup(func() { <-done; unix.Close(fd) })
}

// echoed is a shim whose socket on port lport of a new pair's first host
// is connected to an echoPeer on port pport of the second; it returns the
// shim, the socket's fd and the peer's address.
func echoed(t *testing.T, lport, pport uint16) (*Shim, int, netip.AddrPort) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	local, peer := netip.AddrPortFrom(p.A.Addr, lport), netip.AddrPortFrom(p.B.Addr, pport)
	stop := make(chan struct{})
	echoPeer(t, p.B, peer, local, stop)
	t.Cleanup(func() { close(stop) }) // before echoPeer's, which waits for it
	sh, fd := shimOn(t, p.A, local, peer)
	return sh, fd, peer
}

// shimOn makes a shim accelerating a's interface, and an accelerated
// socket connected to peer; it runs in a's namespace.
func shimOn(t *testing.T, a *netns.Host, local, peer netip.AddrPort) (*Shim, int) {
	cfg, _, err := config.Parse([]string{"ACCEL_INTERFACES=" + a.Ifname, "ACCEL_FRAMES=1024", "ACCEL_RING_SIZE=256"})
	if err != nil {
		t.Fatal(err)
	}
	sh := New(cfg, zap.NewNop(), decide.Kernel{})
	var fd int
	err = a.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err = sh.Bind(fd, local); err != nil {
			return err
		}
		return sh.Connect(fd, peer)
	})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Lookup(fd) == nil {
		t.Fatal("the socket was not accelerated")
	}
	t.Cleanup(func() {
		sh.Close(fd)
		unix.Close(fd)
		for _, is := range sh.stacks {
			is.st.Close()
			is.vi.Close()
			is.port.Close()
		}
	})
	return sh, fd
}

// roundTrip sends msg and spins until the echo comes back.
func roundTrip(t testing.TB, sh *Shim, fd int, out, in [][]byte) {
	if _, err := sh.Send(fd, out, netip.AddrPort{}, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		n, _, _, err := sh.Recv(fd, in, unix.MSG_DONTWAIT)
		if err == nil {
			if n != len(out[0]) {
				t.Fatalf("echo of %d bytes, want %d", n, len(out[0]))
			}
			return
		}
		if err != unix.EAGAIN {
			t.Fatal(err)
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			t.Fatal("no echo in 5 s")
		}
	}
}

// TestDataPathAllocs holds the shim's steady-state calls to no allocation:
// send, receive, readiness, and a wait's arm and disarm.
func TestDataPathAllocs(t *testing.T) {
	sh, fd, _ := echoed(t, 9910, 9911)
	s := sh.Lookup(fd)
	out, in := [][]byte{make([]byte, 64)}, [][]byte{make([]byte, 2048)}
	roundTrip(t, sh, fd, out, in) // warm: neighbour, buffers
	if a := testing.AllocsPerRun(200, func() { roundTrip(t, sh, fd, out, in) }); a != 0 {
		t.Errorf("a round trip allocates %.1f times", a)
	}
	socks := []*Socket{s}
	var wfds [8]int32
	if a := testing.AllocsPerRun(200, func() {
		sh.Revents(s, pollIn|pollOut)
		n, partial := sh.Arm(socks, wfds[:])
		if n == 0 || partial {
			t.Fatalf("arm: %d fds to wait on, partial %v", n, partial)
		}
		sh.Disarm(wfds[:n])
	}); a != 0 {
		t.Errorf("readiness and a wait allocate %.1f times", a)
	}
	// An epoll set's scan (epoll_wait's part for accelerated members).
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if !sh.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLOUT, 7, false) {
		t.Fatal("the socket did not go into the shadow")
	}
	defer sh.Close(ep)
	evs := make([]byte, 12*8)
	if n := sh.EpollScan(ep, evs); n != 1 {
		t.Fatalf("scan of a writable socket: %d events, want 1", n)
	}
	if a := testing.AllocsPerRun(200, func() { sh.EpollScan(ep, evs) }); a != 0 {
		t.Errorf("an epoll scan allocates %.1f times", a)
	}
	// With no room for a stack's fds the wait says it is partial (the C
	// side then naps instead of sleeping through that stack).
	if n, partial := sh.Arm(socks, wfds[:1]); n != 0 || !partial {
		t.Errorf("arm into 1 slot: %d fds, partial %v; want 0, true", n, partial)
	}
}

// TestHandover hands a socket with a queued datagram back to the kernel:
// the datagram is still read, then the kernel's socket serves the fd.
func TestHandover(t *testing.T) {
	sh, fd, _ := echoed(t, 9920, 9921)
	var forgot []int
	sh.Forgot = func(fd int) { forgot = append(forgot, fd) }
	s := sh.Lookup(fd)
	if _, err := sh.Send(fd, [][]byte{[]byte("queued")}, netip.AddrPort{}, 0); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.u.Queued() == 0; {
		s.u.Readable()
		if time.Now().After(deadline) {
			t.Fatal("no echo")
		}
	}
	sh.Handover(s, "test")
	if len(forgot) != 0 {
		t.Fatal("forgotten while the stack still held a datagram")
	}
	buf := make([]byte, 64)
	n, _, _, err := sh.Recv(fd, [][]byte{buf}, unix.MSG_DONTWAIT)
	if err != nil || string(buf[:n]) != "queued" {
		t.Fatalf("queued datagram: %q %v", buf[:n], err)
	}
	if len(forgot) != 1 || forgot[0] != fd || sh.Lookup(fd) != nil {
		t.Fatalf("not forgotten once drained: %v", forgot)
	}
	// The kernel's socket now gets the peer's datagrams.
	unix.Write(fd, []byte("kernel"))
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	n, err = unix.Read(fd, buf)
	for err == unix.EINTR { // a signal ends a wait under SO_RCVTIMEO (socket(7))
		n, err = unix.Read(fd, buf)
	}
	if err != nil || string(buf[:n]) != "kernel" {
		t.Fatalf("through the kernel: %q %v", buf[:n], err)
	}
}

// TestHandoverShares hands a socket over as a fork does: the datagrams
// the stack queued move into the kernel's socket, which the processes
// that share it read, in their order and from their sender.
func TestHandoverShares(t *testing.T) {
	sh, fd, peer := echoed(t, 9923, 9924)
	s := sh.Lookup(fd)
	for i := range 3 {
		if _, err := sh.Send(fd, [][]byte{fmt.Appendf(nil, "queued%d", i)}, netip.AddrPort{}, 0); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); s.u.Queued() <= i; {
			s.u.ReadablePolled() // polls even with a datagram queued
			if time.Now().After(deadline) {
				t.Fatalf("%d echoes of %d", s.u.Queued(), i+1)
			}
		}
	}
	sh.HandoverAll("fork")
	if n := s.u.Queued(); n != 0 || sh.Lookup(fd) != nil {
		t.Fatalf("%d datagrams left in the stack; the fd is still the shim's: %v", n, sh.Lookup(fd) != nil)
	}
	buf := make([]byte, 64)
	for i := range 3 {
		n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			t.Fatalf("datagram %d in the kernel's socket: %v", i, err)
		}
		f := from.(*unix.SockaddrInet4)
		if got := netip.AddrPortFrom(netip.AddrFrom4(f.Addr), uint16(f.Port)); string(buf[:n]) != fmt.Sprintf("queued%d", i) || got != peer {
			t.Fatalf("datagram %d: %q from %v, want queued%d from %v", i, buf[:n], got, i, peer)
		}
	}
	if st := sh.Stats(); st.Stacks[0].Requeued != 3 {
		t.Fatalf("requeued %d, want 3", st.Stacks[0].Requeued)
	}
}

// TestDuplicates: a socket with two fds is one socket in the stats, and
// an epoll fd duplicated before it had a member shares the member added
// through the other fd.
func TestDuplicates(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	sh, fd := shimOn(t, p.A, netip.AddrPortFrom(p.A.Addr, 9930), netip.AddrPortFrom(p.B.Addr, 9931))
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	sh.Dup(fd, dup)
	defer sh.Close(dup)
	st := sh.Stats()
	if len(st.Sockets) != 1 || !slices.Equal(append([]int{st.Sockets[0].FD}, st.Sockets[0].Dups...), []int{min(fd, dup), max(fd, dup)}) {
		t.Fatalf("stats of a socket with fds %d and %d: %+v", fd, dup, st.Sockets)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	ep2, err := unix.Dup(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep2)
	sh.DupEpoll(ep, ep2)
	if !sh.EpollCtl(ep2, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, 7, false) {
		t.Fatal("the socket did not go into the shadow")
	}
	if got := sh.EpollSockets(ep, nil); len(got) != 1 || got[0] != sh.Lookup(fd) {
		t.Fatalf("the original epoll fd sees %d sockets, want the one added through its duplicate", len(got))
	}
	sh.Close(ep2)
	if got := sh.EpollSockets(ep, nil); len(got) != 1 {
		t.Fatal("closing the duplicate dropped the instance's member")
	}
	sh.Close(ep)
}

// TestReusePortPerThread: with a stack per thread, sockets of one
// SO_REUSEPORT group bound from two threads share the first one's stack
// (the device steers the port to one VI), and both are accelerated.
func TestReusePortPerThread(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	cfg, _, err := config.Parse([]string{"ACCEL_INTERFACES=" + p.A.Ifname, "ACCEL_FRAMES=1024", "ACCEL_RING_SIZE=256", "ACCEL_STACK_PER_THREAD=1"})
	if err != nil {
		t.Fatal(err)
	}
	sh := New(cfg, zap.NewNop(), decide.Kernel{})
	bind := func(reuse int) (fd int, err error) {
		done := make(chan struct{})
		go func() {
			// A thread of its own, as each of a server's workers.
			runtime.LockOSThread()
			defer close(done)
			err = p.A.Do(func() error {
				if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
					return err
				}
				t.Cleanup(func() { sh.Close(fd); unix.Close(fd) })
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, reuse); err != nil {
					return err
				}
				return sh.Bind(fd, netip.AddrPortFrom(p.A.Addr, 9940+uint16(1-reuse)*10))
			})
		}()
		<-done
		return fd, err
	}
	t.Cleanup(func() {
		for _, is := range sh.stacks {
			is.st.Close()
			is.vi.Close()
			is.port.Close()
		}
	})
	var fds [2]int
	for i := range fds {
		if fds[i], err = bind(1); err != nil {
			t.Fatal(err)
		}
	}
	a, b := sh.Lookup(fds[0]), sh.Lookup(fds[1])
	if a == nil || b == nil {
		t.Fatalf("a member of the group was not accelerated: %v %v (fallbacks %v)", a, b, sh.Stats().Fallbacks)
	}
	if a.is != b.is {
		t.Fatal("the group's sockets are on two stacks")
	}
	// Without SO_REUSEPORT a socket stays on its own thread's stack.
	fd, err := bind(0)
	if err != nil {
		t.Fatal(err)
	}
	if c := sh.Lookup(fd); c == nil || c.is == a.is {
		t.Fatal("a socket outside the group is not on its own thread's stack")
	}
}

// TestBindToDevice: binding a socket to the device its stack is on keeps
// it accelerated, before the decision (SO_BINDTODEVICE) and after it
// (SO_BINDTOIFINDEX); another device hands it to the kernel.
func TestBindToDevice(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	sh, fd := shimOn(t, p.A, netip.AddrPortFrom(p.A.Addr, 9950), netip.AddrPortFrom(p.B.Addr, 9951))
	s := sh.Lookup(fd)
	idx := s.u.Stack().Ifindex()
	val := func(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)} }
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, idx); err != nil {
		t.Fatal(err)
	}
	sh.SetOption(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, val(idx))
	if sh.Lookup(fd) != s || s.u.Detached() {
		t.Fatal("bound to its own device, the socket left the stack")
	}
	// Before the decision: a socket bound to the device is adopted.
	var fd2 int
	err := p.A.Do(func() (err error) {
		if fd2, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err = unix.SetsockoptString(fd2, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, p.A.Ifname); err != nil {
			return err
		}
		return sh.Bind(fd2, netip.AddrPortFrom(p.A.Addr, 9952))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd2)
	defer sh.Close(fd2)
	if sh.Lookup(fd2) == nil {
		t.Fatalf("a socket bound to %s was not accelerated: %v", p.A.Ifname, sh.Stats().Fallbacks)
	}
	// Another device (loopback): the kernel's.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, 1); err != nil {
		t.Fatal(err)
	}
	sh.SetOption(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, val(1))
	if !s.u.Detached() && sh.Lookup(fd) != nil {
		t.Fatal("bound to loopback, the socket stayed on the stack")
	}
}

// TestProgressPeriod checks the progress engine's period: it doubles up to
// progressIdle while no stack is timed and is back to progressEvery at
// once when one is.
func TestProgressPeriod(t *testing.T) {
	var got []time.Duration
	every := progressEvery
	for _, timed := range []bool{false, false, false, false, false, true, false} {
		every = progressPeriod(every, timed)
		got = append(got, every)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 80 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("periods %v, want %v", got, want)
	}
}

// TestEpollManyMembers scans a set of 12 accelerated sockets: it reports
// exactly the readable ones, through deletions in the middle, a one-shot
// re-armed with EPOLL_CTL_MOD and a close; a wait arms their one stack
// once; and with fewer events asked for than members ready, successive
// scans take turns, as the kernel's ready list does.
func TestEpollManyMembers(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	sh, first := shimOn(t, p.A, netip.AddrPortFrom(p.A.Addr, 9940), netip.AddrPortFrom(p.B.Addr, 9941))
	const members = 12
	fds := make([]int, members)
	for i := range fds {
		err := p.A.Do(func() (err error) {
			if fds[i], err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				return err
			}
			return sh.Bind(fds[i], netip.AddrPortFrom(p.A.Addr, uint16(9950+i)))
		})
		if err != nil || sh.Lookup(fds[i]) == nil {
			t.Fatalf("member %d: %v (accelerated: %v)", i, err, sh.Lookup(fds[i]) != nil)
		}
		defer func(fd int) { sh.Close(fd); unix.Close(fd) }(fds[i])
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	defer sh.Close(ep)
	for i, fd := range fds {
		sh.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, uint64(i), false)
	}
	if got := sh.EpollSockets(ep, nil); len(got) != 1 || got[0].u.Stack() != sh.Lookup(first).u.Stack() {
		t.Fatalf("a wait would arm %d sockets' stacks, want the one stack once", len(got))
	}
	// poll(2) over all of them: one socket for Arm, and no garbage.
	var store [2]*Socket
	if a := testing.AllocsPerRun(50, func() {
		out := store[:0]
		for _, fd := range fds {
			out = OnePerStack(out, sh.Lookup(fd))
		}
		if len(out) != 1 {
			t.Fatalf("a poll of %d members would arm %d sockets' stacks, want 1", members, len(out))
		}
	}); a != 0 {
		t.Errorf("gathering a poll's stacks allocates %.1f times", a)
	}
	var peer int
	if err := p.B.Do(func() (err error) {
		peer, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(peer)
	send := func(members ...int) {
		for _, i := range members {
			if err := unix.Sendto(peer, []byte{byte(i)}, 0, &unix.SockaddrInet4{Addr: p.A.Addr.As4(), Port: 9950 + i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	evs := make([]byte, 12*members)
	scan := func(room int) []int {
		n := sh.EpollScan(ep, evs[:12*room])
		var got []int
		for k := range n {
			got = append(got, int(binary.NativeEndian.Uint64(evs[k*12+4:])))
		}
		slices.Sort(got)
		return got
	}
	// until waits (bounded) for a full scan to report want.
	until := func(what string, want ...int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := scan(members)
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: scan reports members %v, want %v", what, got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	send(3, 7, 11)
	until("datagrams to 3, 7, 11", 3, 7, 11)
	until("level-triggered, again", 3, 7, 11)

	sh.EpollCtl(ep, unix.EPOLL_CTL_DEL, fds[5], 0, 0, false)
	sh.EpollCtl(ep, unix.EPOLL_CTL_DEL, fds[0], 0, 0, false)
	send(5, 9)
	until("member 5 deleted, a datagram to 9", 3, 7, 9, 11)

	sh.EpollCtl(ep, unix.EPOLL_CTL_MOD, fds[3], unix.EPOLLIN|unix.EPOLLONESHOT, 3, false)
	until("3 one-shot: once", 3, 7, 9, 11)
	until("3 one-shot: then no more", 7, 9, 11)
	sh.EpollCtl(ep, unix.EPOLL_CTL_MOD, fds[3], unix.EPOLLIN, 3, false)
	until("3 re-armed", 3, 7, 9, 11)

	sh.Close(fds[7])
	until("7 closed", 3, 9, 11)

	// Scans of a set where nothing changed answer from the last one;
	// a read, and a shutdown (which makes a socket readable), are
	// changes.
	until("nothing changed", 3, 9, 11)
	if _, _, _, err := sh.Recv(fds[9], [][]byte{make([]byte, 16)}, unix.MSG_DONTWAIT); err != nil {
		t.Fatalf("recv on member 9: %v", err)
	}
	until("9 read", 3, 11)
	sh.Shutdown(fds[2], unix.SHUT_RD)
	until("2 shut down for reading", 2, 3, 11)
	sh.EpollCtl(ep, unix.EPOLL_CTL_DEL, fds[2], 0, 0, false)

	// Four ready, room for two: two scans report all four.
	send(1, 9)
	until("datagrams to 1 and 9", 1, 3, 9, 11)
	seen := append(scan(2), scan(2)...)
	slices.Sort(seen)
	if !slices.Equal(seen, []int{1, 3, 9, 11}) {
		t.Fatalf("two scans with room for 2 reported %v, want each of 1, 3, 9, 11 once", seen)
	}
}

// TestFreshDefaults checks what a decision assumes of a fresh socket (one
// given no option since it was made, Shim.Fresh) instead of reading it
// back: no kernel-only option on, no receive option, no timeout, no device
// binding, and the mirrored options at the defaults mirrored names.
func TestFreshDefaults(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if why := kernelOnlySet(fd); why != "" {
		t.Errorf("a fresh socket has a kernel-only option on: %s", why)
	}
	for _, o := range [][2]int{{unix.IPPROTO_IP, unix.IP_PKTINFO}, {unix.SOL_SOCKET, unix.SO_TIMESTAMP}, {unix.SOL_SOCKET, unix.SO_TIMESTAMPNS}} {
		if v, err := unix.GetsockoptInt(fd, o[0], o[1]); err != nil || v != 0 {
			t.Errorf("receive option %d/%d of a fresh socket: %d, %v; want 0", o[0], o[1], v, err)
		}
	}
	for _, name := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, name); err != nil || tv.Nano() != 0 {
			t.Errorf("timeout %d of a fresh socket: %v, %v; want none", name, tv, err)
		}
	}
	if dev, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil || dev != "" {
		t.Errorf("a fresh socket is bound to device %q (%v)", dev, err)
	}
	for _, o := range MirroredOptions {
		if o.fresh < 0 || o.to != nil {
			continue // a setting's, or a timeout (checked above)
		}
		if v, err := unix.GetsockoptInt(fd, o.Level, o.Name); err != nil || v != o.fresh {
			t.Errorf("option %d/%d of a fresh socket: %d, %v; MirroredOptions assumes %d", o.Level, o.Name, v, err, o.fresh)
		}
	}
}
