package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// kernel is what a stack in Kernel mode keeps of the kernel: a mirror of
// its routes and of its neighbour table for the interface (over netlink:
// a dump, then change notifications), the twin kernel socket of every UDP
// socket, and one epoll fd over the device, the netlink socket and the
// twins, which a sleeping thread waits on.
//
// The kernel stays the one ARP speaker for the address it shares with the
// stack: an unresolved next hop is handed to it with an NTF_USE request,
// and the stack learns the answer from the notification.
type kernel struct {
	s       *Stack
	netns   *os.File
	nl      int
	epfd    int
	neigh   map[[4]byte]neighbour
	asked   map[[4]byte]time.Duration
	twins   map[int]*UDPSocket
	pmtu    map[[4]byte]int // path MTU learnt from ICMP (RFC 1191)
	icmp    int             // raw ICMP socket, once the stack has TCP (pmtu.go)
	diag    sockDiag        // the kernel's list of UDP sockets (sockdiag.go)
	checked time.Duration
	buf     []byte
	evs     [32]unix.EpollEvent
	armed   atomic.Int32 // threads sleeping on the stack

	// The watcher blocks in epoll_wait on the kernel's side so that a
	// spinning thread does not make that system call: it raises ready,
	// and waits on rearm until the stack has handled what was there.
	ready  atomic.Bool
	rearm  chan struct{}
	stopfd int // an eventfd in the set that ends the watcher
	// wakefd is an eventfd that wakes sleepers when a poll by another
	// thread queued data (that data is no longer on any fd), or when the
	// watcher saw the kernel's side ready. Each raise is counted in
	// pending before its write; the last sleeper to leave reads the fd
	// when raises are pending and takes off what the read returned (the
	// writes that landed). A raise whose write has not landed stays
	// pending for the next sleeper, which that write wakes; a write is
	// never left with nobody counting it. (A flag set after the write
	// left that window open: the watcher, descheduled between its write
	// and its flag for half a second on a loaded machine, left the fd
	// raised and every sleep in that time woke at once.) woken keeps a
	// thread from raising it twice while the same sleepers sleep.
	wakefd  int
	woken   bool
	pending atomic.Int64
	stopped chan struct{}
	seq     uint32
}

type neighbour struct {
	mac   wire.MAC
	state uint16 // NUD_*
}

// valid is the kernel's NUD_VALID: an address that may be sent to.
func (n neighbour) valid() bool {
	return n.state&(unix.NUD_PERMANENT|unix.NUD_NOARP|unix.NUD_REACHABLE|unix.NUD_PROBE|unix.NUD_STALE|unix.NUD_DELAY) != 0
}

// kernelCheckEvery is how often the stack looks at the kernel's side
// (twins, netlink) when the watcher has not said anything is there: a
// safety net, since the look is a system call.
const kernelCheckEvery = 10 * time.Millisecond

func newKernel(s *Stack) (_ *kernel, err error) {
	k := &kernel{s: s, nl: -1, epfd: -1, stopfd: -1, wakefd: -1, icmp: -1, diag: sockDiag{fd: -1}, neigh: map[[4]byte]neighbour{}, asked: map[[4]byte]time.Duration{},
		twins: map[int]*UDPSocket{}, pmtu: map[[4]byte]int{}, buf: make([]byte, 1<<16),
		rearm: make(chan struct{}, 1), stopped: make(chan struct{})}
	defer func() {
		if err != nil {
			k.close()
		}
	}()
	if k.netns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		return nil, fmt.Errorf("kernel mode: %w", err)
	}
	if k.nl, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("kernel mode: netlink socket: %w", err)
	}
	groups := uint32(1<<(unix.RTNLGRP_NEIGH-1) | 1<<(unix.RTNLGRP_IPV4_ROUTE-1))
	if err = unix.Bind(k.nl, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		return nil, fmt.Errorf("kernel mode: subscribe to route and neighbour changes: %w", err)
	}
	if k.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("kernel mode: epoll: %w", err)
	}
	// The device's fd joins the set only while a thread sleeps (armWait):
	// a socket in an epoll set makes the kernel run the epoll callback on
	// every frame it receives and sends, which measured ~0.5 µs per round
	// trip per end on veth.
	if err = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, k.nl, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(k.nl)}); err != nil {
		return nil, fmt.Errorf("kernel mode: watch netlink: %w", err)
	}
	if k.stopfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("kernel mode: eventfd: %w", err)
	}
	if err = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, k.stopfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(k.stopfd)}); err != nil {
		return nil, fmt.Errorf("kernel mode: watch eventfd: %w", err)
	}
	if k.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("kernel mode: eventfd: %w", err)
	}
	// Made here, with the stack's other fds, and kept: a look at the
	// kernel's sockets can come from any thread at any time, where a new
	// fd would take a number the application is about to be given.
	if k.diag.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG); err != nil {
		return nil, fmt.Errorf("kernel mode: sock_diag socket: %w", err)
	}
	// Dump after subscribing, so no change falls between the two.
	if err = k.loadRoutes(); err != nil {
		return nil, err
	}
	if err = k.loadNeighbours(); err != nil {
		return nil, err
	}
	go k.watch()
	return k, nil
}

