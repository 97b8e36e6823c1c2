package tcp

// SendBuffer holds what the application wrote and the peer has not yet
// acknowledged: segments are cut from it when sent and again when
// retransmitted (RFC 9293 §3.8.1: retransmit from the send buffer). Its
// capacity is SO_SNDBUF; its memory is taken at the first write (an idle
// connection holds none) and never again.
type SendBuffer struct {
	buf        []byte
	size       int
	start, len int // bytes from SND.UNA on
}

// NewSendBuffer makes a buffer of size bytes.
func NewSendBuffer(size int) *SendBuffer { return &SendBuffer{size: size} }

// Len is the bytes held (unacknowledged, sent or not); Free the room left.
func (b *SendBuffer) Len() int  { return b.len }
func (b *SendBuffer) Free() int { return b.size - b.len }

// Write appends as much of p as fits and returns how much that was.
func (b *SendBuffer) Write(p []byte) int {
	n := min(len(p), b.Free())
	if n == 0 {
		return 0
	}
	if b.buf == nil {
		b.buf = make([]byte, b.size)
	}
	end := (b.start + b.len) % len(b.buf)
	k := copy(b.buf[end:], p[:n])
	copy(b.buf, p[k:n])
	b.len += n
	return n
}

// Peek copies up to len(p) bytes starting off bytes after SND.UNA into p,
// and returns how many: the payload of a segment.
func (b *SendBuffer) Peek(off int, p []byte) int {
	if off >= b.len {
		return 0
	}
	n := min(len(p), b.len-off)
	at := (b.start + off) % len(b.buf)
	k := copy(p[:n], b.buf[at:])
	copy(p[k:n], b.buf)
	return n
}

// Grow makes the buffer size bytes (no smaller than it is).
func (b *SendBuffer) Grow(size int) { b.buf, b.start, b.size = grow(b.buf, b.start, b.size, size) }

// grow is a ring buffer's growth: the bytes from start on, around the
// end, are laid out from 0 in memory of the new size (or the size alone
// changes while no memory is taken).
func grow(buf []byte, start, size, to int) ([]byte, int, int) {
	if to <= size {
		return buf, start, size
	}
	if buf == nil {
		return nil, 0, to
	}
	nb := make([]byte, to)
	k := copy(nb, buf[start:])
	copy(nb[k:], buf[:start])
	return nb, 0, to
}

// Release gives the memory back when the buffer is empty (a connection
// that has finished sending); a later Write takes it again.
func (b *SendBuffer) Release() {
	if b.len == 0 {
		b.buf, b.start = nil, 0
	}
}

// Ack drops n acknowledged bytes from the front.
func (b *SendBuffer) Ack(n int) {
	n = min(n, b.len)
	if n <= 0 {
		return
	}
	b.start = (b.start + n) % len(b.buf)
	b.len -= n
}

// RecvBuffer holds received data until the application reads it: in-order
// data at the front, out-of-order data written at its place in the window
// and joined when the gap before it fills (an Assembler tracks which). Its
// capacity is SO_RCVBUF; the window advertised is the room past the data
// in order (RFC 9293 §3.8.6.2.2's receiver side).
type RecvBuffer struct {
	buf        []byte // taken at the first data
	size       int
	start, len int // readable bytes
	asm        Assembler
}

// NewRecvBuffer makes a buffer of size bytes.
func NewRecvBuffer(size int) *RecvBuffer { return &RecvBuffer{size: size} }

// Grow makes the buffer size bytes (no smaller than it is): the window
// opens, out-of-order data keeps its offsets.
func (b *RecvBuffer) Grow(size int) { b.buf, b.start, b.size = grow(b.buf, b.start, b.size, size) }

// Release gives the memory back when nothing is held, in order or not.
func (b *RecvBuffer) Release() {
	if b.len == 0 && b.asm.Empty() {
		b.buf, b.start = nil, 0
	}
}

// Window is the room past RCV.NXT: the receive window to advertise.
func (b *RecvBuffer) Window() int { return b.size - b.len }

// Readable is the in-order bytes waiting for the application.
func (b *RecvBuffer) Readable() int { return b.len }

// Put stores data that starts off bytes past RCV.NXT, clipped to the
// window. It returns how far RCV.NXT moves (the bytes now in order), and
// whether anything was stored (false when the out-of-order ranges are
// exhausted or nothing fits).
func (b *RecvBuffer) Put(off int, data []byte) (advance int, stored bool) {
	if off < 0 {
		if -off >= len(data) {
			return 0, false
		}
		data, off = data[-off:], 0
	}
	room := b.Window() - off
	if room <= 0 {
		return 0, false
	}
	data = data[:min(len(data), room)]
	if !b.asm.Add(off, len(data)) {
		return 0, false
	}
	if b.buf == nil {
		b.buf = make([]byte, b.size)
	}
	at := (b.start + b.len + off) % len(b.buf)
	k := copy(b.buf[at:], data)
	copy(b.buf, data[k:])
	if f := b.asm.Front(); f > 0 {
		b.asm.Advance(f)
		b.len += f
		return f, true
	}
	return 0, true
}

// Read copies up to len(p) in-order bytes to p and frees their room.
func (b *RecvBuffer) Read(p []byte) int {
	n := min(len(p), b.len)
	if n == 0 {
		return 0
	}
	k := copy(p[:n], b.buf[b.start:])
	copy(p[k:n], b.buf)
	b.start = (b.start + n) % len(b.buf)
	b.len -= n
	return n
}

// OutOfOrder calls fn with the ranges held past RCV.NXT (offsets from it),
// most recently changed first: what SACK blocks report.
func (b *RecvBuffer) OutOfOrder(fn func(off, size int) bool) { b.asm.Ranges(fn) }
