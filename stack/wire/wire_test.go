package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refChecksum is RFC 1071 word by word, the plainest way.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if i := rng.IntN(4); i == 0 {
			for j := range b {
				b[j] = 0xff // carries everywhere
			}
		}
		if got, want := Checksum(b, 0), refChecksum(b); got != want {
			t.Fatalf("%d bytes: %#04x, want %#04x", n, got, want)
		}
	}
	// RFC 1071 §3's example words.
	ex := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if Fold(Sum(ex, 0)) != 0xddf2 {
		t.Fatalf("RFC 1071 example sums to %#04x", Fold(Sum(ex, 0)))
	}
}

func udpFrame(payload []byte) []byte {
	b := make([]byte, UDPHeadersLen+len(payload))
	copy(b[UDPHeadersLen:], payload)
	f := UDPFrame{SrcMAC: MAC{2, 0, 0, 0, 0, 1}, DstMAC: MAC{2, 0, 0, 0, 0, 2},
		IP:      IPv4Header{TTL: 64, DF: true, ID: 7, Src: [4]byte{198, 18, 0, 1}, Dst: [4]byte{198, 18, 0, 2}},
		SrcPort: 1000, DstPort: 2000}
	BuildUDPFrame(b, &f, len(payload))
	return b
}

func TestUDPFrameRoundTrip(t *testing.T) {
	b := udpFrame([]byte("hello"))
	e, err := ParseEthernet(b)
	if err != nil || e.Type() != EtherTypeIPv4 || e.Src() != (MAC{2, 0, 0, 0, 0, 1}) {
		t.Fatalf("ethernet: %v %v", e, err)
	}
	ip, err := ParseIPv4(e.Payload())
	if err != nil || !ip.DF() || ip.IsFragment() || ip.TTL() != 64 || ip.Protocol() != ProtoUDP || ip.ID() != 7 {
		t.Fatalf("ipv4: %v", err)
	}
	u, err := ParseUDP(ip.Payload(), ip.Src(), ip.Dst())
	if err != nil || u.SrcPort() != 1000 || u.DstPort() != 2000 || string(u.Payload()) != "hello" {
		t.Fatalf("udp: %v", err)
	}
	// Every single-bit error in the IP header or the UDP datagram is caught.
	for bit := 0; bit < (len(b)-EthernetLen)*8; bit++ {
		c := bytes.Clone(b)
		c[EthernetLen+bit/8] ^= 1 << (bit % 8)
		ip, err := ParseIPv4(c[EthernetLen:])
		if err != nil {
			continue
		}
		if _, err := ParseUDP(ip.Payload(), ip.Src(), ip.Dst()); err == nil && !bytes.Equal(c, b) {
			t.Fatalf("bit %d flipped and nothing noticed", bit)
		}
	}
}

func TestParseRejects(t *testing.T) {
	b := udpFrame([]byte("x"))
	ip := b[EthernetLen:]
	cases := map[string]func([]byte){
		"version":      func(p []byte) { p[0] = 0x65 },
		"short header": func(p []byte) { p[0] = 0x44 },
		"long header":  func(p []byte) { p[0] = 0x4f },
		"total length": func(p []byte) { binary.BigEndian.PutUint16(p[2:], 9999) },
	}
	for name, mangle := range cases {
		c := bytes.Clone(ip)
		mangle(c)
		if _, err := ParseIPv4(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseIPv4(ip[:19]); err != ErrTruncated {
		t.Errorf("19 bytes: %v", err)
	}
	if _, err := ParseEthernet(b[:13]); err != ErrTruncated {
		t.Errorf("13-byte frame: %v", err)
	}
	a := make([]byte, ARPLen)
	ARP(a).Build(ARPRequest, MAC{1}, [4]byte{1, 2, 3, 4}, MAC{}, [4]byte{5, 6, 7, 8})
	if p, err := ParseARP(a); err != nil || p.Op() != ARPRequest || p.TargetIP() != [4]byte{5, 6, 7, 8} {
		t.Errorf("ARP round trip: %v", err)
	}
	a[5] = 16
	if _, err := ParseARP(a); err == nil {
		t.Error("ARP with 16-byte addresses accepted")
	}
}

// FuzzParse feeds arbitrary frames to the parsers: they never panic, and
// what they accept rebuilds to a datagram that parses the same.
func FuzzParse(f *testing.F) {
	f.Add(udpFrame([]byte("seed")))
	f.Add(udpFrame(nil))
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEthernet(b)
		if err != nil {
			return
		}
		ParseARP(e.Payload())
		ip, err := ParseIPv4(e.Payload())
		if err != nil || ip.Protocol() != ProtoUDP || ip.HeaderLen() != IPv4Len {
			return
		}
		u, err := ParseUDP(ip.Payload(), ip.Src(), ip.Dst())
		if err != nil {
			return
		}
		// Rebuild from what was parsed; it must parse to the same.
		payload := bytes.Clone(u.Payload())
		out := make([]byte, UDPHeadersLen+len(payload))
		copy(out[UDPHeadersLen:], payload)
		fr := UDPFrame{SrcMAC: e.Src(), DstMAC: e.Dst(), IP: IPv4Header{TOS: ip.TOS(), ID: ip.ID(), DF: ip.DF(), TTL: ip.TTL(), Src: ip.Src(), Dst: ip.Dst()},
			SrcPort: u.SrcPort(), DstPort: u.DstPort()}
		BuildUDPFrame(out, &fr, len(payload))
		ip2, err := ParseIPv4(out[EthernetLen:])
		if err != nil {
			t.Fatalf("rebuilt IPv4 does not parse: %v", err)
		}
		u2, err := ParseUDP(ip2.Payload(), ip2.Src(), ip2.Dst())
		if err != nil || !bytes.Equal(u2.Payload(), payload) || u2.DstPort() != u.DstPort() {
			t.Fatalf("rebuilt UDP differs: %v", err)
		}
	})
}
