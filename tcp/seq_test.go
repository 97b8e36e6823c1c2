package tcp

import (
	"math/rand/v2"
	"testing"
)

func TestSeqWraps(t *testing.T) {
	near := Seq(0xffffff00)
	after := near.Add(0x200) // wraps to 0x100
	if after != 0x100 || !near.LessThan(after) || after.LessThan(near) {
		t.Fatalf("across the wrap: %#x < %#x?", near, after)
	}
	if after.Sub(near) != 0x200 {
		t.Fatalf("distance across the wrap: %#x", after.Sub(near))
	}
	if !near.LessEq(near) || near.LessThan(near) {
		t.Fatal("equality")
	}
	if Max(near, after) != after || Max(after, near) != after {
		t.Fatal("Max across the wrap")
	}
}

func TestInWindow(t *testing.T) {
	cases := []struct {
		s, start Seq
		size     uint32
		want     bool
	}{
		{100, 100, 10, true},
		{109, 100, 10, true},
		{110, 100, 10, false},
		{99, 100, 10, false},
		{100, 100, 0, false},
		{5, 0xfffffffa, 20, true}, // window across the wrap
		{0xfffffff0, 0xfffffffa, 20, false},
	}
	for _, c := range cases {
		if got := c.s.InWindow(c.start, c.size); got != c.want {
			t.Errorf("%#x in [%#x, +%d): %v", c.s, c.start, c.size, got)
		}
	}
}

// TestSeqAgainstInt64 compares with plain integers over many random
// positions, shifting both by the same random offset modulo 2^32.
func TestSeqAgainstInt64(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for range 100000 {
		a := rng.Int64N(1 << 30)
		b := rng.Int64N(1 << 30)
		off := rng.Uint32()
		sa, sb := Seq(uint32(a)+off), Seq(uint32(b)+off)
		if sa.LessThan(sb) != (a < b) || sa.LessEq(sb) != (a <= b) {
			t.Fatalf("%d vs %d shifted by %#x", a, b, off)
		}
		if a >= b && sa.Sub(sb) != uint32(a-b) {
			t.Fatalf("distance %d - %d", a, b)
		}
	}
}
