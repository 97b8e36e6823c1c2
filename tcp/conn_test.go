package tcp

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// link joins two connections on a virtual clock: every segment is copied
// (Output's payload is the machine's), may be lost with probability loss
// (seeded), and arrives after delay. The harness plays the listener: a
// SYN to a connection in LISTEN is answered with Accept.
type link struct {
	t        *testing.T
	now      time.Duration
	a, b     *Conn
	delay    time.Duration
	loss     float64
	rng      *rand.Rand
	queue    []flight
	sent     [2]int
	drop     func(from int, s *Segment) bool // a test's own losses
	observed []Segment
	accISS   Seq // the ISS the harness's listener answers with
}

type flight struct {
	at  time.Duration
	to  int // 0: a, 1: b
	seg Segment
}

func newLink(t *testing.T, a, b *Conn, seed uint64) *link {
	return &link{t: t, a: a, b: b, delay: 50 * time.Microsecond, rng: rand.New(rand.NewPCG(seed, 1)), accISS: 7_000_000}
}

func (l *link) conn(i int) *Conn {
	if i == 0 {
		return l.a
	}
	return l.b
}

// output collects what connection i has to send.
func (l *link) output(i int) {
	from := l.conn(i)
	from.Output(l.now, func(s *Segment) {
		// RFC 6691: payload and options together within the MSS.
		if len(s.Payload) > 0 && len(s.Payload)+s.Opts.Len() > int(from.mss) {
			l.t.Fatalf("a segment of %d bytes with %d of options over the MSS %d", len(s.Payload), s.Opts.Len(), from.mss)
		}
		c := *s
		c.Payload = append([]byte(nil), s.Payload...)
		l.sent[i]++
		l.observed = append(l.observed, c)
		if l.drop != nil && l.drop(i, &c) {
			return
		}
		if l.loss > 0 && l.rng.Float64() < l.loss {
			return
		}
		l.queue = append(l.queue, flight{at: l.now + l.delay, to: 1 - i, seg: c})
	})
}

// step advances to the next event (a delivery or a deadline) and runs it.
// It reports false when nothing is left to happen.
func (l *link) step() bool {
	l.output(0)
	l.output(1)
	next := time.Duration(-1)
	for _, f := range l.queue {
		if next < 0 || f.at < next {
			next = f.at
		}
	}
	for i := range 2 {
		if d := l.conn(i).Deadline(); d != 0 && (next < 0 || d < next) {
			next = d
		}
	}
	if next < 0 {
		return false
	}
	if next > l.now {
		l.now = next
	}
	rest := l.queue[:0]
	var due []flight
	for _, f := range l.queue {
		if f.at <= l.now {
			due = append(due, f)
		} else {
			rest = append(rest, f)
		}
	}
	l.queue = rest
	for _, f := range due {
		c := l.conn(f.to)
		if c.State() == Listen && f.seg.has(wire.TCPSyn) && !f.seg.has(wire.TCPAck) {
			c.Accept(l.now, &f.seg, l.accISS)
			continue
		}
		c.Input(l.now, &f.seg)
		checkInvariants(l.t, c)
	}
	return true
}

// run steps until done or the virtual time limit.
func (l *link) run(limit time.Duration, done func() bool) {
	l.t.Helper()
	for !done() {
		if l.now > limit || (!l.step() && !done()) {
			l.t.Fatalf("not done at %v: a %v (%v), b %v (%v)", l.now, l.a.State(), l.a.Err(), l.b.State(), l.b.Err())
		}
	}
}

// checkInvariants are what must hold after every event.
func checkInvariants(t *testing.T, c *Conn) {
	t.Helper()
	if !c.sndUna.LessEq(c.sndNxt) || !c.sndNxt.LessEq(c.sndMax) {
		t.Fatalf("%v: sndUna %d sndNxt %d sndMax %d out of order", c.State(), c.sndUna, c.sndNxt, c.sndMax)
	}
	if c.sndBuf.Len() > c.cfg.SndBuf || c.rcvBuf.Readable() > c.cfg.RcvBuf {
		t.Fatalf("buffers over capacity: send %d, receive %d", c.sndBuf.Len(), c.rcvBuf.Readable())
	}
}

