package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

func newTestListener(t *testing.T, backlog int) *Listener {
	isn, err := NewISN()
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := NewCookies()
	if err != nil {
		t.Fatal(err)
	}
	return NewListener(Config{}, backlog, isn, cookies)
}

func tuple(port uint16) Tuple {
	return Tuple{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)}
}

// handshake runs a client against the listener: the client's segments go
// to the connection the listener made, or to the listener.
func handshake(t *testing.T, l *Listener, tp Tuple, now time.Duration) (client, server *Conn) {
	client = New(Config{})
	client.Connect(now, Seq(tp.Remote.Port())*1000)
	var server0 *Conn
	var reply Segment
	for range 10 {
		var out []Segment
		client.Output(now, func(s *Segment) { c := *s; c.Payload = nil; out = append(out, c) })
		for i := range out {
			if server0 != nil {
				server0.Input(now, &out[i])
				l.Update(tp)
				continue
			}
			v, c := l.Input(now, tp, &out[i], &reply)
			switch v {
			case Made:
				server0 = c
			case Reply:
				client.Input(now, &reply)
			}
		}
		if server0 != nil {
			server0.Output(now, func(s *Segment) { c := *s; client.Input(now, &c) })
		}
		if client.State() == Established && server0 != nil && server0.State() == Established {
			l.Update(tp)
			return client, server0
		}
		now += time.Millisecond
	}
	t.Fatalf("no handshake: client %v", client.State())
	return nil, nil
}

// TestListenerQueues: connections go through the SYN queue to the accept
// queue; accept takes them in order.
func TestListenerQueues(t *testing.T) {
	l := newTestListener(t, 4)
	for p := uint16(1); p <= 3; p++ {
		handshake(t, l, tuple(p), 0)
	}
	if l.Pending() != 3 || l.SynQueue() != 0 {
		t.Fatalf("pending %d, SYN queue %d", l.Pending(), l.SynQueue())
	}
	for p := uint16(1); p <= 3; p++ {
		a, ok := l.Accept()
		if !ok || a.Remote.Port() != p || a.Conn.State() != Established {
			t.Fatalf("accept %d: %+v %v", p, a, ok)
		}
	}
	if _, ok := l.Accept(); ok {
		t.Fatal("accepted from an empty queue")
	}
}

// TestListenerCookies: with the SYN queue full of a flood's half-open
// connections, a legitimate client still connects, through a SYN cookie,
// and carries data; a forged final ACK draws a RST.
func TestListenerCookies(t *testing.T) {
	l := newTestListener(t, 2)
	var reply Segment
	for p := uint16(100); p < 102; p++ {
		syn := Segment{Seq: 1, Flags: wire.TCPSyn, Window: 1000}
		if v, _ := l.Input(0, tuple(p), &syn, &reply); v != Made {
			t.Fatalf("SYN %d: %v", p, v)
		}
	}
	if l.SynQueue() != 2 {
		t.Fatalf("SYN queue %d", l.SynQueue())
	}
	client, server := handshake(t, l, tuple(7), time.Second)
	if l.CookiesSent == 0 || l.CookiesOK != 1 {
		t.Fatalf("cookies sent %d, good %d", l.CookiesSent, l.CookiesOK)
	}
	a, ok := l.Accept()
	if !ok || a.Conn != server {
		t.Fatal("the cookie connection is not in the accept queue")
	}
	link := newLink(t, client, server, 1)
	link.now = time.Second
	transfer(t, link, client, server, 50000, time.Minute)

	forged := Segment{Seq: 5, Ack: 12345, Flags: wire.TCPAck}
	if v, _ := l.Input(time.Second, tuple(8), &forged, &reply); v != Reply || reply.Flags != wire.TCPRst || reply.Seq != 12345 {
		t.Fatalf("forged ACK: %v %+v", v, reply)
	}
}
