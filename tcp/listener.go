package tcp

import (
	"net/netip"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// Listener is a socket in LISTEN (RFC 9293 §3.10.7.2) with Linux's two
// queues: the SYN queue (connections in SYN-RECEIVED, answered by their
// own SYN-ACK) and the accept queue (established, waiting for accept),
// each bounded by the backlog. When the SYN queue is full, SYNs are
// answered with SYN cookies (RFC 4987 §3.6) and cost no memory, so that a
// SYN flood does not keep legitimate clients out.
//
// The stack owns the 4-tuple table: a segment for no known connection
// goes to the listener of its local address and port, and the listener
// says what to do with it.
type Listener struct {
	cfg     Config
	backlog int
	isn     *ISN
	cookies *Cookies
	synq    map[Tuple]*Conn
	acceptq []Accepted

	// CookiesSent counts SYN-ACKs that carried a cookie; CookiesOK the
	// connections a valid cookie made.
	CookiesSent, CookiesOK uint64
}

// Tuple names a connection: its local and remote ends.
type Tuple struct{ Local, Remote netip.AddrPort }

// Accepted is a connection ready for accept.
type Accepted struct {
	Tuple
	Conn *Conn
}

// NewListener makes a listener; cfg is given to its connections.
func NewListener(cfg Config, backlog int, isn *ISN, cookies *Cookies) *Listener {
	cfg.defaults()
	// Linux clamps the backlog to somaxconn (4096) and takes at least 1.
	backlog = min(max(backlog, 1), 4096)
	return &Listener{cfg: cfg, backlog: backlog, isn: isn, cookies: cookies, synq: map[Tuple]*Conn{}}
}

// SetBacklog changes the backlog (a second listen call).
func (l *Listener) SetBacklog(n int) { l.backlog = min(max(n, 1), 4096) }

// Verdict is what the stack does with a segment the listener took.
type Verdict int

const (
	Drop  Verdict = iota // nothing to do
	Reply                // send the segment Input returned (a RST, or a cookie SYN-ACK)
	Made                 // a connection was made: register it by its tuple; it has output
)

// Input takes a segment for no known connection. It returns what to do,
// the segment to reply with (Reply), or the new connection (Made), which
// is in SYN-RECEIVED (in the SYN queue) or, from a cookie, ESTABLISHED
// (already in the accept queue).
func (l *Listener) Input(now time.Duration, t Tuple, s *Segment, reply *Segment) (Verdict, *Conn) {
	switch {
	case s.has(wire.TCPRst):
		return Drop, nil // RFC 9293 §3.10.7.2: ignore a RST
	case s.has(wire.TCPAck) && !s.has(wire.TCPSyn):
		if c := l.fromCookie(now, t, s); c != nil {
			return Made, c
		}
		// An ACK to a listener: <SEQ=SEG.ACK><CTL=RST>.
		*reply = Segment{Seq: s.Ack, Flags: wire.TCPRst}
		return Reply, nil
	case !s.has(wire.TCPSyn) || s.has(wire.TCPAck) || s.has(wire.TCPFin):
		return Drop, nil
	}
	if len(l.acceptq) >= l.backlog {
		// Linux drops SYNs while the accept queue is full: the client
		// retransmits, by then accept may have made room.
		return Drop, nil
	}
	if len(l.synq) >= l.backlog {
		iss, mss := l.cookies.Make(t.Local, t.Remote, s.Seq, s.Opts.MSS, now)
		*reply = Segment{Seq: iss, Ack: s.Seq.Add(1), Flags: wire.TCPSyn | wire.TCPAck, Window: uint16(min(l.cfg.RcvBuf, 65535))}
		reply.Opts.MSS = mss
		l.CookiesSent++
		return Reply, nil
	}
	c := New(l.cfg)
	c.Accept(now, s, l.isn.Next(t.Local, t.Remote, now))
	l.synq[t] = c
	return Made, c
}

// fromCookie makes an established connection from the final ACK of a
// cookie handshake, or nil if the ACK carries no valid cookie.
func (l *Listener) fromCookie(now time.Duration, t Tuple, s *Segment) *Conn {
	isn := s.Seq.Add(^uint32(0)) // SEG.SEQ - 1: the client's ISN
	cookie := s.Ack.Add(^uint32(0))
	mss, ok := l.cookies.Check(t.Local, t.Remote, isn, cookie, now)
	if !ok || len(l.acceptq) >= l.backlog {
		return nil
	}
	c := New(l.cfg)
	syn := Segment{Seq: isn, Flags: wire.TCPSyn, Window: s.Window}
	syn.Opts.MSS = mss
	c.Accept(now, &syn, cookie)
	// The SYN-ACK went out long ago (it was the cookie): the connection
	// is established by this ACK.
	c.sndNxt, c.sndMax = cookie.Add(1), cookie.Add(1)
	c.Input(now, s)
	if c.state != Established {
		return nil
	}
	l.CookiesOK++
	l.acceptq = append(l.acceptq, Accepted{Tuple: t, Conn: c})
	return c
}

// Update moves the connections of the SYN queue that are established to
// the accept queue, and forgets those that died. The stack calls it after
// a connection in the SYN queue took a segment or ran its timers.
func (l *Listener) Update(t Tuple) {
	c := l.synq[t]
	if c == nil {
		return
	}
	switch c.State() {
	case SynReceived:
		return
	case Established, CloseWait:
		l.acceptq = append(l.acceptq, Accepted{Tuple: t, Conn: c})
	}
	delete(l.synq, t)
}

// Accept takes the oldest established connection, or false if none.
func (l *Listener) Accept() (Accepted, bool) {
	if len(l.acceptq) == 0 {
		return Accepted{}, false
	}
	a := l.acceptq[0]
	l.acceptq = l.acceptq[1:]
	return a, true
}

// Pending is how many connections wait for accept (readiness).
func (l *Listener) Pending() int { return len(l.acceptq) }

// SynQueue is how many connections are in SYN-RECEIVED.
func (l *Listener) SynQueue() int { return len(l.synq) }
