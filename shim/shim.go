// Package shim is the socket API of the preload library, in Go: it turns
// the application's calls on its accelerated fds into calls on the stack,
// with the kernel's semantics (errors, blocking, readiness).
//
// Every accelerated socket is first the application's kernel socket, and
// stays one: the shim adopts it as the stack socket's kernel twin (see
// stack.NewUDPOn). Its fd number, its options, its address and port, and
// the errors of bind and connect all stay the kernel's, so most calls the
// shim only mirrors: the C layer makes the real call, and on success tells
// the shim. Data and readiness are the shim's.
//
// The shim never blocks. Where the kernel would wait, a call returns
// ErrWait and the C layer spins (calling again) for ACCEL_SPIN_USEC, then
// sleeps in poll(2) on the fds that Arm gives; Go's runtime is not
// involved in the sleep (ARCHITECTURE §6: a wait made in Go cost 30-50 µs
// more than the same wait in C).
package shim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/shim/decide"
	"github.com/accelnet/accel/stack"
	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xdp"
	"github.com/accelnet/accel/vi/xsk"
)

// ErrPass says: this is not the shim's to do; make the call in the kernel.
var ErrPass = errors.New("shim: pass to the kernel")

// ErrWait says: nothing yet; a blocking call waits and calls again.
var ErrWait = errors.New("shim: wait")

// ErrFill says a decision would make a new stack, whose fds must not take
// the application's low numbers: the caller fills them (MayMakeFDs then
// reports true) and makes the same call again. Nothing was done.
var ErrFill = errors.New("shim: fill the low fds first")

// Shim is the process's accelerated sockets and their stacks.
type Shim struct {
	cfg  *config.Config
	log  *zap.Logger
	dec  *decide.Decider
	Spin time.Duration
	// homeNS is the network namespace the shim was made in; here says
	// whether the program's threads are all still there (nil: always).
	homeNS uint64
	here   func() bool

	mu        sync.Mutex
	stacks    map[stackKey]*ifStack
	pre       map[int]*preSocket // memberships made before the decision
	epolls    map[int]*epollSet
	fallbacks map[string]uint64 // sockets left with the kernel, by reason
	gone      []SocketStats     // sockets closed, for the stats file
	// reaped sums the counters of the stacks reapStacks closed, one an
	// interface (Thread -1), for the stats file.
	reaped map[string]*StackStats
	warned map[string]bool

	fds fdTable
	// shutdowns counts shutdowns of accelerated sockets, which change
	// their readiness without their stack knowing (epollSet.settled).
	shutdowns atomic.Uint64
	// waitFDs maps each stack's first wait fd (its device) to the stack,
	// for Disarm; it is replaced whole when a stack is made.
	waitFDs atomic.Pointer[map[int32]*stack.Stack]

	// Forgot tells the C layer that an fd is the kernel's again (a
	// socket handed back whose queue is empty).
	Forgot func(fd int)
	// MayMakeFDs reports whether the calling thread may make the fds of
	// a new stack now: the C layer keeps the program's low fd numbers
	// filled only for a decision that asked (ErrFill), since filling
	// them costs some two thousand system calls. nil: always.
	MayMakeFDs func() bool
	// Fresh reports whether fd is a UDP socket whose options are all the
	// kernel's defaults: made by the program and given no option since
	// (the C layer sees every setsockopt). Its decision then reads none
	// of them back. nil: never.
	Fresh func(fd int) bool
	// Tamed reports which options of MirroredOptions a fresh socket had
	// set, a bit each in that order (0: none): its decision reads those
	// back, and takes the rest as the kernel's defaults. nil: all of
	// them are read.
	Tamed func(fd int) uint32
}

// stackKey names a stack: an interface in a network namespace, and with
// ACCEL_STACK_PER_THREAD the thread that owns it. The namespace because a
// thread of the program may move to another (setns), where the same name
// is another interface: its sockets there need a stack of their own, made
// there.
type stackKey struct {
	netns  uint64
	ifname string
	tid    int
}

// ifStack is a stack on one VI of an interface.
type ifStack struct {
	key  stackKey
	port *xsk.Port // shared by the interface's stacks
	vi   *xsk.VI
	st   *stack.Stack
	// polled says a thread polled the stack since the progress engine's
	// last tick; the engine polls the stacks nobody has. A flag and not a
	// time: reading the clock on every call cost more than the call's own
	// work on a VM (kvm-clock).
	polled atomic.Bool
}

