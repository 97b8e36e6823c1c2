// Package pingpong measures UDP round trips between the two test hosts of
// tests/netns: through kernel sockets (blocking, or spinning with
// MSG_DONTWAIT), through raw VIs on both ends (spinning: the floor the
// stack is held to; sleeping in ppoll: the floor of any sleeping path),
// and through the stack's UDP sockets on both ends. Both ends run in this
// process, each on its own OS thread pinned to its own CPU where there are
// two, in its host's network namespace.
package pingpong

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack"
	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xdp"
	"github.com/accelnet/accel/vi/xsk"
)

// Mode is what carries the datagrams.
type Mode string

const (
	KernelBlocking Mode = "kernel-blocking"
	KernelSpin     Mode = "kernel-spin"
	VIRaw          Mode = "vi-raw"
	VIRawSleep     Mode = "vi-raw-sleep" // raw VIs, sleeping in ppoll on the VI's fd when its RX ring is empty
	Stack          Mode = "stack"
	KernelTCP      Mode = "kernel-tcp" // kernel TCP sockets, spinning with MSG_DONTWAIT
	StackTCP       Mode = "stack-tcp"  // a stack TCP connection on each end, spinning
)

// Modes lists every mode.
var Modes = []Mode{KernelBlocking, KernelSpin, VIRaw, VIRawSleep, Stack, KernelTCP, StackTCP}

// Config of one measurement.
type Config struct {
	Mode   Mode
	Size   int           // payload bytes; default 64
	Warmup int           // round trips not recorded; default 1000
	Count  int           // round trips recorded
	Limit  time.Duration // the whole run's bound; default 60s
}

const port = 9700

// Run measures cfg.Count round trips and returns them.
func Run(pair *netns.Pair, cfg Config) ([]time.Duration, error) {
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 1000
	}
	if cfg.Limit == 0 {
		cfg.Limit = 60 * time.Second
	}
	if cfg.Size > 1400 || cfg.Size < 8 {
		return nil, fmt.Errorf("pingpong: size %d: want 8 to 1400 bytes", cfg.Size)
	}
	var client, server endpoint
	var err error
	switch cfg.Mode {
	case KernelBlocking, KernelSpin:
		spin := cfg.Mode == KernelSpin
		if client, err = newKernelEnd(pair.A, pair.B, spin); err == nil {
			server, err = newKernelEnd(pair.B, pair.A, spin)
		}
	case VIRaw, VIRawSleep:
		sleep := cfg.Mode == VIRawSleep
		if client, err = newVIEnd(pair.A, pair.B, sleep); err == nil {
			server, err = newVIEnd(pair.B, pair.A, sleep)
		}
	case Stack:
		if client, err = newStackEnd(pair.A, pair.B, pair.Prefix.Bits()); err == nil {
			server, err = newStackEnd(pair.B, pair.A, pair.Prefix.Bits())
		}
	case KernelTCP:
		client, server, err = newKernelTCPEnds(pair)
	case StackTCP:
		client, server, err = newStackTCPEnds(pair)
	default:
		return nil, fmt.Errorf("pingpong: unknown mode %q", cfg.Mode)
	}
	defer func() {
		if client != nil {
			client.close()
		}
		if server != nil {
			server.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.Limit)
	total := cfg.Warmup + cfg.Count
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pin(1)
		buf := make([]byte, cfg.Size)
		for i := 0; i < total; i++ {
			n, err := server.recv(buf, deadline)
			if err != nil {
				done <- fmt.Errorf("server: %w", err)
				return
			}
			if err := server.send(buf[:n]); err != nil {
				done <- fmt.Errorf("server: %w", err)
				return
			}
		}
		done <- nil
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pin(0)
	msg := make([]byte, cfg.Size)
	buf := make([]byte, cfg.Size) // a stream: read one message's worth
	rtts := make([]time.Duration, 0, cfg.Count)
	for i := 0; i < total; i++ {
		msg[0], msg[1], msg[2], msg[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		start := time.Now()
		if err := client.send(msg); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		n, err := client.recv(buf, deadline)
		if err != nil {
			return nil, fmt.Errorf("client: round trip %d: %w", i, err)
		}
		rtt := time.Since(start)
		if n != len(msg) || buf[0] != msg[0] || buf[3] != msg[3] {
			return nil, fmt.Errorf("client: round trip %d came back as %d bytes starting % x", i, n, buf[:min(n, 4)])
		}
		if i >= cfg.Warmup {
			rtts = append(rtts, rtt)
		}
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return rtts, nil
}

// pin keeps the calling (locked) thread on one CPU, when there are enough.
func pin(cpu int) {
	if runtime.NumCPU() <= cpu {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}

// Summary is what a measurement is quoted by.
type Summary struct {
	N                  int
	Min, P50, P90, P99 time.Duration
	P999, Max          time.Duration
}

// Summarize sorts rtts in place and reads off the percentiles.
func Summarize(rtts []time.Duration) Summary {
	if len(rtts) == 0 {
		return Summary{}
	}
	slices.Sort(rtts)
	at := func(q float64) time.Duration { return rtts[min(len(rtts)-1, int(q*float64(len(rtts))))] }
	return Summary{N: len(rtts), Min: rtts[0], P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: rtts[len(rtts)-1]}
}

type endpoint interface {
	send(payload []byte) error
	recv(buf []byte, deadline time.Time) (int, error)
	close()
}

var errTimeout = errors.New("no answer before the deadline")

// kernelEnd is a connected kernel UDP socket.
type kernelEnd struct {
	fd   int
	spin bool
}

func newKernelEnd(h, peer *netns.Host, spin bool) (*kernelEnd, error) {
	e := &kernelEnd{fd: -1, spin: spin}
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		e.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: h.Addr.As4()}); err != nil {
			return err
		}
		// A receive timeout bounds the blocking mode's waits.
		tv := unix.Timeval{Sec: 1}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: peer.Addr.As4()})
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("kernel socket on %s: %w", h.NS, err)
	}
	return e, nil
}

