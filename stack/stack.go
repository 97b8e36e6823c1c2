// Package stack is one instance of accel's user-space network stack: one VI
// (vi.Device), the sockets on it, their timers and one lock. It carries
// IPv4 and UDP between its sockets and any IPv4 peer; protocol rules live in
// the pure packages (udp, arp), and the stack does their I/O.
//
// Every call takes the lock, polls the VI, does its work and releases the
// lock; Poll(now) does the polling alone and says when the stack next needs
// to run (a retransmission, a resolution timeout). The stack reads time
// only through Config.Now, so tests run it on a virtual clock.
//
// Input pipeline (input.go), each drop counted by reason:
//
//	Ethernet: our address, broadcast or multicast → ARP or IPv4
//	IPv4 (RFC 1122 §3.2.1): version, header length, total length, checksum,
//	  TTL, not a fragment, addressed to us → UDP
//	UDP (RFC 768): length, checksum → the socket by port and peer → its queue
package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/arp"
	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// Config of a stack.
type Config struct {
	Device vi.Device
	// Addr is the stack's IPv4 address on the device, with the prefix of
	// its subnet.
	Addr netip.Prefix
	// Gateway is the default route's next hop, when the stack keeps its
	// own routes (no Kernel).
	Gateway netip.Addr
	// Kernel mirrors the kernel's routes and neighbours of the device's
	// interface over netlink, and gives every socket a kernel twin. The
	// stack must then be made on a thread in the interface's namespace.
	// Without it the stack owns Addr alone: it answers ARP itself.
	Kernel bool
	// Now is the clock; default monotonic.
	Now func() time.Duration
	// RcvBuf is the default SO_RCVBUF of a socket; default 212992 (Linux).
	RcvBuf int
	// TTL of datagrams sent; default 64.
	TTL uint8
	// Pending is how many datagrams may wait for one next hop's
	// resolution; default 8. ResolveTimeout fails them; default 3s.
	Pending        int
	ResolveTimeout time.Duration
	// ARP configures resolution when the stack owns its address.
	ARP arp.Config
	// TxStreamGap: sends closer than this to the previous one, with no
	// receive between, are batched (output.go); default 5 µs.
	TxStreamGap time.Duration
	// MaxTimeWait bounds the TCP connections in TIME-WAIT; past it a
	// connection closes without it, as Linux past tcp_max_tw_buckets;
	// default 65536.
	MaxTimeWait int
}

func (c *Config) defaults() error {
	if c.Device == nil {
		return errors.New("no device")
	}
	if !c.Addr.IsValid() || !c.Addr.Addr().Is4() {
		return fmt.Errorf("address %v: want an IPv4 prefix", c.Addr)
	}
	if c.Now == nil {
		start := time.Now()
		c.Now = func() time.Duration { return time.Since(start) }
	}
	if c.RcvBuf == 0 {
		c.RcvBuf = 212992
	}
	if c.MaxTimeWait == 0 {
		c.MaxTimeWait = 65536
	}
	if c.TTL == 0 {
		c.TTL = 64
	}
	if c.Pending == 0 {
		c.Pending = 8
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = 3 * time.Second
	}
	if c.TxStreamGap == 0 {
		c.TxStreamGap = 5 * time.Microsecond
	}
	return nil
}