func established(a, b *Conn) func() bool {
	return func() bool { return a.State() == Established && b.State() == Established }
}

func pair(t *testing.T, seed uint64, cfg Config) (*link, *Conn, *Conn) {
	a, b := New(cfg), New(cfg)
	l := newLink(t, a, b, seed)
	b.Listen()
	a.Connect(0, 1_000_000)
	return l, a, b
}

// TestHandshake: SYN, SYN-ACK, ACK, and the options both sides took.
func TestHandshake(t *testing.T) {
	l, a, b := pair(t, 1, Config{MSS: 1400, RcvBuf: 1 << 20})
	l.run(time.Second, established(a, b))
	if len(l.observed) < 3 {
		t.Fatalf("%d segments", len(l.observed))
	}
	syn, synack, ack := l.observed[0], l.observed[1], l.observed[2]
	if syn.Flags != wire.TCPSyn || synack.Flags != wire.TCPSyn|wire.TCPAck || ack.Flags&wire.TCPAck == 0 || ack.Flags&wire.TCPSyn != 0 {
		t.Fatalf("flags %x %x %x", syn.Flags, synack.Flags, ack.Flags)
	}
	if synack.Ack != syn.Seq.Add(1) || ack.Ack != synack.Seq.Add(1) || ack.Seq != syn.Seq.Add(1) {
		t.Fatal("sequence numbers of the handshake")
	}
	if !syn.Opts.HasWS || syn.Opts.WS != 5 || !syn.Opts.SACKPermitted || !syn.Opts.HasTimestamp || syn.Opts.MSS != 1400 {
		t.Fatalf("SYN options %+v", syn.Opts)
	}
	for _, c := range []*Conn{a, b} {
		if !c.wsOK || c.sndShift != 5 || !c.tsOK || !c.sackOK || c.mss != 1400 {
			t.Fatalf("negotiated: ws %v/%d ts %v sack %v mss %d", c.wsOK, c.sndShift, c.tsOK, c.sackOK, c.mss)
		}
	}
}

// TestHandshakeLostSYNACK: the SYN-ACK is lost twice; the client's SYN is
// retransmitted on its timer and the server answers again.
func TestHandshakeLostSYNACK(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	lost := 0
	l.drop = func(from int, s *Segment) bool {
		if from == 1 && s.has(wire.TCPSyn) && lost < 2 {
			lost++
			return true
		}
		return false
	}
	l.run(10*time.Second, established(a, b))
	if l.now < 3*time.Second {
		t.Fatalf("established at %v: the 1 s initial RTO did not back off", l.now)
	}
}

// transfer moves n bytes each way at once and checks them by SHA-256.
func transfer(t *testing.T, l *link, a, b *Conn, n int, limit time.Duration) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	data := [2][]byte{make([]byte, n), make([]byte, n)}
	for i := range data {
		for j := range data[i] {
			data[i][j] = byte(rng.Uint32())
		}
	}
	var got [2]bytes.Buffer
	sent := [2]int{}
	buf := make([]byte, 4096)
	conns := [2]*Conn{a, b}
	l.run(limit, func() bool {
		for i, c := range conns {
			sent[i] += c.Write(data[i][sent[i]:])
			for {
				k := c.Read(buf)
				if k == 0 {
					break
				}
				got[1-i].Write(buf[:k])
			}
		}
		return got[0].Len() == n && got[1].Len() == n
	})
	for i := range 2 {
		if sha256.Sum256(got[i].Bytes()) != sha256.Sum256(data[i]) {
			t.Fatalf("direction %d: the data differ", i)
		}
	}
}