func (e *kernelEnd) send(p []byte) error {
	_, err := unix.Write(e.fd, p)
	return err
}

func (e *kernelEnd) recv(buf []byte, deadline time.Time) (int, error) {
	for i := 0; ; i++ {
		flags := 0
		if e.spin {
			flags = unix.MSG_DONTWAIT
		}
		n, _, err := unix.Recvfrom(e.fd, buf, flags)
		if err == nil {
			return n, nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return 0, err
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			return 0, errTimeout
		}
	}
}

func (e *kernelEnd) close() {
	if e.fd >= 0 {
		unix.Close(e.fd)
	}
}

// viEnd speaks UDP over a raw VI, spinning on its RX ring, or sleeping in
// ppoll on the VI's fd while the ring is empty: the floor of a design that
// sleeps on a VI, as the kernel's blocking mode is the kernel's.
type viEnd struct {
	port  *xsk.Port
	vi    *xsk.VI
	hdr   wire.UDPFrame
	ds    [1]vi.Desc
	sleep bool
	pfd   [1]unix.PollFd
}

func newVIEnd(h, peer *netns.Host, sleep bool) (*viEnd, error) {
	e := &viEnd{sleep: sleep}
	err := h.Do(func() (err error) {
		if e.port, err = xsk.Open(xsk.Config{Interface: h.Ifname, Frames: 1024, RingSize: 256}); err != nil {
			return err
		}
		if e.vi, err = e.port.NewVI(); err != nil {
			return err
		}
		return e.vi.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(h.Addr, port)})
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("VI on %s: %w", h.NS, err)
	}
	e.pfd[0] = unix.PollFd{Fd: int32(e.vi.FD()), Events: unix.POLLIN}
	e.hdr = wire.UDPFrame{IP: wire.IPv4Header{TTL: 64, DF: true, Src: h.Addr.As4(), Dst: peer.Addr.As4()}, SrcPort: port, DstPort: port}
	copy(e.hdr.SrcMAC[:], h.MAC)
	copy(e.hdr.DstMAC[:], peer.MAC)
	return e, nil
}

