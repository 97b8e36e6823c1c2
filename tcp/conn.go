package tcp

import (
	"errors"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// This file is the connection: the state machine of RFC 9293 §3.3.2 and
// the event processing of §3.10, as a pure machine. Segments come in
// through Input with the time; Output hands out what is due (data, ACKs,
// retransmissions, FIN) and Deadline says when the machine next needs the
// clock. The caller (the stack) owns the I/O, the clock and the lock.

// State is a connection state (RFC 9293 §3.3.2).
type State int

const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "STATE?"
}

// Errors a connection ends with; the shim maps them to errno.
var (
	ErrRefused  = errors.New("tcp: connection refused")   // RST in answer to our SYN (ECONNREFUSED)
	ErrReset    = errors.New("tcp: connection reset")     // RST on a synchronized connection (ECONNRESET)
	ErrTimedOut = errors.New("tcp: connection timed out") // retransmissions exhausted (ETIMEDOUT)
)

// Segment is a segment as the machine sees it: the header fields, the
// options, and the payload (a view, valid during Input or emit).
type Segment struct {
	Seq, Ack Seq
	Flags    uint8 // wire.TCPSyn, ...
	Window   uint16
	Opts     wire.TCPOptions
	Payload  []byte
}

// Len is the sequence space the segment takes: payload, SYN and FIN.
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&wire.TCPSyn != 0 {
		n++
	}
	if s.Flags&wire.TCPFin != 0 {
		n++
	}
	return n
}

func (s *Segment) has(f uint8) bool { return s.Flags&f != 0 }

// Config of a connection.
type Config struct {
	MSS uint16 // ours, from the path MTU; default 1460
	// SndBuf and RcvBuf are SO_SNDBUF and SO_RCVBUF. Left 0, each starts
	// at Linux's default (64 KiB and 128 KiB) and is tuned to the
	// connection (sndTune, rcvTune) up to SndBufMax and RcvBufMax, by
	// default Linux's tcp_wmem[2] and tcp_rmem[2] (4 and 6 MiB); set by
	// the application, it is fixed, as Linux locks it.
	SndBuf, RcvBuf       int
	SndBufMax, RcvBufMax int
	MSL                  time.Duration // TIME-WAIT lasts 2×MSL; default 30s (Linux's 60s TIME-WAIT)
	FinTimeout           time.Duration // FIN-WAIT-2 without the peer's FIN; default 60s
	Congestion           string        // "cubic" (default) or "reno"
	NoDelay              bool          // TCP_NODELAY: no Nagle
	// Retries bounds retransmissions of one segment before the
	// connection times out; default 15 (tcp_retries2), 6 for a SYN.
	Retries, SynRetries int
	// DelayedAck is the longest an ACK waits; default 40 ms (Linux's
	// minimum delayed-ACK timeout).
	DelayedAck time.Duration

	autoSnd, autoRcv bool // the buffers are tuned (not set by the application)
}

func (c *Config) defaults() {
	if c.MSS == 0 {
		c.MSS = 1460
	}
	if c.SndBuf == 0 {
		c.SndBuf, c.autoSnd = 65536, true
	}
	if c.RcvBuf == 0 {
		c.RcvBuf, c.autoRcv = 131072, true
	}
	if c.SndBufMax == 0 {
		c.SndBufMax = 4 << 20
	}
	if c.RcvBufMax == 0 {
		c.RcvBufMax = 6 << 20
	}
	if c.MSL == 0 {
		c.MSL = 30 * time.Second
	}
	if c.FinTimeout == 0 {
		c.FinTimeout = 60 * time.Second
	}
	if c.Congestion == "" {
		c.Congestion = "cubic"
	}
	if c.Retries == 0 {
		c.Retries = 15
	}
	if c.SynRetries == 0 {
		c.SynRetries = 6
	}
	if c.DelayedAck == 0 {
		c.DelayedAck = 40 * time.Millisecond
	}
}

// Conn is one TCP connection, named by RFC 9293's variables.
type Conn struct {
	cfg   Config
	state State
	err   error

	iss, irs Seq
	// Send sequence space (§3.3.1): sndUna ≤ sndNxt ≤ sndMax; sndMax is
	// the highest ever sent (a retransmission rewinds sndNxt).
	sndUna, sndNxt, sndMax Seq
	sndWnd                 uint32 // the peer's window, scaled
	maxSndWnd              uint32 // the largest window the peer offered (RFC 5961 §5.2)
	sndWl1, sndWl2         Seq
	rcvNxt                 Seq

	// Negotiated options (RFC 7323, RFC 2018).
	sndShift, rcvShift uint8
	wsOK, tsOK, sackOK bool
	tsRecent           uint32
	mss                uint32 // the largest payload we send

	// The buffers and the RTO estimator live inside the connection, not
	// behind pointers: a segment's processing then touches fewer cache
	// lines, which after each kick are cold (the receive path measured
	// ~0.3 µs of misses per segment on the AF_XDP VI).
	sndBuf  SendBuffer // from sndUna (the first unacknowledged data byte)
	rcvBuf  RecvBuffer // from rcvNxt
	closing bool       // the application closed: FIN after the data
	finSent bool
	rcvFin  bool   // the peer's FIN arrived
	events  uint64 // readiness changes, for edge-triggered waiters (Events)

	// Buffer autotuning (rcvTune): the bytes the application read and
	// that arrived in order since rcvTuneAt, and the most of both in
	// one round trip.
	rcvCopied, rcvArrived, rcvSpace int
	rcvTuneAt                       time.Duration
	minRTT                          windowMin // the sender's samples
	rcvRTT                          windowMin // the receiver's estimate (rcvRTTMeasure)
	rcvRTTAt                        time.Duration
	rcvRTTSeq                       Seq
	// The largest flight of this window (until flightMark is acked)
	// and of the last: whether the congestion window limits the sender.
	maxFlight, lastMaxFlight uint32
	flightMark               Seq

	rto      RTO
	rtxAt    time.Duration // retransmission (or persist) deadline; 0: none
	retries  int
	rttSeq   Seq // the segment being timed (Karn: never a retransmitted one)
	rttAt    time.Duration
	timing   bool
	cc       Congestion
	dupAcks  int
	recover  Seq // the recovery point (RFC 6582, RFC 6675 §5)
	recovery bool
	sb       *Scoreboard // SACK-based recovery (RFC 6675), when SACK is on
	blocks   [wire.MaxSACKBlocks]Block

	ackNow   bool
	oowAckAt time.Duration // the last ACK for an unacceptable segment without data
	ackAt    time.Duration // delayed ACK deadline; 0: none
	unacked  int           // full segments received since our last ACK
	rstNext  *Segment      // a RST to send (in answer to a segment)
	timeAt   time.Duration // TIME-WAIT or FIN-WAIT-2 deadline
	lastSeen time.Duration

	// Options (options.go).
	cork, more         bool
	corkAt             time.Duration
	quickAcks          int
	keepalive          bool
	kaIdle, kaIntvl    time.Duration
	kaCnt, kaSent      int
	kaProbe            bool
	userTimeout        time.Duration
	unackedSince       time.Duration
	retransmits        uint64
	timeouts           uint64
	recoveries         uint64
	bytesSent, bytesRx uint64

	scratch []byte  // one segment's payload, for Output (taken at the first data segment)
	out     Segment // the segment Output hands to emit (no allocation)
	rst     Segment
}

