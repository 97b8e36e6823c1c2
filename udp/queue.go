// Package udp is the UDP socket state of the stack, pure: a receive queue
// bounded by SO_RCVBUF and the rules of RFC 768 and of Linux's UDP sockets
// that need no I/O. The stack demultiplexes datagrams to it and sends what
// it asks.
package udp

import "net/netip"

// Overhead is what each queued datagram counts against SO_RCVBUF beyond
// its payload, as Linux counts an skb's truesize: a buffer that fits 100
// datagrams of 64 bytes fits fewer of 1400.
const Overhead = 256

// MaxPayload is the largest UDP payload over IPv4 (RFC 768 length field,
// less the IPv4 and UDP headers).
const MaxPayload = 65535 - 20 - 8

// Queue is a FIFO of datagrams copied into one byte ring. Each datagram is
// contiguous; one that does not fit before the end of the ring starts at 0.
// Push and Pop never allocate, except the ring itself at the first Push.
type Queue struct {
	buf        []byte
	head, tail int // the oldest datagram starts at head; the next goes at tail
	meta       []datagram
	mh, mn     int // metadata ring: first index and count
	limit      int // SO_RCVBUF: payload + Overhead per datagram
	charged    int
	drops      uint64
}

type datagram struct {
	from netip.AddrPort
	off  int
	n    int
	meta Meta
}

// Meta is what a datagram brings besides its payload and sender, for the
// sockets that ask: the address it was sent to (IP_PKTINFO) and when it
// arrived (SO_TIMESTAMP, SO_TIMESTAMPNS).
type Meta struct {
	Dst   [4]byte
	Stamp int64 // Unix nanoseconds, 0 when not taken
}

// NewQueue makes a queue of limit bytes of accounting (SO_RCVBUF).
func NewQueue(limit int) *Queue {
	return &Queue{limit: limit}
}

// SetLimit changes SO_RCVBUF. Queued datagrams stay; the ring grows as
// datagrams come.
func (q *Queue) SetLimit(limit int) { q.limit = limit }

// The ring and the table start small and double as a datagram finds no
// room, up to what the limit can hold (limit+MaxPayload bytes: at most
// limit-n are in use, each datagram being charged at least its size, so
// n bytes always fit at the tail or at 0). Sized to the limit at once, a
// socket's first datagram cost a 278 KB ring and a 53 KB table: a client
// that makes a socket per request (socket, send, receive, close) spent
// its time faulting that memory in and collecting it. A queue that has
// reached its size allocates no more.
const (
	minRing = 4096
	minMeta = 16
)

// place is where n bytes go in the ring: at the tail, or at 0 when they
// do not fit before its end; ok is false when neither has room. Once
// wrapped, the tail stays short of the head (strictly: tail == head would
// read as an empty stretch [head, tail) on the next push).
func (q *Queue) place(n int) (off int, ok bool) {
	switch {
	case q.mn == 0:
		return 0, n <= len(q.buf)
	case q.tail >= q.head: // in use: [head, tail)
		if q.tail+n <= len(q.buf) {
			return q.tail, true
		}
		return 0, n < q.head
	default: // in use: [head, end) and [0, tail)
		return q.tail, q.tail+n < q.head
	}
}

// grow makes the ring hold at least n more bytes than are queued, and the
// table one more datagram, keeping what is queued (moved to the front).
func (q *Queue) grow(n int) {
	used := 0
	for i := range q.mn {
		used += q.meta[(q.mh+i)%len(q.meta)].n
	}
	size := max(minRing, 2*len(q.buf))
	for size < used+n {
		size *= 2
	}
	size = max(min(size, q.limit+MaxPayload), used+n)
	metas := max(minMeta, 2*len(q.meta), q.mn+1)
	nb := make([]byte, size)
	nm := make([]datagram, metas)
	off := 0
	for i := range q.mn {
		d := q.meta[(q.mh+i)%len(q.meta)]
		copy(nb[off:], q.buf[d.off:d.off+d.n])
		nm[i] = datagram{from: d.from, off: off, n: d.n, meta: d.meta}
		off += d.n
	}
	q.buf, q.meta, q.mh, q.head, q.tail = nb, nm, 0, 0, off
}

// Limit is SO_RCVBUF.
func (q *Queue) Limit() int { return q.limit }

// Len is the number of queued datagrams.
func (q *Queue) Len() int { return q.mn }

// Drops counts datagrams dropped for a full buffer.
func (q *Queue) Drops() uint64 { return q.drops }

// Push queues a copy of payload from from. It reports false, and counts a
// drop, when the buffer cannot take it: Linux drops on a full receive
// buffer, as RFC 1122 §4.1.3.4 lets it.
func (q *Queue) Push(payload []byte, from netip.AddrPort) bool {
	return q.PushMeta(payload, from, Meta{})
}

// PushMeta is Push with the datagram's Meta.
func (q *Queue) PushMeta(payload []byte, from netip.AddrPort, m Meta) bool {
	n := len(payload)
	if q.charged+n+Overhead > q.limit || n > MaxPayload {
		q.drops++
		return false
	}
	if q.mn == 0 {
		q.head, q.tail = 0, 0
	}
	off, ok := q.place(n)
	if !ok || q.mn == len(q.meta) {
		q.grow(n)
		off = q.tail
	}
	copy(q.buf[off:off+n], payload)
	q.meta[(q.mh+q.mn)%len(q.meta)] = datagram{from: from, off: off, n: n, meta: m}
	q.mn++
	q.tail = off + n
	q.charged += n + Overhead
	return true
}

// Peek reports the first datagram's length and sender without taking it.
func (q *Queue) Peek() (n int, from netip.AddrPort, ok bool) {
	if q.mn == 0 {
		return 0, netip.AddrPort{}, false
	}
	d := q.meta[q.mh]
	return d.n, d.from, true
}

// Pop copies the first datagram into b and removes it unless peek is set.
// It returns the bytes copied and the datagram's whole length: more than
// copied when b was short and the rest is discarded (MSG_TRUNC, RFC 768
// datagrams are read whole or not at all).
func (q *Queue) Pop(b []byte, peek bool) (n, full int, from netip.AddrPort, ok bool) {
	n, full, from, _, ok = q.PopMeta(b, peek)
	return n, full, from, ok
}

// PopMeta is Pop with the datagram's Meta.
func (q *Queue) PopMeta(b []byte, peek bool) (n, full int, from netip.AddrPort, m Meta, ok bool) {
	if q.mn == 0 {
		return 0, 0, netip.AddrPort{}, Meta{}, false
	}
	d := q.meta[q.mh]
	n = copy(b, q.buf[d.off:d.off+d.n])
	if !peek {
		q.mh = (q.mh + 1) % len(q.meta)
		q.mn--
		q.head = d.off + d.n
		q.charged -= d.n + Overhead
	}
	return n, d.n, d.from, d.meta, true
}
