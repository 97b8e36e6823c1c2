// Package xsk is the AF_XDP virtual interface: a port is one interface queue
// with its packet memory (UMEM) and its share of the interface's XDP filter
// table (vi/xdp); each VI of a port is one AF_XDP socket with its own RX and
// TX ring, sharing the port's UMEM, fill and completion rings
// (XDP_SHARED_UMEM). A stack per thread gets a VI per thread on one port.
//
// The data path (Recv, Alloc, Send, Free) makes no allocation and no system
// call, except the kick (sendto) that copy-mode transmission needs, and only
// when the TX ring says the kernel wants one.
package xsk

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xdp"
)

// BindMode chooses between the kernel's copy and zero-copy AF_XDP.
type BindMode int

const (
	// BindAuto lets the kernel use zero-copy where the driver has it.
	BindAuto BindMode = iota
	BindCopy
	BindZeroCopy
)

// AnyQueue asks for the first interface queue no other process has bound.
// The kernel allows one UMEM per queue, so processes on one interface use
// one queue each; frames of a flow that arrive on another queue than its
// owner's go to the kernel (the filter program checks).
const AnyQueue = -1

// Config describes a port.
type Config struct {
	Interface string   // interface name, in the calling thread's network namespace
	Queue     int      // the interface queue to bind to, or AnyQueue
	Frames    int      // frames of packet memory; default 4096
	FrameSize int      // 2048 or 4096; default 2048
	RingSize  int      // entries of every ring, a power of two; default 2048
	Bind      BindMode // default BindAuto
	XDP       xdp.Mode // how the filter program is attached; default auto
}

func (c *Config) setDefaults() error {
	if c.Frames == 0 {
		c.Frames = 4096
	}
	if c.FrameSize == 0 {
		c.FrameSize = 2048
	}
	if c.RingSize == 0 {
		c.RingSize = 2048
	}
	pow2 := func(n int) bool { return n > 0 && n&(n-1) == 0 }
	switch {
	case c.FrameSize != 2048 && c.FrameSize != 4096:
		return fmt.Errorf("frame size %d: want 2048 or 4096", c.FrameSize)
	case !pow2(c.RingSize) || c.RingSize < 64 || c.RingSize > 1<<16:
		return fmt.Errorf("ring size %d: want a power of two from 64 to 65536", c.RingSize)
	case c.Frames < 2*64 || c.Frames > 1<<20:
		return fmt.Errorf("frames %d: want 128 to 1048576", c.Frames)
	case c.Queue < AnyQueue:
		return fmt.Errorf("queue %d: want 0 or more, or AnyQueue", c.Queue)
	}
	return nil
}

// Port is one interface queue opened for acceleration.
type Port struct {
	cfg   Config
	info  vi.Info
	table *xdp.Table
	umem  *umem
	first *VI // the socket that registered the UMEM; lives as long as the port
	queue int // the queue the port is bound to
	netns *os.File

	mu     sync.Mutex
	vis    map[*VI]struct{}
	closed bool
}

// Open opens an interface queue: it attaches (or joins) the interface's
// filter table and makes the packet memory. The calling thread must be in
// the interface's network namespace.
func Open(cfg Config) (*Port, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("xsk: open: %w", err)
	}
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("xsk: open: find interface %q: %w", cfg.Interface, err)
	}
	p := &Port{cfg: cfg, vis: map[*VI]struct{}{}, queue: cfg.Queue}
	// AF_XDP sockets belong to the namespace of the thread that makes
	// them; later VIs of the port are made in this one.
	if p.netns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		return nil, fmt.Errorf("xsk: open: %w", err)
	}
	p.info = vi.Info{Name: ifc.Name, Ifindex: ifc.Index, MTU: ifc.MTU, FrameSize: cfg.FrameSize, Frames: cfg.Frames}
	copy(p.info.HWAddr[:], ifc.HardwareAddr)
	if p.table, err = xdp.Attach(ifc.Index, cfg.XDP); err != nil {
		p.netns.Close()
		return nil, fmt.Errorf("xsk: open %s: %w", cfg.Interface, err)
	}
	// The UMEM owner socket is made now, so that the port's memory and
	// fill ring exist before the first VI is asked for.
	first, err := p.newSocket(nil)
	if err != nil {
		p.table.Close()
		p.netns.Close()
		return nil, fmt.Errorf("xsk: open %s: %w", cfg.Interface, err)
	}
	p.umem = first.umem
	p.first = first
	return p, nil
}

// Info describes the port's interface.
func (p *Port) Info() vi.Info { return p.info }

// Queue is the interface queue the port's VIs are bound to.
func (p *Port) Queue() int { return p.queue }

// inNetns runs fn on a thread in the port's network namespace.
func (p *Port) inNetns(fn func() error) error { return vi.InNetns(p.netns, fn) }

// Table is the interface's filter table.
func (p *Port) Table() *xdp.Table { return p.table }

// NewVI returns a VI on the port: an AF_XDP socket with its own RX and TX
// rings and its own filter slot.
func (p *Port) NewVI() (*VI, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("xsk: new VI: port closed: %w", unix.EBADF)
	}
	v := p.first
	if _, taken := p.vis[v]; taken {
		err := p.inNetns(func() (err error) {
			v, err = p.newSocket(p.umem)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("xsk: new VI on %s: %w", p.cfg.Interface, err)
		}
	}
	owner, err := p.table.Claim()
	if err == nil {
		err = owner.SetSocket(v.fd, p.queue)
		if err != nil {
			owner.Close()
		}
	}
	if err != nil {
		if v != p.first {
			v.closeSocket()
		}
		return nil, fmt.Errorf("xsk: new VI on %s: %w", p.cfg.Interface, err)
	}
	v.owner = owner
	p.vis[v] = struct{}{}
	return v, nil
}

// Close closes every VI, the packet memory, and the process's hold on the
// filter table (the last process out detaches the program).
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	vis := make([]*VI, 0, len(p.vis))
	for v := range p.vis {
		vis = append(vis, v)
	}
	p.mu.Unlock()
	var errs []error
	for _, v := range vis {
		errs = append(errs, v.Close())
	}
	p.first.closeSocket()
	p.umem.unmap()
	errs = append(errs, p.table.Close())
	p.netns.Close()
	return errors.Join(errs...)
}

// classify maps the kernel's refusals onto vi's sentinel errors.
func classify(err error) error { return vi.Classify(err) }
