// Package tcp will be accel's TCP, a pure protocol machine (RFC 9293 and
// its companions): segments and the time in, segments to send and the next
// deadline out; no I/O, no clock, no goroutines, no locks. It starts with
// the arithmetic everything else stands on.
package tcp

// Seq is a TCP sequence number: arithmetic modulo 2^32 (RFC 9293 §3.4).
// Never compare two with < or >; use LessThan and friends, which hold
// across the wrap as long as the numbers are within 2^31 of each other.
type Seq uint32

// Add is s advanced by n bytes.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub is the distance from t to s (s - t), for s at or after t.
func (s Seq) Sub(t Seq) uint32 { return uint32(s - t) }

// LessThan reports s < t in sequence space.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessEq reports s <= t in sequence space.
func (s Seq) LessEq(t Seq) bool { return int32(s-t) <= 0 }

// InWindow reports whether s lies in [start, start+size): the test of RFC
// 9293 §3.10.7.4's acceptability table. An empty window holds nothing.
func (s Seq) InWindow(start Seq, size uint32) bool {
	return size != 0 && s.Sub(start) < size
}

// Max is the later of s and t in sequence space.
func Max(s, t Seq) Seq {
	if s.LessThan(t) {
		return t
	}
	return s
}