// Stack is one stack instance.
type Stack struct {
	mu    sync.Mutex
	cfg   Config
	dev   vi.Device
	info  vi.Info
	mac   wire.MAC
	addr  [4]byte
	net   netip.Prefix
	bcast [4]byte

	rx   [32]vi.Desc
	one  [1]vi.Desc
	idle int // empty polls since the timers last ran
	ipID uint16
	// hashSeed keys the flow hash of SO_REUSEPORT groups (udp.go).
	hashSeed uint32
	stats    Stats

	ports   map[uint16]*portSockets
	steered map[vi.Flow]int
	groups  map[[4]byte]int // multicast groups joined, by sockets joined
	res     resolver
	pending map[[4]byte]*pendingHop
	routes  routeTable
	kern    *kernel // Kernel mode only
	// pathGen moves when a route, a neighbour or a path MTU changes:
	// the sockets' cached paths (UDPSocket.path) are stale then.
	pathGen uint32
	// rxFrames sums the sockets' rxFrames (reserveRx, udp.go).
	rxFrames int
	closed   bool

	tcpst *tcpState // TCP (tcp.go), made at the first TCP socket
	// changes counts changes to what Readiness reports of the UDP
	// sockets (a datagram queued or read, an error set or taken); it
	// starts at 1, so that 0 is never a count seen.
	changes uint64
	// timed says the stack has work that only time moves: TCP, a
	// resolution or a timer. It is read without the lock by the shim's
	// progress engine, which ticks slower while no stack is timed.
	timed atomic.Bool
	// tcpICMPErr is why the stack cannot hear ICMP for its TCP
	// connections (pmtu.go), or nil.
	tcpICMPErr error

	// Transmit batching (output.go).
	lastSend    time.Duration
	rxSinceSend bool
	txQueued    int
	flushTimer  *time.Timer
}

// New makes a stack on a device.
func New(cfg Config) (*Stack, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s := &Stack{
		changes: 1,
		cfg:     cfg, dev: cfg.Device, info: cfg.Device.Info(),
		addr: cfg.Addr.Addr().As4(), net: cfg.Addr.Masked(),
		ports:    map[uint16]*portSockets{},
		steered:  map[vi.Flow]int{},
		groups:   map[[4]byte]int{},
		pending:  map[[4]byte]*pendingHop{},
		hashSeed: rand.Uint32(),
	}
	s.mac = s.info.HWAddr
	s.bcast = broadcastOf(cfg.Addr)
	if _, ok := s.dev.(vi.Doorbell); ok {
		s.flushTimer = time.AfterFunc(time.Hour, s.flushQueued)
		s.flushTimer.Stop()
	}
	if cfg.Kernel {
		k, err := newKernel(s)
		if err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		s.kern, s.res = k, k
	} else {
		s.routes.setStatic(cfg.Addr, cfg.Gateway, s.info.Ifindex, s.info.MTU)
		s.res = &ownResolver{s: s, cache: arp.New(s.addr, s.mac, cfg.ARP)}
		// The address is the stack's alone: its ARP comes to the VI.
		if st, ok := s.dev.(vi.ARPSteering); ok {
			if err := st.SteerARP(cfg.Addr.Addr()); err != nil {
				return nil, fmt.Errorf("stack: steer ARP for %v: %w", cfg.Addr.Addr(), err)
			}
		}
	}
	return s, nil
}

func broadcastOf(p netip.Prefix) [4]byte {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := range 4 {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return a
}

// Poll processes what the device received and what time asks for, and
// returns when the stack next needs to run (0: only when something arrives).
func (s *Stack) Poll() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	s.ring()
	s.drain()
	return s.timers(s.cfg.Now())
}

// drain takes every frame the device has through the input pipeline. It
// reads the clock only when frames came, and only for ARP and TCP: a
// spinning caller polls an empty ring far more often than a full one.
func (s *Stack) drain() int {
	total := 0
	for {
		n := s.dev.Recv(s.rx[:])
		if n == 0 {
			return total
		}
		// ARP and TCP need the time; UDP does not. The clock is read
		// once per batch, and only when the stack has TCP or speaks ARP.
		var now time.Duration
		if s.kern == nil || s.tcpst != nil {
			now = s.cfg.Now()
		}
		for i := range n {
			s.input(s.rx[i], now)
		}
		s.dev.Free(s.rx[:n])
		total += n
		if n < len(s.rx) {
			if s.kern != nil {
				s.kern.wake()
			}
			return total
		}
	}
}

// timers does what time asks: resolution retries and timeouts, and a look
// at the kernel's side.
func (s *Stack) timers(now time.Duration) time.Duration {
	next := earliest(s.res.poll(now), s.tcpTimers(now))
	if len(s.pending) > 0 {
		next = earliest(next, s.expirePending(now))
	}
	s.timed.Store(next != 0 || s.tcpst != nil || len(s.pending) > 0)
	return next
}

