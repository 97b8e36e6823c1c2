package xsk

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xdp"
)

// VI is one AF_XDP socket of a port. It implements vi.Device. One goroutine
// uses a VI at a time; VIs of one port may be used concurrently.
type VI struct {
	port   *Port
	umem   *umem
	fd     int
	rx, tx ring
	owner  *xdp.Owner
	stats  vi.Stats
	rxWant uint32 // frames ReserveRx asked for
}

var (
	_ vi.Device     = (*VI)(nil)
	_ vi.RxReserver = (*VI)(nil)
)

// maxKicks bounds the sendto calls of one Send: copy mode sends a budget of
// frames per call (32 by default) and says EAGAIN while more remain.
const maxKicks = 256

// newSocket makes an AF_XDP socket, its rings, and binds it; with shared nil
// it registers a new UMEM and owns it.
func (p *Port) newSocket(shared *umem) (*VI, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("make AF_XDP socket: %w", classify(err))
	}
	v := &VI{port: p, fd: fd, umem: shared}
	fail := func(step string, err error) (*VI, error) {
		v.closeSocket()
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	size := uint32(p.cfg.RingSize)
	if shared == nil {
		if v.umem, err = newUmem(fd, uint32(p.cfg.Frames), uint32(p.cfg.FrameSize), size, size); err != nil {
			return fail("make UMEM", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_RX_RING, int(size)); err != nil {
		return fail("size RX ring", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_TX_RING, int(size)); err != nil {
		return fail("size TX ring", err)
	}
	off, err := mmapOffsets(fd)
	if err != nil {
		return fail("map rings", err)
	}
	if v.rx, err = mapRing(fd, off.Rx, unix.XDP_PGOFF_RX_RING, size, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return fail("map RX ring", err)
	}
	if v.tx, err = mapRing(fd, off.Tx, unix.XDP_PGOFF_TX_RING, size, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return fail("map TX ring", err)
	}
	v.rx.initConsumer()
	v.tx.initProducer()
	sa := &unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(p.info.Ifindex), QueueID: uint32(p.queue)}
	switch p.cfg.Bind {
	case BindCopy:
		sa.Flags |= unix.XDP_COPY
	case BindZeroCopy:
		sa.Flags |= unix.XDP_ZEROCOPY
	}
	if shared != nil {
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(p.first.fd)
	}
	if err := p.bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if shared == nil {
		v.umem.mu.Lock()
		v.umem.prime()
		v.umem.mu.Unlock()
	}
	return v, nil
}

// bind binds the socket to the port's queue, or, for the first socket of a
// port that takes any queue, to the first queue the kernel lets it have:
// EBUSY means another process's UMEM holds the queue, EINVAL past queue 0
// means there are no more queues.
func (p *Port) bind(fd int, sa *unix.SockaddrXDP) error {
	if p.queue != AnyQueue {
		sa.QueueID = uint32(p.queue)
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("%s queue %d: %w", p.info.Name, p.queue, classify(err))
		}
		return nil
	}
	for q := 0; q < xdp.MaxSlots; q++ {
		sa.QueueID = uint32(q)
		err := unix.Bind(fd, sa)
		switch {
		case err == nil:
			p.queue = q
			return nil
		case err == unix.EBUSY:
			continue
		case err == unix.EINVAL && q > 0:
			return fmt.Errorf("%s: all %d queues are bound by other processes: %w", p.info.Name, q, unix.EBUSY)
		default:
			return fmt.Errorf("%s queue %d: %w", p.info.Name, q, classify(err))
		}
	}
	return fmt.Errorf("%s: no free queue: %w", p.info.Name, unix.EBUSY)
}

// closeSocket unmaps the rings and closes the fd (and the UMEM it owns is
// unmapped by the port).
func (v *VI) closeSocket() {
	v.rx.unmap()
	v.tx.unmap()
	if v.fd >= 0 {
		unix.Close(v.fd)
		v.fd = -1
	}
}

// Owner is the VI's claim on the filter table: add filters through it.
func (v *VI) Owner() *xdp.Owner { return v.owner }

// AddFilter steers a flow to this VI.
func (v *VI) AddFilter(f xdp.Filter) error { return v.owner.Add(f) }

// RemoveFilter gives a flow back to the kernel.
func (v *VI) RemoveFilter(f xdp.Filter) error { return v.owner.Remove(f) }

// Recv takes up to len(ds) received frames.
func (v *VI) Recv(ds []vi.Desc) int {
	n := v.rx.avail(uint32(len(ds)))
	if n == 0 {
		// A zero-copy driver that ran out of fill frames stops and sets
		// the fill ring's need-wakeup flag: poke it (copy mode never does).
		if v.umem.fill.needWakeup() {
			v.stats.Kicks++
			unix.Syscall6(unix.SYS_RECVFROM, uintptr(v.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		}
		return 0
	}
	for i := range n {
		d := v.rx.desc(v.rx.local + i)
		ds[i] = vi.Desc{Addr: d.Addr, Len: d.Len}
		v.stats.RxBytes += uint64(d.Len)
	}
	v.rx.release(n)
	v.stats.RxPackets += uint64(n)
	return int(n)
}

// Alloc takes up to len(ds) empty frames.
func (v *VI) Alloc(ds []vi.Desc) int {
	n := v.umem.alloc(ds)
	if n < len(ds) {
		v.stats.AllocEmpty++
	}
	return n
}

// Free gives frames back; they go to the fill ring first.
func (v *VI) Free(ds []vi.Desc) { v.umem.free(ds) }

// Bytes is the view of a frame.
func (v *VI) Bytes(d vi.Desc) []byte { return v.umem.bytes(d) }

// Send puts frames on the TX ring and wakes the kernel if it asks to be.
func (v *VI) Send(ds []vi.Desc) (int, error) {
	n := v.Queue(ds)
	if n == 0 {
		return 0, nil
	}
	return n, v.Ring()
}

var _ vi.Doorbell = (*VI)(nil)

// Queue puts frames on the TX ring without waking the kernel.
func (v *VI) Queue(ds []vi.Desc) int {
	n := v.tx.free(uint32(len(ds)))
	if n < uint32(len(ds)) {
		v.stats.TxRingFull++
	}
	for i := range n {
		d := v.tx.desc(v.tx.local + i)
		*d = unix.XDPDesc{Addr: ds[i].Addr, Len: ds[i].Len}
		v.stats.TxBytes += uint64(ds[i].Len)
	}
	if n == 0 {
		return 0
	}
	v.tx.submit(n)
	v.stats.TxPackets += uint64(n)
	return int(n)
}

// ReserveRx sets the frames this VI's sockets could buffer; the fill ring
// is kept at least as deep as the port's VIs together ask, up to its
// most (umem.go, fillDepth).
func (v *VI) ReserveRx(frames int) {
	u := v.umem
	u.mu.Lock()
	u.reserved += uint32(frames) - v.rxWant
	v.rxWant = uint32(frames)
	// Up to a batch of frames can be out of the ring, waiting to go back.
	u.depth.setLow(u.reserved + u.batch)
	// At once: the burst it is for may come before the next refill.
	u.prime()
	u.mu.Unlock()
}

// Ring wakes the kernel for what is on the TX ring, and takes back the
// frames it has sent.
func (v *VI) Ring() error {
	err := v.kick()
	v.umem.settle()
	return err
}

// kick asks the kernel to transmit what is on the TX ring. Copy mode always
// wants the kick and sends a budget of frames per call, answering EAGAIN
// while frames remain; EBUSY and ENOBUFS are transient (the frames stay on
// the ring and go with the next kick).
func (v *VI) kick() error {
	for range maxKicks {
		if !v.tx.needWakeup() {
			return nil
		}
		v.stats.Kicks++
		// Raw: a kick never blocks (MSG_DONTWAIT), and the scheduler's
		// bookkeeping around a system call is on every send's way.
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(v.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN:
			if atomic.LoadUint32(v.tx.consumer) == v.tx.local {
				return nil
			}
		case unix.EBUSY, unix.ENOBUFS, unix.EINTR:
			return nil
		default:
			return fmt.Errorf("xsk: kick: %w", e)
		}
	}
	return nil
}

// FD is the socket: it polls readable when frames are on the RX ring.
func (v *VI) FD() int { return v.fd }

// Info describes the interface.
func (v *VI) Info() vi.Info { return v.port.info }

// Stats are the VI's counters with the kernel's drop counters of its socket.
func (v *VI) Stats() vi.Stats {
	s := v.stats
	var ks unix.XDPStatistics
	l := uint32(unsafe.Sizeof(ks))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(v.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&l)), 0)
	if e == 0 {
		s.RxRingFull = ks.Rx_ring_full
		s.RxFillEmpty = ks.Rx_fill_ring_empty_descs
		s.RxDropped = ks.Rx_dropped
		s.RxInvalid = ks.Rx_invalid_descs
		s.TxInvalid = ks.Tx_invalid_descs
	}
	return s
}

// Close removes the VI's filters, so its flows go back to the kernel, and
// frees its socket. The socket that registered the UMEM stays open until
// the port closes (it carries the fill and completion rings), and is
// handed out again by the port's next NewVI.
func (v *VI) Close() error {
	p := v.port
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.vis[v]; !ok {
		return nil
	}
	delete(p.vis, v)
	v.ReserveRx(0)
	err := v.owner.Close()
	v.owner = nil
	// Frames still on the RX ring go back to the pool.
	var ds [64]vi.Desc
	for {
		n := v.Recv(ds[:])
		if n == 0 {
			break
		}
		v.Free(ds[:n])
	}
	if v != p.first {
		v.closeSocket()
	}
	if err != nil {
		return fmt.Errorf("xsk: close VI: %w", err)
	}
	return nil
}

var _ vi.Steering = (*VI)(nil)

// Steer steers a flow to this VI (vi.Steering).
func (v *VI) Steer(f vi.Flow) error {
	return v.owner.Add(xdp.Filter{Proto: xdp.Proto(f.Proto), Local: f.Local, Remote: f.Remote})
}

// Unsteer gives a flow back to the kernel (vi.Steering).
func (v *VI) Unsteer(f vi.Flow) error {
	return v.owner.Remove(xdp.Filter{Proto: xdp.Proto(f.Proto), Local: f.Local, Remote: f.Remote})
}

var _ vi.ARPSteering = (*VI)(nil)

// SteerARP steers ARP whose target is addr to this VI (vi.ARPSteering).
func (v *VI) SteerARP(addr netip.Addr) error { return v.owner.AddARP(addr) }

// UnsteerARP gives addr's ARP back to the kernel (vi.ARPSteering).
func (v *VI) UnsteerARP(addr netip.Addr) error { return v.owner.RemoveARP(addr) }
