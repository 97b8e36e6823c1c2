// Package wire holds the packet views and checksums that the protocol
// packages (arp, udp, tcp) and the stack share: a leaf package with no
// dependencies of its own.
//
// A view is a byte slice type with accessors (type IPv4 []byte), never a
// copy: it reads and writes the frame in place, in the VI's memory. Checked
// constructors (ParseEthernet, ParseIPv4, ...) validate untrusted input once,
// so that accessors afterwards need no bounds reasoning; builders write
// headers in place in front of a payload already in the frame.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var be = binary.BigEndian

// MAC is an Ethernet address.
type MAC [6]byte

// Broadcast is the Ethernet broadcast address.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Errors of the checked constructors. The stack turns each into a drop
// counter with a reason; they never reach an application.
var (
	ErrTruncated = errors.New("truncated")
	ErrVersion   = errors.New("bad version")
	ErrHeaderLen = errors.New("bad header length")
	ErrTotalLen  = errors.New("bad total length")
	ErrChecksum  = errors.New("bad checksum")
)