// New makes a closed connection.
func New(cfg Config) *Conn {
	cfg.defaults()
	c := &Conn{cfg: cfg, rto: *NewRTO(), sndBuf: SendBuffer{size: cfg.SndBuf}, rcvBuf: RecvBuffer{size: cfg.RcvBuf}}
	c.cc = NewCongestion(cfg.Congestion, uint32(cfg.MSS))
	c.mss = uint32(cfg.MSS)
	return c
}

// State is the connection's state.
func (c *Conn) State() State { return c.state }

// Err is why the connection ended, or nil.
func (c *Conn) Err() error { return c.err }

// Connect starts an active open with initial sequence number iss (from
// ISN, RFC 6528): the SYN goes with the next Output.
func (c *Conn) Connect(now time.Duration, iss Seq) {
	c.iss, c.sndUna, c.sndNxt, c.sndMax = iss, iss, iss, iss
	c.state = SynSent
	c.lastSeen = now
}

// Listen makes the connection wait for a SYN (a passive open). The ISS of
// the answer is given by Accept.
func (c *Conn) Listen() { c.state = Listen }

// Accept answers a SYN that a listener received with a SYN-ACK from iss:
// the connection is in SYN-RECEIVED after it.
func (c *Conn) Accept(now time.Duration, syn *Segment, iss Seq) {
	c.iss, c.sndUna, c.sndNxt, c.sndMax = iss, iss, iss, iss
	c.synReceived(now, syn)
	c.state = SynReceived
}

