package wire

// ICMP for IPv4 (RFC 792). The stack leaves ICMP to the kernel (the
// filter passes it, the kernel answers ping and hands errors about a
// socket's flow to its kernel twin); the view serves tools and tests.
const (
	ICMPLen = 8

	ICMPEchoReply   = 0
	ICMPUnreachable = 3
	ICMPEcho        = 8
	ICMPTimeExceed  = 11

	// Codes of ICMPUnreachable.
	ICMPPortUnreachable = 3
	ICMPFragNeeded      = 4
)

// ICMP is a view of an ICMP message.
type ICMP []byte

// ParseICMP checks the length and the checksum, which covers the whole
// message.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPLen {
		return nil, ErrTruncated
	}
	if Checksum(b, 0) != 0 {
		return nil, ErrChecksum
	}
	return ICMP(b), nil
}

func (m ICMP) Type() uint8      { return m[0] }
func (m ICMP) Code() uint8      { return m[1] }
func (m ICMP) Checksum() uint16 { return be.Uint16(m[2:4]) }
func (m ICMP) Body() []byte     { return m[ICMPLen:] }

// NextHopMTU is the MTU a "fragmentation needed" message reports
// (RFC 1191 §4); 0 from routers that predate it.
func (m ICMP) NextHopMTU() int { return int(be.Uint16(m[6:8])) }

// IsError reports an error message, which quotes the datagram that caused it.
func (m ICMP) IsError() bool {
	switch m.Type() {
	case ICMPUnreachable, ICMPTimeExceed, 4, 5, 12:
		return true
	}
	return false
}

// Quoted is the IPv4 header and first bytes of the datagram an error is
// about (RFC 792: the header and at least 64 bits of data). It is checked
// for a whole header only: the quote is truncated by design.
func (m ICMP) Quoted() (IPv4, error) {
	b := m.Body()
	if len(b) < IPv4Len {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, ErrVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4Len || hl > len(b) {
		return nil, ErrHeaderLen
	}
	return IPv4(b), nil
}

// Build writes a message of type and code with rest-of-header rest around
// the n body bytes that follow it, checksum included.
func (m ICMP) Build(typ, code uint8, rest uint32, n int) {
	m[0], m[1] = typ, code
	m[2], m[3] = 0, 0
	be.PutUint32(m[4:8], rest)
	be.PutUint16(m[2:4], Checksum(m[:ICMPLen+n], 0))
}
