package wire

import (
	"bytes"
	"testing"
)

// One fuzz target per parser: none panics on any input, and what each
// accepts rebuilds to bytes that parse the same.

func FuzzEthernet(f *testing.F) {
	f.Add(udpFrame([]byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEthernet(b)
		if err != nil {
			return
		}
		out := make([]byte, EthernetLen)
		Ethernet(out).Build(e.Dst(), e.Src(), e.Type())
		if !bytes.Equal(out, b[:EthernetLen]) {
			t.Fatalf("rebuilt header differs: % x vs % x", out, b[:EthernetLen])
		}
	})
}

func FuzzIPv4(f *testing.F) {
	f.Add(udpFrame([]byte("seed"))[EthernetLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if ip.TotalLen() > len(b) || ip.HeaderLen() > ip.TotalLen() || len(ip.Payload()) != ip.TotalLen()-ip.HeaderLen() {
			t.Fatalf("accepted inconsistent lengths: header %d total %d of %d", ip.HeaderLen(), ip.TotalLen(), len(b))
		}
		if ip.HeaderLen() != IPv4Len {
			return
		}
		out := make([]byte, ip.TotalLen())
		copy(out[IPv4Len:], ip.Payload())
		h := IPv4Header{TOS: ip.TOS(), ID: ip.ID(), DF: ip.DF(), TTL: ip.TTL(), Protocol: ip.Protocol(), Src: ip.Src(), Dst: ip.Dst()}
		IPv4(out).Build(&h, len(ip.Payload()))
		ip2, err := ParseIPv4(out)
		if err != nil || ip2.Src() != ip.Src() || ip2.Dst() != ip.Dst() || ip2.Protocol() != ip.Protocol() {
			t.Fatalf("rebuilt packet: %v", err)
		}
	})
}

func FuzzUDP(f *testing.F) {
	src, dst := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	f.Add(udpFrame([]byte("seed"))[EthernetLen+IPv4Len:], src[:], dst[:])
	f.Fuzz(func(t *testing.T, b, s, d []byte) {
		if len(s) != 4 || len(d) != 4 {
			return
		}
		u, err := ParseUDP(b, [4]byte(s), [4]byte(d))
		if err != nil {
			return
		}
		out := make([]byte, u.Length())
		copy(out[UDPLen:], u.Payload())
		UDP(out).Build(u.SrcPort(), u.DstPort(), [4]byte(s), [4]byte(d), len(u.Payload()))
		if _, err := ParseUDP(out, [4]byte(s), [4]byte(d)); err != nil {
			t.Fatalf("rebuilt datagram: %v", err)
		}
	})
}

func FuzzARP(f *testing.F) {
	a := make([]byte, ARPLen)
	ARP(a).Build(ARPRequest, MAC{2}, [4]byte{1, 2, 3, 4}, MAC{}, [4]byte{5, 6, 7, 8})
	f.Add(a)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseARP(b)
		if err != nil {
			return
		}
		out := make([]byte, ARPLen)
		ARP(out).Build(p.Op(), p.SenderMAC(), p.SenderIP(), p.TargetMAC(), p.TargetIP())
		if !bytes.Equal(out, b[:ARPLen]) {
			t.Fatalf("rebuilt ARP differs")
		}
	})
}

func FuzzICMP(f *testing.F) {
	m := make([]byte, ICMPLen+28)
	copy(m[ICMPLen:], udpFrame(nil)[EthernetLen:EthernetLen+28])
	ICMP(m).Build(ICMPUnreachable, ICMPFragNeeded, 1000, 28)
	f.Add(m)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseICMP(b)
		if err != nil {
			return
		}
		if p.IsError() {
			if q, err := p.Quoted(); err == nil && q.HeaderLen() > len(p.Body()) {
				t.Fatal("quoted header beyond the message")
			}
		}
		out := make([]byte, len(b))
		copy(out[ICMPLen:], p.Body())
		ICMP(out).Build(p.Type(), p.Code(), be.Uint32(b[4:8]), len(p.Body()))
		if !bytes.Equal(out, b) {
			t.Fatalf("rebuilt message differs")
		}
	})
}

func TestICMP(t *testing.T) {
	m := make([]byte, ICMPLen+28)
	copy(m[ICMPLen:], udpFrame(nil)[EthernetLen:EthernetLen+28])
	ICMP(m).Build(ICMPUnreachable, ICMPFragNeeded, 1000, 28)
	p, err := ParseICMP(m)
	if err != nil || !p.IsError() || p.NextHopMTU() != 1000 {
		t.Fatalf("frag needed: %v", err)
	}
	q, err := p.Quoted()
	if err != nil || q.Protocol() != ProtoUDP || q.Dst() != [4]byte{198, 18, 0, 2} {
		t.Fatalf("quoted header: %v", err)
	}
	m[9] ^= 1
	if _, err := ParseICMP(m); err != ErrChecksum {
		t.Fatalf("corrupt message: %v", err)
	}
}
