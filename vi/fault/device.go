package fault

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// Device is a vi.Device with impairments on both directions: frames the
// inner device receives pass the receive injector before the user sees
// them, frames the user sends pass the transmit injector before the inner
// device sends them. Delayed and held frames wait in the wrapper, in the
// inner device's memory (a duplicate takes a frame of its own); FD polls
// readable when the inner device has frames or a waiting frame comes due,
// so a stack that sleeps on it is woken as on the bare device.
//
// Used by one goroutine at a time, as any Device.
type Device struct {
	inner  vi.Device
	dir    [2]direction // rx, tx
	start  time.Time
	tap    func(tx bool, at time.Duration, frame []byte)
	batch  []vi.Desc
	tfd    int // timerfd: the next frame's time
	epfd   int // the inner device's fd and the timer's, as one
	armed  time.Duration
	closed bool
}

const (
	rx = 0
	tx = 1
)

// holdMax bounds how long a held frame waits for a next one to pass it:
// a reordered last frame is late, not lost.
const holdMax = time.Millisecond

type direction struct {
	in     *Injector
	q      []Timed // by time, FIFO among equals
	held   *Timed
	counts Counts
}

// Counts are the impairments done in one direction.
type Counts struct {
	Frames, Dropped, Duplicated, Reordered, Corrupted uint64
	Refused                                           uint64 // frames the inner device did not take (transmit ring full)
}

var (
	_ vi.Device      = (*Device)(nil)
	_ vi.Steering    = (*Device)(nil)
	_ vi.ARPSteering = (*Device)(nil)
)

func (c Counts) String() string {
	return fmt.Sprintf("%d frames: %d dropped, %d duplicated, %d reordered, %d corrupted, %d refused",
		c.Frames, c.Dropped, c.Duplicated, c.Reordered, c.Corrupted, c.Refused)
}

// Options of a wrapper.
type Options struct {
	Rx, Tx Faults
	Seed   uint64
	// Tap, if set, sees every frame as it leaves the wrapper: received
	// frames as the user gets them, sent ones as they go to the device
	// (a pcap writer's Write, for a failing seed).
	Tap func(tx bool, at time.Duration, frame []byte)
}

// Wrap puts the impairments of o on inner. Closing the wrapper closes
// inner.
func Wrap(inner vi.Device, o Options) (*Device, error) {
	d := &Device{inner: inner, start: time.Now(), tap: o.Tap, batch: make([]vi.Desc, 0, 64), tfd: -1, epfd: -1}
	d.dir[rx].in = NewInjector(o.Rx, o.Seed)
	d.dir[tx].in = NewInjector(o.Tx, o.Seed+1)
	var err error
	if d.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("fault: make timerfd: %w", err)
	}
	if d.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		unix.Close(d.tfd)
		return nil, fmt.Errorf("fault: make epoll fd: %w", err)
	}
	for _, fd := range []int{inner.FD(), d.tfd} {
		if fd < 0 {
			continue
		}
		if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			unix.Close(d.tfd)
			unix.Close(d.epfd)
			return nil, fmt.Errorf("fault: watch fd %d: %w", fd, err)
		}
	}
	return d, nil
}

func (d *Device) now() time.Duration { return time.Since(d.start) }

// Counts are the impairments done so far on received (rx) and sent (tx)
// frames.
func (d *Device) Counts() (rxc, txc Counts) { return d.dir[rx].counts, d.dir[tx].counts }

// admit draws a frame's fate and queues what is left of it.
func (d *Device) admit(w int, desc vi.Desc, now time.Duration) {
	dr := &d.dir[w]
	dr.counts.Frames++
	b := d.inner.Bytes(desc)
	f := dr.in.Decide(len(b), dr.held == nil)
	if f.Drop {
		dr.counts.Dropped++
		d.free(desc)
		return
	}
	if f.Flip >= 0 {
		dr.counts.Corrupted++
		FlipBit(b, f.Flip)
	}
	at := now + dr.in.Delay
	if f.Hold {
		dr.counts.Reordered++
		dr.held = &Timed{At: at, Desc: desc}
		return
	}
	dr.q = Schedule(dr.q, Timed{at, desc})
	if f.Copies > 1 {
		var one [1]vi.Desc
		if d.inner.Alloc(one[:]) == 1 {
			dup := one[0]
			dup.Len = uint32(copy(d.inner.Bytes(vi.Desc{Addr: dup.Addr, Len: dup.Len}), b))
			dr.counts.Duplicated++
			dr.q = Schedule(dr.q, Timed{at, dup})
		}
	}
	if h := dr.held; h != nil {
		// The held frame goes after this one.
		dr.held = nil
		dr.q = Schedule(dr.q, Timed{max(h.At, at), h.Desc})
	}
}

// release lets a held frame go when no frame came to pass it in time.
func (dr *direction) release(now time.Duration) {
	if h := dr.held; h != nil && now >= h.At+holdMax {
		dr.held = nil
		dr.q = Schedule(dr.q, *h)
	}
}

// take moves frames whose time has come into ds and returns how many.
func (dr *direction) take(ds []vi.Desc, now time.Duration) int {
	n := 0
	for n < len(ds) && len(dr.q) > 0 && dr.q[0].At <= now {
		ds[n] = dr.q[0].Desc
		n++
		dr.q = dr.q[1:]
	}
	if len(dr.q) == 0 {
		dr.q = dr.q[:0:cap(dr.q)]
	}
	return n
}