// TestTransfer moves 4 MB each way without loss, then under loss for
// several seeds, each within a bound of virtual time.
func TestTransfer(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	transfer(t, l, a, b, 4<<20, 30*time.Second)

	for _, loss := range []float64{0.01, 0.05} {
		for seed := uint64(1); seed <= 3; seed++ {
			l, a, b := pair(t, seed, Config{SndBuf: 32768, RcvBuf: 65536})
			l.run(time.Minute, established(a, b))
			l.loss = loss
			transfer(t, l, a, b, 1<<20, 10*time.Minute)
		}
	}
}

// closeBoth closes a, then b after reading a's FIN, and waits for both to
// reach CLOSED (a through TIME-WAIT).
func TestClose(t *testing.T) {
	l, a, b := pair(t, 1, Config{MSL: time.Second})
	l.run(time.Second, established(a, b))
	a.Write([]byte("bye"))
	a.Close()
	l.run(time.Minute, func() bool { return b.State() == CloseWait && a.State() == FinWait2 })
	buf := make([]byte, 10)
	if n := b.Read(buf); string(buf[:n]) != "bye" || !b.EOF() {
		t.Fatalf("b read %q, EOF %v", buf[:n], b.EOF())
	}
	if a.State() != FinWait2 {
		t.Fatalf("a is %v, want FIN-WAIT-2", a.State())
	}
	b.Close()
	l.run(time.Minute, func() bool { return b.State() == Closed && a.State() == TimeWait })
	start := l.now
	l.run(time.Minute, func() bool { return a.State() == Closed })
	if d := l.now - start; d < 2*time.Second-time.Millisecond {
		t.Fatalf("TIME-WAIT lasted %v, want 2×MSL", d)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("errors %v %v", a.Err(), b.Err())
	}
}

// TestSimultaneousClose: both FINs cross; both pass CLOSING to TIME-WAIT.
func TestSimultaneousClose(t *testing.T) {
	l, a, b := pair(t, 1, Config{MSL: time.Second})
	l.run(time.Second, established(a, b))
	a.Close()
	b.Close()
	sawClosing := false
	l.run(time.Minute, func() bool {
		sawClosing = sawClosing || a.State() == Closing || b.State() == Closing
		return a.State() == Closed && b.State() == Closed
	})
	if !sawClosing {
		t.Fatal("neither side passed CLOSING")
	}
}

// TestSimultaneousOpen: two SYNs cross (RFC 9293 §3.5, figure 8).
func TestSimultaneousOpen(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	l := newLink(t, a, b, 1)
	a.Connect(0, 100)
	b.Connect(0, 900)
	l.run(10*time.Second, established(a, b))
	transfer(t, l, a, b, 100000, time.Minute)
}

// TestRefused: a RST in answer to our SYN ends the connect with
// ECONNREFUSED's error.
func TestRefused(t *testing.T) {
	a := New(Config{})
	a.Connect(0, 5000)
	var syn Segment
	a.Output(0, func(s *Segment) { syn = *s })
	// A RST whose ACK is not acceptable is ignored ...
	a.Input(0, &Segment{Flags: wire.TCPRst | wire.TCPAck, Ack: syn.Seq.Add(7)})
	if a.State() != SynSent {
		t.Fatalf("%v after an unacceptable RST", a.State())
	}
	a.Input(0, &Segment{Flags: wire.TCPRst | wire.TCPAck, Ack: syn.Seq.Add(1)})
	if a.State() != Closed || !errors.Is(a.Err(), ErrRefused) {
		t.Fatalf("%v %v", a.State(), a.Err())
	}
}

