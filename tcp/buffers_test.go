package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestSendBuffer(t *testing.T) {
	b := NewSendBuffer(10)
	if b.Write([]byte("hello world")) != 10 || b.Free() != 0 {
		t.Fatal("capacity")
	}
	p := make([]byte, 4)
	if n := b.Peek(6, p); n != 4 || string(p) != "worl" {
		t.Fatalf("peek: %q", p[:n])
	}
	b.Ack(6)
	if b.Write([]byte("d!!!")) != 4 {
		t.Fatal("room after an ack")
	}
	p = make([]byte, 10)
	if n := b.Peek(0, p); string(p[:n]) != "world!!!" {
		t.Fatalf("across the wrap: %q", p[:n])
	}
	if b.Peek(8, p) != 0 {
		t.Fatal("peek past the end")
	}
}

func TestRecvBufferReordering(t *testing.T) {
	b := NewRecvBuffer(16)
	if adv, ok := b.Put(5, []byte("world")); adv != 0 || !ok {
		t.Fatal("out of order")
	}
	if adv, _ := b.Put(0, []byte("hello")); adv != 10 {
		t.Fatalf("the gap filled: advanced %d, want 10", adv)
	}
	if b.Window() != 6 {
		t.Fatalf("window %d", b.Window())
	}
	// Past the window is clipped; before RCV.NXT is trimmed.
	if adv, _ := b.Put(-3, []byte("rld!0123456789")); adv != 6 {
		t.Fatalf("clipped put advanced %d", adv)
	}
	p := make([]byte, 32)
	if n := b.Read(p); string(p[:n]) != "helloworld!01234" {
		t.Fatalf("read %q", p[:n])
	}
	if b.Window() != 16 {
		t.Fatal("room after reading")
	}
}

// TestRecvBufferAgainstModel delivers a stream in random segments, out of
// order and duplicated, reading as it goes: what is read is the stream.
func TestRecvBufferAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	stream := make([]byte, 20000)
	for i := range stream {
		stream[i] = byte(rng.Uint32())
	}
	b := NewRecvBuffer(3000)
	nxt := 0 // RCV.NXT as an offset into the stream
	var got []byte
	p := make([]byte, 700)
	for len(got) < len(stream) {
		// A segment somewhere around the window.
		at := nxt - 200 + rng.IntN(3400)
		at = max(0, min(at, len(stream)-1))
		end := min(at+1+rng.IntN(500), len(stream))
		adv, _ := b.Put(at-nxt, stream[at:end])
		nxt += adv
		if rng.IntN(3) == 0 {
			got = append(got, p[:b.Read(p)]...)
		}
		if nxt == len(stream) {
			for b.Readable() > 0 {
				got = append(got, p[:b.Read(p)]...)
			}
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatal("the stream read differs from the stream sent")
	}
}
