// Command preload is libaccel-go.so, the Go part of the preload library:
// the cgo boundary between libaccel.so's C interposers (preload/lib) and
// the shim. libaccel.so loads it with dlopen at the first socket it may
// accelerate. Every entry returns a value >= 0, -errno, or one of the
// codes of preload/accel.h, and recovers any panic into an errno and
// a log line: the program accel lives in must never crash because of it.
package main

/*
#include <stdint.h>
#include "accel.h"

static void call_forget(void *f, int fd) { ((void (*)(int))f)(fd); }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/shim"
	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/shim/decide"
)

func main() {}

var (
	sh   *shim.Shim
	log  *zap.Logger
	stop = make(chan struct{})
)

// tamedBits maps each bit of the C part's tamed masks (numbered by
// accel_mirrored_bit) to the bits of shim.MirroredOptions it stands for.
func tamedBits() (toShim [32]uint32) {
	for i, o := range shim.MirroredOptions {
		if b := C.accel_mirrored_bit(C.int(o.Level), C.int(o.Name)); b >= 0 {
			toShim[b] |= 1 << i
		}
	}
	return toShim
}

// shimCodes are the shim's own results and their C codes.
var shimCodes = [...]struct {
	err error
	c   C.longlong
}{{shim.ErrWait, C.ACCEL_WAIT}, {shim.ErrPass, C.ACCEL_PASS}, {shim.ErrForget, C.ACCEL_FORGET}, {shim.ErrFill, C.ACCEL_FILL}}

// code turns a shim result into the C convention.
func code(n int, err error) C.longlong {
	if err == nil {
		return C.longlong(n)
	}
	// Compared as values first: a spinning wait gets ErrWait on every
	// call, and errors.Is walks a chain each time.
	for _, sc := range shimCodes {
		if err == sc.err {
			return sc.c
		}
	}
	if e, ok := err.(unix.Errno); ok {
		return -C.longlong(e)
	}
	for _, sc := range shimCodes {
		if errors.Is(err, sc.err) {
			return sc.c
		}
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return -C.longlong(e)
	}
	if log != nil {
		log.Warn("call failed without an errno", zap.Error(err))
	}
	return -C.longlong(unix.EIO)
}

// guard recovers a panic at the boundary into an errno: EFAULT for a bad
// pointer the application gave, EIO otherwise.
func guard(r *C.longlong) {
	p := recover()
	if p == nil {
		return
	}
	*r = -C.longlong(unix.EIO)
	var re runtime.Error
	if err, ok := p.(error); ok && errors.As(err, &re) &&
		(strings.Contains(re.Error(), "invalid memory address") || strings.Contains(re.Error(), "unexpected fault address")) {
		// Most likely a bad pointer from the program, which Linux
		// answers with EFAULT too: not worth more than a debug line.
		*r = -C.longlong(unix.EFAULT)
		if log != nil {
			log.Debug("fault in the shim, turned into EFAULT", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
		return
	}
	if log != nil {
		log.Error("panic in the shim, turned into an errno", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
	}
}

//export accel_go_init
func accel_go_init(spinNs *C.int64_t, forget unsafe.Pointer, fillTid *C.int, pristine, tamed *C.uint32_t, netnsMoved *C.int) (r C.longlong) {
	defer guard(&r)
	// A fault in the shim is turned into an errno by guard, not a crash.
	debug.SetPanicOnFault(true)
	cfg, warnings, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "accel: invalid configuration: %v\n", err)
		return -C.longlong(unix.EINVAL)
	}
	if log, err = config.NewLogger(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "accel: %v\n", err)
		return -C.longlong(unix.EINVAL)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	// Made now, while the C part keeps the program's low fds filled
	// (its number is in the Go part's band).
	routes, err := decide.OpenRoutes()
	if err != nil {
		log.Warn("route lookups open a netlink socket each", zap.Error(err))
		routes = nil
	}
	// The routes socket, and the stacks whose interfaces the shim names
	// by index (Known), are those of the namespace the program is in
	// now: once a thread of it moves (setns, unshare), decisions ask the
	// kernel in the calling thread's namespace.
	moved := (*atomic.Int32)(unsafe.Pointer(netnsMoved))
	sh = shim.New(cfg, log, decide.Kernel{Routes: routes, Here: func() bool { return moved.Load() == 0 }})
	sh.Forgot = func(fd int) { C.call_forget(forget, C.int(fd)) }
	// The C part writes the filling thread's id while it keeps the low
	// fds filled (DECIDE_CALL), 0 otherwise.
	filler := (*atomic.Int32)(unsafe.Pointer(fillTid))
	sh.MayMakeFDs = func() bool { return filler.Load() == int32(unix.Gettid()) }
	// The C part's bits of fresh sockets (set_pristine), one an fd, and
	// its masks of the options set on tamed ones (note_option), whose
	// bits accel_mirrored_bit numbers: toShim maps them to the shim's.
	// (An option the shim mirrors and C does not know leaves no socket
	// fresh: note_option clears the fresh bit for it.)
	words := unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(pristine)), C.ACCEL_FD_TABLE/32)
	sh.Fresh = func(fd int) bool {
		return fd >= 0 && fd < len(words)*32 && words[fd/32].Load()&(1<<(fd%32)) != 0
	}
	masks := unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(tamed)), C.ACCEL_FD_TABLE)
	toShim := tamedBits()
	sh.Tamed = func(fd int) uint32 {
		if fd < 0 || fd >= len(masks) {
			return ^uint32(0)
		}
		m, set := masks[fd].Load(), uint32(0)
		for b := 0; m != 0; b, m = b+1, m>>1 {
			if m&1 != 0 {
				set |= toShim[b]
			}
		}
		return set
	}
	*spinNs = C.int64_t(sh.Spin.Nanoseconds())
	sh.StartProgress(stop)
	// The runtime's poller (an epoll fd and an eventfd) starts at the
	// first pollable file: make it start now, while libaccel.so keeps the
	// application's low fd numbers filled.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	log.Info("accel loaded", zap.Strings("interfaces", cfg.Interfaces), zap.Duration("spin", sh.Spin))
	return 0
}

// addrOf reads a sockaddr: ok for AF_INET of full length, unspec for an
// AF_UNSPEC one (connect's "disconnect").
func addrOf(p unsafe.Pointer, n C.uint32_t) (ap netip.AddrPort, ok, unspec bool) {
	if p == nil || n < 2 {
		return ap, false, false
	}
	b := unsafe.Slice((*byte)(p), n)
	family := binary.NativeEndian.Uint16(b)
	switch {
	case family == unix.AF_UNSPEC:
		return ap, false, true
	case family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), true, false
	}
	return ap, false, false
}

//export accel_go_bind
func accel_go_bind(fd C.int, sa unsafe.Pointer, n C.uint32_t) (r C.longlong) {
	defer guard(&r)
	ap, ok, _ := addrOf(sa, n)
	if !ok {
		return C.ACCEL_PASS
	}
	return code(0, sh.Bind(int(fd), ap))
}

//export accel_go_connect
func accel_go_connect(fd C.int, sa unsafe.Pointer, n C.uint32_t) (r C.longlong) {
	defer guard(&r)
	ap, ok, unspec := addrOf(sa, n)
	if !ok && !unspec {
		return C.ACCEL_PASS
	}
	return code(0, sh.Connect(int(fd), ap))
}

// probe is where iovecs' touches go, so that the compiler keeps them.
var probe byte

// iovecs views a msghdr's iovecs as byte slices, in into when they fit.
func iovecs(m *unix.Msghdr, into [][]byte) ([][]byte, bool) {
	if m.Iovlen == 0 {
		return into[:0], true
	}
	if m.Iov == nil || m.Iovlen > 1024 {
		return nil, false
	}
	iov := unsafe.Slice(m.Iov, m.Iovlen)
	out := into[:0]
	for _, v := range iov {
		if v.Len > 0 && v.Base == nil {
			return nil, false
		}
		b := unsafe.Slice(v.Base, v.Len)
		if len(b) > 0 {
			// Touch both ends: a bad buffer faults here (EFAULT, through
			// guard), before the stack has taken a frame or a datagram.
			probe += b[0] + b[len(b)-1]
		}
		out = append(out, b)
	}
	return out, true
}

// The send and the receive end a sleep first when given the fds of the
// wait (woke, nwoke): one crossing into Go on the way from a wake-up to
// the data, where accel_go_disarm and a call would be two.

//export accel_go_sendmsg
func accel_go_sendmsg(fd C.int, mp unsafe.Pointer, flags C.int, timeo *C.int64_t, woke *C.int32_t, nwoke C.int) (r C.longlong) {
	defer guard(&r)
	disarm(woke, nwoke)
	m := (*unix.Msghdr)(mp)
	var to netip.AddrPort
	if m.Name != nil && m.Namelen > 0 {
		ap, ok, _ := addrOf(unsafe.Pointer(m.Name), C.uint32_t(m.Namelen))
		if !ok {
			return C.ACCEL_PASS
		}
		to = ap
	}
	var store [8][]byte
	bufs, ok := iovecs(m, store[:])
	if !ok {
		return -C.longlong(unix.EFAULT)
	}
	n, err := sh.Send(int(fd), bufs, to, int(flags))
	if err == shim.ErrWait {
		if s := sh.Lookup(int(fd)); s != nil {
			*timeo = C.int64_t(s.Timeout(true))
		}
	}
	return code(n, err)
}

//export accel_go_recvmsg
func accel_go_recvmsg(fd C.int, mp unsafe.Pointer, flags C.int, timeo *C.int64_t, woke *C.int32_t, nwoke C.int) (r C.longlong) {
	defer guard(&r)
	disarm(woke, nwoke)
	m := (*unix.Msghdr)(mp)
	var store [8][]byte
	bufs, ok := iovecs(m, store[:])
	if !ok {
		return -C.longlong(unix.EFAULT)
	}
	n, mflags, from, anc, err := sh.RecvMsg(int(fd), bufs, int(flags))
	if err != nil {
		if err == shim.ErrWait {
			if s := sh.Lookup(int(fd)); s != nil {
				*timeo = C.int64_t(s.Timeout(false))
			}
		}
		return code(0, err)
	}
	if m.Name != nil {
		var sa [unix.SizeofSockaddrInet4]byte
		binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET)
		binary.BigEndian.PutUint16(sa[2:4], from.Port())
		a := from.Addr().As4()
		copy(sa[4:8], a[:])
		copy(unsafe.Slice(m.Name, m.Namelen), sa[:])
		m.Namelen = unix.SizeofSockaddrInet4
	} else {
		m.Namelen = 0
	}
	m.Flags = int32(mflags)
	if m.Control != nil && m.Controllen > 0 {
		ctl := unsafe.Slice(m.Control, m.Controllen)
		used := 0
		if anc.Stamp {
			// Linux puts the timestamps first (sock_recv_cmsgs), then
			// the IP ones (ip_cmsg_recv).
			sec, nsec := anc.StampUnixNanosec/1e9, anc.StampUnixNanosec%1e9
			if anc.StampNS {
				ts := unix.Timespec{Sec: sec, Nsec: nsec} // SCM_TIMESTAMPNS
				used = putCmsg(ctl, used, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, bytesOf(&ts), &m.Flags)
			} else {
				// SCM_TIMESTAMP; microseconds cut, not rounded, as the
				// kernel's ns_to_kernel_old_timeval (NsecToTimeval rounds).
				tv := unix.Timeval{Sec: sec, Usec: nsec / 1e3}
				used = putCmsg(ctl, used, unix.SOL_SOCKET, unix.SO_TIMESTAMP, bytesOf(&tv), &m.Flags)
			}
		}
		if anc.PktInfo {
			pi := unix.Inet4Pktinfo{Ifindex: int32(anc.Ifindex), Spec_dst: anc.SpecDst, Addr: anc.Dst}
			used = putCmsg(ctl, used, unix.IPPROTO_IP, unix.IP_PKTINFO, bytesOf(&pi), &m.Flags)
		}
		m.Controllen = uint64(used)
	} else {
		m.Controllen = 0
	}
	return C.longlong(n)
}

// putCmsg writes one control message at ctl[used:] as Linux's put_cmsg
// does: what does not fit is cut and MSG_CTRUNC set, and it returns the
// bytes of ctl used.
func putCmsg(ctl []byte, used, level, typ int, data []byte, flags *int32) int {
	room := len(ctl) - used
	if room < unix.SizeofCmsghdr {
		*flags |= unix.MSG_CTRUNC
		return used
	}
	cmlen := unix.CmsgLen(len(data))
	if room < cmlen {
		*flags |= unix.MSG_CTRUNC
		cmlen = room
	}
	// Built aside and copied: the program's buffer need not be aligned.
	h := unix.Cmsghdr{Level: int32(level), Type: int32(typ)}
	h.SetLen(cmlen)
	copy(ctl[used:], bytesOf(&h))
	copy(ctl[used+unix.SizeofCmsghdr:used+cmlen], data)
	return used + min(unix.CmsgSpace(len(data)), room)
}

// bytesOf is a value's memory, as the kernel lays it out for C.
func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

//export accel_go_thread
func accel_go_thread() {
	var r C.longlong
	defer guard(&r)
	shim.ThreadEntered()
}

// accel_go_yield lets the Go scheduler run once on the calling thread's P,
// which moves the P's scheduling tick: a thread that only ever enters Go
// through callbacks would otherwise look to sysmon like a goroutine that
// never yields (see maybe_yield in preload/lib/accel.c).
//
//export accel_go_yield
func accel_go_yield() {
	var r C.longlong
	defer guard(&r)
	runtime.Gosched()
}

//export accel_go_owned
func accel_go_owned(fd C.int) (r C.longlong) {
	defer guard(&r)
	if sh.Lookup(int(fd)) != nil {
		return 1
	}
	return 0
}

// sockets looks up the sockets of an fd list (and the members of epoll
// fds in it), one per stack, which is what Arm watches, into store (a
// poll of hundreds of accelerated fds on one stack makes no garbage).
func sockets(fds *C.int, n C.int, store []*shim.Socket) []*shim.Socket {
	out := store[:0]
	if fds == nil || n <= 0 {
		return out
	}
	for _, fd := range unsafe.Slice(fds, n) {
		if s := sh.Lookup(int(fd)); s != nil {
			out = shim.OnePerStack(out, s)
		} else {
			out = sh.EpollSockets(int(fd), out)
		}
	}
	return out
}

//export accel_go_arm
func accel_go_arm(fds *C.int, n C.int, out *C.int32_t, max C.int) (r C.longlong) {
	defer guard(&r)
	var store [16]*shim.Socket
	return armed(sh.Arm(sockets(fds, n, store[:]), unsafe.Slice((*int32)(unsafe.Pointer(out)), max)))
}

// armed is Arm's answer in the C convention.
func armed(n int, partial bool) C.longlong {
	if partial {
		return C.longlong(n) | C.ACCEL_WAIT_PARTIAL
	}
	return C.longlong(n)
}

//export accel_go_disarm
func accel_go_disarm(wfds *C.int32_t, n C.int) {
	var r C.longlong
	defer guard(&r)
	disarm(wfds, n)
}

// disarm ends the waits whose fds Arm gave.
func disarm(wfds *C.int32_t, n C.int) {
	if wfds != nil && n > 0 {
		sh.Disarm(unsafe.Slice((*int32)(unsafe.Pointer(wfds)), n))
	}
}

// pollfd is struct pollfd.
type pollfd struct {
	fd      int32
	events  int16
	revents int16
}

//export accel_go_poll
func accel_go_poll(fds unsafe.Pointer, n C.uint64_t) (r C.longlong) {
	defer guard(&r)
	ready := 0
	for i := range unsafe.Slice((*pollfd)(fds), n) {
		p := &unsafe.Slice((*pollfd)(fds), n)[i]
		if p.fd < 0 {
			continue
		}
		s := sh.Lookup(int(p.fd))
		if s == nil {
			// An epoll fd with accelerated members is readable when
			// one of them is.
			if sh.IsShadowed(int(p.fd)) {
				p.revents = 0
				if p.events&unix.POLLIN != 0 && sh.EpollReady(int(p.fd)) {
					p.revents = unix.POLLIN
					ready++
				}
			}
			continue
		}
		p.revents = sh.Revents(s, p.events)
		if sh.Lookup(int(p.fd)) == nil {
			// Handed back to the kernel: the caller must poll it there.
			return -1
		}
		if p.revents != 0 {
			ready++
		}
	}
	return C.longlong(ready)
}

//export accel_go_arm_epoll
func accel_go_arm_epoll(epfd C.int, out *C.int32_t, max C.int) (r C.longlong) {
	defer guard(&r)
	var store [16]*shim.Socket
	return armed(sh.Arm(sh.EpollSockets(int(epfd), store[:0]), unsafe.Slice((*int32)(unsafe.Pointer(out)), max)))
}

//export accel_go_epoll_ctl
func accel_go_epoll_ctl(epfd, op, fd C.int, events C.uint32_t, data C.uint64_t, nested C.int) (r C.longlong) {
	defer guard(&r)
	if sh.EpollCtl(int(epfd), int(op), int(fd), uint32(events), uint64(data), nested != 0) {
		return 1
	}
	return 0
}

//export accel_go_epoll_scan
func accel_go_epoll_scan(epfd C.int, evs unsafe.Pointer, max C.int) (r C.longlong) {
	defer guard(&r)
	if max <= 0 || evs == nil {
		return 0
	}
	return C.longlong(sh.EpollScan(int(epfd), unsafe.Slice((*byte)(evs), int(max)*12)))
}

//export accel_go_close
func accel_go_close(fd C.int) {
	var r C.longlong
	defer guard(&r)
	sh.Close(int(fd))
}

//export accel_go_dup
func accel_go_dup(oldfd, newfd, epoll C.int) {
	var r C.longlong
	defer guard(&r)
	if epoll != 0 {
		sh.DupEpoll(int(oldfd), int(newfd))
		return
	}
	sh.Dup(int(oldfd), int(newfd))
}

//export accel_go_nonblock
func accel_go_nonblock(fd, on C.int) {
	var r C.longlong
	defer guard(&r)
	sh.SetNonblock(int(fd), on != 0)
}

//export accel_go_async
func accel_go_async(fd C.int) {
	var r C.longlong
	defer guard(&r)
	sh.SetAsync(int(fd))
}

//export accel_go_shutdown
func accel_go_shutdown(fd, how C.int) {
	var r C.longlong
	defer guard(&r)
	sh.Shutdown(int(fd), int(how))
}

//export accel_go_setsockopt
func accel_go_setsockopt(fd, level, name C.int, val unsafe.Pointer, n C.uint32_t) {
	var r C.longlong
	defer guard(&r)
	var b []byte
	if val != nil && n > 0 {
		b = unsafe.Slice((*byte)(val), n)
	}
	sh.SetOption(int(fd), int(level), int(name), b)
}

//export accel_go_sockerr
func accel_go_sockerr(fd C.int) (r C.longlong) {
	defer guard(&r)
	return code(sh.SocketError(int(fd)))
}

//export accel_go_inq
func accel_go_inq(fd C.int) (r C.longlong) {
	defer guard(&r)
	return code(sh.InQueue(int(fd)))
}

//export accel_go_handover
func accel_go_handover(all C.int) {
	var r C.longlong
	defer guard(&r)
	if all != 0 {
		sh.HandoverAll("fork: parent and child share the kernel's socket")
	} else {
		// An exec replaces the stacks with the image: what they still
		// hold to send goes out first (harmless if the exec fails, or
		// for a spawn, where this process goes on).
		sh.Exit()
		sh.HandoverInherited("exec or spawn: the new program inherits the socket")
		// The image's summary, as at an exit: the new one, if it
		// accelerates, writes its own.
		sh.WriteStats()
	}
}

//export accel_go_exit
func accel_go_exit() {
	var r C.longlong
	defer guard(&r)
	sh.Exit()
	sh.WriteStats()
	log.Sync()
}
