package udp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var peer = netip.MustParseAddrPort("198.18.0.1:5000")

func TestQueueFIFO(t *testing.T) {
	q := NewQueue(4096)
	for _, s := range []string{"a", "", "ccc"} {
		if !q.Push([]byte(s), peer) {
			t.Fatalf("push %q refused", s)
		}
	}
	b := make([]byte, 8)
	for _, want := range []string{"a", "", "ccc"} {
		n, full, from, ok := q.Pop(b, false)
		if !ok || string(b[:n]) != want || full != len(want) || from != peer {
			t.Fatalf("pop: %q %d %v %v, want %q", b[:n], full, from, ok, want)
		}
	}
	if _, _, _, ok := q.Pop(b, false); ok {
		t.Fatal("pop from an empty queue")
	}
}

func TestQueuePeekAndTruncate(t *testing.T) {
	q := NewQueue(4096)
	q.Push([]byte("hello world"), peer)
	b := make([]byte, 5)
	n, full, _, _ := q.Pop(b, true)
	if n != 5 || full != 11 || q.Len() != 1 {
		t.Fatalf("peek: %d of %d, %d queued", n, full, q.Len())
	}
	n, full, _, _ = q.Pop(b, false)
	if string(b[:n]) != "hello" || full != 11 || q.Len() != 0 {
		t.Fatalf("truncating pop: %q of %d", b[:n], full)
	}
}

func TestQueueBoundedByRcvbuf(t *testing.T) {
	q := NewQueue(10 * (100 + Overhead))
	for i := range 10 {
		if !q.Push(make([]byte, 100), peer) {
			t.Fatalf("datagram %d refused below the limit", i)
		}
	}
	if q.Push(make([]byte, 1), peer) || q.Drops() != 1 {
		t.Fatal("a full buffer took more")
	}
	q.Pop(nil, false)
	if !q.Push(make([]byte, 100), peer) {
		t.Fatal("no room after a pop")
	}
	if q.Push(make([]byte, MaxPayload+1), peer) {
		t.Fatal("oversized datagram taken")
	}
}

// TestQueueAgainstModel pushes and pops at random and compares with a
// slice of byte slices: with pushes as likely as pops, and more likely
// (the queue fills, its ring grows and wraps), zero-length datagrams
// among the rest.
func TestQueueAgainstModel(t *testing.T) {
	for _, c := range []struct{ limit, push int }{{8192, 50}, {8192, 70}, {212992, 70}} {
		queueAgainstModel(t, c.limit, c.push)
	}
}

func queueAgainstModel(t *testing.T, limit, pushPct int) {
	rng := rand.New(rand.NewPCG(3, uint64(limit+pushPct)))
	q := NewQueue(limit)
	var model [][]byte
	b := make([]byte, 2000)
	for i := range 20000 {
		if rng.IntN(100) < pushPct {
			p := make([]byte, rng.IntN(1500)*rng.IntN(2))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if q.Push(p, peer) {
				model = append(model, p)
			}
		} else {
			n, _, _, ok := q.Pop(b, false)
			if ok != (len(model) > 0) {
				t.Fatalf("limit %d, %d%% pushes, step %d: pop ok=%v with %d in the model", limit, pushPct, i, ok, len(model))
			}
			if ok {
				if !bytes.Equal(b[:n], model[0]) {
					t.Fatalf("limit %d, %d%% pushes, step %d: popped %d bytes that differ", limit, pushPct, i, n)
				}
				model = model[1:]
			}
		}
		if i == 10000 {
			q.SetLimit(2 * limit) // grows with data queued
		}
	}
}

// TestQueueGrowsAsNeeded: a socket's first datagram costs a small ring,
// not one the size of its buffer, and the buffer still holds as many
// datagrams as its limit allows.
func TestQueueGrowsAsNeeded(t *testing.T) {
	q := NewQueue(212992)
	p := make([]byte, 64)
	q.Push(p, peer)
	if len(q.buf) != minRing || len(q.meta) != minMeta {
		t.Fatalf("after one datagram: a %d-byte ring and %d entries, want %d and %d", len(q.buf), len(q.meta), minRing, minMeta)
	}
	n := 1
	for q.Push(p, peer) {
		n++
	}
	if want := 212992 / (64 + Overhead); n != want {
		t.Fatalf("held %d datagrams of 64 bytes, want %d", n, want)
	}
}

func TestQueueNoAllocations(t *testing.T) {
	q := NewQueue(1 << 16)
	p := make([]byte, 64)
	b := make([]byte, 64)
	q.Push(p, peer)
	q.Pop(b, false)
	if a := testing.AllocsPerRun(1000, func() { q.Push(p, peer); q.Pop(b, false) }); a != 0 {
		t.Fatalf("%.1f allocations per push and pop", a)
	}
}

// TestQueueWrapToHead wraps a datagram that ends exactly at the head of
// the ring: the next one must not take the tail for the start of free
// space (it would write over the oldest datagram).
func TestQueueWrapToHead(t *testing.T) {
	q := NewQueue(212992)
	fill := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	b := make([]byte, 4096)
	q.Push(fill(100, 'a'), peer)
	q.Push(fill(minRing-196, 'b'), peer) // ends 96 bytes short of the ring's end
	q.Pop(b, false)                      // the head is now at 100
	for i, p := range [][]byte{fill(100, 'c'), fill(50, 'd')} {
		if !q.Push(p, peer) {
			t.Fatalf("push %d refused", i)
		}
	}
	for _, want := range []byte{'b', 'c', 'd'} {
		n, _, _, ok := q.Pop(b, false)
		if !ok || n == 0 || !bytes.Equal(b[:n], fill(n, want)) {
			t.Fatalf("popped %q..., want all %q", b[:min(n, 8)], want)
		}
	}
}
