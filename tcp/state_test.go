package tcp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// Per-state tests in smoltcp's manner: a constructor brings a connection
// to each state of RFC 9293 §3.3.2 by the segments that lead there; a
// test sends it segments and compares what it answers, segment by
// segment, and then its whole state.

const (
	localISS  Seq = 10_000
	remoteISS Seq = 20_000
	stateBuf      = 4096 // the receive buffer, so the window is this, unscaled
	t0            = time.Second
)

var stateCfg = Config{MSS: 1460, RcvBuf: stateBuf, SndBuf: stateBuf, MSL: 5 * time.Second, FinTimeout: 10 * time.Second}

// seg is a segment from the peer, written the short way.
func seg(flags uint8, seq, ack Seq, payload string) Segment {
	return Segment{Seq: seq, Ack: ack, Flags: flags, Window: 8192, Payload: []byte(payload)}
}

// snap is a connection's whole state as the tests compare it.
type snap struct {
	State                  State
	SndUna, SndNxt, SndMax Seq
	RcvNxt                 Seq
	SndWnd                 uint32
	Readable, Buffered     int
	Err                    error
	Deadline               time.Duration
}

func snapshot(c *Conn) snap {
	return snap{c.state, c.sndUna, c.sndNxt, c.sndMax, c.rcvNxt, c.sndWnd, c.rcvBuf.Readable(), c.sndBuf.Len(), c.err, c.Deadline()}
}

// out collects what Output sends at now, copying each segment.
func out(c *Conn, now time.Duration) []Segment {
	var segs []Segment
	c.Output(now, func(s *Segment) {
		k := *s
		k.Payload = append([]byte(nil), s.Payload...)
		segs = append(segs, k)
	})
	return segs
}

func fmtSeg(s Segment) string {
	f := ""
	for _, x := range []struct {
		b uint8
		n string
	}{{wire.TCPSyn, "S"}, {wire.TCPFin, "F"}, {wire.TCPRst, "R"}, {wire.TCPPsh, "P"}, {wire.TCPAck, "."}} {
		if s.Flags&x.b != 0 {
			f += x.n
		}
	}
	return fmt.Sprintf("[%s seq=%d ack=%d win=%d len=%d opts=%+v]", f, s.Seq, s.Ack, s.Window, len(s.Payload), s.Opts)
}

// expect compares segments whole: header fields, options and payload.
func expect(t *testing.T, got []Segment, want ...Segment) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.Seq == w.Seq && g.Ack == w.Ack && g.Flags == w.Flags && g.Window == w.Window &&
			g.Opts == w.Opts && bytes.Equal(g.Payload, w.Payload)
	}
	if !same {
		var gs, ws []string
		for _, s := range got {
			gs = append(gs, fmtSeg(s))
		}
		for _, s := range want {
			ws = append(ws, fmtSeg(s))
		}
		t.Fatalf("segments sent:\n got %v\nwant %v", gs, ws)
	}
}

func expectState(t *testing.T, c *Conn, want snap) {
	t.Helper()
	if got := snapshot(c); got != want {
		t.Fatalf("state:\n got %+v\nwant %+v", got, want)
	}
}

// ours is a segment we send, written the short way (window: what is free
// of the receive buffer).
func ours(flags uint8, seq, ack Seq, payload string) Segment {
	return Segment{Seq: seq, Ack: ack, Flags: flags, Window: uint16(stateBuf - 0), Payload: []byte(payload)}
}

func input(c *Conn, now time.Duration, s Segment) { c.Input(now, &s) }

// The constructors, one per state.

func stClosed() *Conn { return New(stateCfg) }

func stSynSent(t *testing.T) *Conn {
	c := New(stateCfg)
	c.Connect(t0, localISS)
	out(c, t0)
	return c
}

func stSynReceived(t *testing.T) *Conn {
	c := New(stateCfg)
	c.Listen()
	syn := seg(wire.TCPSyn, remoteISS, 0, "")
	c.Accept(t0, &syn, localISS)
	out(c, t0)
	return c
}

func stEstablished(t *testing.T) *Conn {
	c := stSynReceived(t)
	input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+1, ""))
	if c.State() != Established {
		t.Fatalf("constructor: %v, not ESTABLISHED", c.State())
	}
	return c
}

