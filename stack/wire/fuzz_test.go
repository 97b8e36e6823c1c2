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
		if !bytes.Equal(out[:2], b[:2]) || !bytes.Equal(out[4:], b[4:]) {
			t.Fatalf("rebuilt message differs: % x, was % x", out, b)
		}
		if _, err := ParseICMP(out); err != nil {
			t.Fatalf("rebuilt message: %v", err)
		}
		// Where the rest sums to ones' complement zero, a checksum of
		// 0x0000 and one of 0xffff both verify (+0 and -0, RFC 1071
		// §1); a sender computes 0x0000 there. Otherwise they agree.
		if got, was := ICMP(out).Checksum(), p.Checksum(); got != was && (got != 0 || was != 0xffff) {
			t.Fatalf("rebuilt checksum %#04x, was %#04x", got, was)
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

func tcpSegment(opts *TCPOptions, payload string) []byte {
	b := make([]byte, TCPLen+40+len(payload))
	ol := opts.Build(b[TCPLen:])
	copy(b[TCPLen+ol:], payload)
	TCP(b).Build(&TCPHeader{SrcPort: 1, DstPort: 2, Seq: 100, Ack: 200, Flags: TCPSyn | TCPAck, Window: 65535}, ol,
		[4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, len(payload))
	return b[:TCPLen+ol+len(payload)]
}

func TestTCPOptionsRoundTrip(t *testing.T) {
	full := TCPOptions{MSS: 1460, HasWS: true, WS: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2}
	seg := tcpSegment(&full, "data")
	tcp, err := ParseTCP(seg, [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2})
	if err != nil || string(tcp.Payload()) != "data" || tcp.Flags() != TCPSyn|TCPAck || tcp.Seq() != 100 {
		t.Fatalf("segment: %v", err)
	}
	var got TCPOptions
	if err := ParseTCPOptions(tcp.Options(), &got); err != nil || got != full {
		t.Fatalf("options %+v, want %+v (%v)", got, full, err)
	}
	if len(tcp.Options()) != full.Len() || full.Len()%4 != 0 {
		t.Fatalf("options are %d bytes, Len says %d", len(tcp.Options()), full.Len())
	}
	// Four SACK blocks fit alone; beside timestamps only three.
	sack := TCPOptions{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}
	if b := make([]byte, 40); sack.Build(b) != 36 {
		t.Fatal("four SACK blocks")
	}
	sack.HasTimestamp = true
	b := make([]byte, 40)
	n := sack.Build(b)
	ParseTCPOptions(b[:n], &got)
	if n > 40 || got.NumSACK != 3 || !got.HasTimestamp {
		t.Fatalf("SACK beside timestamps: %d bytes, %d blocks", n, got.NumSACK)
	}
	for _, bad := range [][]byte{{2}, {2, 0}, {2, 1}, {8, 12, 0, 0}} {
		if ParseTCPOptions(bad, &got) != ErrOptions {
			t.Errorf("illegal option % x accepted", bad)
		}
	}
	// Wrong lengths of known kinds and unknown kinds are ignored.
	if err := ParseTCPOptions([]byte{2, 3, 9, 30, 2, 0, 0}, &got); err != nil || got.MSS != 0 {
		t.Errorf("odd options: %+v %v", got, err)
	}
	seg[len(seg)-1] ^= 1
	if _, err := ParseTCP(seg, [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}); err != ErrChecksum {
		t.Errorf("corrupt segment: %v", err)
	}
}

func FuzzTCP(f *testing.F) {
	f.Add(tcpSegment(&TCPOptions{MSS: 1460, HasWS: true, WS: 7, SACKPermitted: true, HasTimestamp: true}, "x"))
	f.Add(tcpSegment(&TCPOptions{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
		// Fix the checksum so that the fuzzer reaches the options.
		if len(b) >= TCPLen {
			b[16], b[17] = 0, 0
			be.PutUint16(b[16:18], Checksum(b, PseudoSum(src, dst, ProtoTCP, len(b))))
		}
		seg, err := ParseTCP(b, src, dst)
		if err != nil {
			return
		}
		var o TCPOptions
		if ParseTCPOptions(seg.Options(), &o) != nil {
			return
		}
		// What was understood rebuilds to options that read the same
		// (SACK blocks beyond what fits are dropped by Build).
		out := make([]byte, 40)
		n := o.Build(out)
		if n != o.Len() {
			t.Fatalf("Build wrote %d bytes, Len says %d", n, o.Len())
		}
		var o2 TCPOptions
		if err := ParseTCPOptions(out[:n], &o2); err != nil || n%4 != 0 || n > 40 {
			t.Fatalf("rebuilt options: %d bytes, %v", n, err)
		}
		o.NumSACK = o2.NumSACK
		for i := o2.NumSACK; i < MaxSACKBlocks; i++ {
			o.SACK[i] = SACKBlock{}
		}
		if o2 != o {
			t.Fatalf("options %+v rebuilt as %+v", o, o2)
		}
	})
}
