package tcp

import (
	"math"
	"testing"
	"time"
)

const mss = 1000

// round acknowledges one window, an ACK per MSS, one RTT later.
func round(c Congestion, now *time.Duration, rtt time.Duration) {
	n := c.Cwnd() / mss
	for range n {
		c.OnAck(mss, *now, rtt)
	}
	*now += rtt
}

func TestInitialWindow(t *testing.T) {
	for _, c := range []struct{ mss, want uint32 }{{1460, 14600}, {536, 5360}, {9000, 18000}, {1000, 10000}} {
		if got := InitialWindow(c.mss); got != c.want {
			t.Errorf("IW(%d) = %d, want %d", c.mss, got, c.want)
		}
	}
}

func TestRenoShape(t *testing.T) {
	r := NewReno(mss)
	var now time.Duration
	round(r, &now, 10*time.Millisecond)
	if r.Cwnd() != 20*mss {
		t.Fatalf("slow start: one round took 10 segments to %d bytes, want 20000", r.Cwnd())
	}
	r.OnCongestion(r.Cwnd(), now)
	if r.Ssthresh() != 10*mss || r.Cwnd() != 10*mss {
		t.Fatalf("after a loss: cwnd %d ssthresh %d", r.Cwnd(), r.Ssthresh())
	}
	for i := range 5 {
		round(r, &now, 10*time.Millisecond)
		if r.Cwnd() != uint32(11+i)*mss {
			t.Fatalf("congestion avoidance round %d: cwnd %d, want one MSS more per round", i, r.Cwnd())
		}
	}
	r.OnTimeout(8*mss, now)
	if r.Cwnd() != mss || r.Ssthresh() != 4*mss {
		t.Fatalf("after a timeout: cwnd %d ssthresh %d", r.Cwnd(), r.Ssthresh())
	}
	r.OnTimeout(mss, now)
	if r.Ssthresh() != 2*mss {
		t.Fatalf("ssthresh floor: %d", r.Ssthresh())
	}
	if NewCongestion("cubic", mss).Name() != "cubic" || NewCongestion("newreno", mss).Name() != "reno" || NewCongestion("bbr", mss) != nil {
		t.Fatal("NewCongestion names")
	}
}

func TestCubicShape(t *testing.T) {
	c := NewCubic(mss)
	var now time.Duration
	// A long RTT, where the cubic curve is above Reno's line: with short
	// ones the Reno-friendly region rules (TestCubicRenoFriendly).
	rtt := 100 * time.Millisecond
	for c.Cwnd() < 100*mss {
		round(c, &now, rtt)
	}
	w0 := float64(c.Cwnd()) / mss // where slow start got to
	c.OnCongestion(c.Cwnd(), now)
	if got := float64(c.Cwnd()) / mss; math.Abs(got-cubicBeta*w0) > 0.01 {
		t.Fatalf("after a loss at %.1f segments: cwnd %.2f, want beta times that", w0, got)
	}
	// K = cbrt(w0*(1-beta)/C) s: the window regains w0 about K later,
	// growing concave before and convex after.
	k := math.Cbrt(w0 * (1 - cubicBeta) / cubicC)
	start := now
	var at []float64
	for now-start < time.Duration((k+2)*float64(time.Second)) {
		round(c, &now, rtt)
		at = append(at, float64(c.Cwnd())/mss)
	}
	rounds := func(sec float64) int { return int(sec / rtt.Seconds()) }
	atK := at[rounds(k)]
	if math.Abs(atK-w0)/w0 > 0.03 {
		t.Fatalf("cwnd %.1f segments at K=%.2fs, want about %.1f", atK, k, w0)
	}
	early := at[rounds(1)] - at[rounds(0.5)]
	late := at[rounds(k-0.5)] - at[rounds(k-1)]
	after := at[rounds(k+1.5)] - at[rounds(k+1)]
	if !(early > late && after > late) {
		t.Fatalf("growth per half second: %.2f early, %.2f before K, %.2f after: want concave then convex", early, late, after)
	}
	// Fast convergence: a loss below the last maximum remembers less.
	c.OnCongestion(c.Cwnd(), now)
	w := float64(c.Cwnd()) / mss / cubicBeta
	c.OnCongestion(c.Cwnd(), now)
	if want := w * cubicBeta * (1 + cubicBeta) / 2; math.Abs(c.wMax-want) > 0.01 {
		t.Fatalf("fast convergence: wMax %.2f, want %.2f", c.wMax, want)
	}
	c.OnTimeout(10*mss, now)
	if c.Cwnd() != mss || c.Ssthresh() != 7*mss {
		t.Fatalf("timeout: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
}

// TestCubicRenoFriendly: with a small window and short RTT, CUBIC grows
// at least as fast as Reno would (§4.3).
func TestCubicRenoFriendly(t *testing.T) {
	c := NewCubic(mss)
	r := NewReno(mss)
	var now time.Duration
	c.OnCongestion(20*mss, 0)
	r.OnCongestion(20*mss, 0)
	for range 200 {
		round(c, &now, time.Millisecond)
		now -= time.Millisecond
		round(r, &now, time.Millisecond)
	}
	// Reno adds 1 per round from 10; CUBIC from 14 adds at least
	// alpha_cubic per round, then 1 once past wMax.
	if c.Cwnd() < r.Cwnd()*9/10 {
		t.Fatalf("after 200 short rounds CUBIC has %d bytes, Reno %d", c.Cwnd(), r.Cwnd())
	}
}