func stFinWait1(t *testing.T) *Conn {
	c := stEstablished(t)
	c.Close()
	out(c, t0)
	return c
}

func stFinWait2(t *testing.T) *Conn {
	c := stFinWait1(t)
	input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+2, ""))
	return c
}

func stCloseWait(t *testing.T) *Conn {
	c := stEstablished(t)
	input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+1, ""))
	out(c, t0)
	return c
}

func stLastAck(t *testing.T) *Conn {
	c := stCloseWait(t)
	c.Close()
	out(c, t0)
	return c
}

func stClosing(t *testing.T) *Conn {
	c := stFinWait1(t)
	input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+1, ""))
	out(c, t0)
	return c
}

func stTimeWait(t *testing.T) *Conn {
	c := stFinWait2(t)
	input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+2, ""))
	out(c, t0)
	return c
}

func TestStateConstructors(t *testing.T) {
	for _, tc := range []struct {
		c    *Conn
		want State
	}{
		{stClosed(), Closed}, {stSynSent(t), SynSent}, {stSynReceived(t), SynReceived},
		{stEstablished(t), Established}, {stFinWait1(t), FinWait1}, {stFinWait2(t), FinWait2},
		{stCloseWait(t), CloseWait}, {stLastAck(t), LastAck}, {stClosing(t), Closing}, {stTimeWait(t), TimeWait},
	} {
		if tc.c.State() != tc.want {
			t.Errorf("constructor of %v made %v", tc.want, tc.c.State())
		}
	}
}

// CLOSED: a segment changes nothing and draws nothing from the machine
// (the stack answers for no socket, RFC 9293 §3.10.7.1).
func TestStateClosed(t *testing.T) {
	c := stClosed()
	input(c, t0, seg(wire.TCPSyn, remoteISS, 0, ""))
	expect(t, out(c, t0))
	expectState(t, c, snap{State: Closed})
}

