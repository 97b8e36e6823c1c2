// Package memvi joins two VIs in memory, for tests: what one sends the other
// receives, through a seeded fault injector (loss, duplication, reordering,
// bit corruption, delay) and optionally into a pcap file. Each VI has packet
// memory of its own, as two hosts do; a frame is copied across, as a NIC
// copies it onto the wire.
//
// Time is the pair's clock: by default the monotonic clock, or a virtual
// clock a test advances (delay then costs no real time and runs are
// repeatable from their seed).
package memvi

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/fault"
)

// Faults are the impairments of one direction (vi/fault's, which also
// wraps the AF_XDP VI).
type Faults = fault.Faults

// Options of a pair.
type Options struct {
	Frames    int // per VI; default 512
	FrameSize int // default 2048
	MTU       int // default 1500
	// AtoB and BtoA impair the two directions.
	AtoB, BtoA Faults
	Seed       uint64
	// Now is the clock, as time since an arbitrary start; default monotonic.
	Now func() time.Duration
	// Pcap, if set, receives every frame put on the wire (after the
	// faults), both directions.
	Pcap *PcapWriter
}

// VI is one end of a pair. It implements vi.Device.
type VI struct {
	name  string
	peer  *VI
	info  vi.Info
	opts  *Options
	fault *fault.Injector
	efd   int

	mu     sync.Mutex // guards everything below: the peer delivers into it
	mem    []byte
	pool   []uint64
	wire   []fault.Timed // frames on the way to this VI, in delivery order
	held   *fault.Timed  // a frame held back for reordering, on its way out
	stats  vi.Stats
	closed bool
	// signalled: the eventfd holds a count. It is written when the wire
	// goes from empty to not, and read when Recv empties it, so a burst
	// costs two system calls, not two a frame.
	signalled bool
}

var _ vi.Device = (*VI)(nil)

// NewPair makes two joined VIs.
func NewPair(opts Options) (a, b *VI, err error) {
	if opts.Frames == 0 {
		opts.Frames = 512
	}
	if opts.FrameSize == 0 {
		opts.FrameSize = 2048
	}
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.Now == nil {
		start := time.Now()
		opts.Now = func() time.Duration { return time.Since(start) }
	}
	if opts.MTU+14 > opts.FrameSize {
		return nil, nil, fmt.Errorf("memvi: MTU %d does not fit frames of %d bytes", opts.MTU, opts.FrameSize)
	}
	o := &opts
	if a, err = newVI("memA", o, opts.AtoB, opts.Seed, [6]byte{2, 0, 0, 0, 0, 0xa}); err != nil {
		return nil, nil, err
	}
	if b, err = newVI("memB", o, opts.BtoA, opts.Seed+1, [6]byte{2, 0, 0, 0, 0, 0xb}); err != nil {
		a.Close()
		return nil, nil, err
	}
	a.peer, b.peer = b, a
	return a, b, nil
}

func newVI(name string, o *Options, f Faults, seed uint64, mac [6]byte) (*VI, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memvi: make eventfd: %w", err)
	}
	v := &VI{
		name: name, opts: o, fault: fault.NewInjector(f, seed), efd: efd,
		mem:  make([]byte, o.Frames*o.FrameSize),
		pool: make([]uint64, 0, o.Frames),
		wire: make([]fault.Timed, 0, o.Frames),
		info: vi.Info{Name: name, Ifindex: 1, MTU: o.MTU, HWAddr: mac, FrameSize: o.FrameSize, Frames: o.Frames},
	}
	for i := range o.Frames {
		v.pool = append(v.pool, uint64(i*o.FrameSize))
	}
	return v, nil
}

func (v *VI) frameBase(addr uint64) uint64 { return addr - addr%uint64(v.opts.FrameSize) }

// Bytes is the view of a frame.
func (v *VI) Bytes(d vi.Desc) []byte {
	end := v.frameBase(d.Addr) + uint64(v.opts.FrameSize)
	return v.mem[d.Addr : d.Addr+uint64(d.Len) : end]
}

// Recv takes frames whose delivery time has come.
func (v *VI) Recv(ds []vi.Desc) int {
	now := v.opts.Now()
	v.mu.Lock()
	n := 0
	for n < len(ds) && n < len(v.wire) && v.wire[n].At <= now {
		ds[n] = v.wire[n].Desc
		v.stats.RxPackets++
		v.stats.RxBytes += uint64(ds[n].Len)
		n++
	}
	if n > 0 {
		rest := copy(v.wire, v.wire[n:])
		v.wire = v.wire[:rest]
	}
	clear := v.signalled && len(v.wire) == 0
	if clear {
		v.signalled = false
	}
	v.mu.Unlock()
	if clear {
		var buf [8]byte
		unix.Read(v.efd, buf[:])
	}
	return n
}

