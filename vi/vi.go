// Package vi defines the virtual interface (VI) that a stack sends and
// receives Ethernet frames through: the contract between the stack and a
// device, without any device's implementation.
//
// A VI owns a region of packet memory cut into fixed-size frames. Frames move
// between the VI and its user by descriptor (Desc), never by copy: Recv hands
// out received frames, Alloc hands out empty frames to fill, Send takes frames
// back for transmission and Free takes back frames that are done with. The
// AF_XDP implementation is vi/xsk (one AF_XDP socket, its UMEM and the XDP
// filter program of vi/xdp); vi/memvi joins two VIs in memory for tests.
//
// Nothing here allocates on the data path: descriptor slices are the
// caller's, and frame bytes are views into the VI's memory.
package vi

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Desc describes one frame held in a VI's packet memory.
type Desc struct {
	// Addr is the offset of the frame's first byte in the VI's memory.
	Addr uint64
	// Len is the number of bytes of the frame: what was received, what is
	// to be sent, or, straight from Alloc, how many bytes fit.
	Len uint32
}

// Device is a VI as the stack sees it. A Device is used by one goroutine at
// a time (the stack holds its lock); devices that share memory synchronise
// among themselves.
type Device interface {
	// Recv moves up to len(ds) received frames into ds and returns how
	// many. The frames belong to the caller until it sends or frees them.
	Recv(ds []Desc) int
	// Alloc fills ds with up to len(ds) empty frames to transmit from and
	// returns how many; each Len is the frame's capacity.
	Alloc(ds []Desc) int
	// Send queues the frames for transmission (each Len set to the bytes to
	// send) and makes sure the device will send them. It returns how many
	// it took, from the front of ds; the rest stay with the caller. Any
	// frame the caller holds can be sent, a received one included.
	Send(ds []Desc) (int, error)
	// Free gives frames back to the device.
	Free(ds []Desc)
	// Bytes is the frame's memory, d.Len bytes long. The slice is valid
	// while the caller holds the frame.
	Bytes(d Desc) []byte
	// FD is a file descriptor that polls readable when frames may have
	// arrived, or -1 if the device has none.
	FD() int
	// Info describes the device.
	Info() Info
	// Stats returns the device's counters.
	Stats() Stats
	// Close releases the device and the frames it holds.
	Close() error
}

// Doorbell is a Device whose transmissions can be queued now and started
// later: ringing the device's doorbell (a system call for an AF_XDP
// socket in copy mode) once for a batch of frames instead of once per
// frame. Without it, a sender is held to one doorbell per datagram.
type Doorbell interface {
	// Queue puts frames on the transmit ring without starting them; it
	// returns how many it took. Ring starts every queued frame.
	Queue(ds []Desc) int
	Ring() error
}

// RxReserver is a Device that keeps a number of frames ready for the
// kernel to receive into, and takes from the stack how many its sockets
// could buffer: a burst that comes while nobody polls lands in those
// frames, where the kernel would have queued it in the sockets' receive
// buffers.
type RxReserver interface {
	ReserveRx(frames int)
}

// Info is what a stack needs to know about the link under a VI.
type Info struct {
	Name      string
	Ifindex   int
	MTU       int
	HWAddr    [6]byte
	FrameSize int // capacity of one frame
	Frames    int // frames in the VI's memory
}

// Stats are a VI's counters. The kernel's own AF_XDP drops are included where
// the device can read them.
type Stats struct {
	RxPackets uint64
	RxBytes   uint64
	TxPackets uint64
	TxBytes   uint64
	// Kicks counts wake-ups of the kernel to transmit.
	Kicks uint64
	// TxRingFull counts Send calls that found no room on the TX ring.
	TxRingFull uint64
	// AllocEmpty counts Alloc calls that found no free frame.
	AllocEmpty uint64
	// RxDropped counts frames the device dropped on receive: no frame to
	// put them in (empty fill ring) or a full RX ring.
	RxDropped uint64
	// RxFillEmpty is the part of RxDropped due to an empty fill ring.
	RxFillEmpty uint64
	// RxRingFull is the part of RxDropped due to a full RX ring.
	RxRingFull uint64
	// RxInvalid and TxInvalid count descriptors the kernel rejected.
	RxInvalid uint64
	TxInvalid uint64
}

// Errors a caller may want to tell apart to fall back to the kernel. Device
// constructors wrap them with the step that failed.
var (
	// ErrNotSupported: the kernel or the interface cannot do what was asked
	// (no AF_XDP, no XDP on the interface).
	ErrNotSupported = errors.New("not supported")
	// ErrPermission: the process lacks a capability it needs.
	ErrPermission = errors.New("permission denied")
)

// Classify puts a kernel refusal under ErrPermission or ErrNotSupported,
// keeping err in the chain, so that callers can fall back by kind.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	case errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return err
}

// Flow names the frames a stack wants steered to its VI: a protocol and a
// local address and port (the unspecified address: any of ours), and for
// one connection the remote address and port too.
type Flow struct {
	Proto  uint8 // IPPROTO_UDP or IPPROTO_TCP
	Local  netip.AddrPort
	Remote netip.AddrPort
}

// Steering is what a device whose traffic is filtered (an AF_XDP VI)
// offers: frames of a steered flow come to the VI, the rest go to the
// kernel. Devices that receive everything (memvi) do not implement it.
type Steering interface {
	Steer(Flow) error
	Unsteer(Flow) error
}

// ARPSteering is offered by a device that can steer the ARP of an address
// to the VI: for a stack that owns the address alone, the kernel not being
// configured with it.
type ARPSteering interface {
	SteerARP(netip.Addr) error
	UnsteerARP(netip.Addr) error
}