// LISTEN (RFC 9293 §3.10.7.2): a SYN makes a connection that answers
// with a SYN-ACK; a RST is ignored; an ACK draws <SEQ=SEG.ACK><CTL=RST>;
// anything else is dropped.
func TestStateListen(t *testing.T) {
	isn, _ := NewISN()
	cookies, _ := NewCookies()
	l := NewListener(stateCfg, 8, isn, cookies)
	tu := Tuple{netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:5000")}
	var reply Segment

	s := seg(wire.TCPRst, remoteISS, 0, "")
	if v, _ := l.Input(t0, tu, &s, &reply); v != Drop {
		t.Fatalf("RST to a listener: verdict %v, want Drop", v)
	}
	s = seg(wire.TCPAck, remoteISS, 555, "")
	if v, _ := l.Input(t0, tu, &s, &reply); v != Reply {
		t.Fatalf("ACK to a listener: verdict %v, want Reply", v)
	}
	expect(t, []Segment{reply}, Segment{Seq: 555, Flags: wire.TCPRst})
	s = seg(wire.TCPSyn|wire.TCPFin, remoteISS, 0, "")
	if v, _ := l.Input(t0, tu, &s, &reply); v != Drop {
		t.Fatalf("SYN+FIN to a listener: verdict %v, want Drop", v)
	}

	s = seg(wire.TCPSyn, remoteISS, 0, "")
	s.Opts = wire.TCPOptions{MSS: 1000, SACKPermitted: true}
	v, c := l.Input(t0, tu, &s, &reply)
	if v != Made || c == nil {
		t.Fatalf("SYN to a listener: verdict %v", v)
	}
	got := out(c, t0)
	if len(got) != 1 {
		t.Fatalf("SYN-ACK: %d segments", len(got))
	}
	iss := got[0].Seq
	// The answer offers SACK as the SYN did, and neither window scaling
	// nor timestamps, which it did not (RFC 7323 §1.3, RFC 2018 §2).
	expect(t, got, Segment{Seq: iss, Ack: remoteISS + 1, Flags: wire.TCPSyn | wire.TCPAck, Window: stateBuf,
		Opts: wire.TCPOptions{MSS: 1460, SACKPermitted: true}})
	expectState(t, c, snap{State: SynReceived, SndUna: iss, SndNxt: iss + 1, SndMax: iss + 1, RcvNxt: remoteISS + 1,
		SndWnd: 8192, Deadline: t0 + time.Second})
	if c.MSS() != 1000 {
		t.Fatalf("send MSS %d, want the peer's 1000", c.MSS())
	}
}

// SYN-SENT (RFC 9293 §3.10.7.3).
func TestStateSynSent(t *testing.T) {
	t.Run("syn", func(t *testing.T) {
		c := New(stateCfg)
		c.Connect(t0, localISS)
		expect(t, out(c, t0), Segment{Seq: localISS, Flags: wire.TCPSyn, Window: stateBuf,
			Opts: wire.TCPOptions{MSS: 1460, HasWS: true, SACKPermitted: true, HasTimestamp: true, TSVal: tsClock(t0)}})
		expectState(t, c, snap{State: SynSent, SndUna: localISS, SndNxt: localISS + 1, SndMax: localISS + 1, Deadline: t0 + time.Second})
	})
	t.Run("syn-ack", func(t *testing.T) {
		c := stSynSent(t)
		input(c, t0+time.Millisecond, seg(wire.TCPSyn|wire.TCPAck, remoteISS, localISS+1, ""))
		expect(t, out(c, t0+time.Millisecond), ours(wire.TCPAck, localISS+1, remoteISS+1, ""))
		expectState(t, c, snap{State: Established, SndUna: localISS + 1, SndNxt: localISS + 1, SndMax: localISS + 1,
			RcvNxt: remoteISS + 1, SndWnd: 8192})
		if c.rto.SRTT() != time.Millisecond {
			t.Fatalf("SRTT %v after the handshake, want the SYN's 1ms", c.rto.SRTT())
		}
	})
	t.Run("bad ack", func(t *testing.T) {
		c := stSynSent(t)
		input(c, t0, seg(wire.TCPSyn|wire.TCPAck, remoteISS, localISS+5, ""))
		expect(t, out(c, t0), Segment{Seq: localISS + 5, Flags: wire.TCPRst})
		expectState(t, c, snap{State: SynSent, SndUna: localISS, SndNxt: localISS + 1, SndMax: localISS + 1, Deadline: t0 + time.Second})
	})
	t.Run("rst with ack", func(t *testing.T) {
		c := stSynSent(t)
		input(c, t0, seg(wire.TCPRst|wire.TCPAck, 0, localISS+1, ""))
		expect(t, out(c, t0))
		expectState(t, c, snap{State: Closed, SndUna: localISS, SndNxt: localISS + 1, SndMax: localISS + 1, Err: ErrRefused})
	})
	t.Run("rst without ack", func(t *testing.T) {
		// §3.10.7.3: a RST without an ACK is dropped (it could be blind).
		c := stSynSent(t)
		input(c, t0, seg(wire.TCPRst, 0, 0, ""))
		expectState(t, c, snap{State: SynSent, SndUna: localISS, SndNxt: localISS + 1, SndMax: localISS + 1, Deadline: t0 + time.Second})
	})
	t.Run("syn (simultaneous open)", func(t *testing.T) {
		c := stSynSent(t)
		input(c, t0, seg(wire.TCPSyn, remoteISS, 0, ""))
		got := out(c, t0)
		expect(t, got, Segment{Seq: localISS, Ack: remoteISS + 1, Flags: wire.TCPSyn | wire.TCPAck, Window: stateBuf,
			Opts: wire.TCPOptions{MSS: 1460}})
		if c.State() != SynReceived {
			t.Fatalf("state %v, want SYN-RECEIVED", c.State())
		}
	})
	t.Run("retransmission and give-up", func(t *testing.T) {
		c := stSynSent(t)
		now := t0
		for i := range stateCfg.withDefaults().SynRetries {
			now = c.Deadline()
			got := out(c, now)
			if len(got) != 1 || got[0].Flags != wire.TCPSyn || got[0].Seq != localISS {
				t.Fatalf("retransmission %d: %v", i+1, got)
			}
			if want := time.Second << (i + 1); c.Deadline()-now != want {
				t.Fatalf("retransmission %d: next in %v, want %v (RFC 6298 §5.5 backoff)", i+1, c.Deadline()-now, want)
			}
		}
		expect(t, out(c, c.Deadline()))
		if c.State() != Closed || c.Err() != ErrTimedOut {
			t.Fatalf("after the SYN retries: %v %v", c.State(), c.Err())
		}
	})
}

func (c Config) withDefaults() Config { c.defaults(); return c }

// SYN-RECEIVED.
func TestStateSynReceived(t *testing.T) {
	est := snap{State: Established, SndUna: localISS + 1, SndNxt: localISS + 1, SndMax: localISS + 1, RcvNxt: remoteISS + 1, SndWnd: 8192}
	t.Run("ack", func(t *testing.T) {
		c := stSynReceived(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+1, ""))
		expect(t, out(c, t0))
		expectState(t, c, est)
	})
	t.Run("ack with data", func(t *testing.T) {
		c := stSynReceived(t)
		input(c, t0, seg(wire.TCPAck|wire.TCPPsh, remoteISS+1, localISS+1, "hello"))
		w := ours(wire.TCPAck, localISS+1, remoteISS+6, "")
		w.Window -= 5
		expect(t, out(c, t0), w) // a quick ACK: the start of the connection
		want := est
		want.RcvNxt, want.Readable = remoteISS+6, 5
		expectState(t, c, want)
	})
	t.Run("bad ack", func(t *testing.T) {
		c := stSynReceived(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+9, ""))
		expect(t, out(c, t0), Segment{Seq: localISS + 9, Flags: wire.TCPRst})
		if c.State() != SynReceived {
			t.Fatalf("state %v", c.State())
		}
	})
	t.Run("syn again", func(t *testing.T) {
		// Our SYN-ACK was lost: the peer's SYN again draws it again.
		c := stSynReceived(t)
		input(c, t0, seg(wire.TCPSyn, remoteISS, 0, ""))
		expect(t, out(c, t0), Segment{Seq: localISS, Ack: remoteISS + 1, Flags: wire.TCPSyn | wire.TCPAck, Window: stateBuf,
			Opts: wire.TCPOptions{MSS: 1460}})
	})
	t.Run("rst", func(t *testing.T) {
		c := stSynReceived(t)
		input(c, t0, seg(wire.TCPRst, remoteISS+1, 0, ""))
		expect(t, out(c, t0))
		if c.State() != Closed || c.Err() != ErrReset {
			t.Fatalf("%v %v", c.State(), c.Err())
		}
	})
}

