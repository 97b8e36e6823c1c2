package wire

// Ethernet II header (IEEE 802.3): destination, source, EtherType.
const EthernetLen = 14

// EtherTypes the stack knows.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
	EtherTypeVLAN = 0x8100
)

// Ethernet is a view of an Ethernet frame.
type Ethernet []byte

// ParseEthernet checks that b holds an Ethernet header.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetLen {
		return nil, ErrTruncated
	}
	return Ethernet(b), nil
}

func (e Ethernet) Dst() (m MAC)     { copy(m[:], e[0:6]); return }
func (e Ethernet) Src() (m MAC)     { copy(m[:], e[6:12]); return }
func (e Ethernet) Type() uint16     { return be.Uint16(e[12:14]) }
func (e Ethernet) Payload() []byte  { return e[EthernetLen:] }
func (e Ethernet) SetDst(m MAC)     { copy(e[0:6], m[:]) }
func (e Ethernet) SetSrc(m MAC)     { copy(e[6:12], m[:]) }
func (e Ethernet) SetType(t uint16) { be.PutUint16(e[12:14], t) }

// Build writes the header in place.
func (e Ethernet) Build(dst, src MAC, typ uint16) {
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetType(typ)
}
