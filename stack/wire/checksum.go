package wire

// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words.

// Sum adds b to the running one's complement sum acc (not yet folded). An odd
// trailing byte is padded with zero, so only the last piece of a sum may
// have odd length.
func Sum(b []byte, acc uint64) uint64 {
	// Eight bytes at a time: the carries of 32-bit halves accumulate in
	// the upper bits of acc and are folded at the end (RFC 1071 §2(B)).
	for len(b) >= 8 {
		v := be.Uint64(b)
		acc += v >> 32
		acc += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// Fold reduces a running sum to 16 bits.
func Fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// Checksum is the checksum field value for b with a running sum acc.
func Checksum(b []byte, acc uint64) uint16 { return ^Fold(Sum(b, acc)) }

// PseudoSum is the running sum of the IPv4 pseudo-header that TCP and UDP
// checksums cover (RFC 768; RFC 9293 §3.1).
func PseudoSum(src, dst [4]byte, proto uint8, length int) uint64 {
	return uint64(be.Uint16(src[:2])) + uint64(be.Uint16(src[2:])) +
		uint64(be.Uint16(dst[:2])) + uint64(be.Uint16(dst[2:])) +
		uint64(proto) + uint64(length)
}
