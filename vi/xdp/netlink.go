package xdp

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// linkInfo is what the filter table reads of its interface.
type linkInfo struct {
	progID   uint32 // its XDP program's ID (IFLA_XDP), 0 if none
	kind     string // "veth", or "" for a physical device (IFLA_LINKINFO)
	rxQueues int    // IFLA_NUM_RX_QUEUES
}

// linkXDP reads interface ifindex of the calling thread's network
// namespace from the kernel's link attributes. BPF link and program IDs
// are global while interface indexes are per namespace: this is how a
// process finds the program of its own interface and not one of the
// same index in another namespace.
func linkXDP(ifindex int) (li linkInfo, err error) {
	msgs, err := vi.Dump(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return li, fmt.Errorf("list interfaces: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		if int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))) != ifindex {
			continue
		}
		vi.WalkAttrs(m.Data[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) bool {
			switch typ {
			case unix.IFLA_XDP:
				li.progID = vi.AttrU32(v, unix.IFLA_XDP_PROG_ID)
			case unix.IFLA_NUM_RX_QUEUES:
				if len(v) >= 4 {
					li.rxQueues = int(binary.NativeEndian.Uint32(v))
				}
			case unix.IFLA_LINKINFO:
				vi.WalkAttrs(v, func(typ uint16, v []byte) bool {
					if typ == unix.IFLA_INFO_KIND {
						li.kind = strings.TrimRight(string(v), "\x00")
					}
					return true
				})
			}
			return true
		})
		return li, nil
	}
	return li, fmt.Errorf("interface %d: %w", ifindex, unix.ENODEV)
}
