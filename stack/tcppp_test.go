package stack

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
)

// TestTCPPingPongSegments: in a request-response exchange each ACK rides
// on the answer (delayed ACK, RFC 9293 §3.8.6.3): one segment each way
// per round trip, not a pure ACK besides.
func TestTCPPingPongSegments(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	sa := accelerate(t, pair.A, 24)
	sb := accelerate(t, pair.B, 24)
	l, err := sb.ListenTCP(netip.AddrPortFrom(pair.B.Addr, 9990), 1, tcp.Config{NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sa.DialTCP(netip.AddrPortFrom(pair.B.Addr, 9990), tcp.Config{NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	var s *TCPSocket
	for s == nil {
		sa.Poll()
		s, _ = l.Accept()
	}
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	read := func(u *TCPSocket, st *Stack) {
		got := 0
		for end := time.Now().Add(5 * time.Second); got < 64; {
			n, err := u.Read(buf[got:])
			if err != nil && err != unix.EAGAIN {
				t.Fatal(err)
			}
			got += n
			if time.Now().After(end) {
				t.Fatal("stuck")
			}
		}
	}
	const n = 2000
	a0, b0 := sa.Stats().TxTCP, sb.Stats().TxTCP
	start := time.Now()
	for range n {
		c.Write(msg)
		read(s, sb)
		s.Write(msg)
		read(c, sa)
	}
	el := time.Since(start)
	ca, cb := float64(sa.Stats().TxTCP-a0)/n, float64(sb.Stats().TxTCP-b0)/n
	t.Logf("per round trip: %v; segments sent: client %.2f, server %.2f", el/n, ca, cb)
	if ca > 1.1 || cb > 1.1 {
		t.Fatalf("segments per round trip: client %.2f, server %.2f; want one each", ca, cb)
	}
}