func (e *viEnd) send(p []byte) error {
	if e.vi.Alloc(e.ds[:]) != 1 {
		return errors.New("no free frame")
	}
	b := e.vi.Bytes(e.ds[0])
	n := copy(b[wire.UDPHeadersLen:], p)
	e.ds[0].Len = uint32(wire.BuildUDPFrame(b, &e.hdr, n))
	sent, err := e.vi.Send(e.ds[:])
	if sent != 1 {
		e.vi.Free(e.ds[:])
		return fmt.Errorf("TX ring full: %w", err)
	}
	return err
}

func (e *viEnd) recv(buf []byte, deadline time.Time) (int, error) {
	for i := 0; ; i++ {
		if e.vi.Recv(e.ds[:]) == 1 {
			n, err := udpPayload(e.vi.Bytes(e.ds[0]), buf)
			e.vi.Free(e.ds[:])
			if err == nil {
				return n, nil
			}
			continue
		}
		if e.sleep {
			// A second look after the wake-up finds the frame; a timeout
			// of a second bounds each sleep, and the deadline is looked at
			// when one ends empty.
			ts := unix.Timespec{Sec: 1}
			n, err := unix.Ppoll(e.pfd[:], &ts, nil)
			if err != nil && err != unix.EINTR {
				return 0, fmt.Errorf("ppoll: %w", err)
			}
			if n == 0 && time.Now().After(deadline) {
				return 0, errTimeout
			}
			continue
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			return 0, errTimeout
		}
	}
}

// udpPayload checks a received frame as the stack will and copies its
// payload out.
func udpPayload(frame, buf []byte) (int, error) {
	_, u, err := wire.ParseUDPFrame(frame)
	if err != nil {
		return 0, err
	}
	return copy(buf, u.Payload()), nil
}

func (e *viEnd) close() {
	if e.port != nil {
		e.port.Close()
	}
}

// stackEnd is a UDP socket of a Kernel-mode stack on a VI, connected to
// the peer, spinning on RecvFrom.
type stackEnd struct {
	port *xsk.Port
	st   *stack.Stack
	u    *stack.UDPSocket
}

func newStackEnd(h, peer *netns.Host, bits int) (*stackEnd, error) {
	e := &stackEnd{}
	err := h.Do(func() (err error) {
		if e.port, err = xsk.Open(xsk.Config{Interface: h.Ifname, Frames: 1024, RingSize: 256}); err != nil {
			return err
		}
		v, err := e.port.NewVI()
		if err != nil {
			return err
		}
		if e.st, err = stack.New(stack.Config{Device: v, Addr: netip.PrefixFrom(h.Addr, bits), Kernel: true}); err != nil {
			return err
		}
		if e.u, err = e.st.NewUDP(); err != nil {
			return err
		}
		if err = e.u.Bind(netip.AddrPortFrom(h.Addr, port)); err != nil {
			return err
		}
		return e.u.Connect(netip.AddrPortFrom(peer.Addr, port))
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("stack on %s: %w", h.NS, err)
	}
	return e, nil
}

func (e *stackEnd) send(p []byte) error {
	_, err := e.u.SendTo(p, netip.AddrPort{})
	return err
}

func (e *stackEnd) recv(buf []byte, deadline time.Time) (int, error) {
	for i := 0; ; i++ {
		n, _, err := e.u.RecvFrom(buf, false, false)
		if err != unix.EAGAIN {
			return n, err
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			return 0, errTimeout
		}
	}
}

func (e *stackEnd) close() {
	if e.st != nil {
		e.st.Close()
	}
	if e.port != nil {
		e.port.Close()
	}
}