// ESTABLISHED (RFC 9293 §3.10.7.4, RFC 5961).
func TestStateEstablished(t *testing.T) {
	base := snap{State: Established, SndUna: localISS + 1, SndNxt: localISS + 1, SndMax: localISS + 1, RcvNxt: remoteISS + 1, SndWnd: 8192}
	ack := ours(wire.TCPAck, localISS+1, remoteISS+1, "")
	t.Run("data", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPAck|wire.TCPPsh, remoteISS+1, localISS+1, "abc"))
		w := ours(wire.TCPAck, localISS+1, remoteISS+4, "")
		w.Window -= 3
		expect(t, out(c, t0), w)
		want := base
		want.RcvNxt, want.Readable = remoteISS+4, 3
		expectState(t, c, want)
		p := make([]byte, 8)
		if n := c.Read(p); string(p[:n]) != "abc" {
			t.Fatalf("read %q", p[:n])
		}
	})
	t.Run("out of order", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+11, localISS+1, "later"))
		expect(t, out(c, t0), ack) // a duplicate ACK at once (RFC 5681 §4.2)
		expectState(t, c, base)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+1, "0123456789"))
		w := ours(wire.TCPAck, localISS+1, remoteISS+16, "")
		w.Window -= 15
		expect(t, out(c, t0), w)
	})
	t.Run("outside the window", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1+stateBuf, localISS+1, "x"))
		expect(t, out(c, t0), ack)
		input(c, t0, seg(wire.TCPAck, remoteISS-100, localISS+1, "old"))
		expect(t, out(c, t0), ack)
		expectState(t, c, base)
	})
	t.Run("out-of-window acks rate-limited", func(t *testing.T) {
		// Pure ACKs out of the window draw one ACK per 500 ms: two ends
		// that find each other's ACKs unacceptable must not storm.
		c := stEstablished(t)
		old := seg(wire.TCPAck, remoteISS-100, localISS+1, "")
		input(c, t0, old)
		expect(t, out(c, t0), ack)
		input(c, t0+time.Millisecond, old)
		expect(t, out(c, t0+time.Millisecond))
		input(c, t0+600*time.Millisecond, old)
		expect(t, out(c, t0+600*time.Millisecond), ack)
		expectState(t, c, base)
	})
	t.Run("rst in window", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPRst, remoteISS+100, 0, ""))
		expect(t, out(c, t0), ack) // a challenge ACK (RFC 5961 §3.2)
		expectState(t, c, base)
	})
	t.Run("rst exact", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPRst, remoteISS+1, 0, ""))
		expect(t, out(c, t0))
		want := base
		want.State, want.Err = Closed, ErrReset
		expectState(t, c, want)
	})
	t.Run("syn", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPSyn, remoteISS+50, 0, ""))
		expect(t, out(c, t0), ack) // a challenge ACK (RFC 5961 §4.2)
		expectState(t, c, base)
	})
	t.Run("ack of the unsent", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+100, "data"))
		expect(t, out(c, t0), ack) // ACK and drop (RFC 5961 §5.2)
		expectState(t, c, base)
	})
	t.Run("ack too old", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS.Add(^uint32(20_000)), "data"))
		expect(t, out(c, t0), ack) // before SND.UNA - MAX.SND.WND (RFC 5961 §5.2)
		expectState(t, c, base)
	})
	t.Run("write", func(t *testing.T) {
		c := stEstablished(t)
		if n := c.Write([]byte("ping")); n != 4 {
			t.Fatalf("wrote %d", n)
		}
		expect(t, out(c, t0), ours(wire.TCPAck|wire.TCPPsh, localISS+1, remoteISS+1, "ping"))
		want := base
		// The RTO is Linux's floor, 200 ms: the handshake's sample was
		// of no time at all.
		want.SndNxt, want.SndMax, want.Buffered, want.Deadline = localISS+5, localISS+5, 4, t0+200*time.Millisecond
		expectState(t, c, want)
		input(c, t0+time.Millisecond, seg(wire.TCPAck, remoteISS+1, localISS+5, ""))
		expect(t, out(c, t0+time.Millisecond))
		want.SndUna, want.Buffered, want.Deadline = localISS+5, 0, 0
		expectState(t, c, want)
	})
	t.Run("fin", func(t *testing.T) {
		c := stEstablished(t)
		input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+1, ""))
		expect(t, out(c, t0), ours(wire.TCPAck, localISS+1, remoteISS+2, ""))
		want := base
		want.State, want.RcvNxt = CloseWait, remoteISS+2
		expectState(t, c, want)
		if !c.EOF() {
			t.Fatal("no EOF after the FIN")
		}
	})
	t.Run("close", func(t *testing.T) {
		c := stEstablished(t)
		c.Close()
		expect(t, out(c, t0), ours(wire.TCPFin|wire.TCPAck|wire.TCPPsh, localISS+1, remoteISS+1, ""))
		want := base
		want.State, want.SndNxt, want.SndMax, want.Deadline = FinWait1, localISS+2, localISS+2, t0+200*time.Millisecond
		expectState(t, c, want)
	})
	t.Run("retransmission", func(t *testing.T) {
		c := stEstablished(t)
		c.Write([]byte("lost"))
		out(c, t0)
		expect(t, out(c, t0+100*time.Millisecond))
		got := out(c, t0+200*time.Millisecond)
		expect(t, got, ours(wire.TCPAck|wire.TCPPsh, localISS+1, remoteISS+1, "lost"))
		want := base
		// Backed off (RFC 6298 §5.5): 400 ms from the retransmission.
		want.SndNxt, want.SndMax, want.Buffered, want.Deadline = localISS+5, localISS+5, 4, t0+600*time.Millisecond
		expectState(t, c, want)
	})
}

