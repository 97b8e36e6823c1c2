package xsk

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// umem is the packet memory of a port: one anonymous mapping cut into
// frames, registered with the kernel by the first socket (its owner), with
// that socket's fill and completion rings. Every VI of the port shares it;
// mu guards the pool and the two shared rings, so a VI's own RX and TX rings
// need no lock.
type umem struct {
	mu        sync.Mutex
	area      []byte
	frameSize uint64
	frames    uint32
	pool      []uint64  // free frame addresses; capacity frames, never grows
	fill      ring      // producer: frames for the kernel to receive into
	comp      ring      // consumer: frames the kernel has finished sending
	depth     fillDepth // how many frames to keep on the fill ring
	reserved  uint32    // frames the VIs' sockets could buffer (ReserveRx)
	batch     uint32    // received frames returned to the fill ring at once
	held      uint32    // frames freed since the last refill
	stray     uint64    // frees of addresses that were not ours or were free
}

// newUmem maps and registers the packet memory on fd and maps its rings.
func newUmem(fd int, frames, frameSize, fillSize, compSize uint32) (*umem, error) {
	size := int(frames) * int(frameSize)
	area, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes of packet memory: %w", size, err)
	}
	u := &umem{area: area, frameSize: uint64(frameSize), frames: frames, pool: make([]uint64, 0, frames)}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&area[0]))), Len: uint64(size), Size: frameSize}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		u.unmap()
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		return nil, fmt.Errorf("register %d bytes of packet memory (RLIMIT_MEMLOCK %d without CAP_IPC_LOCK): %w", size, lim.Cur, classify(err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_FILL_RING, int(fillSize)); err != nil {
		u.unmap()
		return nil, fmt.Errorf("size fill ring: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_COMPLETION_RING, int(compSize)); err != nil {
		u.unmap()
		return nil, fmt.Errorf("size completion ring: %w", err)
	}
	off, err := mmapOffsets(fd)
	if err != nil {
		u.unmap()
		return nil, err
	}
	if u.fill, err = mapRing(fd, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, fillSize, 8); err != nil {
		u.unmap()
		return nil, fmt.Errorf("map fill ring: %w", err)
	}
	if u.comp, err = mapRing(fd, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, compSize, 8); err != nil {
		u.unmap()
		return nil, fmt.Errorf("map completion ring: %w", err)
	}
	u.fill.initProducer()
	u.comp.initConsumer()
	for i := range frames {
		u.pool = append(u.pool, uint64(i)*u.frameSize)
	}
	// Up to half the frames wait on the fill ring for traffic, the rest
	// stay in the pool for transmission and for frames the stack holds on
	// to.
	u.depth = newFillDepth(min(fillSize, frames/2))
	u.batch = min(refillBatch, u.depth.lo/4)
	return u, nil
}

// fillCalm is how many refills in a row must find the fill ring above half
// its depth before the depth halves: a ping-pong refills on every send, a
// stream every refillBatch frames, so a few tenths of a second of calm at
// the rates where the depth matters.
const fillCalm = 1 << 14

// fillLow is the least fill depth. The stack raises it to what its
// sockets' receive buffers would hold (ReserveRx): a socket with the
// default SO_RCVBUF asks for 256 frames.
const fillLow = 256

// fillDepth is how many frames the fill ring is kept at. The kernel takes
// fill frames in the order they were given (a FIFO), so a received frame
// comes back round only after every other frame on the ring. With all
// 2048 on it, a 64-byte UDP round trip between two accelerated processes
// took 0.5-0.7 µs longer than with 256 (eight alternated rounds of
// 100,000 round trips: 8.2 against 7.65 µs, medians), the frames and the
// kernel's bookkeeping for each (its xdp_buff_xsk) presumably gone from
// the caches by the time they came round. So the ring is kept as shallow
// as the sockets' receive buffers allow while traffic is light, and
// deepens, doubling, as soon as a refill finds that the kernel took more
// than half of it since the last one: traffic comes faster than the stack
// gives frames back, and a burst could outrun it.
type fillDepth struct {
	goal, lo, hi uint32
	calm         uint32 // refills in a row that found the ring above goal/2
}

func newFillDepth(hi uint32) fillDepth {
	lo := min(hi, fillLow)
	return fillDepth{goal: lo, lo: lo, hi: hi}
}

// setLow makes the least depth want frames, within fillLow and the most;
// the depth is at least that from now on.
func (d *fillDepth) setLow(want uint32) {
	d.lo = min(max(want, fillLow), d.hi)
	d.goal = max(d.goal, d.lo)
}

// next is the depth to refill to, given the frames on the ring now.
func (d *fillDepth) next(level uint32) uint32 {
	switch {
	case level < d.goal/2:
		d.goal = min(2*d.goal, d.hi)
		d.calm = 0
	case d.goal > d.lo:
		if d.calm++; d.calm >= fillCalm {
			d.goal = max(d.goal/2, d.lo)
			d.calm = 0
		}
	}
	return d.goal
}

func (u *umem) unmap() {
	u.fill.unmap()
	u.comp.unmap()
	if u.area != nil {
		unix.Munmap(u.area)
		u.area = nil
	}
}

// base is the frame an address lies in.
func (u *umem) base(addr uint64) uint64 { return addr &^ (u.frameSize - 1) }

// bytes is the view of d, capped at the end of its frame.
func (u *umem) bytes(d vi.Desc) []byte {
	end := u.base(d.Addr) + u.frameSize
	return u.area[d.Addr : d.Addr+uint64(d.Len) : end]
}

// put returns frames to the pool. Called with mu held.
func (u *umem) put(addr uint64) {
	if addr >= uint64(len(u.area)) || len(u.pool) == cap(u.pool) {
		u.stray++
		return
	}
	u.pool = append(u.pool, u.base(addr))
}

// reap moves frames the kernel has sent from the completion ring to the
// pool. Called with mu held.
func (u *umem) reap() {
	n := u.comp.avail(u.comp.size)
	for i := range n {
		u.put(*u.comp.addr(u.comp.local + i))
	}
	if n > 0 {
		u.comp.release(n)
	}
}

// refillBatch is how many received frames go back to the fill ring at
// once. A refill reads the kernel's consumer index and writes the ring,
// cache lines the kernel last touched on another CPU: two misses on every
// receive's way to its data (~0.2 µs of a receive just after a wake-up,
// measured). In batches a receive pays them once every 16 frames; a
// transmission's settle refills anyway, after its kick. The frames held
// back are a few of the fill ring's hundreds.
const refillBatch = 16

// refill tops the fill ring up to its depth from the pool. Called with mu
// held.
func (u *umem) refill() {
	u.held = 0
	level := u.fillLevel()
	u.top(level, u.depth.next(level))
}

// prime tops the fill ring up to its depth as it stands, without counting
// as a refill: the first frames, or more after the depth's least grew.
// Called with mu held.
func (u *umem) prime() { u.top(u.fillLevel(), u.depth.goal) }

// fillLevel is the frames on the fill ring now.
func (u *umem) fillLevel() uint32 { return u.fill.size - u.fill.free(u.fill.size) }

// top puts frames from the pool on the fill ring, from level up to goal.
func (u *umem) top(level, goal uint32) {
	if level >= goal {
		return
	}
	n := min(goal-level, uint32(len(u.pool)))
	if n == 0 {
		return
	}
	for i := range n {
		*u.fill.addr(u.fill.local + i) = u.pool[len(u.pool)-1-int(i)]
	}
	u.pool = u.pool[:len(u.pool)-int(n)]
	u.fill.submit(n)
}

// alloc takes up to len(ds) frames for transmission.
func (u *umem) alloc(ds []vi.Desc) int {
	u.mu.Lock()
	u.reap()
	n := min(len(ds), len(u.pool))
	for i := range n {
		ds[i] = vi.Desc{Addr: u.pool[len(u.pool)-1-i], Len: uint32(u.frameSize)}
	}
	u.pool = u.pool[:len(u.pool)-n]
	u.mu.Unlock()
	return n
}

// free returns frames; they go on to the fill ring in batches.
func (u *umem) free(ds []vi.Desc) {
	u.mu.Lock()
	for _, d := range ds {
		u.put(d.Addr)
	}
	u.held += uint32(len(ds))
	if u.held >= u.batch {
		u.refill()
	}
	u.mu.Unlock()
}

// settle reaps completions and refills: after a transmission.
func (u *umem) settle() {
	u.mu.Lock()
	u.reap()
	u.refill()
	u.mu.Unlock()
}

func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	l := uint32(unsafe.Sizeof(off))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return off, fmt.Errorf("read ring offsets: %w", e)
	}
	return off, nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}