// preSocket is what the shim knows of a socket before its decision: its
// groups, and its IP_MULTICAST_IF (the value given; nil: never set).
type preSocket struct {
	groups  []netip.Addr
	mcastIf []byte
}

// New makes the shim for a configuration.
func New(cfg *config.Config, log *zap.Logger, r decide.Router) *Shim {
	sh := &Shim{
		cfg: cfg, log: log,
		Spin:      time.Duration(cfg.SpinUsec) * time.Microsecond,
		stacks:    map[stackKey]*ifStack{},
		pre:       map[int]*preSocket{},
		epolls:    map[int]*epollSet{},
		fallbacks: map[string]uint64{},
		reaped:    map[string]*StackStats{},
		warned:    map[string]bool{},
	}
	sh.homeNS, _ = vi.ThreadNetns()
	if k, ok := r.(decide.Kernel); ok {
		sh.here = k.Here
		if k.Known == nil {
			k.Known = sh.stackInterface
			r = k
		}
	}
	sh.dec = decide.New(cfg, r)
	return sh
}

// netns is the calling thread's network namespace, for a stack's key:
// the one the shim was made in, without asking, while no thread of the
// program has moved (here, the router's Here); after a move, the
// thread's own.
func (sh *Shim) netns() (uint64, error) {
	if sh.here == nil || sh.here() {
		return sh.homeNS, nil
	}
	return vi.ThreadNetns()
}

// stackInterface names the interface of index that a stack in the
// shim's first namespace is on (the router asks only for that one). A
// stack's VI is bound to that index, so the name it was made for is the
// one a decision needs, whatever the interface is called now.
func (sh *Shim) stackInterface(index int) (string, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, is := range sh.stacks {
		if k.netns == sh.homeNS && is.st.Ifindex() == index {
			return k.ifname, true
		}
	}
	return "", false
}

// Log is the shim's logger.
func (sh *Shim) Log() *zap.Logger { return sh.log }

// Socket is one accelerated socket, reachable through one or more fds.
type Socket struct {
	u      *stack.UDPSocket
	is     *ifStack
	reason string
	inode  uint32 // its kernel socket's (the fd's), as sock_diag names it

	mu       sync.Mutex
	fds      []int // the application's fds for it; fds[0] is the twin
	nonblock atomic.Bool
	rcvtimeo atomic.Int64 // ns, 0: none
	sndtimeo atomic.Int64
	shutRD   atomic.Bool
	shutWR   atomic.Bool
	// The ancillary data recvmsg gives (IP_PKTINFO, SO_TIMESTAMP,
	// SO_TIMESTAMPNS), as the kernel's socket has them on.
	pktinfo, stamp, stampNS atomic.Bool
}

// Lookup returns the socket of an accelerated fd.
func (sh *Shim) Lookup(fd int) *Socket { return sh.fds.get(fd) }

// portKind maps ACCEL_BIND_MODE and ACCEL_XDP_MODE to the VI's settings.
func (sh *Shim) portConfig(ifname string) xsk.Config {
	c := xsk.Config{Interface: ifname, Queue: sh.cfg.Queue, Frames: sh.cfg.Frames, FrameSize: sh.cfg.FrameSize, RingSize: sh.cfg.RingSize}
	switch sh.cfg.BindMode {
	case "copy":
		c.Bind = xsk.BindCopy
	case "zerocopy":
		c.Bind = xsk.BindZeroCopy
	}
	switch sh.cfg.XDPMode {
	case "native":
		c.XDP = xdp.ModeNative
	case "generic":
		c.XDP = xdp.ModeGeneric
	}
	return c
}