// FIN-WAIT-1.
func TestStateFinWait1(t *testing.T) {
	t.Run("ack of fin", func(t *testing.T) {
		c := stFinWait1(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+2, ""))
		expect(t, out(c, t0))
		expectState(t, c, snap{State: FinWait2, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
			RcvNxt: remoteISS + 1, SndWnd: 8192, Deadline: t0 + stateCfg.FinTimeout})
	})
	t.Run("fin (simultaneous close)", func(t *testing.T) {
		c := stFinWait1(t)
		input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+1, ""))
		expect(t, out(c, t0), ours(wire.TCPAck, localISS+2, remoteISS+2, ""))
		expectState(t, c, snap{State: Closing, SndUna: localISS + 1, SndNxt: localISS + 2, SndMax: localISS + 2,
			RcvNxt: remoteISS + 2, SndWnd: 8192, Deadline: t0 + 200*time.Millisecond})
	})
	t.Run("fin and ack of fin", func(t *testing.T) {
		c := stFinWait1(t)
		input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+2, ""))
		expect(t, out(c, t0), ours(wire.TCPAck, localISS+2, remoteISS+2, ""))
		expectState(t, c, snap{State: TimeWait, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
			RcvNxt: remoteISS + 2, SndWnd: 8192, Deadline: t0 + 2*stateCfg.MSL})
	})
	t.Run("data still arrives", func(t *testing.T) {
		c := stFinWait1(t)
		input(c, t0, seg(wire.TCPAck, remoteISS+1, localISS+1, "more"))
		w := ours(wire.TCPAck, localISS+2, remoteISS+5, "")
		w.Window -= 4
		expect(t, out(c, t0), w)
		if c.Readable() != 4 || c.State() != FinWait1 {
			t.Fatalf("%v readable %d", c.State(), c.Readable())
		}
	})
}

