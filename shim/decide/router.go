package decide

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// Kernel is the Router that asks the kernel, in the calling thread's
// network namespace. Known, when set, names an interface the caller
// already has open by its index (the shim's stacks, each bound to its
// interface's index), which spares the ioctl that asks the kernel for the
// name: a socket (and its close) and the ioctl took 11 of the 33 µs of a
// route's lookup here, at every decision. Routes, when set, is a netlink
// socket kept for route lookups; without it each lookup opens its own.
// Both answer for the namespace they were made in, so they serve only
// while Here (nil: always) says the calling thread is still there: the
// same index names another interface in another namespace.
type Kernel struct {
	Known  func(index int) (string, bool)
	Routes *Routes
	Here   func() bool
}

// here reports whether Known and Routes serve the calling thread.
func (k Kernel) here() bool { return k.Here == nil || k.Here() }

// Routes is a netlink socket kept open for route lookups: opening and
// closing one took 5.8 of the 9.7 µs of a lookup (a benchmark in a
// namespace with one veth), at every decision. Its answers are kept, by
// destination, until something that can change one happens: a second
// socket listens for route, rule, address and link messages, and a
// lookup that finds one there forgets them all. The kernel sends those
// messages before the change's own call returns, so a lookup after a
// change never gets the old answer. (A link going down drops its routes
// without a route message: its link message stands for them.) A kept
// answer costs a read that finds the listening socket empty where a
// lookup costs a request, the kernel's route lookup and its answer: the
// route was most of a socket-per-request client's decision.
type Routes struct {
	mu    sync.Mutex
	fd    int
	watch int // the listening socket; -1: none, and nothing is kept
	seq   uint32
	buf   []byte
	known map[netip.Addr]uint32
}

// routesKept bounds the answers kept: a program that sends to ever new
// destinations makes the map start again, not grow.
const routesKept = 1024

// routeChanges are the netlink groups whose messages can change a route
// lookup's answer.
const routeChanges = unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV4_RULE | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_LINK

// OpenRoutes opens a Routes in the calling thread's network namespace.
// Without its listening socket it still serves, asking every time.
func OpenRoutes() (*Routes, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	r := &Routes{fd: fd, watch: -1, buf: make([]byte, 8192), known: map[netip.Addr]uint32{}}
	w, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err == nil {
		if unix.Bind(w, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: routeChanges}) == nil {
			r.watch = w
		} else {
			unix.Close(w)
		}
	}
	return r, nil
}

// Close closes the sockets; lookups open their own from then on.
func (r *Routes) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	if r.watch >= 0 {
		unix.Close(r.watch)
		r.watch = -1
	}
	return err
}

// route asks for the route to dst through the kept socket, or answers as
// it did last time if nothing changed since; ok is false when it cannot
// (closed).
func (r *Routes) route(dst netip.Addr) (oif uint32, ok bool, err error) {
	if r == nil {
		return 0, false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return 0, false, nil
	}
	if r.changed() {
		clear(r.known)
	} else if oif, ok := r.known[dst]; ok {
		return oif, true, nil
	}
	r.seq++
	if oif, err = askRoute(r.fd, r.seq, dst, r.buf); err == nil && r.watch >= 0 {
		if len(r.known) >= routesKept {
			clear(r.known)
		}
		r.known[dst] = oif
	}
	return oif, true, err
}

// changed reads what the listening socket has and reports whether there
// was anything (or it cannot tell: it lost messages, or failed, and then
// stops listening). Called with mu held.
func (r *Routes) changed() bool {
	if r.watch < 0 {
		return true
	}
	seen := false
	// Bounded: a table being rewritten all along (a routing daemon's)
	// is read a buffer at a time, and forgets the answers anyway.
	for range 4096 {
		_, _, err := unix.Recvfrom(r.watch, r.buf, unix.MSG_DONTWAIT)
		switch err {
		case nil, unix.ENOBUFS, unix.EINTR:
			seen = true
			continue
		case unix.EAGAIN:
			return seen
		}
		unix.Close(r.watch)
		r.watch = -1
		return true
	}
	return true
}

var errNoInterface = errors.New("no interface has it")

