package arp

import (
	"fmt"
	"testing"
	"time"

	"github.com/accelnet/accel/stack/wire"
)

var (
	us    = [4]byte{198, 18, 0, 2}
	usMAC = wire.MAC{2, 0, 0, 0, 0, 2}
	peer  = [4]byte{198, 18, 0, 1}
	pMAC  = wire.MAC{2, 0, 0, 0, 0, 1}
)

func packet(op uint16, sha wire.MAC, spa [4]byte, tpa [4]byte) wire.ARP {
	b := make([]byte, wire.ARPLen)
	wire.ARP(b).Build(op, sha, spa, wire.MAC{}, tpa)
	return wire.ARP(b)
}

type polled struct{ requests, fails []string }

func poll(c *Cache, now time.Duration) (polled, time.Duration) {
	var p polled
	next := c.Poll(now, func(ip [4]byte) { p.requests = append(p.requests, fmt.Sprint(ip)) },
		func(ip [4]byte) { p.fails = append(p.fails, fmt.Sprint(ip)) })
	return p, next
}

func TestResolve(t *testing.T) {
	c := New(us, usMAC, Config{})
	if _, r := c.Lookup(peer, 0); r != Request {
		t.Fatalf("first lookup: %v", r)
	}
	if _, r := c.Lookup(peer, time.Millisecond); r != Wait {
		t.Fatalf("second lookup while asking: %v", r)
	}
	reply, resolved, ok := c.Input(packet(wire.ARPReply, pMAC, peer, us), 2*time.Millisecond)
	if reply || !ok || resolved != peer {
		t.Fatalf("reply: answer %v, resolved %v %v", reply, resolved, ok)
	}
	if mac, r := c.Lookup(peer, 3*time.Millisecond); r != Use || mac != pMAC {
		t.Fatalf("after the reply: %v %v", mac, r)
	}
}

func TestRetransmitThenFail(t *testing.T) {
	c := New(us, usMAC, Config{Retransmit: time.Second, MaxProbes: 3})
	c.Lookup(peer, 0) // request 1
	p, next := poll(c, 500*time.Millisecond)
	if len(p.requests) != 0 || next != time.Second {
		t.Fatalf("too early: %+v next %v", p, next)
	}
	for i, at := range []time.Duration{time.Second, 2 * time.Second} {
		if p, _ := poll(c, at); len(p.requests) != 1 {
			t.Fatalf("retransmission %d: %+v", i+2, p)
		}
	}
	p, _ = poll(c, 3*time.Second)
	if len(p.fails) != 1 || len(p.requests) != 0 {
		t.Fatalf("after 3 requests: %+v, want a failure", p)
	}
	if _, r := c.Lookup(peer, 4*time.Second); r != Unreachable {
		t.Fatalf("failed entry: %v", r)
	}
	if _, r := c.Lookup(peer, 24*time.Second); r != Request {
		t.Fatalf("failure forgotten after FailedFor: %v", r)
	}
}

func TestAnswerRequestsForUs(t *testing.T) {
	c := New(us, usMAC, Config{})
	req := packet(wire.ARPRequest, pMAC, peer, us)
	reply, _, _ := c.Input(req, 0)
	if !reply {
		t.Fatal("a request for our address goes unanswered")
	}
	if mac, st := c.Entry(peer); st != Reachable || mac != pMAC {
		t.Fatalf("the asker was not learnt: %v %v", mac, st)
	}
	b := make([]byte, 64)
	n := c.BuildReply(b, req)
	e, _ := wire.ParseEthernet(b[:n])
	a, err := wire.ParseARP(e.Payload())
	if err != nil || e.Dst() != pMAC || a.Op() != wire.ARPReply || a.SenderIP() != us || a.SenderMAC() != usMAC || a.TargetIP() != peer {
		t.Fatalf("reply frame wrong: %v", err)
	}
	// Requests for other addresses: no answer, nothing learnt.
	other := [4]byte{198, 18, 0, 77}
	if reply, _, _ := c.Input(packet(wire.ARPRequest, wire.MAC{9}, other, [4]byte{198, 18, 0, 5}), 0); reply {
		t.Fatal("answered for an address not ours")
	}
	if _, st := c.Entry(other); st != 0 {
		t.Fatal("learnt from a request not for us")
	}
	// A probe (RFC 5227: sender 0.0.0.0) for our address is defended,
	// and teaches nothing.
	if reply, _, _ := c.Input(packet(wire.ARPRequest, wire.MAC{9}, [4]byte{}, us), 0); !reply {
		t.Fatal("probe for our address not answered")
	}
	if c.Len() != 1 {
		t.Fatalf("%d entries, want 1", c.Len())
	}
}

func TestStaleIsRevalidated(t *testing.T) {
	c := New(us, usMAC, Config{Reachable: 10 * time.Second, Retransmit: time.Second, MaxProbes: 2})
	c.Input(packet(wire.ARPRequest, pMAC, peer, us), 0)
	if _, r := c.Lookup(peer, 11*time.Second); r != Use {
		t.Fatalf("stale entry not used: %v", r)
	}
	if _, st := c.Entry(peer); st != Stale {
		t.Fatalf("state %v, want STALE", st)
	}
	if p, _ := poll(c, 11*time.Second); len(p.requests) != 1 {
		t.Fatalf("stale entry not revalidated: %+v", p)
	}
	// An answer makes it fresh again.
	c.Input(packet(wire.ARPReply, pMAC, peer, us), 11500*time.Millisecond)
	if _, st := c.Entry(peer); st != Reachable {
		t.Fatalf("after the answer: %v", st)
	}
	// No answer: the entry goes, and the next use resolves afresh.
	c.Lookup(peer, 30*time.Second)
	for _, at := range []time.Duration{30, 31, 32, 33} {
		poll(c, at*time.Second)
	}
	if _, st := c.Entry(peer); st != 0 {
		t.Fatalf("unanswered stale entry kept: %v", st)
	}
}

func TestBoundedAgainstFloods(t *testing.T) {
	c := New(us, usMAC, Config{MaxEntries: 8})
	// A flood of requests for us from many senders: at most 8 entries.
	for i := range 1000 {
		c.Input(packet(wire.ARPRequest, wire.MAC{2, byte(i)}, [4]byte{10, 0, byte(i >> 8), byte(i)}, us), time.Duration(i))
	}
	if c.Len() > 8 {
		t.Fatalf("%d entries, bound is 8", c.Len())
	}
	// All reachable and in use: a new lookup is refused, not grown.
	if _, r := c.Lookup([4]byte{10, 9, 9, 9}, 0); r != Full {
		t.Fatalf("lookup in a full cache: %v", r)
	}
	// Failed entries make room.
	c2 := New(us, usMAC, Config{MaxEntries: 1, MaxProbes: 1})
	c2.Lookup(peer, 0)
	poll(c2, 2*time.Second)
	if _, r := c2.Lookup([4]byte{10, 9, 9, 9}, 3*time.Second); r != Request {
		t.Fatalf("a failed entry did not make room: %v", r)
	}
}

func TestRequestFrame(t *testing.T) {
	c := New(us, usMAC, Config{})
	b := make([]byte, 64)
	n := c.BuildRequest(b, peer)
	e, _ := wire.ParseEthernet(b[:n])
	a, err := wire.ParseARP(e.Payload())
	if err != nil || e.Dst() != wire.Broadcast || e.Type() != wire.EtherTypeARP || a.Op() != wire.ARPRequest || a.TargetIP() != peer || a.SenderIP() != us {
		t.Fatalf("request frame wrong: %v", err)
	}
}