// FIN-WAIT-2.
func TestStateFinWait2(t *testing.T) {
	t.Run("fin", func(t *testing.T) {
		c := stFinWait2(t)
		input(c, t0, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+2, ""))
		expect(t, out(c, t0), ours(wire.TCPAck, localISS+2, remoteISS+2, ""))
		expectState(t, c, snap{State: TimeWait, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
			RcvNxt: remoteISS + 2, SndWnd: 8192, Deadline: t0 + 2*stateCfg.MSL})
	})
	t.Run("timeout", func(t *testing.T) {
		c := stFinWait2(t)
		expect(t, out(c, t0+stateCfg.FinTimeout))
		if c.State() != Closed || c.Err() != nil {
			t.Fatalf("%v %v after FIN-WAIT-2's timeout", c.State(), c.Err())
		}
	})
}

// CLOSE-WAIT: the peer has finished; our data still goes; data after its
// FIN is ignored (§3.10.7.4, the seventh step).
func TestStateCloseWait(t *testing.T) {
	c := stCloseWait(t)
	input(c, t0, seg(wire.TCPAck, remoteISS+2, localISS+1, "late"))
	expect(t, out(c, t0))
	if c.Readable() != 0 {
		t.Fatalf("took %d bytes after the peer's FIN", c.Readable())
	}
	c.Write([]byte("reply"))
	expect(t, out(c, t0), ours(wire.TCPAck|wire.TCPPsh, localISS+1, remoteISS+2, "reply"))
	c.Close()
	// The FIN is not held by Nagle behind the data in flight (Linux
	// sends it at once too).
	expect(t, out(c, t0), ours(wire.TCPFin|wire.TCPAck|wire.TCPPsh, localISS+6, remoteISS+2, ""))
	expectState(t, c, snap{State: LastAck, SndUna: localISS + 1, SndNxt: localISS + 7, SndMax: localISS + 7,
		RcvNxt: remoteISS + 2, SndWnd: 8192, Buffered: 5, Deadline: t0 + 200*time.Millisecond})
	input(c, t0, seg(wire.TCPAck, remoteISS+2, localISS+7, ""))
	expect(t, out(c, t0))
	if c.State() != Closed || c.Err() != nil {
		t.Fatalf("%v %v after the ACK of data and FIN", c.State(), c.Err())
	}
}

// CLOSING: the ACK of our FIN leads to TIME-WAIT.
func TestStateClosing(t *testing.T) {
	c := stClosing(t)
	input(c, t0, seg(wire.TCPAck, remoteISS+2, localISS+2, ""))
	expect(t, out(c, t0))
	expectState(t, c, snap{State: TimeWait, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
		RcvNxt: remoteISS + 2, SndWnd: 8192, Deadline: t0 + 2*stateCfg.MSL})
}

// LAST-ACK: the ACK of our FIN closes, without an error.
func TestStateLastAck(t *testing.T) {
	c := stLastAck(t)
	input(c, t0, seg(wire.TCPAck, remoteISS+2, localISS+2, ""))
	expect(t, out(c, t0))
	expectState(t, c, snap{State: Closed, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
		RcvNxt: remoteISS + 2, SndWnd: 8192})
	// Our FIN lost: it goes again at the timer.
	c = stLastAck(t)
	expect(t, out(c, t0+time.Second), ours(wire.TCPFin|wire.TCPAck|wire.TCPPsh, localISS+1, remoteISS+2, ""))
}

