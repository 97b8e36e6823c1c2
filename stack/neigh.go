package stack

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/arp"
	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// resolution is what a resolver says of a next hop.
type resolution int

const (
	resolved    resolution = iota // the MAC is known: send
	resolving                     // asked: queue the datagram
	unreachable                   // asked and not answered (EHOSTUNREACH)
)

// A resolver finds next hops' Ethernet addresses: arp/ when the stack owns
// its address, the kernel's neighbour table otherwise. It calls
// s.hopResolved and s.failHop as answers come and go.
type resolver interface {
	// lookup reads the clock itself, and only where it needs to.
	lookup(ip [4]byte) (wire.MAC, resolution)
	input(arpPacket []byte, now time.Duration)
	poll(now time.Duration) time.Duration
}

// pendingHop holds datagrams built for a next hop that is resolving,
// bounded by Config.Pending (Linux's unres_qlen plays the same part).
type pendingHop struct {
	since  time.Duration
	frames []vi.Desc
	socks  []*UDPSocket
}

func (s *Stack) queuePending(hop [4]byte, d vi.Desc, u *UDPSocket, now time.Duration) error {
	p := s.pending[hop]
	if p == nil {
		p = &pendingHop{since: now, frames: make([]vi.Desc, 0, s.cfg.Pending), socks: make([]*UDPSocket, 0, s.cfg.Pending)}
		s.pending[hop] = p
		s.timed.Store(true)
	}
	if len(p.frames) == s.cfg.Pending {
		// As Linux: the oldest waiting datagram makes room.
		s.one[0] = p.frames[0]
		s.dev.Free(s.one[:])
		copy(p.frames, p.frames[1:])
		copy(p.socks, p.socks[1:])
		p.frames, p.socks = p.frames[:len(p.frames)-1], p.socks[:len(p.socks)-1]
		s.drop(DropPendingFull)
	}
	p.frames = append(p.frames, d)
	p.socks = append(p.socks, u)
	return nil
}

// takePending removes and returns what waits for hop, if anything.
func (s *Stack) takePending(hop [4]byte) *pendingHop {
	p := s.pending[hop]
	if p != nil {
		delete(s.pending, hop)
	}
	return p
}

// hopResolved sends what waited for hop.
func (s *Stack) hopResolved(hop [4]byte, mac wire.MAC) {
	p := s.takePending(hop)
	if p == nil {
		return
	}
	for _, d := range p.frames {
		wire.Ethernet(s.dev.Bytes(d)).SetDst(mac)
		s.countUDP(s.transmit(d))
	}
}

// pendingToKernel gives the kernel the datagrams of u (of every socket, u
// nil) that wait for a neighbour's resolution, through the sockets' kernel
// twins. The kernel queues them on its own neighbour entry and sends them
// once it has resolved it, as it would have had they been its from the
// start, even after the socket is closed or the process gone. (A program
// that sent one datagram to a new neighbour and exited lost it.) Called
// with s.mu held.
func (s *Stack) pendingToKernel(u *UDPSocket) {
	if s.kern == nil {
		return
	}
	for hop, p := range s.pending {
		kept := 0
		for i, d := range p.frames {
			su := p.socks[i]
			if su == nil || (u != nil && su != u) || su.twin < 0 || su.detached.Load() {
				p.frames[kept], p.socks[kept] = d, su
				kept++
				continue
			}
			ip, dg, err := wire.ParseUDPFrame(s.dev.Bytes(d))
			if err == nil {
				_, err = s.kern.sendTwin(su, dg.Payload(), netip.AddrPortFrom(netip.AddrFrom4(ip.Dst()), dg.DstPort()))
			}
			if err != nil {
				s.drop(DropUnresolved)
			}
			s.one[0] = d
			s.dev.Free(s.one[:])
		}
		clear(p.frames[kept:])
		clear(p.socks[kept:])
		p.frames, p.socks = p.frames[:kept], p.socks[:kept]
		if kept == 0 {
			delete(s.pending, hop)
		}
	}
}

// AtExit is the stack's part of the process's exit, after which neither
// the flush timer nor a resolution will come: it rings the doorbell for
// the datagrams a stream queued (a sender that exited within txFlushAfter
// of its last sends lost them), and gives the kernel every datagram still
// waiting for a neighbour (pendingToKernel).
func (s *Stack) AtExit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.ring()
	s.pendingToKernel(nil)
}

// failHop drops what waited for hop; the sockets that sent it learn of it
// as Linux reports a failed resolution: an asynchronous error.
func (s *Stack) failHop(hop [4]byte, errno unix.Errno) {
	p := s.takePending(hop)
	if p == nil {
		return
	}
	for i, d := range p.frames {
		s.one[0] = d
		s.dev.Free(s.one[:])
		s.drop(DropUnresolved)
		if u := p.socks[i]; u != nil && u.connected() {
			u.setErr(errno)
		}
	}
}

// expirePending fails hops that waited longer than the resolve timeout,
// and says when the next one would.
func (s *Stack) expirePending(now time.Duration) (next time.Duration) {
	for hop, p := range s.pending {
		due := p.since + s.cfg.ResolveTimeout
		if now >= due {
			s.failHop(hop, unix.EHOSTUNREACH)
			continue
		}
		next = earliest(next, due)
	}
	return next
}

// ownResolver speaks ARP itself, for an address the stack owns alone.
type ownResolver struct {
	s     *Stack
	cache *arp.Cache
}

func (r *ownResolver) lookup(ip [4]byte) (wire.MAC, resolution) {
	mac, res := r.cache.Lookup(ip, r.s.cfg.Now())
	switch res {
	case arp.Use:
		return mac, resolved
	case arp.Request:
		r.request(ip)
		return mac, resolving
	case arp.Wait:
		return mac, resolving
	}
	return mac, unreachable
}

func (r *ownResolver) request(ip [4]byte) {
	s := r.s
	if s.dev.Alloc(s.one[:]) != 1 {
		s.drop(DropNoFrame)
		return
	}
	d := s.one[0]
	d.Len = uint32(r.cache.BuildRequest(s.dev.Bytes(d), ip))
	if s.transmit(d) == nil {
		s.stats.ARPOut++
	}
}

func (r *ownResolver) input(b []byte, now time.Duration) {
	s := r.s
	a, err := wire.ParseARP(b)
	if err != nil {
		s.drop(DropARPMalformed)
		return
	}
	s.stats.ARPIn++
	reply, ip, ok := r.cache.Input(a, now)
	if ok {
		mac, _ := r.cache.Entry(ip)
		s.hopResolved(ip, mac)
	}
	if reply && s.dev.Alloc(s.one[:]) == 1 {
		d := s.one[0]
		d.Len = uint32(r.cache.BuildReply(s.dev.Bytes(d), a))
		if s.transmit(d) == nil {
			s.stats.ARPOut++
		}
	}
}

func (r *ownResolver) poll(now time.Duration) time.Duration {
	return r.cache.Poll(now, r.request, func(ip [4]byte) { r.s.failHop(ip, unix.EHOSTUNREACH) })
}