// Alloc takes free frames.
func (v *VI) Alloc(ds []vi.Desc) int {
	v.mu.Lock()
	n := min(len(ds), len(v.pool))
	for i := range n {
		ds[i] = vi.Desc{Addr: v.pool[len(v.pool)-1-i], Len: uint32(v.opts.FrameSize)}
	}
	v.pool = v.pool[:len(v.pool)-n]
	if n < len(ds) {
		v.stats.AllocEmpty++
	}
	v.mu.Unlock()
	return n
}

// Free returns frames to the pool.
func (v *VI) Free(ds []vi.Desc) {
	v.mu.Lock()
	for _, d := range ds {
		if d.Addr < uint64(len(v.mem)) && len(v.pool) < cap(v.pool) {
			v.pool = append(v.pool, v.frameBase(d.Addr))
		}
	}
	v.mu.Unlock()
}

// Send puts frames on the wire to the peer, through the faults, and gives
// them back to this VI's pool (the copy on the wire is the peer's).
func (v *VI) Send(ds []vi.Desc) (int, error) {
	now := v.opts.Now()
	for _, d := range ds {
		if int(d.Len) > v.opts.MTU+14 {
			v.mu.Lock()
			v.stats.TxInvalid++
			v.mu.Unlock()
			continue
		}
		v.transmit(d, now)
	}
	v.Free(ds)
	v.mu.Lock()
	v.stats.TxPackets += uint64(len(ds))
	for _, d := range ds {
		v.stats.TxBytes += uint64(d.Len)
	}
	v.mu.Unlock()
	return len(ds), nil
}

// transmit applies the faults to one frame and delivers what is left.
func (v *VI) transmit(d vi.Desc, now time.Duration) {
	b := v.Bytes(d)
	held := v.held
	f := v.fault.Decide(len(b), held == nil)
	if f.Drop {
		return
	}
	at := now + v.fault.Delay
	v.held = nil
	if f.Hold {
		// Hold this frame: it leaves after the next one.
		if pd, ok := v.peer.deliver(b, f.Flip, at, false); ok {
			v.held = &fault.Timed{At: at, Desc: pd}
		}
		return
	}
	for range f.Copies {
		v.peer.deliver(b, f.Flip, at, true)
	}
	if held != nil {
		v.peer.enqueue(*held)
	}
}

// deliver copies frame bytes into a frame of this VI (the receiver) and,
// if queue is set, queues it for reception at time at.
func (v *VI) deliver(b []byte, flip int, at time.Duration, queue bool) (vi.Desc, bool) {
	v.mu.Lock()
	if len(v.pool) == 0 || v.closed {
		v.stats.RxDropped++
		v.stats.RxFillEmpty++
		v.mu.Unlock()
		return vi.Desc{}, false
	}
	d := vi.Desc{Addr: v.pool[len(v.pool)-1], Len: uint32(len(b))}
	v.pool = v.pool[:len(v.pool)-1]
	dst := v.Bytes(d)
	copy(dst, b)
	fault.FlipBit(dst, flip)
	v.mu.Unlock()
	if p := v.opts.Pcap; p != nil {
		p.Write(at, dst)
	}
	if queue {
		v.enqueue(fault.Timed{At: at, Desc: d})
	}
	return d, true
}

func (v *VI) enqueue(f fault.Timed) {
	v.mu.Lock()
	v.wire = fault.Schedule(v.wire, f)
	signal := !v.signalled
	v.signalled = true
	v.mu.Unlock()
	if signal {
		one := [8]byte{1}
		unix.Write(v.efd, one[:])
	}
}

// NextDue is when the earliest frame on its way to this VI is due, and
// whether there is one.
func (v *VI) NextDue() (time.Duration, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.wire) == 0 {
		return 0, false
	}
	return v.wire[0].At, true
}

// FD is an eventfd that is readable when frames were queued to this VI.
func (v *VI) FD() int { return v.efd }

// Info describes the VI.
func (v *VI) Info() vi.Info { return v.info }

// Stats are the VI's counters.
func (v *VI) Stats() vi.Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats
}

// Close stops the VI; frames sent to it are dropped.
func (v *VI) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	return unix.Close(v.efd)
}

// SetFaults changes the impairments of what this VI sends from now on.
func (v *VI) SetFaults(f Faults) {
	v.mu.Lock()
	v.fault.Faults = f
	v.mu.Unlock()
}
