package tcp

import (
	"errors"
	"time"
)

// Socket options of a connection (the shim maps setsockopt to these), and
// TCP_INFO.

// SetNoDelay is TCP_NODELAY: no Nagle (RFC 9293 §3.7.4).
func (c *Conn) SetNoDelay(on bool) { c.cfg.NoDelay = on }

// SetCork is TCP_CORK (and MSG_MORE for one write): partial segments wait
// until the cork is removed, a segment fills, or corkTimeout passes, as
// in Linux.
func (c *Conn) SetCork(on bool) {
	c.cork = on
	if !on && !c.more {
		c.corkAt = 0
	}
}

// SetMore is MSG_MORE for the writes that follow, until a write without
// it: a partial segment waits for the rest, as under TCP_CORK, at most
// corkTimeout (Linux holds it until the next write; the bound keeps a
// program that never writes again from stalling its last bytes).
func (c *Conn) SetMore(on bool) {
	c.more = on
	if !on && !c.cork {
		c.corkAt = 0
	}
}

// corkTimeout is how long corked data waits at most (Linux: 200 ms).
const corkTimeout = 200 * time.Millisecond

// SetQuickAck is TCP_QUICKACK: ACK at once instead of delaying, for the
// next quickAckSegments segments.
func (c *Conn) SetQuickAck() { c.quickAcks = quickAckSegments }

// quickAckSegments is how many segments a connection ACKs at once at its
// start, and after TCP_QUICKACK (Linux enters its quick-ACK mode for up
// to 16 segments).
const quickAckSegments = 16

// SetMaxSeg is TCP_MAXSEG: an upper bound on the MSS we advertise and
// send (before the connection, or later to lower it).
func (c *Conn) SetMaxSeg(n int) error {
	if n < 88 || n > 65495 {
		return errors.New("tcp: TCP_MAXSEG out of range")
	}
	c.cfg.MSS = uint16(min(int(c.cfg.MSS), n))
	c.mss = min(c.mss, uint32(n))
	return nil
}

// SetPathMTU lowers the MSS to what a path MTU leaves (RFC 1191: an ICMP
// "fragmentation needed" for the connection). The segment that drew the
// message was dropped, and so will be every one in flight of the old
// size: they go again at once, cut to the new size, and the congestion
// window stays, for this is no congestion (Linux's
// tcp_simple_retransmit).
func (c *Conn) SetPathMTU(mtu int) {
	m := uint32(max(mtu-40, minMSS))
	if m >= c.mss {
		return
	}
	c.mss = m
	if c.sb != nil {
		c.sb.mss = uint32(c.segSize())
		c.sb.Reset()
	}
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
		if c.sndNxt != c.sndUna {
			c.sndNxt, c.timing = c.sndUna, false
			c.recovery, c.dupAcks = false, 0
		}
	}
}

// InFlight reports whether seq was sent and is not yet acknowledged: an
// ICMP error quoting it is about this connection's traffic (RFC 5927
// §4.1).
func (c *Conn) InFlight(seq Seq) bool { return c.sndUna.LessEq(seq) && seq.LessThan(c.sndMax) }

// SetCongestion is TCP_CONGESTION: "reno" or "cubic".
func (c *Conn) SetCongestion(name string) error {
	if name != "reno" && name != "cubic" {
		return errors.New("tcp: unknown congestion control " + name)
	}
	c.cfg.Congestion = name
	c.cc = NewCongestion(name, c.mss)
	return nil
}

// SetKeepalive is SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT: after idle without a segment from the peer, a probe goes
// every intvl; cnt unanswered probes end the connection (RFC 9293
// §3.8.4; Linux's defaults are 2 h, 75 s, 9).
func (c *Conn) SetKeepalive(on bool, idle, intvl time.Duration, cnt int) {
	c.keepalive, c.kaIdle, c.kaIntvl, c.kaCnt = on, idle, intvl, cnt
	c.kaSent = 0
}

// SetUserTimeout is TCP_USER_TIMEOUT: data unacknowledged for longer ends
// the connection (RFC 5482); 0 turns it off.
func (c *Conn) SetUserTimeout(d time.Duration) { c.userTimeout = d }

// Info is what TCP_INFO reports.
type Info struct {
	State              State
	RTT, RTTVar, RTO   time.Duration
	Cwnd, Ssthresh     uint32 // bytes
	SndMSS             uint32
	Retransmits        uint64 // segments sent again
	Timeouts           uint64 // retransmission timer expiries
	Recoveries         uint64 // fast recoveries entered
	Backoff            uint   // RTO backoffs of the current timer
	Unacked            uint32 // bytes in flight
	SndWnd, RcvWnd     uint32
	WScale             [2]uint8 // send, receive shifts
	Timestamps, SACK   bool
	BytesSent, BytesRx uint64
	MinRTT, RcvRTT     time.Duration // the base RTT of the sender's samples, and the receiver's estimate
	RcvSpace           int           // the most the application read in one round trip (autotuning)
	SndBuf, RcvBuf     int           // the buffers' sizes, as tuned
}

// Info reports the connection's state and counters.
func (c *Conn) Info() Info {
	return Info{State: c.state, RTT: c.rto.SRTT(), RTTVar: c.rto.RTTVar(), RTO: c.rto.Timeout(),
		Cwnd: c.cc.Cwnd(), Ssthresh: c.cc.Ssthresh(), SndMSS: uint32(c.segSize()), Retransmits: c.retransmits,
		Timeouts: c.timeouts, Recoveries: c.recoveries,
		Backoff: c.rto.Backoffs(), Unacked: c.sndMax.Sub(c.sndUna), SndWnd: c.sndWnd, RcvWnd: c.window(),
		WScale: [2]uint8{c.sndShift, c.rcvShift}, Timestamps: c.tsOK, SACK: c.sackOK,
		BytesSent: c.bytesSent, BytesRx: c.bytesRx, MinRTT: c.minRTT.v, RcvRTT: c.rcvRTT.v, RcvSpace: c.rcvSpace,
		SndBuf: c.sndBuf.size, RcvBuf: c.rcvBuf.size}
}
