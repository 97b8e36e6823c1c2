package wire

// IPv4 header (RFC 791 §3.1).
const (
	IPv4Len = 20 // without options

	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17

	flagDF     = 0x4000
	flagMF     = 0x2000
	offsetMask = 0x1fff
)

// IPv4 is a view of an IPv4 packet, header first.
type IPv4 []byte

// ParseIPv4 checks what RFC 1122 §3.2.1 asks a receiver to check: version,
// header length, total length against the bytes present, and the header
// checksum. The view it returns ends at the total length (Ethernet padding
// cut off).
func ParseIPv4(b []byte) (IPv4, error) {
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
	tl := int(be.Uint16(b[2:4]))
	if tl < hl || tl > len(b) {
		return nil, ErrTotalLen
	}
	if Checksum(b[:hl], 0) != 0 {
		return nil, ErrChecksum
	}
	return IPv4(b[:tl]), nil
}

func (p IPv4) HeaderLen() int   { return int(p[0]&0xf) * 4 }
func (p IPv4) TOS() uint8       { return p[1] }
func (p IPv4) TotalLen() int    { return int(be.Uint16(p[2:4])) }
func (p IPv4) ID() uint16       { return be.Uint16(p[4:6]) }
func (p IPv4) DF() bool         { return be.Uint16(p[6:8])&flagDF != 0 }
func (p IPv4) MF() bool         { return be.Uint16(p[6:8])&flagMF != 0 }
func (p IPv4) FragOffset() int  { return int(be.Uint16(p[6:8])&offsetMask) * 8 }
func (p IPv4) TTL() uint8       { return p[8] }
func (p IPv4) Protocol() uint8  { return p[9] }
func (p IPv4) Checksum() uint16 { return be.Uint16(p[10:12]) }
func (p IPv4) Src() (a [4]byte) { copy(a[:], p[12:16]); return }
func (p IPv4) Dst() (a [4]byte) { copy(a[:], p[16:20]); return }
func (p IPv4) Payload() []byte  { return p[p.HeaderLen():p.TotalLen()] }

// IsFragment reports a fragment: more fragments follow or the offset is not
// zero (RFC 791 §3.2).
func (p IPv4) IsFragment() bool { return be.Uint16(p[6:8])&(flagMF|offsetMask) != 0 }

// IPv4Header is what Build writes.
type IPv4Header struct {
	TOS      uint8
	ID       uint16
	DF       bool
	TTL      uint8
	Protocol uint8
	Src, Dst [4]byte
}

// Build writes a 20-byte header for a payload of n bytes, checksum included.
func (p IPv4) Build(h *IPv4Header, n int) {
	p[0] = 0x45
	p[1] = h.TOS
	be.PutUint16(p[2:4], uint16(IPv4Len+n))
	be.PutUint16(p[4:6], h.ID)
	var frag uint16
	if h.DF {
		frag = flagDF
	}
	be.PutUint16(p[6:8], frag)
	p[8] = h.TTL
	p[9] = h.Protocol
	p[10], p[11] = 0, 0
	copy(p[12:16], h.Src[:])
	copy(p[16:20], h.Dst[:])
	be.PutUint16(p[10:12], Checksum(p[:IPv4Len], 0))
}
