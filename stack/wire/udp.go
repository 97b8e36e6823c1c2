package wire

// UDP header (RFC 768).
const UDPLen = 8

// UDP is a view of a UDP datagram, header first.
type UDP []byte

// ParseUDP checks the header and the length field against the bytes of the
// IP payload, and the checksum when one was sent (zero means none, RFC 768).
// src and dst are the IPv4 addresses of the pseudo-header.
func ParseUDP(b []byte, src, dst [4]byte) (UDP, error) {
	if len(b) < UDPLen {
		return nil, ErrTruncated
	}
	n := int(be.Uint16(b[4:6]))
	if n < UDPLen || n > len(b) {
		return nil, ErrTotalLen
	}
	u := UDP(b[:n])
	if u.Checksum() != 0 && Checksum(u, PseudoSum(src, dst, ProtoUDP, n)) != 0 {
		return nil, ErrChecksum
	}
	return u, nil
}

func (u UDP) SrcPort() uint16  { return be.Uint16(u[0:2]) }
func (u UDP) DstPort() uint16  { return be.Uint16(u[2:4]) }
func (u UDP) Length() int      { return int(be.Uint16(u[4:6])) }
func (u UDP) Checksum() uint16 { return be.Uint16(u[6:8]) }
func (u UDP) Payload() []byte  { return u[UDPLen:u.Length()] }

// Build writes the header for the n payload bytes that follow it, and the
// checksum over pseudo-header, header and payload. A computed zero is sent as
// all ones (RFC 768).
func (u UDP) Build(srcPort, dstPort uint16, src, dst [4]byte, n int) {
	l := UDPLen + n
	be.PutUint16(u[0:2], srcPort)
	be.PutUint16(u[2:4], dstPort)
	be.PutUint16(u[4:6], uint16(l))
	u[6], u[7] = 0, 0
	c := Checksum(u[:l], PseudoSum(src, dst, ProtoUDP, l))
	if c == 0 {
		c = 0xffff
	}
	be.PutUint16(u[6:8], c)
}

// UDPHeadersLen is the length of Ethernet, IPv4 (no options) and UDP
// headers together: where a UDP payload starts in a frame.
const UDPHeadersLen = EthernetLen + IPv4Len + UDPLen

// UDPFrame describes the headers of an Ethernet/IPv4/UDP frame.
type UDPFrame struct {
	SrcMAC, DstMAC   MAC
	IP               IPv4Header // Protocol is set to UDP
	SrcPort, DstPort uint16
}

// BuildUDPFrame writes all three headers in front of the n payload bytes
// already at b[UDPHeadersLen:] and returns the frame's length.
func BuildUDPFrame(b []byte, f *UDPFrame, n int) int {
	Ethernet(b).Build(f.DstMAC, f.SrcMAC, EtherTypeIPv4)
	ip := f.IP
	ip.Protocol = ProtoUDP
	IPv4(b[EthernetLen:]).Build(&ip, UDPLen+n)
	UDP(b[EthernetLen+IPv4Len:]).Build(f.SrcPort, f.DstPort, ip.Src, ip.Dst, n)
	return UDPHeadersLen + n
}

// ParseUDPFrame checks an Ethernet frame down to its UDP datagram: an IPv4
// header (options allowed) and a UDP header with a valid checksum.
func ParseUDPFrame(frame []byte) (IPv4, UDP, error) {
	e, err := ParseEthernet(frame)
	if err != nil {
		return nil, nil, err
	}
	if e.Type() != EtherTypeIPv4 {
		return nil, nil, ErrVersion
	}
	ip, err := ParseIPv4(e.Payload())
	if err != nil {
		return nil, nil, err
	}
	if ip.Protocol() != ProtoUDP || ip.IsFragment() {
		return nil, nil, ErrVersion
	}
	u, err := ParseUDP(ip.Payload(), ip.Src(), ip.Dst())
	if err != nil {
		return nil, nil, err
	}
	return ip, u, nil
}