// synReceived takes the peer's SYN: its sequence number, window and
// options (RFC 9293 §3.10.7.2, RFC 7323 §2.2 and §3.2, RFC 2018 §2).
func (c *Conn) synReceived(now time.Duration, s *Segment) {
	c.irs = s.Seq
	c.rcvNxt = s.Seq.Add(1)
	if s.Opts.MSS != 0 {
		// Linux's floor (TCP_MIN_SND_MSS): a tiny MSS would make
		// segments of options alone, or none.
		c.mss = min(uint32(c.cfg.MSS), max(uint32(s.Opts.MSS), minMSS))
	} else {
		c.mss = min(uint32(c.cfg.MSS), 536) // RFC 9293 §3.7.1: the default send MSS
	}
	if s.Opts.HasWS {
		c.wsOK = true
		c.sndShift = s.Opts.WS
		c.rcvShift = rcvShift(c.cfg.rcvSpaceMax())
	}
	c.sackOK = s.Opts.SACKPermitted
	if c.sackOK {
		c.sb = NewScoreboard(c.mss)
	}
	if s.Opts.HasTimestamp {
		c.tsOK = true
		c.tsRecent = s.Opts.TSVal
	}
	if c.sb != nil {
		c.sb = NewScoreboard(uint32(c.segSize()))
	}
	// A SYN's window is never scaled (RFC 7323 §2.2).
	c.sndWnd = uint32(s.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = s.Seq, s.Ack
	c.cc = NewCongestion(c.cfg.Congestion, c.mss)
	c.lastSeen = now
	c.quickAcks = quickAckSegments
}

// rcvSpaceMax is the largest the receive buffer may become: the window
// scale offered in the SYN must cover it (RFC 7323 §2.2: the shift is
// fixed for the connection's life).
func (c *Config) rcvSpaceMax() int {
	if c.autoRcv {
		return max(c.RcvBuf, c.RcvBufMax)
	}
	return c.RcvBuf
}

// rcvShift is the smallest window scale that lets the window cover buf.
func rcvShift(buf int) uint8 {
	var s uint8
	for buf>>s > 65535 && s < 14 {
		s++
	}
	return s
}

// Write queues data to send and returns how much the send buffer took.
func (c *Conn) Write(p []byte) int {
	switch c.state {
	case SynSent, SynReceived, Established, CloseWait:
	default:
		return 0
	}
	if c.closing {
		return 0
	}
	return c.sndBuf.Write(p)
}

// Writable is the room in the send buffer (0 once writing is over).
func (c *Conn) Writable() int {
	switch c.state {
	case SynSent, SynReceived, Established, CloseWait:
		if !c.closing {
			return c.sndBuf.Free()
		}
	}
	return 0
}

// Read takes received data in order. A window update becomes due when
// reading opens the window by a segment or half the buffer (RFC 9293
// §3.8.6.2.2, receiver's silly window syndrome avoidance).
func (c *Conn) Read(p []byte) int {
	before := c.rcvBuf.Window()
	n := c.rcvBuf.Read(p)
	c.rcvCopied += n
	if after := c.rcvBuf.Window(); before < int(c.mss) && after >= min(int(c.mss), c.cfg.RcvBuf/2) {
		c.ackNow = true
	}
	return n
}

// Readable is how many bytes are ready to read.
func (c *Conn) Readable() int { return c.rcvBuf.Readable() }

// EOF reports whether the peer's FIN has arrived and everything before it
// was read: a read returns 0.
func (c *Conn) EOF() bool { return c.rcvFin && c.rcvBuf.Readable() == 0 }

// PeerClosed reports whether the peer's FIN has arrived (POLLRDHUP).
func (c *Conn) PeerClosed() bool { return c.rcvFin }

// Closing reports whether the application ended its writing side
// (shutdown or close).
func (c *Conn) Closing() bool { return c.closing }

// Events counts what may change the connection's readiness: data in
// order, the peer's FIN, room freed in the send buffer, the end of the
// handshake, an error. A waiter that saw one count and sees another has
// an edge to report (EPOLLET).
func (c *Conn) Events() uint64 { return c.events }

// Close is the application's close (or shutdown for writing): a FIN
// follows the queued data (RFC 9293 §3.10.4).
func (c *Conn) Close() {
	switch c.state {
	case Listen, SynSent:
		c.state = Closed
	case SynReceived, Established, CloseWait:
		c.closing = true
	}
}

// Abort resets the connection (SO_LINGER 0, or a close with unread data):
// a RST goes with the next Output.
func (c *Conn) Abort() {
	switch c.state {
	case SynReceived, Established, FinWait1, FinWait2, CloseWait:
		c.rstNext = &c.rst
		c.rst = Segment{Seq: c.sndMax, Flags: wire.TCPRst}
	}
	c.state = Closed
}

// ReusableBy reports whether a SYN may open a new incarnation of this
// connection, which is in TIME-WAIT (RFC 9293 §3.6.1 allows it; RFC 6191
// says when it is safe): its sequence number past RCV.NXT, or its
// timestamp newer than the last one seen, and in any case not older
// (PAWS), so that no old duplicate can be taken for new data. This is
// Linux's rule (tcp_timewait_state_process), a little wider than RFC
// 6191's, which with timestamps looks at them alone: a client that
// reconnects within the same millisecond tick keeps its timestamp. The
// stack then forgets this connection and gives the SYN to the listener.
func (c *Conn) ReusableBy(s *Segment) bool {
	if c.state != TimeWait || !s.has(wire.TCPSyn) || s.has(wire.TCPAck|wire.TCPRst) {
		return false
	}
	if c.tsOK && s.Opts.HasTimestamp {
		d := int32(s.Opts.TSVal - c.tsRecent)
		return d > 0 || (d == 0 && c.rcvNxt.LessThan(s.Seq))
	}
	return c.rcvNxt.LessThan(s.Seq)
}

// window is the receive window we advertise, unscaled.
func (c *Conn) window() uint32 { return uint32(c.rcvBuf.Window()) }

// acceptable is the test of RFC 9293 §3.10.7.4 for a segment's first
// and last octet against the receive window.
func (c *Conn) acceptable(s *Segment) bool {
	return Acceptable(s.Seq, s.Len(), c.rcvNxt, c.window())
}

// Input processes one segment that arrived for the connection.
func (c *Conn) Input(now time.Duration, s *Segment) {
	switch c.state {
	case Closed, Listen:
		// The listener and the stack answer these (a RST, or Accept).
		return
	case SynSent:
		c.inputSynSent(now, s)
		return
	}
	c.lastSeen, c.kaSent = now, 0
	if c.state == TimeWait && s.has(wire.TCPFin) && !s.has(wire.TCPRst|wire.TCPSyn) && s.Seq.Add(s.Len()) == c.rcvNxt {
		// The peer's FIN again (our last ACK was lost): it is old, so
		// unacceptable, but RFC 9293 §3.10.7.4 (TIME-WAIT, eighth step)
		// wants it ACKed and the 2×MSL wait restarted, as Linux does.
		c.ackNow = true
		c.enterTimeWait(now)
		return
	}
	if c.state == SynReceived && s.has(wire.TCPSyn) && s.Seq == c.irs {
		// (A copy: the caller's segment is not ours to change.)
		// The peer's SYN again: alone, it did not get our SYN-ACK; with
		// an ACK, it is the SYN-ACK of a simultaneous open (RFC 9293
		// §3.5, figure 8), whose SYN is old and whose ACK is new. Either
		// way the SYN is trimmed, as old data would be.
		if !s.has(wire.TCPAck) {
			c.sndNxt = c.iss
			return
		}
		t := *s
		t.Flags &^= wire.TCPSyn
		t.Seq = t.Seq.Add(1)
		s = &t
	}
	// PAWS (RFC 7323 §5.3): an older timestamp than the last one is a
	// segment from the past; ACK it and drop it.
	if c.tsOK && s.Opts.HasTimestamp && !s.has(wire.TCPRst) && int32(s.Opts.TSVal-c.tsRecent) < 0 {
		c.outOfWindowAck(now, s)
		return
	}
	if !c.acceptable(s) {
		if !s.has(wire.TCPRst) {
			c.outOfWindowAck(now, s) // RFC 9293 §3.10.7.4: ACK and drop
		}
		return
	}
	if s.has(wire.TCPRst) {
		// RFC 5961 §3.2: only a RST at exactly rcvNxt resets; one
		// elsewhere in the window draws a challenge ACK.
		if s.Seq != c.rcvNxt {
			c.ackNow = true
			return
		}
		c.reset(ErrReset)
		return
	}
	if s.has(wire.TCPSyn) {
		// RFC 5961 §4.2: a SYN on a synchronized connection draws a
		// challenge ACK (a SYN-RECEIVED's retransmitted SYN too).
		c.ackNow = true
		return
	}
	if !s.has(wire.TCPAck) {
		return
	}
	if c.state == SynReceived {
		if !c.sndUna.LessThan(s.Ack) || c.sndNxt.LessThan(s.Ack) {
			c.sendRST(s.Ack)
			return
		}
		c.state = Established
		c.sndWnd = uint32(s.Window) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = s.Seq, s.Ack
	}
	if !c.processAck(now, s) {
		return
	}
	if c.tsOK && s.Opts.HasTimestamp && s.Seq.LessEq(c.rcvNxt) {
		c.tsRecent = s.Opts.TSVal // RFC 7323 §4.3
	}
	c.processData(now, s)
}

// outOfWindowAck answers an unacceptable segment with an ACK (RFC 9293
// §3.10.7.4), at most one per oowAckEvery for segments without data:
// two ends that each find the other's ACKs unacceptable would otherwise
// answer each other forever, an ACK storm (RFC 5961 §10; Linux's
// tcp_invalid_ratelimit). Data is answered every time: a peer that
// retransmits what we hold must learn it.
func (c *Conn) outOfWindowAck(now time.Duration, s *Segment) {
	if len(s.Payload) == 0 {
		if c.oowAckAt != 0 && now-c.oowAckAt < oowAckEvery {
			return
		}
		c.oowAckAt = now
	}
	c.ackNow = true
}

// oowAckEvery is Linux's default tcp_invalid_ratelimit.
const oowAckEvery = 500 * time.Millisecond

// inputSynSent is RFC 9293 §3.10.7.3.
func (c *Conn) inputSynSent(now time.Duration, s *Segment) {
	ackOK := false
	if s.has(wire.TCPAck) {
		if s.Ack.LessEq(c.iss) || c.sndNxt.LessThan(s.Ack) {
			if !s.has(wire.TCPRst) {
				c.sendRST(s.Ack)
			}
			return
		}
		ackOK = true
	}
	if s.has(wire.TCPRst) {
		if ackOK {
			c.reset(ErrRefused)
		}
		return
	}
	if !s.has(wire.TCPSyn) {
		return
	}
	c.synReceived(now, s)
	if ackOK {
		c.sndUna = s.Ack
		c.rttSampleAck(now, s.Ack)
		c.rtxAt, c.retries = 0, 0
		c.state = Established
		c.ackNow = true
		c.events++
		return
	}
	// Simultaneous open: answer with SYN-ACK from the same ISS.
	c.state = SynReceived
	c.sndNxt = c.iss
}

// processAck is the ACK step of RFC 9293 §3.10.7.4 for synchronized
// states. It reports whether processing goes on.
func (c *Conn) processAck(now time.Duration, s *Segment) bool {
	ack := s.Ack
	// RFC 5961 §5.2: an ACK is acceptable from SND.UNA - MAX.SND.WND
	// to what we sent; one outside that range (never sent, or older
	// than any window could leave in flight, as a blind injection would
	// guess) draws an ACK and is dropped.
	if c.sndMax.LessThan(ack) || ack.LessThan(c.sndUna.Add(-c.maxSndWnd)) {
		c.outOfWindowAck(now, s)
		return false
	}
	if c.sb != nil && s.Opts.NumSACK > 0 {
		for i := range s.Opts.NumSACK {
			c.blocks[i] = Block{Seq(s.Opts.SACK[i].Left), Seq(s.Opts.SACK[i].Right)}
		}
		c.sb.Update(Max(ack, c.sndUna), c.sndMax, c.blocks[:s.Opts.NumSACK])
	}
	if c.sndUna.LessThan(ack) {
		var ecr uint32
		if c.tsOK && s.Opts.HasTimestamp {
			ecr = s.Opts.TSEcr
		}
		c.newAck(now, ack, ecr)
	} else if ack == c.sndUna && len(s.Payload) == 0 && !s.has(wire.TCPFin) &&
		uint32(s.Window)<<c.sndShift == c.sndWnd && c.sndUna != c.sndMax {
		c.dupAck(now)
	}
	if c.sb != nil && !c.recovery && c.sndUna != c.sndMax && c.sb.IsLost(c.sndUna) {
		c.startRecovery(now) // RFC 6675 §5: IsLost(SND.UNA) starts recovery too
	}
	// The window update (RFC 9293 §3.10.7.4, SND.WL1/WL2).
	if c.sndWl1.LessThan(s.Seq) || (c.sndWl1 == s.Seq && c.sndWl2.LessEq(ack)) {
		c.sndWnd = uint32(s.Window) << c.sndShift
		c.sndWl1, c.sndWl2 = s.Seq, ack
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	}
	if c.sndWnd == 0 {
		c.retries = 0 // the peer answers our probes: it is alive
	}
	finAcked := c.finSent && ack == c.sndMax
	switch c.state {
	case FinWait1:
		if finAcked {
			c.state = FinWait2
			c.timeAt = now + c.cfg.FinTimeout
		}
	case Closing:
		if finAcked {
			c.enterTimeWait(now)
		}
	case LastAck:
		if finAcked {
			c.state = Closed
			return false
		}
	case TimeWait:
		// A retransmitted FIN: ACK it, restart the 2×MSL wait.
		if s.has(wire.TCPFin) {
			c.ackNow = true
			c.enterTimeWait(now)
		}
		return false
	}
	return true
}

// cwndLimited reports whether the congestion window limited the sender
// in this window or the last, so that an ACK may grow it (RFC 7661 §4.3;
// Linux's tcp_is_cwnd_limited): in slow start, a flight of half the
// window; after it, a full window. An application that sends little, or
// a peer's window that holds the flight, does not earn a window never
// used.
func (c *Conn) cwndLimited(flight uint32) bool {
	f, cwnd := max(flight, c.maxFlight, c.lastMaxFlight), c.cc.Cwnd()
	if cwnd < c.cc.Ssthresh() {
		return 2*f >= cwnd
	}
	return f+c.mss >= cwnd
}

// newAck takes an ACK that acknowledges new data.
func (c *Conn) newAck(now time.Duration, ack Seq, ecr uint32) {
	acked := ack.Sub(c.sndUna)
	flight := c.sndMax.Sub(c.sndUna)
	// The SYN and the FIN take sequence space but no buffer.
	data := acked
	if c.sndUna == c.iss {
		data--
	}
	if c.finSent && ack == c.sndMax {
		data--
	}
	c.sndBuf.Ack(int(min(data, uint32(c.sndBuf.Len()))))
	c.events++
	c.sndUna = ack
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}
	c.rttSampleAck(now, ack)
	if c.rto.Backoffs() > 0 && ecr != 0 {
		// A retransmission was acknowledged: Karn's rule leaves no
		// sequence-timed sample, and the backed-off timeout would stay
		// (RFC 6298 §5.7) until new data is timed, which a small window
		// may not allow for long. The echoed timestamp times it anyway
		// (RFC 7323 §4.1: RTTM on every ACK), as Linux does.
		c.rto.Sample(max(time.Duration(tsClock(now)-ecr)*time.Millisecond, time.Microsecond))
	}
	c.retries = 0
	c.sndTune()
	if c.recovery {
		if c.recover.LessEq(ack) {
			c.recovery = false // full ACK: recovery ends (RFC 6582 §3.2 step 3)
		} else if c.sb == nil {
			// A partial ACK: the next hole is lost too; send it now.
			c.sndNxt = c.sndUna
		}
	} else if c.cwndLimited(flight) {
		c.cc.OnAck(acked, now, c.rto.SRTT())
	}
	if c.flightMark.LessEq(ack) {
		c.flightMark, c.lastMaxFlight, c.maxFlight = c.sndMax, c.maxFlight, 0
	}
	c.dupAcks = 0
	if c.sndUna == c.sndMax {
		c.rtxAt, c.unackedSince = 0, 0
	} else {
		c.rtxAt = now + c.rto.Timeout() // RFC 6298 §5.3
		c.unackedSince = now
	}
}

