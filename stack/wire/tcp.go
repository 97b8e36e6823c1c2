package wire

import "errors"

// TCP header (RFC 9293 §3.1) and the options TCP negotiates: MSS (RFC 9293
// §3.7.1), window scale and timestamps (RFC 7323), SACK (RFC 2018).
const (
	TCPLen = 20 // without options

	TCPFin = 1 << 0
	TCPSyn = 1 << 1
	TCPRst = 1 << 2
	TCPPsh = 1 << 3
	TCPAck = 1 << 4
	TCPUrg = 1 << 5
	TCPEce = 1 << 6
	TCPCwr = 1 << 7

	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWS        = 3
	optSACKOK    = 4
	optSACK      = 5
	optTimestamp = 8

	// MaxSACKBlocks is how many blocks an option carries at most (4 fit in
	// 40 bytes of options; 3 beside timestamps).
	MaxSACKBlocks = 4
)

// ErrOptions: an option whose length is illegal (zero, one, or past the
// header). RFC 9293 §3.1 asks receivers to be prepared for it; the
// segment is dropped.
var ErrOptions = errors.New("bad TCP option")

// TCP is a view of a TCP segment, header first.
type TCP []byte

// ParseTCP checks the header length against the bytes present and the
// checksum over the pseudo-header (src, dst) and the whole segment.
func ParseTCP(b []byte, src, dst [4]byte) (TCP, error) {
	if len(b) < TCPLen {
		return nil, ErrTruncated
	}
	off := int(b[12]>>4) * 4
	if off < TCPLen || off > len(b) {
		return nil, ErrHeaderLen
	}
	if Checksum(b, PseudoSum(src, dst, ProtoTCP, len(b))) != 0 {
		return nil, ErrChecksum
	}
	return TCP(b), nil
}

func (t TCP) SrcPort() uint16  { return be.Uint16(t[0:2]) }
func (t TCP) DstPort() uint16  { return be.Uint16(t[2:4]) }
func (t TCP) Seq() uint32      { return be.Uint32(t[4:8]) }
func (t TCP) Ack() uint32      { return be.Uint32(t[8:12]) }
func (t TCP) HeaderLen() int   { return int(t[12]>>4) * 4 }
func (t TCP) Flags() uint8     { return t[13] }
func (t TCP) Window() uint16   { return be.Uint16(t[14:16]) }
func (t TCP) Checksum() uint16 { return be.Uint16(t[16:18]) }
func (t TCP) Urgent() uint16   { return be.Uint16(t[18:20]) }
func (t TCP) Options() []byte  { return t[TCPLen:t.HeaderLen()] }
func (t TCP) Payload() []byte  { return t[t.HeaderLen():] }

// TCPHeader is what Build writes.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Urgent           uint16
}

// Build writes the fixed header in front of options of optLen bytes (a
// multiple of 4, already at t[TCPLen:]) and n payload bytes after them,
// and the checksum.
func (t TCP) Build(h *TCPHeader, optLen int, src, dst [4]byte, n int) {
	be.PutUint16(t[0:2], h.SrcPort)
	be.PutUint16(t[2:4], h.DstPort)
	be.PutUint32(t[4:8], h.Seq)
	be.PutUint32(t[8:12], h.Ack)
	t[12] = byte((TCPLen+optLen)/4) << 4
	t[13] = h.Flags
	be.PutUint16(t[14:16], h.Window)
	t[16], t[17] = 0, 0
	be.PutUint16(t[18:20], h.Urgent)
	l := TCPLen + optLen + n
	be.PutUint16(t[16:18], Checksum(t[:l], PseudoSum(src, dst, ProtoTCP, l)))
}

// SACKBlock is one block of a SACK option: [Left, Right) received.
type SACKBlock struct{ Left, Right uint32 }

// TCPOptions are the options of one segment. Zero values mean absent.
type TCPOptions struct {
	MSS           uint16
	HasWS         bool
	WS            uint8
	SACKPermitted bool
	SACK          [MaxSACKBlocks]SACKBlock
	NumSACK       int
	HasTimestamp  bool
	TSVal, TSEcr  uint32
}

// ParseTCPOptions reads the options of a segment. Unknown kinds are
// skipped (RFC 9293 §3.1: they MUST be ignored); known kinds with the
// wrong length are ignored as Linux does; a length that is illegal for
// any kind is an error.
func ParseTCPOptions(b []byte, o *TCPOptions) error {
	*o = TCPOptions{}
	for len(b) > 0 {
		kind := b[0]
		if kind == optEOL {
			return nil
		}
		if kind == optNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			return ErrOptions
		}
		v := b[2:b[1]]
		switch {
		case kind == optMSS && len(v) == 2:
			o.MSS = be.Uint16(v)
		case kind == optWS && len(v) == 1:
			// RFC 7323 §2.3: a shift above 14 is used as 14.
			o.HasWS, o.WS = true, min(v[0], 14)
		case kind == optSACKOK && len(v) == 0:
			o.SACKPermitted = true
		case kind == optSACK && len(v) >= 8 && len(v)%8 == 0 && len(v)/8 <= MaxSACKBlocks:
			o.NumSACK = len(v) / 8
			for i := range o.NumSACK {
				o.SACK[i] = SACKBlock{be.Uint32(v[i*8:]), be.Uint32(v[i*8+4:])}
			}
		case kind == optTimestamp && len(v) == 8:
			o.HasTimestamp, o.TSVal, o.TSEcr = true, be.Uint32(v), be.Uint32(v[4:])
		}
		b = b[b[1]:]
	}
	return nil
}

// Len is how many bytes Build writes: a multiple of 4, at most 40.
func (o *TCPOptions) Len() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	switch {
	case o.HasTimestamp:
		n += 12 // SACKOK or NOP NOP, then the timestamp
	case o.SACKPermitted:
		n += 4
	}
	if o.HasWS {
		n += 4
	}
	if k := o.sackFit(n); k > 0 {
		n += 4 + 8*k
	}
	return n
}

// sackFit is how many SACK blocks fit after n bytes of other options.
func (o *TCPOptions) sackFit(n int) int { return max(0, min(o.NumSACK, (40-n-4)/8)) }

// Build writes the options into b (at least Len bytes), laid out as Linux
// lays them out so that each is aligned: MSS; SACK-permitted beside the
// timestamp; NOP and window scale; NOP NOP and SACK blocks. It returns the
// length written. SACK blocks that do not fit in 40 bytes are left out.
func (o *TCPOptions) Build(b []byte) int {
	n := 0
	put := func(p ...byte) { n += copy(b[n:], p) }
	if o.MSS != 0 {
		put(optMSS, 4, byte(o.MSS>>8), byte(o.MSS))
	}
	switch {
	case o.HasTimestamp:
		if o.SACKPermitted {
			put(optSACKOK, 2)
		} else {
			put(optNOP, optNOP)
		}
		put(optTimestamp, 10)
		be.PutUint32(b[n:], o.TSVal)
		be.PutUint32(b[n+4:], o.TSEcr)
		n += 8
	case o.SACKPermitted:
		put(optNOP, optNOP, optSACKOK, 2)
	}
	if o.HasWS {
		put(optNOP, optWS, 3, o.WS)
	}
	if k := o.sackFit(n); k > 0 {
		put(optNOP, optNOP, optSACK, byte(2+8*k))
		for i := range k {
			be.PutUint32(b[n:], o.SACK[i].Left)
			be.PutUint32(b[n+4:], o.SACK[i].Right)
			n += 8
		}
	}
	return n
}
