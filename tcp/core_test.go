package tcp

import (
	"net/netip"
	"testing"
	"time"
)

func TestRTO(t *testing.T) {
	r := NewRTO()
	if r.Timeout() != time.Second {
		t.Fatalf("initial RTO %v, want 1s (RFC 6298 §2.1)", r.Timeout())
	}
	r.Sample(100 * time.Millisecond)
	// First sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR = 300ms.
	if r.SRTT() != 100*time.Millisecond || r.RTTVar() != 50*time.Millisecond || r.Timeout() != 300*time.Millisecond {
		t.Fatalf("after one sample: srtt %v rttvar %v rto %v", r.SRTT(), r.RTTVar(), r.Timeout())
	}
	r.Sample(200 * time.Millisecond)
	// RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5ms; SRTT = 7/8*100 + 1/8*200 = 112.5ms.
	if r.RTTVar() != 62500*time.Microsecond || r.SRTT() != 112500*time.Microsecond {
		t.Fatalf("after two: srtt %v rttvar %v", r.SRTT(), r.RTTVar())
	}
	if r.Timeout() != 362500*time.Microsecond {
		t.Fatalf("rto %v", r.Timeout())
	}
	for range 20 {
		r.Backoff()
	}
	if r.Timeout() != r.Max || r.Backoffs() != 20 {
		t.Fatalf("backed off to %v (%d), want the %v cap", r.Timeout(), r.Backoffs(), r.Max)
	}
	r.Sample(10 * time.Microsecond)
	for range 50 {
		r.Sample(10 * time.Microsecond)
	}
	if r.Timeout() != r.Min || r.Backoffs() != 0 {
		t.Fatalf("tiny RTTs: rto %v, want the %v floor", r.Timeout(), r.Min)
	}
}

func TestAcceptable(t *testing.T) {
	const nxt = Seq(1000)
	cases := []struct {
		seq  Seq
		n    uint32
		wnd  uint32
		want bool
	}{
		{1000, 0, 0, true},
		{1001, 0, 0, false},
		{1000, 0, 100, true},
		{1099, 0, 100, true},
		{1100, 0, 100, false},
		{999, 0, 100, false},
		{1000, 10, 0, false},
		{990, 20, 100, true},  // the last byte is in
		{990, 10, 100, false}, // entirely old
		{1099, 10, 100, true}, // the first byte is in
		{1100, 1, 100, false},
		{Seq(0xfffffff0), 0x20, 100, false},
	}
	for _, c := range cases {
		if got := Acceptable(c.seq, c.n, nxt, c.wnd); got != c.want {
			t.Errorf("seq %d len %d window %d: %v", c.seq, c.n, c.wnd, got)
		}
	}
	// Across the wrap.
	if !Acceptable(5, 10, Seq(0xfffffffa), 100) {
		t.Error("window across the wrap")
	}
}

func TestISN(t *testing.T) {
	g, err := NewISN()
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort("198.18.0.1:40000")
	b := netip.MustParseAddrPort("198.18.0.2:80")
	c := netip.MustParseAddrPort("198.18.0.2:81")
	// The same 4-tuple later starts later: M ticks every 4 µs.
	if d := g.Next(a, b, time.Second).Sub(g.Next(a, b, 0)); d != 250000 {
		t.Fatalf("a second moved the ISN by %d, want 250000", d)
	}
	// Another 4-tuple, or another key, gives an unrelated number.
	if g.Next(a, b, 0) == g.Next(a, c, 0) {
		t.Fatal("two 4-tuples share an ISN")
	}
	h, _ := NewISN()
	if g.Next(a, b, 0) == h.Next(a, b, 0) {
		t.Fatal("two keys share an ISN")
	}
}