// dupAck counts a duplicate ACK: the third starts fast retransmit and
// recovery (RFC 5681 §3.2, NewReno per RFC 6582).
func (c *Conn) dupAck(now time.Duration) {
	c.dupAcks++
	if c.dupAcks != DupThresh || c.recovery {
		return
	}
	c.startRecovery(now)
}

// startRecovery enters fast recovery: the window halves (RFC 5681 §3.2),
// and the first unacknowledged segment goes again; with SACK, what goes
// is chosen by the scoreboard (RFC 6675 §5).
func (c *Conn) startRecovery(now time.Duration) {
	c.recovery = true
	c.recoveries++
	c.recover = c.sndMax
	c.cc.OnCongestion(c.sndMax.Sub(c.sndUna), now)
	c.timing = false
	if c.sb != nil {
		c.sb.StartRecovery(c.sndUna)
		return
	}
	c.sndNxt = c.sndUna // retransmit the first unacknowledged segment
}

// rttSampleAck takes an RTT sample when the timed segment is acked.
func (c *Conn) rttSampleAck(now time.Duration, ack Seq) {
	if c.timing && c.rttSeq.LessThan(ack) {
		rtt := now - c.rttAt
		c.rto.Sample(rtt)
		c.timing = false
		c.minRTT.add(rtt, now)
	}
}

