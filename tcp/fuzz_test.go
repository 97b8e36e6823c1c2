package tcp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// FuzzInput feeds arbitrary segments to connections in every state a
// peer can reach: an established one, one in SYN-SENT and one in
// SYN-RECEIVED. Nothing may panic and the invariants must hold after
// every segment; Output must keep working.
func FuzzInput(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1, wire.TCPAck, 0, 255, 10})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, wire.TCPRst, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, wire.TCPSyn | wire.TCPAck, 3, 0, 0, 0, 0, 0, 0, 0, 0, wire.TCPFin | wire.TCPAck, 0, 1, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		est := New(Config{RcvBuf: 4096, SndBuf: 4096, MSS: 536})
		peer := New(Config{RcvBuf: 4096, SndBuf: 4096, MSS: 536})
		l := newLink(t, est, peer, 1)
		peer.Listen()
		est.Connect(0, 1000)
		l.run(time.Second, established(est, peer))
		est.Write([]byte("some data to have in flight"))
		est.Output(l.now, func(*Segment) {})
		syn := New(Config{})
		syn.Connect(0, 5000)
		syn.Output(0, func(*Segment) {})
		rcvd := New(Config{})
		rcvd.Accept(0, &Segment{Seq: 9000, Flags: wire.TCPSyn, Window: 1000}, 2000)
		rcvd.Output(0, func(*Segment) {})
		now := l.now
		payload := make([]byte, 600)
		rbuf := make([]byte, 700)
		for len(data) >= 12 {
			// seq and ack as offsets from what each connection expects,
			// so that the fuzzer reaches the interesting windows.
			seqOff := int32(binary.BigEndian.Uint32(data[0:4]))
			ackOff := int32(binary.BigEndian.Uint32(data[4:8]))
			flags, opt, win, n := data[8], data[9], data[10], int(data[11])%len(payload)
			data = data[12:]
			for _, c := range []*Conn{est, syn, rcvd} {
				s := Segment{Seq: c.rcvNxt + Seq(seqOff), Ack: c.sndUna + Seq(ackOff), Flags: flags,
					Window: uint16(win) << 4, Payload: payload[:n]}
				if opt&1 != 0 {
					s.Opts.HasTimestamp, s.Opts.TSVal = true, uint32(seqOff)
				}
				if opt&2 != 0 {
					s.Opts.MSS = uint16(ackOff)
				}
				if opt&4 != 0 {
					s.Opts.HasWS, s.Opts.WS = true, opt>>4
				}
				c.Input(now, &s)
				checkInvariants(t, c)
				now += time.Millisecond
				c.Output(now, func(*Segment) {})
				c.Read(rbuf)
				checkInvariants(t, c)
			}
		}
	})
}

// FuzzListener feeds arbitrary segments from a few clients to a listener
// with a small backlog (so that SYN cookies are made and checked), and
// the segments of the connections it makes back to those connections:
// nothing may panic, the queues stay within the backlog, and every
// connection it makes keeps the invariants.
func FuzzListener(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, wire.TCPSyn, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, wire.TCPAck, 1, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, wire.TCPSyn, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, wire.TCPSyn, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, wire.TCPSyn, 4, 0, 0})
	isn, err := NewISN()
	if err != nil {
		f.Fatal(err)
	}
	cookies, err := NewCookies()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const backlog = 2
		l := NewListener(Config{RcvBuf: 4096, SndBuf: 4096}, backlog, isn, cookies)
		local := netip.MustParseAddrPort("10.0.0.1:80")
		conns := map[Tuple]*Conn{}
		// The last SYN-ACK each client got: the fuzzer's ACK numbers
		// are offsets from it, so that cookies and handshakes complete.
		lastISS := map[Tuple]Seq{}
		var reply Segment
		now := time.Second
		payload := make([]byte, 300)
		for len(data) >= 12 {
			seq := Seq(binary.BigEndian.Uint32(data[0:4]))
			ackOff := int32(binary.BigEndian.Uint32(data[4:8]))
			flags, client, win, n := data[8], data[9], data[10], int(data[11])%len(payload)
			data = data[12:]
			tu := Tuple{Local: local, Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 2}), 1000+uint16(client%5))}
			s := Segment{Seq: seq, Ack: lastISS[tu] + 1 + Seq(ackOff), Flags: flags, Window: uint16(win) << 6, Payload: payload[:n]}
			if client&8 != 0 {
				s.Opts.MSS = uint16(ackOff)
			}
			if c := conns[tu]; c != nil {
				c.Input(now, &s)
				l.Update(tu)
				c.Output(now, func(*Segment) {})
				checkInvariants(t, c)
				if c.State() == Closed {
					delete(conns, tu)
				}
			} else {
				switch v, c := l.Input(now, tu, &s, &reply); v {
				case Reply:
					if reply.Flags&wire.TCPSyn != 0 {
						lastISS[tu] = reply.Seq
					}
				case Made:
					if c == nil {
						t.Fatal("Made without a connection")
					}
					conns[tu] = c
					c.Output(now, func(o *Segment) {
						if o.Flags&wire.TCPSyn != 0 {
							lastISS[tu] = o.Seq
						}
					})
					checkInvariants(t, c)
				}
			}
			if l.SynQueue() > backlog || l.Pending() > backlog {
				t.Fatalf("queues past the backlog of %d: SYN %d, accept %d", backlog, l.SynQueue(), l.Pending())
			}
			if client&16 != 0 {
				l.Accept()
			}
			now += 10 * time.Millisecond
		}
	})
}