// TestResetHardening: a RST in the window but not at rcvNxt draws a
// challenge ACK and changes nothing (RFC 5961 §3.2); one at rcvNxt
// resets; a SYN on an established connection draws a challenge ACK (§4).
func TestResetHardening(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	acks := 0
	count := func(s *Segment) {
		if s.Flags == wire.TCPAck {
			acks++
		}
	}
	a.Input(l.now, &Segment{Seq: a.rcvNxt.Add(100), Flags: wire.TCPRst})
	a.Output(l.now, count)
	if a.State() != Established || acks != 1 {
		t.Fatalf("in-window RST: %v, %d challenge ACKs", a.State(), acks)
	}
	a.Input(l.now, &Segment{Seq: a.rcvNxt, Ack: a.sndNxt, Flags: wire.TCPSyn | wire.TCPAck})
	a.Output(l.now, count)
	if a.State() != Established || acks != 2 {
		t.Fatalf("SYN: %v, %d challenge ACKs", a.State(), acks)
	}
	a.Input(l.now, &Segment{Seq: a.rcvNxt, Flags: wire.TCPRst})
	if a.State() != Closed || !errors.Is(a.Err(), ErrReset) {
		t.Fatalf("RST at rcvNxt: %v %v", a.State(), a.Err())
	}
}

// TestTimeout: a peer that vanishes; retransmissions back off and the
// connection ends with ETIMEDOUT's error.
func TestTimeout(t *testing.T) {
	l, a, b := pair(t, 1, Config{Retries: 5})
	l.run(time.Second, established(a, b))
	l.drop = func(int, *Segment) bool { return true }
	a.Write([]byte("into the void"))
	l.run(10*time.Minute, func() bool { return a.State() == Closed })
	if !errors.Is(a.Err(), ErrTimedOut) {
		t.Fatalf("ended with %v", a.Err())
	}
	// 1+2+4+8+16+32 s of backed-off RTO from a 200 ms floor: well past
	// 6 seconds.
	if l.now < 6*time.Second {
		t.Fatalf("gave up after %v", l.now)
	}
}

// TestZeroWindow: the receiver does not read; the sender fills its window,
// probes the zero window, and finishes once the receiver reads.
func TestZeroWindow(t *testing.T) {
	l, a, b := pair(t, 1, Config{RcvBuf: 8192, SndBuf: 65536})
	l.run(time.Second, established(a, b))
	data := bytes.Repeat([]byte("w"), 40000)
	sent := a.Write(data)
	l.run(time.Minute, func() bool { return b.rcvBuf.Window() == 0 && a.sndWnd == 0 })
	probes := len(l.observed)
	l.run(time.Minute, func() bool { return l.now > 20*time.Second })
	if len(l.observed)-probes < 3 {
		t.Fatalf("%d segments in 20 s of zero window: no probes", len(l.observed)-probes)
	}
	if a.State() != Established {
		t.Fatalf("the sender gave up on a live peer: %v %v", a.State(), a.Err())
	}
	got := 0
	buf := make([]byte, 4096)
	l.run(l.now+time.Minute, func() bool {
		sent += a.Write(data[sent:])
		for {
			n := b.Read(buf)
			if n == 0 {
				break
			}
			got += n
		}
		return got == len(data)
	})
}

// TestNagle: small writes while data is in flight wait for the ACK, and
// go at once with TCP_NODELAY.
func TestNagle(t *testing.T) {
	for _, nodelay := range []bool{false, true} {
		l, a, b := pair(t, 1, Config{NoDelay: nodelay})
		l.run(time.Second, established(a, b))
		before := l.sent[0]
		a.Write([]byte("a"))
		l.output(0)
		a.Write([]byte("b"))
		l.output(0)
		segs := l.sent[0] - before
		if nodelay && segs != 2 || !nodelay && segs != 1 {
			t.Errorf("NoDelay %v: %d segments for two small writes before an ACK", nodelay, segs)
		}
	}
}