// processData takes the segment's payload and FIN (RFC 9293 §3.10.7.4,
// seventh and eighth steps).
func (c *Conn) processData(now time.Duration, s *Segment) {
	switch c.state {
	case Established, FinWait1, FinWait2:
	default:
		return
	}
	payload, seq := s.Payload, s.Seq
	if len(payload) > 0 {
		// Trim what was already received.
		if seq.LessThan(c.rcvNxt) {
			skip := c.rcvNxt.Sub(seq)
			if skip >= uint32(len(payload)) {
				payload = nil
			} else {
				payload = payload[skip:]
			}
			seq = c.rcvNxt
		}
		off := int(seq.Sub(c.rcvNxt))
		advance, _ := c.rcvBuf.Put(off, payload)
		if off > 0 || advance == 0 {
			c.ackNow = true // out of order: a duplicate ACK at once (RFC 5681 §4.2)
		} else {
			c.rcvNxt = c.rcvNxt.Add(uint32(advance))
			c.bytesRx += uint64(advance)
			c.rcvArrived += advance
			c.events++
			c.rcvRTTMeasure(now)
			c.rcvTune(now)
			if c.quickAcks > 0 {
				c.quickAcks--
				c.ackNow = true
			} else if c.unacked++; c.unacked >= 2 || !c.rcvBuf.asm.Empty() {
				c.ackNow = true // every second full segment (RFC 9293 §3.8.6.3)
			} else if c.ackAt == 0 {
				c.ackAt = now + c.cfg.DelayedAck
			}
		}
	}
	if s.has(wire.TCPFin) && s.Seq.Add(uint32(len(s.Payload))) == c.rcvNxt {
		c.rcvNxt = c.rcvNxt.Add(1)
		c.rcvFin = true
		c.events++
		c.ackNow = true
		switch c.state {
		case Established:
			c.state = CloseWait
		case FinWait1:
			if c.finSent && c.sndUna == c.sndMax {
				c.enterTimeWait(now)
			} else {
				c.state = Closing
			}
		case FinWait2:
			c.enterTimeWait(now)
		}
	}
}

// rcvTune is receive buffer autotuning (Linux's dynamic right-sizing,
// after Fisk and Feng): once a round trip, what the application read in
// it is what the sender can send per round trip; the buffer grows to
// twice that and 16 segments more, twice again while the rate still
// climbs by a quarter, up to RcvBufMax. It grows only as fast as the
// application reads, so a peer cannot make it grow by sending.
func (c *Conn) rcvTune(now time.Duration) {
	if !c.cfg.autoRcv {
		return
	}
	// The base round trip, not the smoothed one: a window that fills
	// queues (the rings of the VIs) inflates SRTT, and a period measured
	// by it would grow the window that inflates it.
	period := c.minRTT.v
	if period == 0 || (c.rcvRTT.v != 0 && c.rcvRTT.v < period) {
		period = c.rcvRTT.v
	}
	if period == 0 {
		period = time.Millisecond
	}
	period = max(period, 100*time.Microsecond)
	elapsed := now - c.rcvTuneAt
	if elapsed < period {
		return
	}
	// What arrived and was read per round trip, at the rates since the
	// last measure. Arrivals are bounded by the window offered: they
	// reach it, and the buffer grows, only when the window is what holds
	// the sender back. Reads alone burst far above the link's rate
	// (a reader drains in microseconds what gathered while it was
	// descheduled), and the reads bound it so that a reader that does
	// not keep up does not grow it either.
	copied := int(int64(min(c.rcvCopied, c.rcvArrived)) * int64(period) / int64(elapsed))
	c.rcvCopied, c.rcvArrived, c.rcvTuneAt = 0, 0, now
	if copied <= c.rcvSpace {
		return
	}
	climbing := copied >= c.rcvSpace+c.rcvSpace/4
	c.rcvSpace = copied
	want := 2*copied + 16*int(c.mss)
	if climbing {
		want *= 2
	}
	if want = min(want, c.cfg.RcvBufMax); want > c.rcvBuf.size {
		c.rcvBuf.Grow(min(growStep(c.rcvBuf.size, want), c.cfg.RcvBufMax))
		c.cfg.RcvBuf = c.rcvBuf.size
	}
}