// watch waits for the kernel's side to have something, raises ready, and
// waits for the stack to handle it before it waits again (the set is
// level-triggered).
func (k *kernel) watch() {
	defer close(k.stopped)
	var evs [1]unix.EpollEvent
	for {
		n, err := unix.EpollWait(k.epfd, evs[:], -1)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil || int(evs[0].Fd) == k.stopfd {
			return
		}
		k.ready.Store(true)
		if k.armed.Load() > 0 {
			k.write()
		}
		if _, ok := <-k.rearm; !ok {
			return
		}
	}
}

func (k *kernel) close() error {
	if k.stopfd >= 0 {
		one := [8]byte{1}
		unix.Write(k.stopfd, one[:])
		close(k.rearm)
		<-k.stopped
		unix.Close(k.stopfd)
	}
	for fd, u := range k.twins {
		if !u.adopted {
			unix.Close(fd)
		}
	}
	for _, fd := range []int{k.nl, k.epfd, k.wakefd, k.icmp, k.diag.fd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if k.netns != nil {
		k.netns.Close()
	}
	return nil
}

// loadRoutes reads the main routing table (RTM_GETROUTE dump). It runs
// in the stack's namespace, from whatever thread calls.
func (k *kernel) loadRoutes() error {
	var routes []route
	err := vi.InNetns(k.netns, func() error {
		msgs, err := vi.Dump(unix.RTM_GETROUTE, unix.AF_INET)
		if err != nil {
			return fmt.Errorf("kernel mode: read routes: %w", err)
		}
		for _, m := range msgs {
			if r, ok := parseRoute(m); ok {
				routes = append(routes, r)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Longest prefix first; among equals the kernel's order (metric) holds.
	slices.SortStableFunc(routes, func(a, b route) int { return b.dst.Bits() - a.dst.Bits() })
	t := &k.s.routes
	t.routes, t.ifindex, t.ifmtu = routes, k.s.info.Ifindex, k.s.info.MTU
	k.s.pathGen++
	return nil
}

func (k *kernel) loadNeighbours() error {
	return vi.InNetns(k.netns, func() error {
		msgs, err := vi.Dump(unix.RTM_GETNEIGH, unix.AF_INET)
		if err != nil {
			return fmt.Errorf("kernel mode: read neighbours: %w", err)
		}
		for _, m := range msgs {
			k.neighbourMsg(m)
		}
		return nil
	})
}

// parseRoute reads an RTM_NEWROUTE of the main table: a unicast route,
// its gateway, interface and MTU metric.
func parseRoute(m syscall.NetlinkMessage) (route, bool) {
	if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
		return route{}, false
	}
	rtm := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
	if rtm.Family != unix.AF_INET || rtm.Type != unix.RTN_UNICAST {
		return route{}, false
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return route{}, false
	}
	table := uint32(rtm.Table)
	r := route{dst: netip.PrefixFrom(netip.IPv4Unspecified(), int(rtm.Dst_len))}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_DST:
			if len(a.Value) == 4 {
				r.dst = netip.PrefixFrom(netip.AddrFrom4([4]byte(a.Value)), int(rtm.Dst_len))
			}
		case unix.RTA_GATEWAY:
			if len(a.Value) == 4 {
				r.gateway = [4]byte(a.Value)
			}
		case unix.RTA_OIF:
			r.ifindex = int(binary.NativeEndian.Uint32(a.Value))
		case unix.RTA_TABLE:
			table = binary.NativeEndian.Uint32(a.Value)
		case unix.RTA_METRICS:
			r.mtu = int(vi.AttrU32(a.Value, unix.RTAX_MTU))
		}
	}
	return r, table == unix.RT_TABLE_MAIN
}

// neighbourMsg applies an RTM_NEWNEIGH or RTM_DELNEIGH of the interface.
func (k *kernel) neighbourMsg(m syscall.NetlinkMessage) {
	if (m.Header.Type != unix.RTM_NEWNEIGH && m.Header.Type != unix.RTM_DELNEIGH) || len(m.Data) < unix.SizeofNdMsg {
		return
	}
	ndm := (*unix.NdMsg)(unsafe.Pointer(&m.Data[0]))
	if ndm.Family != unix.AF_INET || int(ndm.Ifindex) != k.s.info.Ifindex {
		return
	}
	var ip [4]byte
	var mac wire.MAC
	hasDst, hasMAC := false, false
	vi.WalkAttrs(m.Data[unix.SizeofNdMsg:], func(t uint16, v []byte) bool {
		switch {
		case t == unix.NDA_DST && len(v) == 4:
			ip, hasDst = [4]byte(v), true
		case t == unix.NDA_LLADDR && len(v) == 6:
			mac, hasMAC = wire.MAC(v), true
		}
		return true
	})
	if !hasDst {
		return
	}
	k.s.pathGen++
	if m.Header.Type == unix.RTM_DELNEIGH {
		delete(k.neigh, ip)
		return
	}
	n := neighbour{mac: mac, state: ndm.State}
	if !hasMAC {
		n.state &^= unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT
	}
	k.neigh[ip] = n
	switch {
	case n.valid():
		delete(k.asked, ip)
		k.s.hopResolved(ip, mac)
	case n.state&unix.NUD_FAILED != 0:
		k.s.failHop(ip, unix.EHOSTUNREACH)
	}
}

// confirmed reports whether the kernel's entry for ip is valid and not
// stale: one a socket may cache (UDPSocket.path), since its next change
// comes as a netlink message (which moves the stack's pathGen). A stale
// one's sends must go on asking the kernel to probe it (lookup).
func (k *kernel) confirmed(ip [4]byte) bool {
	n, ok := k.neigh[ip]
	return ok && n.valid() && n.state&unix.NUD_STALE == 0
}

// lookup is the resolver's: the kernel's entry if it is valid; otherwise
// ask the kernel to resolve (at most once a second per address).
func (k *kernel) lookup(ip [4]byte) (wire.MAC, resolution) {
	n, ok := k.neigh[ip]
	if ok && n.valid() {
		// Our traffic does not confirm the kernel's entry; when it went
		// stale, have the kernel probe it again.
		if n.state&unix.NUD_STALE != 0 {
			k.ask(ip, k.s.cfg.Now(), 5*time.Second)
		}
		return n.mac, resolved
	}
	k.ask(ip, k.s.cfg.Now(), time.Second)
	return wire.MAC{}, resolving
}

// ask sends the kernel an NTF_USE request for ip, unless one went out
// within every.
func (k *kernel) ask(ip [4]byte, now, every time.Duration) {
	if t, ok := k.asked[ip]; ok && now-t < every {
		return
	}
	k.asked[ip] = now
	k.seq++
	const attrLen = unix.SizeofRtAttr + 4
	msg := make([]byte, unix.SizeofNlMsghdr+unix.SizeofNdMsg+attrLen)
	h := (*unix.NlMsghdr)(unsafe.Pointer(&msg[0]))
	*h = unix.NlMsghdr{Len: uint32(len(msg)), Type: unix.RTM_NEWNEIGH, Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE, Seq: k.seq}
	ndm := (*unix.NdMsg)(unsafe.Pointer(&msg[unix.SizeofNlMsghdr]))
	*ndm = unix.NdMsg{Family: unix.AF_INET, Ifindex: int32(k.s.info.Ifindex), State: unix.NUD_NONE, Flags: unix.NTF_USE}
	a := msg[unix.SizeofNlMsghdr+unix.SizeofNdMsg:]
	binary.NativeEndian.PutUint16(a[0:2], attrLen)
	binary.NativeEndian.PutUint16(a[2:4], unix.NDA_DST)
	copy(a[4:], ip[:])
	unix.Sendto(k.nl, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func (k *kernel) input(b []byte, now time.Duration) { k.s.drop(DropARPNotOwned) }

// poll looks at the kernel's side when the watcher says something is
// there, and every kernelCheckEvery regardless.
func (k *kernel) poll(now time.Duration) time.Duration {
	signalled := k.ready.Load()
	if !signalled && now-k.checked < kernelCheckEvery {
		return 0
	}
	k.checked = now
	n, err := unix.EpollWait(k.epfd, k.evs[:], 0)
	if signalled {
		k.ready.Store(false)
		select {
		case k.rearm <- struct{}{}:
		default:
		}
	}
	if err != nil {
		return 0
	}
	for _, ev := range k.evs[:n] {
		fd := int(ev.Fd)
		switch {
		case fd == k.nl:
			k.readNetlink()
		case fd == k.icmp:
			k.readICMP()
		case k.twins[fd] != nil:
			k.drainTwin(k.twins[fd])
			k.wake()
		}
	}
	return 0
}

// wake raises wakefd once while threads sleep.
func (k *kernel) wake() {
	if k.armed.Load() > 0 && !k.woken {
		k.woken = true
		k.write()
	}
}

// write raises wakefd by one, counted first.
func (k *kernel) write() {
	k.pending.Add(1)
	one := [8]byte{1}
	if _, err := unix.Write(k.wakefd, one[:]); err != nil {
		k.pending.Add(-1)
	}
}

// lower reads wakefd back to zero if raises are pending: the common
// wake-up (a frame on the VI) makes no system call here.
func (k *kernel) lower() {
	k.woken = false
	if k.pending.Load() == 0 {
		return
	}
	var b [8]byte
	if n, _ := unix.Read(k.wakefd, b[:]); n == len(b) {
		k.pending.Add(-int64(binary.NativeEndian.Uint64(b[:])))
	}
}

// readNetlink applies every queued notification.
func (k *kernel) readNetlink() {
	routesChanged := false
	for {
		n, _, err := unix.Recvfrom(k.nl, k.buf, unix.MSG_DONTWAIT)
		if err != nil || n <= 0 {
			break
		}
		msgs, err := syscall.ParseNetlinkMessage(k.buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
				routesChanged = true
			case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
				k.neighbourMsg(m)
			}
		}
	}
	if routesChanged {
		k.loadRoutes()
	}
}
