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
// slice of byte slices.
func TestQueueAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	q := NewQueue(8192)
	var model [][]byte
	b := make([]byte, 2000)
	for i := range 20000 {
		if rng.IntN(2) == 0 {
			p := make([]byte, rng.IntN(1500))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if q.Push(p, peer) {
				model = append(model, p)
			}
		} else {
			n, _, _, ok := q.Pop(b, false)
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: pop ok=%v with %d in the model", i, ok, len(model))
			}
			if ok {
				if !bytes.Equal(b[:n], model[0]) {
					t.Fatalf("step %d: popped %d bytes that differ", i, n)
				}
				model = model[1:]
			}
		}
		if i == 10000 {
			q.SetLimit(16384) // grows with data queued
		}
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
