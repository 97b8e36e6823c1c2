package tcp

import (
	"errors"
	"testing"
	"time"
)

// TestKeepalive: an idle connection to a live peer is probed and stays;
// to a vanished peer it ends after the probes go unanswered.
func TestKeepalive(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	a.SetKeepalive(true, 10*time.Second, time.Second, 3)
	before := len(l.observed)
	l.run(time.Minute, func() bool { return l.now > 35*time.Second })
	if a.State() != Established || len(l.observed)-before < 6 {
		t.Fatalf("live peer: %v, %d segments (probes and answers)", a.State(), len(l.observed)-before)
	}
	l.drop = func(int, *Segment) bool { return true }
	heard := a.lastSeen
	l.run(l.now+time.Minute, func() bool { return a.State() == Closed })
	if !errors.Is(a.Err(), ErrTimedOut) {
		t.Fatalf("ended with %v", a.Err())
	}
	// From the last segment heard: idle 10 s, then 3 probes 1 s apart,
	// then the verdict.
	if d := l.now - heard; d < 13*time.Second || d > 13*time.Second+time.Millisecond {
		t.Fatalf("ended %v after the peer was last heard", d)
	}
}

// TestUserTimeout: data unacknowledged for TCP_USER_TIMEOUT ends the
// connection, long before the retries would.
func TestUserTimeout(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	a.SetUserTimeout(3 * time.Second)
	l.drop = func(int, *Segment) bool { return true }
	start := l.now
	a.Write([]byte("lost"))
	l.run(time.Minute, func() bool { return a.State() == Closed })
	if d := l.now - start; !errors.Is(a.Err(), ErrTimedOut) || d < 3*time.Second || d > 5*time.Second {
		t.Fatalf("ended with %v after %v", a.Err(), d)
	}
}

// TestCork: with TCP_CORK, small writes wait and leave as one segment when
// the cork is removed; a cork left in place releases after 200 ms.
func TestCork(t *testing.T) {
	l, a, b := pair(t, 1, Config{NoDelay: true})
	l.run(time.Second, established(a, b))
	a.SetCork(true)
	before := l.sent[0]
	a.Write([]byte("head"))
	l.output(0)
	a.Write([]byte("er"))
	l.output(0)
	if l.sent[0] != before {
		t.Fatalf("%d segments left while corked", l.sent[0]-before)
	}
	a.SetCork(false)
	l.output(0)
	if l.sent[0]-before != 1 || string(l.observed[len(l.observed)-1].Payload) != "header" {
		t.Fatalf("uncorked: %d segments, last %q", l.sent[0]-before, l.observed[len(l.observed)-1].Payload)
	}
	a.SetCork(true)
	a.Write([]byte("late"))
	start := l.now
	l.run(time.Minute, func() bool { return b.Readable() >= 10 })
	if d := l.now - start; d < corkTimeout {
		t.Fatalf("corked data left after %v", d)
	}
}

// TestMore: writes with MSG_MORE wait for the write without it and leave
// with it as one segment, even with TCP_NODELAY.
func TestMore(t *testing.T) {
	l, a, b := pair(t, 1, Config{NoDelay: true})
	l.run(time.Second, established(a, b))
	before := l.sent[0]
	for _, w := range []string{"GET ", "/ HTTP/1.1\r\n"} {
		a.SetMore(true)
		a.Write([]byte(w))
		l.output(0)
	}
	if l.sent[0] != before {
		t.Fatalf("%d segments left with more to come", l.sent[0]-before)
	}
	a.SetMore(false)
	a.Write([]byte("\r\n"))
	l.output(0)
	if l.sent[0]-before != 1 || string(l.observed[len(l.observed)-1].Payload) != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("after the last write: %d segments, last %q", l.sent[0]-before, l.observed[len(l.observed)-1].Payload)
	}
	l.run(time.Second, func() bool { return b.Readable() == 18 })
}

// TestInfo: TCP_INFO after a transfer under loss.
func TestInfo(t *testing.T) {
	l, a, b := pair(t, 2, Config{})
	l.run(time.Second, established(a, b))
	l.loss = 0.05
	transfer(t, l, a, b, 200000, 10*time.Minute)
	i := a.Info()
	if i.State != Established || i.RTT <= 0 || i.RTO < 200*time.Millisecond || i.Cwnd == 0 || i.Retransmits == 0 ||
		!i.SACK || !i.Timestamps || i.BytesSent < 200000 || i.BytesRx < 200000 || i.SndMSS != 1448 {
		t.Fatalf("%+v", i)
	}
}

// TestSocketOptions: TCP_MAXSEG, TCP_CONGESTION, a path MTU from ICMP.
func TestSocketOptions(t *testing.T) {
	a := New(Config{})
	if err := a.SetMaxSeg(1000); err != nil || a.cfg.MSS != 1000 {
		t.Fatalf("TCP_MAXSEG: %v %d", err, a.cfg.MSS)
	}
	if a.SetMaxSeg(10) == nil {
		t.Fatal("TCP_MAXSEG 10 accepted")
	}
	if err := a.SetCongestion("reno"); err != nil || a.cc.Name() != "reno" {
		t.Fatalf("TCP_CONGESTION: %v", err)
	}
	if a.SetCongestion("bbr") == nil {
		t.Fatal("unknown congestion control accepted")
	}
	a.SetPathMTU(576)
	if a.mss != 536 {
		t.Fatalf("MSS after a 576-byte path MTU: %d", a.mss)
	}
}
