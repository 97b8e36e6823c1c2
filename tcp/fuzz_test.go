package tcp

import (
	"encoding/binary"
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
