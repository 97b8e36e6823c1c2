package tcp

// Assembler records which byte ranges past a receive point have arrived,
// out of order, in a fixed number of contiguous ranges: a hostile peer
// that sends a segment into every other byte of the window cannot make it
// grow (RFC 9293 §3.10.7.4: out-of-order data may be kept, within the
// window, at the receiver's discretion). Offsets are from the receive
// point (RCV.NXT); the data itself lives in the receive ring at those
// offsets. It also remembers which range changed last, for SACK blocks.
type Assembler struct {
	ranges [maxRanges]span // sorted, disjoint, not touching
	n      int
	order  [maxRanges]int // ranges by recency of change, by start offset
	nOrder int
}

// maxRanges bounds the holes kept; Linux keeps far more segments, but
// each hole beyond a few is rarely filled before a retransmission.
const maxRanges = 16

type span struct{ start, end int } // [start, end)

// Add records [off, off+size). It returns false, recording nothing, when
// the data would need more ranges than the assembler keeps; the segment
// is then dropped and the peer will send it again.
func (a *Assembler) Add(off, size int) bool {
	if size <= 0 {
		return true
	}
	s := span{off, off + size}
	// Find the ranges s touches or overlaps, and merge them.
	i := 0
	for i < a.n && a.ranges[i].end < s.start {
		i++
	}
	j := i
	for j < a.n && a.ranges[j].start <= s.end {
		s.start = min(s.start, a.ranges[j].start)
		s.end = max(s.end, a.ranges[j].end)
		j++
	}
	merged := j - i
	if merged == 0 && a.n == maxRanges {
		return false
	}
	for k := i; k < j; k++ {
		a.forget(a.ranges[k].start)
	}
	// Replace ranges[i:j] with s.
	if merged == 0 {
		copy(a.ranges[i+1:a.n+1], a.ranges[i:a.n])
		a.n++
	} else {
		copy(a.ranges[i+1:], a.ranges[j:a.n])
		a.n -= merged - 1
	}
	a.ranges[i] = s
	a.touch(s.start)
	return true
}

// Front is how many bytes from offset 0 have arrived: what can be read.
func (a *Assembler) Front() int {
	if a.n > 0 && a.ranges[0].start == 0 {
		return a.ranges[0].end
	}
	return 0
}

// Advance moves the receive point n bytes on (n at most Front).
func (a *Assembler) Advance(n int) {
	if n <= 0 {
		return
	}
	for i := range a.n {
		a.ranges[i].start = max(a.ranges[i].start-n, 0)
		a.ranges[i].end -= n
	}
	for i := range a.nOrder {
		a.order[i] = max(a.order[i]-n, 0)
	}
	if a.n > 0 && a.ranges[0].end <= 0 {
		a.forget(0)
		copy(a.ranges[:], a.ranges[1:a.n])
		a.n--
	}
}

// Empty reports that nothing is held out of order.
func (a *Assembler) Empty() bool { return a.n == 0 }

// Ranges calls fn with the ranges held beyond the front, the most recently
// changed first: the order SACK blocks go in (RFC 2018 §4). It stops when
// fn returns false.
func (a *Assembler) Ranges(fn func(off, size int) bool) {
	for i := a.nOrder - 1; i >= 0; i-- {
		for k := range a.n {
			r := a.ranges[k]
			if r.start == a.order[i] && r.start > 0 {
				if !fn(r.start, r.end-r.start) {
					return
				}
				break
			}
		}
	}
}

// touch marks the range starting at start as the most recent.
func (a *Assembler) touch(start int) {
	a.forget(start)
	a.order[a.nOrder] = start
	a.nOrder++
}

// forget drops start from the recency order.
func (a *Assembler) forget(start int) {
	for i := range a.nOrder {
		if a.order[i] == start {
			copy(a.order[i:], a.order[i+1:a.nOrder])
			a.nOrder--
			return
		}
	}
}