// TestSteadyStateAllocs: data one way and ACKs the other, in the steady
// state, allocate nothing.
func TestSteadyStateAllocs(t *testing.T) {
	l, a, b := pair(t, 1, Config{NoDelay: true})
	l.run(time.Second, established(a, b))
	msg := make([]byte, 1000)
	buf := make([]byte, 4096)
	now := l.now
	var toB, toA []Segment
	store := func(q *[]Segment, pool *[][]byte) func(*Segment) {
		return func(s *Segment) {
			i := len(*q)
			if i >= len(*pool) {
				return
			}
			p := (*pool)[i][:len(s.Payload)]
			copy(p, s.Payload)
			*q = append(*q, *s)
			(*q)[i].Payload = p
		}
	}
	poolB, poolA := make([][]byte, 64), make([][]byte, 64)
	for i := range poolB {
		poolB[i], poolA[i] = make([]byte, 2048), make([]byte, 2048)
	}
	toB, toA = make([]Segment, 0, 64), make([]Segment, 0, 64)
	emitB, emitA := store(&toB, &poolB), store(&toA, &poolA)
	got := 0
	round := func() {
		now += time.Millisecond
		a.Write(msg)
		toB = toB[:0]
		a.Output(now, emitB)
		for i := range toB {
			b.Input(now, &toB[i])
		}
		got += b.Read(buf)
		toA = toA[:0]
		b.Output(now+time.Hour, emitA) // past the delayed ACK
		for i := range toA {
			a.Input(now, &toA[i])
		}
	}
	for range 100 {
		round()
	}
	got = 0
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Fatalf("%.1f allocations per round", n)
	}
	if got != 201*len(msg) {
		t.Fatalf("%d bytes went through in 201 rounds of %d", got, len(msg))
	}
}

// TestSACKRecovery drops three data segments of one window: the receiver
// reports what it holds past each hole (RFC 2018), and the sender
// retransmits exactly the three holes, without a timeout (RFC 6675).
func TestSACKRecovery(t *testing.T) {
	l, a, b := pair(t, 1, Config{SndBuf: 1 << 20, RcvBuf: 1 << 20})
	l.run(time.Second, established(a, b))
	dropped := map[Seq]bool{}
	dataSegs := 0
	var highest Seq
	retransmitted := 0
	sawSACK := false
	l.drop = func(from int, s *Segment) bool {
		if from == 1 && s.Opts.NumSACK > 0 {
			sawSACK = true
		}
		if from != 0 || len(s.Payload) == 0 {
			return false
		}
		end := s.Seq.Add(uint32(len(s.Payload)))
		if dataSegs > 0 && s.Seq.LessThan(highest) {
			retransmitted++
			return false
		}
		highest = end
		dataSegs++
		if dataSegs == 20 || dataSegs == 24 || dataSegs == 28 {
			dropped[s.Seq] = true
			return true
		}
		return false
	}
	transfer(t, l, a, b, 300000, time.Minute)
	if !sawSACK {
		t.Fatal("the receiver sent no SACK block")
	}
	if retransmitted != 3 || a.rto.Backoffs() != 0 {
		t.Fatalf("%d retransmissions for 3 holes, %d timeouts", retransmitted, a.rto.Backoffs())
	}
}

// oneWay moves n bytes from a to b, b's application reading all it can,
// and returns the virtual time it took.
func oneWay(t *testing.T, l *link, a, b *Conn, n int) time.Duration {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var got bytes.Buffer
	sent, start := 0, l.now
	buf := make([]byte, 65536)
	l.run(start+time.Minute, func() bool {
		sent += a.Write(data[sent:])
		for k := b.Read(buf); k > 0; k = b.Read(buf) {
			got.Write(buf[:k])
		}
		return got.Len() == n
	})
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the data differ")
	}
	return l.now - start
}