func (d *Device) free(desc vi.Desc) {
	one := [1]vi.Desc{desc}
	d.inner.Free(one[:])
}

// Recv takes frames from the inner device through the receive
// impairments and hands out those whose time has come.
func (d *Device) Recv(ds []vi.Desc) int {
	now := d.now()
	d.flush(now)
	d.clearTimer(now)
	in := d.batch[:min(len(ds), cap(d.batch))]
	n := d.inner.Recv(in)
	for _, desc := range in[:n] {
		d.admit(rx, desc, now)
	}
	dr := &d.dir[rx]
	dr.release(now)
	k := dr.take(ds, now)
	if d.tap != nil {
		for _, desc := range ds[:k] {
			d.tap(false, now, d.inner.Bytes(desc))
		}
	}
	d.arm(now)
	return k
}

// Send takes every frame: each passes the transmit impairments, and those
// whose time has come go to the inner device.
func (d *Device) Send(ds []vi.Desc) (int, error) {
	now := d.now()
	for _, desc := range ds {
		d.admit(tx, desc, now)
	}
	d.flush(now)
	d.arm(now)
	return len(ds), nil
}

// flush sends the delayed and held frames whose time has come.
func (d *Device) flush(now time.Duration) {
	dr := &d.dir[tx]
	dr.release(now)
	for len(dr.q) > 0 && dr.q[0].At <= now {
		b := d.batch[:cap(d.batch)]
		k := dr.take(b, now)
		if d.tap != nil {
			for _, desc := range b[:k] {
				d.tap(true, now, d.inner.Bytes(desc))
			}
		}
		sent, _ := d.inner.Send(b[:k])
		if sent < k {
			// The ring is full: these are lost, as on a congested link.
			dr.counts.Refused += uint64(k - sent)
			d.inner.Free(b[sent:k])
		}
	}
}

// arm sets the timer to the next waiting frame's time.
func (d *Device) arm(now time.Duration) {
	next := time.Duration(0)
	for i := range d.dir {
		dr := &d.dir[i]
		if len(dr.q) > 0 && (next == 0 || dr.q[0].At < next) {
			next = max(dr.q[0].At, 1)
		}
		if h := dr.held; h != nil && (next == 0 || h.At+holdMax < next) {
			next = h.At + holdMax
		}
	}
	if next == d.armed {
		return
	}
	d.armed = next
	var spec unix.ItimerSpec
	if next != 0 {
		spec.Value = unix.NsecToTimespec(int64(max(next-now, time.Microsecond)))
	}
	unix.TimerfdSettime(d.tfd, 0, &spec, nil)
}

// clearTimer reads an expired timer so that FD stops polling readable.
func (d *Device) clearTimer(now time.Duration) {
	if d.armed != 0 && now >= d.armed {
		var b [8]byte
		unix.Read(d.tfd, b[:])
		d.armed = 0
	}
}

// SetFaults changes the impairments from now on (frames already waiting
// keep their fate): a test can cut a link, or heal it.
func (d *Device) SetFaults(rxf, txf Faults) {
	d.dir[rx].in.Faults, d.dir[tx].in.Faults = rxf, txf
}

// Alloc, Free and Bytes are the inner device's.
func (d *Device) Alloc(ds []vi.Desc) int { return d.inner.Alloc(ds) }
func (d *Device) Free(ds []vi.Desc)      { d.inner.Free(ds) }
func (d *Device) Bytes(x vi.Desc) []byte { return d.inner.Bytes(x) }
func (d *Device) Info() vi.Info          { return d.inner.Info() }
func (d *Device) Stats() vi.Stats        { return d.inner.Stats() }
func (d *Device) FD() int                { return d.epfd }

// Steer and Unsteer are the inner device's filters.
func (d *Device) Steer(f vi.Flow) error {
	if s, ok := d.inner.(vi.Steering); ok {
		return s.Steer(f)
	}
	return vi.ErrNotSupported
}

func (d *Device) Unsteer(f vi.Flow) error {
	if s, ok := d.inner.(vi.Steering); ok {
		return s.Unsteer(f)
	}
	return vi.ErrNotSupported
}

// SteerARP and UnsteerARP are the inner device's.
func (d *Device) SteerARP(a netip.Addr) error {
	if s, ok := d.inner.(vi.ARPSteering); ok {
		return s.SteerARP(a)
	}
	return vi.ErrNotSupported
}

func (d *Device) UnsteerARP(a netip.Addr) error {
	if s, ok := d.inner.(vi.ARPSteering); ok {
		return s.UnsteerARP(a)
	}
	return vi.ErrNotSupported
}

// Close gives back the waiting frames and closes the inner device.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	for i := range d.dir {
		dr := &d.dir[i]
		for _, w := range dr.q {
			d.free(w.Desc)
		}
		if dr.held != nil {
			d.free(dr.held.Desc)
		}
		dr.q, dr.held = nil, nil
	}
	unix.Close(d.epfd)
	unix.Close(d.tfd)
	return d.inner.Close()
}
