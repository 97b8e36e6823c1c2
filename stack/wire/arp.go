package wire

// ARP for IPv4 over Ethernet (RFC 826).
const (
	ARPLen = 28

	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view of an ARP packet for IPv4 over Ethernet.
type ARP []byte

// ParseARP checks that b is an Ethernet/IPv4 ARP packet.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, ErrTruncated
	}
	a := ARP(b[:ARPLen])
	if be.Uint16(a[0:2]) != 1 || be.Uint16(a[2:4]) != EtherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return nil, ErrVersion
	}
	return a, nil
}

func (a ARP) Op() uint16             { return be.Uint16(a[6:8]) }
func (a ARP) SenderMAC() (m MAC)     { copy(m[:], a[8:14]); return }
func (a ARP) SenderIP() (ip [4]byte) { copy(ip[:], a[14:18]); return }
func (a ARP) TargetMAC() (m MAC)     { copy(m[:], a[18:24]); return }
func (a ARP) TargetIP() (ip [4]byte) { copy(ip[:], a[24:28]); return }

// Build writes an ARP packet.
func (a ARP) Build(op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) {
	be.PutUint16(a[0:2], 1)
	be.PutUint16(a[2:4], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	be.PutUint16(a[6:8], op)
	copy(a[8:14], sha[:])
	copy(a[14:18], spa[:])
	copy(a[18:24], tha[:])
	copy(a[24:28], tpa[:])
}