// rcvRTTMeasure estimates the round trip on the receiving side, which
// sends no data to time (Linux's tcp_rcv_rtt_measure): the time from
// offering a window to receiving its far edge is at least a round trip,
// and is one when the window limits the sender. The least of the last
// 10 s is kept, as for the sender's samples.
func (c *Conn) rcvRTTMeasure(now time.Duration) {
	if c.rcvRTTAt != 0 && c.rcvNxt.LessThan(c.rcvRTTSeq) {
		return
	}
	if c.rcvRTTAt != 0 {
		c.rcvRTT.add(now-c.rcvRTTAt, now)
	}
	c.rcvRTTSeq, c.rcvRTTAt = c.rcvNxt.Add(c.window()), now
}

// windowMin is a round trip's base: the least sample of the last 10 s
// (Linux's windowed minimum RTT, simplified to one window).
type windowMin struct {
	v, at time.Duration // the minimum (0: none yet) and when it was taken
}

func (w *windowMin) add(sample, now time.Duration) {
	if w.v == 0 || sample <= w.v || now-w.at > 10*time.Second {
		w.v, w.at = max(sample, 1), now
	}
}

// sndTune grows the send buffer with the congestion window (Linux's
// tcp_sndbuf_expand): room for twice the window, so that a full window is
// in flight while the application writes the next, up to SndBufMax.
func (c *Conn) sndTune() {
	if !c.cfg.autoSnd {
		return
	}
	// The flight is the smaller of the two windows: room for more
	// than twice that buys nothing.
	flight := int(min(c.cc.Cwnd(), c.maxSndWnd))
	if want := min(2*flight, c.cfg.SndBufMax); want > c.sndBuf.size {
		c.sndBuf.Grow(min(growStep(c.sndBuf.size, want), c.cfg.SndBufMax))
		c.cfg.SndBuf = c.sndBuf.size
	}
}

// growStep is a buffer's next size toward want: at least double, so that
// a buffer that grows to megabytes is copied a few times, not at every
// round trip.
func growStep(size, want int) int { return max(want, 2*size) }

func (c *Conn) enterTimeWait(now time.Duration) {
	c.state = TimeWait
	c.timeAt = now + 2*c.cfg.MSL
	c.rtxAt = 0
	c.release()
}

// release gives back the memory a connection no longer sends or receives
// with: a connection in TIME-WAIT (Linux keeps a small timewait socket
// instead) or CLOSED holds only its state, and what the application has
// not yet read.
func (c *Conn) release() {
	c.sndBuf.Release()
	c.rcvBuf.Release()
	c.scratch = nil
}

// payloadBuf is the scratch a data segment's payload is copied into.
func (c *Conn) payloadBuf() []byte {
	if c.scratch == nil {
		c.scratch = make([]byte, c.cfg.MSS)
	}
	return c.scratch
}

// EndTimeWait ends TIME-WAIT at once: the stack's bound on connections in
// TIME-WAIT is reached (Linux's tcp_max_tw_buckets: the connection then
// closes without it).
func (c *Conn) EndTimeWait() {
	if c.state == TimeWait {
		c.state, c.timeAt = Closed, 0
	}
}

// reset ends the connection for a RST.
func (c *Conn) reset(err error) {
	c.state = Closed
	c.events++
	c.err = err
	c.rtxAt, c.timeAt, c.ackAt = 0, 0, 0
	c.release()
}

// sendRST queues a RST in answer to an unacceptable ACK (RFC 9293
// §3.10.7.3 and §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>).
func (c *Conn) sendRST(seq Seq) {
	c.rst = Segment{Seq: seq, Flags: wire.TCPRst}
	c.rstNext = &c.rst
}

// Deadline is when the machine next needs Output with the time (a
// retransmission, a delayed ACK, TIME-WAIT's end), or 0.
func (c *Conn) Deadline() time.Duration {
	d := earliest(earliest(c.rtxAt, c.ackAt), earliest(c.timeAt, c.corkAt))
	return earliest(d, c.keepaliveAt())
}

// keepaliveAt is when the next keepalive probe is due, or 0.
func (c *Conn) keepaliveAt() time.Duration {
	if !c.keepalive || (c.state != Established && c.state != CloseWait) || c.sndUna != c.sndMax {
		return 0
	}
	return c.lastSeen + c.kaIdle + time.Duration(c.kaSent)*c.kaIntvl
}

// earliest of two deadlines, 0 meaning none.
func earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Output runs the timers and calls emit for every segment due now, in
// order; emit must copy what it keeps (Payload is the machine's).
func (c *Conn) Output(now time.Duration, emit func(*Segment)) {
	if c.rstNext != nil {
		emit(c.rstNext)
		c.rstNext = nil
	}
	c.timers(now)
	s := &c.out
	switch c.state {
	case Closed, Listen:
		return
	case TimeWait:
		if c.ackNow {
			c.emitAck(now, emit)
		}
		return
	case SynSent, SynReceived:
		if c.sndNxt == c.iss {
			*s = Segment{Seq: c.iss, Flags: wire.TCPSyn}
			if c.state == SynReceived {
				s.Flags |= wire.TCPAck
				s.Ack = c.rcvNxt
			}
			c.synOptions(now, &s.Opts)
			s.Window = uint16(min(c.window(), 65535))
			c.sent(now, s)
			emit(s)
		}
		if c.state == SynSent || c.ackNow {
			// A SYN-RECEIVED from a simultaneous open ACKs with the SYN.
			c.ackNow = false
		}
		return
	}
	sentAny := false
	if c.recovery && c.sb != nil {
		sentAny = c.sackRecovery(now, emit)
	}
	for !c.recovery || c.sb == nil {
		n, fin, ok := c.nextData(now)
		if !ok {
			break
		}
		*s = Segment{Seq: c.sndNxt, Flags: wire.TCPAck | wire.TCPPsh, Ack: c.rcvNxt}
		off := int(c.sndNxt.Sub(c.sndUna))
		buf := c.payloadBuf()
		s.Payload = buf[:c.sndBuf.Peek(off, buf[:n])]
		if fin {
			s.Flags |= wire.TCPFin
			c.finSent = true
		}
		c.header(now, s)
		c.sent(now, s)
		emit(s)
		sentAny = true
	}
	if !sentAny && (c.ackNow || (c.ackAt != 0 && now >= c.ackAt)) {
		c.emitAck(now, emit)
	}
	if c.kaProbe {
		c.kaProbe = false
		s := &c.out
		*s = Segment{Seq: c.sndMax.Add(^uint32(0)), Ack: c.rcvNxt, Flags: wire.TCPAck}
		c.header(now, s)
		emit(s)
	}
	// The persist timer: data waits behind a zero window and nothing is
	// in flight to bring a window update back.
	if c.rtxAt == 0 && c.sndWnd == 0 && c.sndBuf.Len() > int(c.sndNxt.Sub(c.sndUna)) {
		c.rtxAt = now + c.rto.Timeout()
	}
}

