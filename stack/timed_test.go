package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/vi/memvi"
)

// TestTimed checks what the shim's progress engine reads to slow down: a
// UDP stack with nothing waiting is not timed; a datagram waiting for a
// resolution makes it timed at once, until the resolution ends; TCP makes
// it timed for good.
func TestTimed(t *testing.T) {
	n := newNet(t, memvi.Options{}, nil)
	udpSock(t, n.b, 7000)
	client := udpSock(t, n.a, 0)
	n.a.Poll()
	if n.a.Timed() || n.b.Timed() {
		t.Fatalf("UDP stacks with nothing waiting are timed: %v %v", n.a.Timed(), n.b.Timed())
	}
	if _, err := client.SendTo([]byte("x"), netip.AddrPortFrom(addrB.Addr(), 7000)); err != nil {
		t.Fatal(err)
	}
	if !n.a.Timed() {
		t.Fatal("a datagram waits for a resolution, and the stack is not timed")
	}
	n.settle(time.Millisecond)
	if n.a.Timed() {
		t.Fatal("still timed after the resolution")
	}
	if _, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8000), 4, tcp.Config{}); err != nil {
		t.Fatal(err)
	}
	n.settle(time.Minute)
	if !n.b.Timed() {
		t.Fatal("a stack with TCP is not timed")
	}
}
