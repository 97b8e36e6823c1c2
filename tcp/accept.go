package tcp

// Acceptable is the segment acceptability test of RFC 9293 §3.10.7.4 for
// a segment of length n starting at seq, against the receive window
// [rcvNxt, rcvNxt+rcvWnd):
//
//	length  window  acceptable when
//	0       0       seq = rcvNxt
//	0       >0      rcvNxt <= seq < rcvNxt+rcvWnd
//	>0      0       never
//	>0      >0      the first or the last byte is in the window
//
// (Linux also takes a segment that starts just past a zero window, for
// zero-window probes; the connection machine decides whether to follow.)
func Acceptable(seq Seq, n uint32, rcvNxt Seq, rcvWnd uint32) bool {
	switch {
	case n == 0 && rcvWnd == 0:
		return seq == rcvNxt
	case n == 0:
		return seq.InWindow(rcvNxt, rcvWnd)
	case rcvWnd == 0:
		return false
	}
	return seq.InWindow(rcvNxt, rcvWnd) || seq.Add(n-1).InWindow(rcvNxt, rcvWnd)
}