// stackFor returns the stack a new socket on ifname lives on, making it
// (and the interface's port) at first use.
func (sh *Shim) stackFor(ifname string) (*ifStack, error) {
	ns, err := sh.netns()
	if err != nil {
		return nil, fmt.Errorf("a stack on %s: %w", ifname, err)
	}
	key := stackKey{netns: ns, ifname: ifname}
	if sh.cfg.PerThread {
		key.tid = unix.Gettid()
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if is := sh.stacks[key]; is != nil {
		return is, nil
	}
	if sh.MayMakeFDs != nil && !sh.MayMakeFDs() {
		return nil, ErrFill
	}
	// The interface's port is shared by its stacks: one UMEM, one queue.
	var port *xsk.Port
	for k, is := range sh.stacks {
		if k.netns == ns && k.ifname == ifname {
			port = is.port
			break
		}
	}
	if port == nil {
		var err error
		if port, err = xsk.Open(sh.portConfig(ifname)); err != nil {
			return nil, fmt.Errorf("open a VI port on %s: %w", ifname, err)
		}
	}
	fresh := len(sh.stacksOn(ns, ifname)) == 0
	v, err := port.NewVI()
	if err != nil {
		if fresh {
			port.Close()
		}
		return nil, fmt.Errorf("make a VI on %s: %w", ifname, err)
	}
	prefix, err := ifPrefix(ifname)
	if err != nil {
		v.Close()
		if fresh {
			port.Close()
		}
		return nil, err
	}
	st, err := stack.New(stack.Config{Device: v, Addr: prefix, Kernel: true})
	if err != nil {
		v.Close()
		if fresh {
			port.Close()
		}
		return nil, fmt.Errorf("make the stack on %s: %w", ifname, err)
	}
	is := &ifStack{key: key, port: port, vi: v, st: st}
	sh.stacks[key] = is
	sh.storeWaitFDs()
	sh.log.Info("stack ready", zap.String("interface", ifname), zap.Stringer("address", prefix),
		zap.Int("queue", port.Queue()), zap.Int("thread", key.tid))
	return is, nil
}

// storeWaitFDs publishes which stack each wait fd belongs to (Disarm's
// map), as sh.stacks now has them. Called with sh.mu held.
func (sh *Shim) storeWaitFDs() {
	m := map[int32]*stack.Stack{}
	for _, is := range sh.stacks {
		m[int32(is.st.ArmFD())] = is.st
	}
	sh.waitFDs.Store(&m)
}

// reapStacks closes the stacks of threads that have exited, once no socket
// is left on them (ACCEL_STACK_PER_THREAD=1). A program that runs each
// request on a new thread left a stack, its VI and seven fds behind every
// thread (fds went from 27 to 370 over 50 threads). What a stack still
// held to send goes first (AtExit). A thread id the kernel has given to a
// new thread of ours keeps its stack: it is that thread's now. The
// progress engine calls it once a second.
func (sh *Shim) reapStacks() {
	if !sh.cfg.PerThread {
		return
	}
	used := map[*ifStack]bool{}
	sh.fds.each(func(fd int, s *Socket) { used[s.is] = true })
	pid := os.Getpid()
	var gone []*ifStack
	sh.mu.Lock()
	for k, is := range sh.stacks {
		if k.tid == 0 || k.tid == pid || used[is] || unix.Tgkill(pid, k.tid, 0) != unix.ESRCH {
			continue
		}
		delete(sh.stacks, k)
		gone = append(gone, is)
	}
	if len(gone) > 0 {
		sh.storeWaitFDs()
	}
	sh.mu.Unlock()
	for _, is := range gone {
		is.st.AtExit()
		ss := is.stats()
		sh.mu.Lock()
		sh.keepReaped(ss) // the stats file keeps its counts
		sh.mu.Unlock()
		is.st.Close()
		is.vi.Close()
		sh.log.Debug("stack of an exited thread closed", zap.String("interface", is.key.ifname), zap.Int("thread", is.key.tid))
	}
}

// keepReaped adds a closed stack's counters to its interface's sum.
// Called with sh.mu held.
func (sh *Shim) keepReaped(ss StackStats) {
	sum := sh.reaped[ss.Interface]
	if sum == nil {
		sum = &StackStats{Interface: ss.Interface, Thread: -1, Queue: ss.Queue, Drops: map[string]uint64{}}
		sh.reaped[ss.Interface] = sum
	}
	sum.add(ss)
}

// reuseStack is the stack of the SO_REUSEPORT group a socket binding to
// local joins, when stacks are per thread and the group is already on
// another thread's stack: the device steers the port's flows to one VI,
// and that stack spreads them over the group's sockets as Linux does.
// Otherwise nil: the socket goes on its thread's stack.
func (sh *Shim) reuseStack(fd int, role config.Role, ifname string, local netip.AddrPort) *ifStack {
	if !sh.cfg.PerThread || role != config.UDPRecv || local.Port() == 0 {
		return nil
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || on == 0 {
		return nil
	}
	ns, err := sh.netns()
	if err != nil {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, is := range sh.stacksOn(ns, ifname) {
		if is.st.ReusePortBound(local) {
			return is
		}
	}
	return nil
}

func (sh *Shim) stacksOn(ns uint64, ifname string) []*ifStack {
	var out []*ifStack
	for k, is := range sh.stacks {
		if k.netns == ns && k.ifname == ifname {
			out = append(out, is)
		}
	}
	return out
}

// ifPrefix is the interface's first IPv4 address with its prefix.
func ifPrefix(ifname string) (netip.Prefix, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("find interface %s: %w", ifname, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP.To4() != nil {
				bits, _ := n.Mask.Size()
				return netip.PrefixFrom(ip, bits), nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("interface %s has no IPv4 address", ifname)
}

// fallback records that a socket stays with the kernel, and logs the
// reason the first time it is given.
func (sh *Shim) fallback(fd int, reason string) {
	sh.mu.Lock()
	sh.fallbacks[reason]++
	first := sh.fallbacks[reason] == 1
	sh.mu.Unlock()
	if first {
		sh.log.Info("socket stays with the kernel", zap.Int("fd", fd), zap.String("reason", reason))
	} else {
		sh.log.Debug("socket stays with the kernel", zap.Int("fd", fd), zap.String("reason", reason))
	}
}

// kernelOnlyOptions are options whose effect only the kernel's socket
// gives: ancillary data the stack does not produce, device binding,
// socket filters. A socket with one of them set stays with the kernel.
var kernelOnlyOptions = []struct {
	level, name int
	what        string
}{
	{unix.IPPROTO_IP, unix.IP_RECVTTL, "IP_RECVTTL"},
	{unix.IPPROTO_IP, unix.IP_RECVTOS, "IP_RECVTOS"},
	{unix.IPPROTO_IP, unix.IP_RECVOPTS, "IP_RECVOPTS"},
	{unix.IPPROTO_IP, unix.IP_RETOPTS, "IP_RETOPTS"},
	{unix.IPPROTO_IP, unix.IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"},
	{unix.IPPROTO_IP, unix.IP_RECVERR, "IP_RECVERR"},
	{unix.IPPROTO_IP, unix.IP_TRANSPARENT, "IP_TRANSPARENT"},
	{unix.SOL_SOCKET, unix.SO_TIMESTAMPING, "SO_TIMESTAMPING"},
	// The 64-bit-time forms, which 32-bit programs use; the classic
	// SO_TIMESTAMP and SO_TIMESTAMPNS the stack gives (recvOptions).
	{unix.SOL_SOCKET, unix.SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW"},
	{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW"},
	{unix.SOL_SOCKET, unix.SO_TIMESTAMPING_NEW, "SO_TIMESTAMPING_NEW"},
	{unix.SOL_SOCKET, unix.SO_RXQ_OVFL, "SO_RXQ_OVFL"},
	{unix.SOL_SOCKET, unix.SO_MARK, "SO_MARK"},
}

// KernelOnly reports the name of a kernel-only option (level, name), or "".
func KernelOnly(level, name int) string {
	for _, o := range kernelOnlyOptions {
		if o.level == level && o.name == name {
			return o.what
		}
	}
	if level == unix.SOL_SOCKET && (name == unix.SO_BINDTODEVICE || name == unix.SO_BINDTOIFINDEX || name == unix.SO_ATTACH_FILTER || name == unix.SO_ATTACH_BPF) {
		return "a device binding or socket filter"
	}
	return ""
}

// asyncIO is O_ASYNC, signal-driven I/O: the kernel sends SIGIO (or the
// F_SETSIG signal) as data comes to its socket, which frames through the
// VI never reach; a program waiting for the signal would wait for ever.
const asyncIO = "signal-driven I/O (O_ASYNC)"

// kernelOnlySet names a kernel-only option set on fd, or "".
func kernelOnlySet(fd int) string {
	for _, o := range kernelOnlyOptions {
		if v, err := unix.GetsockoptInt(fd, o.level, o.name); err == nil && v != 0 {
			return o.what + " is on"
		}
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_ASYNC != 0 {
		return asyncIO + " is on"
	}
	return ""
}

// Decide is the shim's one choice about a candidate socket, made when it
// binds, connects or first sends: adopt it on a stack, or leave it with
// the kernel (nil, nil). An error is the errno for the call, when a VI
// cannot be had and ACCEL_NO_FAIL=0.
func (sh *Shim) Decide(fd int, role config.Role, local, remote netip.AddrPort) (*Socket, error) {
	if s := sh.fds.get(fd); s != nil {
		return s, nil
	}
	sh.mu.Lock()
	pre := sh.pre[fd]
	delete(sh.pre, fd)
	sh.mu.Unlock()
	fresh := sh.Fresh != nil && sh.Fresh(fd)
	if !fresh {
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return nil, nil // not a socket, or gone: the kernel says which
		}
		proto, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if typ != unix.SOCK_DGRAM || proto != unix.IPPROTO_UDP {
			return nil, nil
		}
		if why := kernelOnlySet(fd); why != "" {
			sh.fallback(fd, why)
			return nil, nil
		}
	}
	d := sh.dec.Decide(role, local, remote)
	if !d.Accelerate {
		sh.fallback(fd, d.Reason)
		return nil, nil
	}
	// Bound to a device: the one the flow is decided for is what the
	// stack is already; another is the kernel's.
	if !fresh {
		if dev, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err == nil && dev != "" && dev != d.Interface {
			sh.fallback(fd, "bound to device "+dev)
			return nil, nil
		}
	}
	var err error
	is := sh.reuseStack(fd, role, d.Interface, local)
	if is == nil {
		if is, err = sh.stackFor(d.Interface); err == ErrFill {
			// Nothing done: the call comes again, and the options set
			// before the decision wait for it.
			sh.mu.Lock()
			if pre != nil && sh.pre[fd] == nil {
				sh.pre[fd] = pre
			}
			sh.mu.Unlock()
			return nil, err
		} else if err != nil {
			return nil, sh.noVI(fd, err)
		}
	}
	u, err := is.st.NewUDPOn(fd)
	if err != nil {
		return nil, sh.noVI(fd, fmt.Errorf("adopt fd %d: %w", fd, err))
	}
	s := &Socket{u: u, is: is, reason: d.Reason, fds: []int{fd}}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		s.inode = uint32(st.Ino)
	}
	set := ^uint32(0)
	if fresh && sh.Tamed != nil {
		set = sh.Tamed(fd)
	}
	sh.mirrorOptions(s, fd, fresh, set)
	if pre != nil {
		for _, g := range pre.groups {
			u.JoinGroup(g)
		}
		if pre.mcastIf != nil {
			if !s.multicastIf(pre.mcastIf) {
				u.Close()
				sh.fallback(fd, "IP_MULTICAST_IF names another interface")
				return nil, nil
			}
		}
	}
	if !fresh {
		s.boundToDevice(fd)
	}
	sh.fds.set(fd, s)
	sh.log.Debug("socket accelerated", zap.Int("fd", fd), zap.String("reason", d.Reason))
	return s, nil
}

// noVI handles a VI that cannot be had: the socket stays with the kernel,
// loudly, or with ACCEL_NO_FAIL=0 the call fails with the cause's errno.
func (sh *Shim) noVI(fd int, err error) error {
	reason := "no VI: " + err.Error()
	sh.mu.Lock()
	first := !sh.warned[reason]
	sh.warned[reason] = true
	sh.fallbacks[reason]++
	sh.mu.Unlock()
	if first {
		sh.log.Warn("cannot accelerate; the socket stays with the kernel", zap.Int("fd", fd), zap.Error(err),
			zap.Bool("ACCEL_NO_FAIL", sh.cfg.NoFail))
	}
	if sh.cfg.NoFail {
		return nil
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.ENOMEM
}

// mirrorOptions copies the kernel socket's options that the stack acts
// on: those the application set before the decision. A fresh socket's
// are the kernel's defaults, where only the buffer size and the TTL come
// from settings (sysctls) and are read, and those in set (Tamed's bits),
// which the application set.
func (sh *Shim) mirrorOptions(s *Socket, fd int, fresh bool, set uint32) {
	if !fresh {
		sh.recvOptions(s, fd)
		set = ^uint32(0)
	}
	for i, o := range MirroredOptions {
		read := set&(1<<i) != 0 || o.fresh < 0
		switch {
		case o.to != nil:
			if !read {
				continue // no timeout: the socket's zero
			}
			if tv, err := unix.GetsockoptTimeval(fd, o.Level, o.Name); err == nil {
				o.to(s).Store(tv.Nano())
			}
		case !read:
			s.mirror(o.Level, o.Name, o.fresh)
		default:
			if v, err := unix.GetsockoptInt(fd, o.Level, o.Name); err == nil {
				s.mirror(o.Level, o.Name, v)
			}
		}
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		s.nonblock.Store(fl&unix.O_NONBLOCK != 0)
	}
}

// MirroredOptions are the options mirrorOptions copies, with their value
// on a fresh socket (-1: a setting's, read). The C part's
// accel_mirrored_bit knows the same: setting one of them leaves a socket
// fresh, but tamed.
var MirroredOptions = []struct {
	Level, Name, fresh int
	// to is where a timeout goes (read as a timeval; its fresh value,
	// none, is the socket's zero).
	to func(*Socket) *atomic.Int64
}{
	{unix.SOL_SOCKET, unix.SO_REUSEADDR, 0, nil}, {unix.SOL_SOCKET, unix.SO_REUSEPORT, 0, nil},
	{unix.SOL_SOCKET, unix.SO_BROADCAST, 0, nil}, {unix.SOL_SOCKET, unix.SO_RCVBUF, -1, nil},
	{unix.IPPROTO_IP, unix.IP_TTL, -1, nil}, {unix.IPPROTO_IP, unix.IP_TOS, 0, nil},
	{unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1, nil}, {unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1, nil},
	{unix.SOL_SOCKET, unix.SO_RCVTIMEO, 0, func(s *Socket) *atomic.Int64 { return &s.rcvtimeo }},
	{unix.SOL_SOCKET, unix.SO_SNDTIMEO, 0, func(s *Socket) *atomic.Int64 { return &s.sndtimeo }},
}

// mirror applies one integer option, as the kernel now has it.
func (s *Socket) mirror(level, name, v int) {
	u := s.u
	switch {
	case level == unix.SOL_SOCKET && name == unix.SO_REUSEADDR:
		u.SetReuseAddr(v != 0)
	case level == unix.SOL_SOCKET && name == unix.SO_REUSEPORT:
		u.SetReusePort(v != 0)
	case level == unix.SOL_SOCKET && name == unix.SO_BROADCAST:
		u.SetBroadcast(v != 0)
	case level == unix.SOL_SOCKET && name == unix.SO_RCVBUF:
		u.SetRcvLimit(v)
	case level == unix.IPPROTO_IP && name == unix.IP_TTL:
		u.SetTTL(uint8(v))
	case level == unix.IPPROTO_IP && name == unix.IP_TOS:
		u.SetTOS(uint8(v))
	case level == unix.IPPROTO_IP && name == unix.IP_MULTICAST_TTL:
		u.SetMulticastTTL(uint8(v))
	case level == unix.IPPROTO_IP && name == unix.IP_MULTICAST_LOOP:
		u.SetMulticastLoop(v != 0)
	}
}

// fdTable maps fds to sockets without a lock on lookups: pages of atomic
// pointers, made as fds are used.
type fdTable struct {
	mu    sync.Mutex
	pages [1 << 10]atomic.Pointer[[1 << 10]atomic.Pointer[Socket]]
}

const fdMax = 1 << 20

func (t *fdTable) get(fd int) *Socket {
	if fd < 0 || fd >= fdMax {
		return nil
	}
	p := t.pages[fd>>10].Load()
	if p == nil {
		return nil
	}
	return p[fd&1023].Load()
}

func (t *fdTable) set(fd int, s *Socket) {
	if fd < 0 || fd >= fdMax {
		return
	}
	p := t.pages[fd>>10].Load()
	if p == nil {
		t.mu.Lock()
		if p = t.pages[fd>>10].Load(); p == nil {
			p = new([1 << 10]atomic.Pointer[Socket])
			t.pages[fd>>10].Store(p)
		}
		t.mu.Unlock()
	}
	p[fd&1023].Store(s)
}

// each calls fn for every fd that has a socket.
func (t *fdTable) each(fn func(fd int, s *Socket)) {
	for i := range t.pages {
		p := t.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if s := p[j].Load(); s != nil {
				fn(i<<10|j, s)
			}
		}
	}
}

// Every application thread inside the stack needs a P (ARCHITECTURE §6),
// so GOMAXPROCS must not cap them at the CPU count; but every P costs
// (GC workers run on idle Ps, each on a thread of its own), so it grows
// with the threads that have entered, from the CPU count, up to maxProcs.
const maxProcs = 256

var threads atomic.Int32

// ThreadEntered is told once per application thread, at its first call.
func ThreadEntered() {
	n := int(threads.Add(1))
	want := min(max(runtime.NumCPU(), n+1), maxProcs)
	if want > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(want)
	}
}