// TIME-WAIT: a retransmitted FIN is ACKed and restarts the 2×MSL wait
// (§3.10.7.4); at its end the connection is CLOSED.
func TestStateTimeWait(t *testing.T) {
	c := stTimeWait(t)
	later := t0 + time.Second
	input(c, later, seg(wire.TCPFin|wire.TCPAck, remoteISS+1, localISS+2, ""))
	expect(t, out(c, later), ours(wire.TCPAck, localISS+2, remoteISS+2, ""))
	expectState(t, c, snap{State: TimeWait, SndUna: localISS + 2, SndNxt: localISS + 2, SndMax: localISS + 2,
		RcvNxt: remoteISS + 2, SndWnd: 8192, Deadline: later + 2*stateCfg.MSL})
	expect(t, out(c, later+2*stateCfg.MSL))
	if c.State() != Closed || c.Err() != nil {
		t.Fatalf("%v %v after 2×MSL", c.State(), c.Err())
	}
}

// TIME-WAIT: a new SYN for the same 4-tuple opens a new incarnation only
// when it cannot be mistaken for the old one (RFC 6191): sequence number
// past RCV.NXT, or, with timestamps, a newer timestamp.
func TestStateTimeWaitReuse(t *testing.T) {
	c := stTimeWait(t)
	for _, tc := range []struct {
		s    Segment
		want bool
	}{
		{seg(wire.TCPSyn, remoteISS+100_000, 0, ""), true},
		{seg(wire.TCPSyn, remoteISS+2, 0, ""), false}, // at RCV.NXT: could be old
		{seg(wire.TCPSyn, remoteISS-5, 0, ""), false},
		{seg(wire.TCPSyn|wire.TCPAck, remoteISS+100_000, 0, ""), false},
		{seg(wire.TCPSyn|wire.TCPRst, remoteISS+100_000, 0, ""), false},
	} {
		if got := c.ReusableBy(&tc.s); got != tc.want {
			t.Errorf("%s: reusable %v, want %v", fmtSeg(tc.s), got, tc.want)
		}
	}
	// With timestamps: a newer one is enough, an older one refuses
	// (PAWS), an equal one needs the sequence number past RCV.NXT.
	c.tsOK, c.tsRecent = true, 5000
	for _, tc := range []struct {
		seq  Seq
		ts   uint32
		want bool
	}{
		{remoteISS - 5, 5001, true},
		{remoteISS + 100_000, 4999, false},
		{remoteISS + 100_000, 5000, true},
		{remoteISS + 2, 5000, false},
	} {
		s := seg(wire.TCPSyn, tc.seq, 0, "")
		s.Opts = wire.TCPOptions{HasTimestamp: true, TSVal: tc.ts}
		if got := c.ReusableBy(&s); got != tc.want {
			t.Errorf("SYN seq %d TSval %d against RCV.NXT %d TS.Recent 5000: reusable %v, want %v", tc.seq, tc.ts, c.rcvNxt, got, tc.want)
		}
	}
	newer := seg(wire.TCPSyn, remoteISS+100_000, 0, "")
	newer.Opts = wire.TCPOptions{HasTimestamp: true, TSVal: 6000}
	if e := stEstablished(t); e.ReusableBy(&newer) {
		t.Fatal("an established connection reusable by a SYN")
	}
}

// TestTimeWaitReleases: a connection that moved data and reached
// TIME-WAIT keeps no buffer memory, only its state.
func TestTimeWaitReleases(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	transfer(t, l, a, b, 64<<10, 10*time.Second)
	if a.sndBuf.buf == nil || a.rcvBuf.buf == nil || a.scratch == nil {
		t.Fatal("no buffer memory taken by a transfer")
	}
	a.Close()
	l.run(l.now+time.Second, func() bool { return b.State() == CloseWait })
	b.Close()
	l.run(l.now+time.Second, func() bool { return a.State() == TimeWait })
	if a.sndBuf.buf != nil || a.rcvBuf.buf != nil || a.scratch != nil {
		t.Fatalf("TIME-WAIT holds %d + %d + %d bytes of buffers", len(a.sndBuf.buf), len(a.rcvBuf.buf), len(a.scratch))
	}
}