// Timed reports whether the stack has work that only time moves (TCP,
// a resolution in progress, a timer), as its last look at the timers,
// the first TCP socket or the first datagram waiting for a resolution
// left it. It takes no lock.
func (s *Stack) Timed() bool { return s.timed.Load() }

// idleTimers is how many empty polls a socket call makes before it runs
// the timers: enough to keep the clock out of a spinning receive loop,
// few enough that timers run within microseconds.
const idleTimers = 64

// pollFast is the poll of a socket call: drain the device, and run the
// timers when frames came or every idleTimers empty polls.
func (s *Stack) pollFast() {
	if s.closed {
		return
	}
	s.ring()
	if s.drain() > 0 {
		s.idle = 0
		return
	}
	if s.idle++; s.idle >= idleTimers {
		s.idle = 0
		s.timers(s.cfg.Now())
	}
}

func earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// WaitFDs are the fds a sleeping thread polls (POLLIN) for a stack.
type WaitFDs struct {
	N   int
	FDs [2]int
}

// ArmWait prepares a thread to sleep until the stack may have work, and
// returns the fds to poll (readable: poll the stack). Every ArmWait is
// paired with a DisarmWait after the wait. In Kernel mode they are the
// device and a wake-up eventfd, which another thread raises when its poll
// queued data for sleepers, and the kernel watcher when the kernel's side
// (netlink, the twins) has something. The caller polls them with poll(2),
// which watches them only while it sleeps: an fd kept in an epoll set
// would cost the kernel a callback on every frame, which a spinning stack
// should not pay, and adding and removing it around every sleep costs two
// system calls. Two fds and not the kernel's epoll set as a third: every
// fd polled is polled again, and unhooked, on the way out of every sleep.
func (s *Stack) ArmWait() WaitFDs {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring()
	if s.kern == nil {
		return WaitFDs{N: 1, FDs: [2]int{s.dev.FD()}}
	}
	k := s.kern
	// The watcher raises ready, then looks for sleepers; a sleeper is
	// counted, then looks at ready: one of the two sees the other.
	k.armed.Add(1)
	if k.ready.Load() {
		s.timers(s.cfg.Now())
	}
	return WaitFDs{N: 2, FDs: [2]int{s.dev.FD(), k.wakefd}}
}

// ArmFD is the first of the fds ArmWait returns, the same every time: the
// device's.
func (s *Stack) ArmFD() int { return s.dev.FD() }

// DisarmWait ends a wait that ArmWait began, and polls the stack.
func (s *Stack) DisarmWait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kern
	if k == nil || k.armed.Load() == 0 {
		return
	}
	if k.armed.Add(-1) == 0 {
		k.lower()
	}
	if s.closed {
		return
	}
	s.drain()
	// The clock is a cache miss after a sleep and a datagram's wake-up
	// needs no timer: timers run here only when the watcher saw the
	// kernel's side ready (that is what woke us) or the stack has work
	// that time moves (timed). The kernel side's periodic look still
	// comes from pollFast's idle count and the progress engine.
	if k.ready.Load() || s.timed.Load() {
		s.timers(s.cfg.Now())
	}
}

// Close closes every socket and the stack's kernel resources; the device
// stays the caller's.
func (s *Stack) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.txQueued > 0 {
		s.ringErr()
	}
	if s.flushTimer != nil {
		s.flushTimer.Stop()
	}
	s.closeTCP()
	for _, ps := range s.ports {
		for _, u := range ps.socks {
			u.closeLocked()
		}
	}
	for ip := range s.pending {
		s.failHop(ip, unix.EHOSTUNREACH)
	}
	s.closed = true
	if s.kern != nil {
		return s.kern.close()
	}
	if st, ok := s.dev.(vi.ARPSteering); ok {
		st.UnsteerARP(s.cfg.Addr.Addr())
	}
	return nil
}

// Wake wakes the threads sleeping on the stack (a shutdown must end a
// blocked receive, as it does in Linux).
func (s *Stack) Wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kern != nil {
		s.kern.wake()
	}
}

// Ifindex is the index of the stack's interface.
func (s *Stack) Ifindex() int { return s.info.Ifindex }
