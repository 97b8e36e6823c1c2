package xsk

import "testing"

// TestFillDepth walks the fill ring's depth through its rules: shallow at
// first, doubling when a refill finds less than half of it left, halving
// after fillCalm calm refills, and never outside its least and most.
func TestFillDepth(t *testing.T) {
	d := newFillDepth(2048)
	step := func(level, want uint32) {
		t.Helper()
		if got := d.next(level); got != want {
			t.Fatalf("next(%d) = %d, want %d (%+v)", level, got, want, d)
		}
	}
	step(255, 256) // a ping-pong: one frame out at a time
	step(127, 512) // the kernel took more than half since the last refill
	step(200, 1024)
	step(600, 1024)
	step(0, 2048)
	step(0, 2048) // no deeper than the most
	for range fillCalm - 1 {
		step(2000, 2048)
	}
	step(2000, 1024) // calm for fillCalm refills in a row
	for range 3 * fillCalm {
		d.next(1000)
	}
	step(1000, 256) // no shallower than the least
	// A socket whose receive buffer holds 600 datagrams: at least that.
	d.setLow(600)
	step(500, 600)
	d.setLow(5000)
	step(2048, 2048)
	d.setLow(0)
	if d.lo != fillLow {
		t.Fatalf("least depth %d after setLow(0), want %d", d.lo, fillLow)
	}
	// A small UMEM: its half is the least and the most.
	if s := newFillDepth(64); s.goal != 64 || s.lo != 64 || s.next(0) != 64 {
		t.Fatalf("64-frame depth %+v", s)
	}
}
