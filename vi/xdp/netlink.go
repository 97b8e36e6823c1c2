package xdp

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// attachedProgID returns the ID of the XDP program attached to interface
// ifindex of the calling thread's network namespace (0 if none), read from
// the kernel's link attributes (IFLA_XDP). BPF link and program IDs are
// global while interface indexes are per namespace: this is how a process
// finds the program of its own interface and not one of the same index in
// another namespace.
func attachedProgID(ifindex int) (uint32, error) {
	rib, err := syscall.NetlinkRIB(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return 0, fmt.Errorf("list interfaces: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return 0, fmt.Errorf("parse interface list: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		if int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))) != ifindex {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return 0, fmt.Errorf("parse interface %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type&0x3fff == unix.IFLA_XDP {
				return vi.AttrU32(a.Value, unix.IFLA_XDP_PROG_ID), nil
			}
		}
		return 0, nil
	}
	return 0, fmt.Errorf("interface %d: %w", ifindex, unix.ENODEV)
}