// sackRecovery sends during SACK-based loss recovery (RFC 6675 §5,
// step C): while the window has room over the pipe, the segment NextSeg
// chooses, a retransmission from the send buffer or new data.
func (c *Conn) sackRecovery(now time.Duration, emit func(*Segment)) bool {
	sent := false
	seg := uint32(c.segSize())
	for range 64 {
		pipe := c.sb.Pipe(c.sndUna, c.sndMax)
		cwnd := c.cc.Cwnd()
		if cwnd < pipe+seg {
			break
		}
		var newData uint32
		off := c.sndMax.Sub(c.sndUna)
		if pending := uint32(c.sndBuf.Len()); pending > off && c.sndWnd > off {
			newData = min(pending-off, c.sndWnd-off)
		}
		seq, n, rule, ok := c.sb.NextSeg(c.sndUna, c.sndMax, newData)
		if !ok {
			break
		}
		s := &c.out
		*s = Segment{Seq: seq, Flags: wire.TCPAck | wire.TCPPsh, Ack: c.rcvNxt}
		boff := int(seq.Sub(c.sndUna))
		k := min(int(n), int(seg), max(0, c.sndBuf.Len()-boff))
		buf := c.payloadBuf()
		s.Payload = buf[:c.sndBuf.Peek(boff, buf[:k])]
		if c.finSent && seq.Add(uint32(k)).Add(1) == c.sndMax {
			s.Flags |= wire.TCPFin // the FIN rides on the last segment again
		}
		if len(s.Payload) == 0 && s.Flags&wire.TCPFin == 0 {
			break
		}
		c.header(now, s)
		c.sb.Sent(seq, s.Len(), rule, c.recover)
		if rule == RuleNew {
			c.sent(now, s)
		} else {
			c.retransmits++
			if c.rtxAt == 0 {
				c.rtxAt = now + c.rto.Timeout()
			}
		}
		c.ackNow, c.ackAt, c.unacked = false, 0, 0
		emit(s)
		sent = true
	}
	return sent
}

// nextData decides the next data segment: its size, whether it carries
// the FIN, or nothing to send (window, congestion window, Nagle).
func (c *Conn) nextData(now time.Duration) (n int, fin, ok bool) {
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
	default:
		return 0, false, false
	}
	off := int(c.sndNxt.Sub(c.sndUna))
	pending := c.sndBuf.Len() - off
	if c.finSent && c.sndNxt == c.sndMax {
		return 0, false, false
	}
	inFlight := c.sndNxt.Sub(c.sndUna)
	wnd := min(c.sndWnd, c.cc.Cwnd())
	room := 0
	if wnd > inFlight {
		room = int(wnd - inFlight)
	}
	seg := c.segSize()
	n = min(pending, seg, room)
	wantFin := c.closing && n == pending
	if n == 0 && !(wantFin && pending == 0) {
		return 0, false, false
	}
	// Nagle (RFC 9293 §3.7.4): a small segment waits while data is in
	// flight, unless it ends the stream or TCP_NODELAY is on.
	if n < seg && n < pending && !c.cfg.NoDelay && inFlight > 0 {
		return 0, false, false
	}
	if n < seg && !wantFin && !c.cfg.NoDelay && inFlight > 0 && n == pending {
		return 0, false, false
	}
	if (c.cork || c.more) && n < seg && !wantFin {
		// TCP_CORK: a partial segment waits for more, at most corkTimeout.
		if c.corkAt == 0 {
			c.corkAt = now + corkTimeout
		}
		if now < c.corkAt {
			return 0, false, false
		}
	}
	c.corkAt = 0
	return n, wantFin, true
}

// segSize is the payload of a full segment: the MSS less the options
// every segment carries (RFC 9293 §3.7.1: the MSS counts no options;
// RFC 7323's timestamps take 12 bytes of each segment).
func (c *Conn) segSize() int {
	if !c.sackOK || c.rcvBuf.asm.Empty() {
		// No SACK blocks to carry: the options are the timestamps or
		// nothing (the common case, without building them).
		n := 0
		if c.tsOK {
			n = tsOptLen
		}
		return max(int(c.mss)-n, 8)
	}
	var o wire.TCPOptions
	c.options(0, &o)
	return max(int(c.mss)-o.Len(), 8)
}

// tsOptLen is the room the timestamps option takes in every segment.
var tsOptLen = (&wire.TCPOptions{HasTimestamp: true}).Len()

// AckDue reports whether the connection has an ACK or a RST to send now
// (after Read opened the window, say): the caller need not run Output
// otherwise.
func (c *Conn) AckDue() bool { return c.ackNow || c.rstNext != nil }

// minMSS is the smallest MSS a peer may make us use (Linux's
// TCP_MIN_SND_MSS: 48, room for 8 bytes beside 40 of options).
const minMSS = 48

