package vi

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dump asks the kernel for a table of the calling thread's network
// namespace (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH) of an
// address family and returns its messages.
func Dump(typ, family int) ([]syscall.NetlinkMessage, error) {
	rib, err := syscall.NetlinkRIB(typ, family)
	if err != nil {
		return nil, err
	}
	return syscall.ParseNetlinkMessage(rib)
}

// WalkAttrs calls fn for each rtnetlink attribute in b (struct rtattr:
// length, type, value, padded to 4 bytes) until fn returns false. The
// nested flag is cleared from types. A malformed length ends the walk. The
// filter table and the stack's kernel mirror both read link, route and
// neighbour attributes with it.
func WalkAttrs(b []byte, fn func(typ uint16, v []byte) bool) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		if !fn(t, b[unix.SizeofRtAttr:l]) {
			return
		}
		b = b[min(len(b), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
}

// AttrU32 is the u32 attribute of type typ in b, or 0.
func AttrU32(b []byte, typ uint16) (v uint32) {
	WalkAttrs(b, func(t uint16, val []byte) bool {
		if t == typ && len(val) >= 4 {
			v = binary.NativeEndian.Uint32(val)
			return false
		}
		return true
	})
	return v
}