// TestAutotune: on a path of 2 ms round trip, buffers left to the stack
// grow with the transfer (the send buffer with the congestion window, the
// receive buffer with what the application reads per round trip) within
// their bounds, and move 8 MB several times faster than the defaults
// fixed by the application; an application that does not read keeps its
// receive buffer where it was, whatever the peer sends.
func TestAutotune(t *testing.T) {
	const n = 8 << 20
	run := func(cfg Config) (time.Duration, *Conn, *Conn) {
		l, a, b := pair(t, 1, cfg)
		l.delay = time.Millisecond
		l.run(time.Second, established(a, b))
		return oneWay(t, l, a, b, n), a, b
	}
	fixed, _, _ := run(Config{SndBuf: 65536, RcvBuf: 131072})
	tuned, a, b := run(Config{})
	t.Logf("8 MB at 2 ms RTT: fixed buffers %v, tuned %v; send buffer %d, receive buffer %d", fixed, tuned, a.cfg.SndBuf, b.cfg.RcvBuf)
	if a.cfg.SndBuf <= 65536 || b.cfg.RcvBuf <= 131072 {
		t.Fatalf("buffers did not grow: send %d, receive %d", a.cfg.SndBuf, b.cfg.RcvBuf)
	}
	if a.cfg.SndBuf > a.cfg.SndBufMax || b.cfg.RcvBuf > b.cfg.RcvBufMax || len(b.rcvBuf.buf) != b.cfg.RcvBuf {
		t.Fatalf("buffers past their bounds: send %d of %d, receive %d of %d", a.cfg.SndBuf, a.cfg.SndBufMax, b.cfg.RcvBuf, b.cfg.RcvBufMax)
	}
	if tuned*3 > fixed {
		t.Fatalf("tuned buffers took %v, fixed %v: not 3× faster", tuned, fixed)
	}
	if b.rcvShift != rcvShift(6<<20) {
		t.Fatalf("window scale %d offered, want %d to cover the tuned maximum", b.rcvShift, rcvShift(6<<20))
	}

	// A reader that does not read: the peer fills the window, no more.
	l, a, b := pair(t, 2, Config{})
	l.delay = time.Millisecond
	l.run(time.Second, established(a, b))
	data := make([]byte, 1<<20)
	for end := l.now + 2*time.Second; l.now < end; {
		a.Write(data)
		if !l.step() {
			break
		}
	}
	if b.cfg.RcvBuf != 131072 || b.Readable() > 131072 || b.Readable() < 131072-2*1460 {
		t.Fatalf("an unread receive buffer of %d holds %d", b.cfg.RcvBuf, b.Readable())
	}
}

// TestBackoffRecovers: after a timeout, the ACK of the retransmission
// carries our echoed timestamp, which times it (RFC 7323 §4.1) although
// Karn's rule forbids a sequence-timed sample: the RTO comes back from
// its backoff at once instead of staying doubled until new data is timed.
func TestBackoffRecovers(t *testing.T) {
	l, a, b := pair(t, 1, Config{})
	l.run(time.Second, established(a, b))
	drops := 2
	l.drop = func(from int, s *Segment) bool {
		if from == 0 && len(s.Payload) > 0 && drops > 0 {
			drops--
			return true
		}
		return false
	}
	a.Write([]byte("lost twice"))
	l.run(l.now+10*time.Second, func() bool { return a.rto.Backoffs() == 2 })
	l.run(l.now+10*time.Second, func() bool { return b.Readable() == 10 && a.SndUna() == a.SndMax() })
	if a.rto.Backoffs() != 0 || a.rto.Timeout() > time.Second {
		t.Fatalf("after the retransmission was acknowledged: %d backoffs, RTO %v", a.rto.Backoffs(), a.rto.Timeout())
	}
}

// TestSequenceWrap: both sequence spaces cross 2^32 during a transfer
// under loss (RFC 9293 §3.4: sequence numbers are compared modulo 2^32).
func TestSequenceWrap(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	l := newLink(t, a, b, 3)
	l.accISS = ^Seq(0) - 200_000
	b.Listen()
	a.Connect(0, ^Seq(0)-100_000)
	l.run(time.Second, established(a, b))
	l.loss = 0.02
	transfer(t, l, a, b, 1<<20, time.Minute)
	if uint32(a.SndUna()) > 1<<20 || uint32(b.SndUna()) > 1<<20 {
		// (Numerically small: past 2^32 from an ISS just below it.)
		t.Fatalf("the sequence numbers did not wrap: %d, %d", a.SndUna(), b.SndUna())
	}
}