// sent accounts for a segment going out: sequence space, the timer, the
// RTT sample, and the ACK it carries.
func (c *Conn) sent(now time.Duration, s *Segment) {
	end := s.Seq.Add(s.Len())
	if c.sndMax.LessThan(end) {
		if !c.timing {
			c.timing, c.rttSeq, c.rttAt = true, s.Seq, now
		}
		if c.sndUna == c.sndMax {
			c.unackedSince = now
		}
		c.bytesSent += uint64(end.Sub(Max(s.Seq, c.sndMax)))
		c.sndMax = end
		c.maxFlight = max(c.maxFlight, end.Sub(c.sndUna))
	} else {
		if c.timing && s.Seq.LessEq(c.rttSeq) {
			c.timing = false // Karn: a retransmission is never timed
		}
		if s.Len() > 0 {
			c.retransmits++
		}
	}
	c.sndNxt = end
	if c.rtxAt == 0 && s.Len() > 0 {
		c.rtxAt = now + c.rto.Timeout()
	}
	if s.Flags&wire.TCPFin != 0 {
		switch c.state {
		case Established:
			c.state = FinWait1
		case CloseWait:
			c.state = LastAck
		}
	}
	if s.has(wire.TCPAck) {
		c.ackNow, c.ackAt, c.unacked = false, 0, 0
	}
}

func (c *Conn) emitAck(now time.Duration, emit func(*Segment)) {
	s := &c.out
	// SND.NXT of RFC 9293 is sndMax: sndNxt is rewound to retransmit,
	// and an ACK below what the peer holds would be unacceptable to it,
	// its acknowledgment dropped unread.
	*s = Segment{Seq: c.sndMax, Ack: c.rcvNxt, Flags: wire.TCPAck}
	c.header(now, s)
	c.ackNow, c.ackAt, c.unacked = false, 0, 0
	emit(s)
}

// header fills a synchronized segment's window and options.
func (c *Conn) header(now time.Duration, s *Segment) {
	s.Window = uint16(min(c.window()>>c.rcvShift, 65535))
	c.options(now, &s.Opts)
}

// options are a synchronized segment's options: timestamps, and SACK
// blocks while data past RCV.NXT is held.
func (c *Conn) options(now time.Duration, o *wire.TCPOptions) {
	s := struct{ Opts *wire.TCPOptions }{o}
	if c.tsOK {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = tsClock(now)
		s.Opts.TSEcr = c.tsRecent
	}
	if c.sackOK {
		// RFC 2018 §4: the blocks received past RCV.NXT, the most
		// recently changed first (options limit them to three beside
		// the timestamps).
		n := 0
		c.rcvBuf.OutOfOrder(func(off, size int) bool {
			l := c.rcvNxt.Add(uint32(off))
			s.Opts.SACK[n] = wire.SACKBlock{Left: uint32(l), Right: uint32(l.Add(uint32(size)))}
			n++
			return n < wire.MaxSACKBlocks
		})
		s.Opts.NumSACK = n
	}
}

// synOptions are the options of our SYN or SYN-ACK: MSS always; the
// others on a SYN, and on a SYN-ACK when the peer's SYN offered them.
func (c *Conn) synOptions(now time.Duration, o *wire.TCPOptions) {
	o.MSS = c.cfg.MSS
	active := c.state == SynSent
	if active || c.wsOK {
		o.HasWS, o.WS = true, rcvShift(c.cfg.rcvSpaceMax())
	}
	if active || c.sackOK {
		o.SACKPermitted = true
	}
	if active || c.tsOK {
		o.HasTimestamp, o.TSVal, o.TSEcr = true, tsClock(now), c.tsRecent
	}
}

// tsClock is the timestamp clock: milliseconds (RFC 7323 §5.4 allows
// 1 ms to 1 s per tick).
func tsClock(now time.Duration) uint32 { return uint32(now / time.Millisecond) }

// timers runs what is due: retransmission, delayed ACK, TIME-WAIT and
// FIN-WAIT-2 ends.
func (c *Conn) timers(now time.Duration) {
	if c.timeAt != 0 && now >= c.timeAt && (c.state == TimeWait || c.state == FinWait2) {
		c.state = Closed
		c.timeAt = 0
		return
	}
	if c.ackAt != 0 && now >= c.ackAt {
		c.ackNow = true
	}
	if at := c.keepaliveAt(); at != 0 && now >= at {
		if c.kaSent >= c.kaCnt {
			c.reset(ErrTimedOut)
			return
		}
		// A probe: one octet below SND.NXT, which the peer ACKs (RFC 9293
		// §3.8.4).
		c.kaSent++
		c.kaProbe = true
	}
	if c.userTimeout > 0 && c.unackedSince != 0 && now-c.unackedSince >= c.userTimeout {
		c.reset(ErrTimedOut)
		return
	}
	if c.rtxAt == 0 || now < c.rtxAt {
		return
	}
	limit := c.cfg.Retries
	if c.state == SynSent || c.state == SynReceived {
		limit = c.cfg.SynRetries
	}
	if c.retries++; c.retries > limit {
		c.reset(ErrTimedOut)
		return
	}
	// RFC 6298 §5.4-5.6: retransmit the earliest unacknowledged segment,
	// back the timer off; RFC 5681 §3.1: the window collapses.
	c.timeouts++
	c.rto.Backoff()
	c.cc.OnTimeout(c.sndMax.Sub(c.sndUna), now)
	c.recovery, c.dupAcks, c.timing = false, 0, false
	if c.sb != nil {
		c.sb.Reset() // RFC 6675 §5.1
	}
	// Go back to the first unacknowledged byte; a FIN that was sent is
	// sent again after the data before it (nextData), the state stays.
	c.sndNxt = c.sndUna
	if c.sndWnd == 0 && c.sndBuf.Len() > 0 {
		// A zero window: probe it with a byte past it (RFC 9293 §3.8.6.1).
		c.sndWnd = 1
	}
	c.rtxAt = now + c.rto.Timeout()
}

// Debug accessors (tests and TCP_INFO).
func (c *Conn) SndUna() Seq     { return c.sndUna }
func (c *Conn) SndNxt() Seq     { return c.sndNxt }
func (c *Conn) SndMax() Seq     { return c.sndMax }
func (c *Conn) SndWnd() uint32  { return c.sndWnd }
func (c *Conn) Cwnd() uint32    { return c.cc.Cwnd() }
func (c *Conn) Buffered() int   { return c.sndBuf.Len() }
func (c *Conn) MSS() uint32     { return c.mss }
func (c *Conn) SndShift() uint8 { return c.sndShift }