// LocalInterface finds the interface that has addr, from one dump of the
// kernel's IPv4 addresses (RTM_GETADDR): every decision of a bound socket
// asks, and listing the interfaces and then each one's addresses took a
// netlink dump per interface.
func (k Kernel) LocalInterface(addr netip.Addr) (string, error) {
	if !addr.Is4() {
		return "", errNoInterface
	}
	msgs, err := vi.Dump(unix.RTM_GETADDR, unix.AF_INET)
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	want := addr.As4()
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		ifa := (*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		if ifa.Family != unix.AF_INET {
			continue
		}
		var local, address []byte
		vi.WalkAttrs(m.Data[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) bool {
			switch typ {
			case unix.IFA_LOCAL:
				local = v
			case unix.IFA_ADDRESS:
				address = v
			}
			return true
		})
		// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
		// peer's on a point-to-point link, and the same otherwise.
		if local == nil {
			local = address
		}
		if len(local) != 4 || [4]byte(local) != want {
			continue
		}
		return k.indexName(int(ifa.Index))
	}
	return "", errNoInterface
}

// indexName is the name of interface index: Known's, or the kernel's.
func (k Kernel) indexName(index int) (string, error) {
	if k.Known != nil && k.here() {
		if name, ok := k.Known(index); ok {
			return name, nil
		}
	}
	return indexName(index)
}

// indexName is the name of interface index, asked of the kernel with one
// ioctl (SIOCGIFNAME) rather than a dump of every interface.
func indexName(index int) (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("interface %d: socket: %w", index, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return "", err
	}
	ifr.SetUint32(uint32(index))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return "", fmt.Errorf("interface %d: name: %w", index, err)
	}
	return ifr.Name(), nil
}

// RouteInterface asks the kernel for its route to dst (RTM_GETROUTE, as
// `ip route get` does) and returns the outgoing interface.
func (k Kernel) RouteInterface(dst netip.Addr) (string, error) {
	routes := k.Routes
	if !k.here() {
		routes = nil
	}
	oif, ok, err := routes.route(dst)
	if !ok {
		oif, err = routeOnce(dst)
	}
	if err != nil {
		return "", err
	}
	name, err := k.indexName(int(oif))
	if err != nil {
		return "", fmt.Errorf("route to %v: %w", dst, err)
	}
	return name, nil
}

// routeOnce asks for the route to dst through a netlink socket of its
// own.
func routeOnce(dst netip.Addr) (uint32, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	return askRoute(fd, 1, dst, make([]byte, 8192))
}

// askRoute asks the kernel on netlink socket fd for its route to dst,
// as request seq, and returns the route's outgoing interface index. The
// kernel answers a route request before the send returns, so the answer
// is read without waiting; answers to other requests (one whose reading
// failed) are skipped.
func askRoute(fd int, seq uint32, dst netip.Addr, buf []byte) (uint32, error) {
	if err := sendRouteRequest(fd, seq, dst); err != nil {
		return 0, err
	}
	for range 8 {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			return 0, fmt.Errorf("read the route to %v: %w", dst, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil || len(msgs) == 0 {
			return 0, fmt.Errorf("parse the route to %v: %w", dst, err)
		}
		m := msgs[0]
		if m.Header.Seq != seq {
			continue
		}
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if e := -int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return 0, syscall.Errno(e)
			}
		}
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			return 0, fmt.Errorf("route to %v: unexpected answer %d", dst, m.Header.Type)
		}
		return vi.AttrU32(m.Data[unix.SizeofRtMsg:], unix.RTA_OIF), nil
	}
	return 0, fmt.Errorf("read the route to %v: no answer to request %d", dst, seq)
}

// sendRouteRequest asks for the route to dst (RTM_GETROUTE) as request
// seq.
func sendRouteRequest(fd int, seq uint32, dst netip.Addr) error {
	const attrLen = unix.SizeofRtAttr + 4
	var msg [unix.SizeofNlMsghdr + unix.SizeofRtMsg + attrLen]byte
	*(*unix.NlMsghdr)(unsafe.Pointer(&msg[0])) = unix.NlMsghdr{Len: uint32(len(msg)), Type: unix.RTM_GETROUTE, Flags: unix.NLM_F_REQUEST, Seq: seq}
	*(*unix.RtMsg)(unsafe.Pointer(&msg[unix.SizeofNlMsghdr])) = unix.RtMsg{Family: unix.AF_INET, Dst_len: 32}
	a := msg[unix.SizeofNlMsghdr+unix.SizeofRtMsg:]
	binary.NativeEndian.PutUint16(a[0:2], attrLen)
	binary.NativeEndian.PutUint16(a[2:4], unix.RTA_DST)
	d := dst.As4()
	copy(a[4:], d[:])
	if err := unix.Sendto(fd, msg[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("ask the route to %v: %w", dst, err)
	}
	return nil
}
