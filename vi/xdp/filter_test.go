package xdp

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
)

const xdpPass = 2

func newTable(t *testing.T) *Table {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("loading BPF programs needs root (running as uid %d)", os.Geteuid())
	}
	tb, err := New()
	if err != nil {
		t.Fatalf("load filter: %v", err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

var (
	local  = netip.MustParseAddr("198.18.0.2")
	remote = netip.MustParseAddr("198.18.0.1")
	other  = netip.MustParseAddr("198.18.0.9")
)

type frameSpec struct {
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	ihl      int // 0: 5
	frag     uint16
}

// frame builds an Ethernet/IPv4 frame with a TCP or UDP header (only the
// ports matter to the filter) and a little payload.
func frame(s frameSpec) []byte {
	b := make([]byte, 64)
	wire.Ethernet(b).Build(wire.MAC{2, 0, 0, 0, 0, 2}, wire.MAC{2, 0, 0, 0, 0, 1}, wire.EtherTypeIPv4)
	ip := wire.IPv4(b[wire.EthernetLen:])
	ip.Build(&wire.IPv4Header{TTL: 64, Protocol: s.proto, Src: s.src.As4(), Dst: s.dst.As4()}, 64-34)
	if s.ihl != 0 {
		ip[0] = 0x40 | byte(s.ihl)
	}
	ip[6], ip[7] = byte(s.frag>>8), byte(s.frag)
	l4 := ip[wire.IPv4Len:]
	if s.ihl > 5 {
		l4 = ip[s.ihl*4:]
	}
	l4[0], l4[1] = byte(s.sport>>8), byte(s.sport)
	l4[2], l4[3] = byte(s.dport>>8), byte(s.dport)
	return b
}

func udp(dport uint16) frameSpec {
	return frameSpec{proto: wire.ProtoUDP, src: remote, dst: local, sport: 40000, dport: dport}
}

// run runs the program on b and returns the verdict it counted.
func run(t *testing.T, tb *Table, b []byte) Verdict {
	t.Helper()
	before, err := tb.Verdicts()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := tb.Program().Run(&ebpf.RunOptions{Data: b})
	if err != nil {
		t.Fatalf("run program: %v", err)
	}
	after, _ := tb.Verdicts()
	got := Verdict(-1)
	for v := range NumVerdicts {
		switch after[v] - before[v] {
		case 0:
		case 1:
			if got != -1 {
				t.Fatalf("two verdicts counted: %v and %v", got, v)
			}
			got = v
		default:
			t.Fatalf("verdict %v counted %d times", v, after[v]-before[v])
		}
	}
	// With no AF_XDP socket in any slot, even a match ends in XDP_PASS.
	if ret != xdpPass {
		t.Fatalf("program returned %d, want XDP_PASS", ret)
	}
	return got
}

func packets(tb *Table, f Filter) uint64 {
	for s := range tb.Filters() {
		if s.Filter == f && !s.ARP {
			return s.Packets
		}
	}
	return 0
}

func TestFilterKinds(t *testing.T) {
	tb := newTable(t)
	o, err := tb.Claim()
	if err != nil {
		t.Fatal(err)
	}
	full := Filter{Proto: UDP, Local: netip.AddrPortFrom(local, 7000), Remote: netip.AddrPortFrom(remote, 40000)}
	loc := Filter{Proto: UDP, Local: netip.AddrPortFrom(local, 7000)}
	wild := Filter{Proto: TCP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 8000)}
	for _, f := range []Filter{full, loc, wild} {
		if err := o.Add(f); err != nil {
			t.Fatalf("add %v: %v", f, err)
		}
	}
	tcp := func(dst netip.Addr, dport uint16) frameSpec {
		return frameSpec{proto: wire.ProtoTCP, src: remote, dst: dst, sport: 1234, dport: dport}
	}
	cases := []struct {
		name string
		spec frameSpec
		want Verdict
		hit  *Filter
	}{
		{"full match beats local", udp(7000), PassNoVI, &full},
		{"other remote port: local match", frameSpec{proto: wire.ProtoUDP, src: remote, dst: local, sport: 40001, dport: 7000}, PassNoVI, &loc},
		{"other remote address: local match", frameSpec{proto: wire.ProtoUDP, src: other, dst: local, sport: 40000, dport: 7000}, PassNoVI, &loc},
		{"wildcard on any local address", tcp(other, 8000), PassNoVI, &wild},
		{"wildcard on the local address", tcp(local, 8000), PassNoVI, &wild},
		{"near miss: port", udp(7001), PassNoMatch, nil},
		{"near miss: protocol", tcp(local, 7000), PassNoMatch, nil},
		{"near miss: local address", frameSpec{proto: wire.ProtoUDP, src: remote, dst: other, sport: 40000, dport: 7000}, PassNoMatch, nil},
		{"near miss: wildcard is TCP only", frameSpec{proto: wire.ProtoUDP, src: remote, dst: local, sport: 1, dport: 8000}, PassNoMatch, nil},
		{"IPv4 options pass", func() frameSpec { s := udp(7000); s.ihl = 6; return s }(), PassOptions, nil},
		{"first fragment passes", func() frameSpec { s := udp(7000); s.frag = 0x2000; return s }(), PassFragment, nil},
		{"later fragment passes", func() frameSpec { s := udp(7000); s.frag = 0x0010; return s }(), PassFragment, nil},
		{"DF alone is not a fragment", func() frameSpec { s := udp(7000); s.frag = 0x4000; return s }(), PassNoVI, &full},
		{"ICMP passes", frameSpec{proto: wire.ProtoICMP, src: remote, dst: local}, PassProto, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before uint64
			if c.hit != nil {
				before = packets(tb, *c.hit)
			}
			if got := run(t, tb, frame(c.spec)); got != c.want {
				t.Fatalf("verdict %v, want %v", got, c.want)
			}
			if c.hit != nil {
				if n := packets(tb, *c.hit) - before; n != 1 {
					t.Fatalf("filter %v counted %d packets, want 1", *c.hit, n)
				}
			}
		})
	}
}

func TestFilterNonIPv4(t *testing.T) {
	tb := newTable(t)
	o, _ := tb.Claim()
	if err := o.AddARP(local); err != nil {
		t.Fatal(err)
	}
	arp := func(tpa netip.Addr) []byte {
		b := make([]byte, wire.EthernetLen+wire.ARPLen)
		wire.Ethernet(b).Build(wire.Broadcast, wire.MAC{2, 0, 0, 0, 0, 1}, wire.EtherTypeARP)
		wire.ARP(b[wire.EthernetLen:]).Build(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 0, 1}, remote.As4(), wire.MAC{}, tpa.As4())
		return b
	}
	if got := run(t, tb, arp(local)); got != PassNoVI {
		t.Errorf("ARP for an owned address: %v, want it steered (%v)", got, PassNoVI)
	}
	if got := run(t, tb, arp(other)); got != PassARP {
		t.Errorf("ARP for another address: %v, want %v", got, PassARP)
	}
	if err := o.RemoveARP(local); err != nil {
		t.Fatal(err)
	}
	if got := run(t, tb, arp(local)); got != PassARP {
		t.Errorf("ARP after its filter was removed: %v, want %v", got, PassARP)
	}
	v6 := frame(udp(7000))
	wire.Ethernet(v6).SetType(wire.EtherTypeIPv6)
	if got := run(t, tb, v6); got != PassNotIPv4 {
		t.Errorf("IPv6: %v", got)
	}
	vlan := frame(udp(7000))
	wire.Ethernet(vlan).SetType(wire.EtherTypeVLAN)
	if got := run(t, tb, vlan); got != PassNotIPv4 {
		t.Errorf("VLAN: %v", got)
	}
}

func TestFilterTruncated(t *testing.T) {
	tb := newTable(t)
	o, _ := tb.Claim()
	o.Add(Filter{Proto: UDP, Local: netip.AddrPortFrom(local, 7000)})
	full := frame(udp(7000))
	// Cut inside the IPv4 header and inside the ports. The kernel wants
	// at least an Ethernet header of input.
	for _, n := range []int{14, 20, 33, 34, 36, 37} {
		if got := run(t, tb, full[:n]); got != PassTruncated {
			t.Errorf("frame cut to %d bytes: %v, want %v", n, got, PassTruncated)
		}
	}
	arp := make([]byte, 20)
	wire.Ethernet(arp).SetType(wire.EtherTypeARP)
	if got := run(t, tb, arp); got != PassTruncated {
		t.Errorf("short ARP: %v", got)
	}
	// Garbage never redirects and never upsets the verifier's promises.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, 14+rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			wire.Ethernet(b).SetType(wire.EtherTypeIPv4)
		}
		if v := run(t, tb, b); v == Redirect {
			t.Fatalf("garbage redirected: % x", b)
		}
	}
}

func TestStaleAndOwnership(t *testing.T) {
	tb := newTable(t)
	a, _ := tb.Claim()
	b, _ := tb.Claim()
	if a.Slot() == b.Slot() {
		t.Fatalf("two owners on slot %d", a.Slot())
	}
	f := Filter{Proto: UDP, Local: netip.AddrPortFrom(local, 7000)}
	if err := a.Add(f); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(f); err == nil {
		t.Fatal("a second live owner took the same filter")
	}
	// An owner that dies without removing its filters (simulated: the
	// slot's cookie moves on, as when the slot is claimed again) leaves
	// them stale: traffic goes to the kernel.
	if err := tb.objs.Slots.Put(uint32(a.Slot()), filterSlotInfo{Cookie: a.cookie + 7}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, tb, frame(udp(7000))); got != PassStale {
		t.Fatalf("stale filter: %v, want %v", got, PassStale)
	}
	// Then another owner may take the filter over.
	if err := b.Add(f); err != nil {
		t.Fatalf("take over a stale filter: %v", err)
	}
	if got := run(t, tb, frame(udp(7000))); got != PassNoVI {
		t.Fatalf("taken-over filter: %v", got)
	}
	// The first owner's removal leaves the new owner's filter in place
	// (taken and put back).
	if err := a.Remove(f); err != nil {
		t.Fatalf("remove a filter another owner took over: %v", err)
	}
	if got := run(t, tb, frame(udp(7000))); got != PassNoVI {
		t.Fatalf("taken-over filter after the old owner's removal: %v, want %v", got, PassNoVI)
	}
	// Closing an owner removes its filters.
	b.Close()
	if got := run(t, tb, frame(udp(7000))); got != PassNoMatch {
		t.Fatalf("after close: %v, want %v", got, PassNoMatch)
	}
	for s := range tb.Filters() {
		t.Errorf("filter left after close: %+v", s)
	}
}

func TestFilterValidation(t *testing.T) {
	bad := []Filter{
		{Proto: 1, Local: netip.AddrPortFrom(local, 1)},
		{Proto: UDP, Local: netip.AddrPortFrom(local, 0)},
		{Proto: UDP, Local: netip.MustParseAddrPort("[::1]:80")},
		{Proto: UDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 80), Remote: netip.AddrPortFrom(remote, 1)},
		{Proto: TCP, Local: netip.AddrPortFrom(local, 80), Remote: netip.AddrPortFrom(remote, 0)},
	}
	for _, f := range bad {
		if _, err := f.key(); err == nil {
			t.Errorf("filter %v accepted", f)
		}
	}
	good := Filter{Proto: TCP, Local: netip.AddrPortFrom(local, 80), Remote: netip.AddrPortFrom(remote, 5555)}
	k, err := good.key()
	if err != nil {
		t.Fatal(err)
	}
	if back := k.filter(); back != good {
		t.Errorf("key round trip: %v became %v", good, back)
	}
}

func TestWrongQueuePasses(t *testing.T) {
	tb := newTable(t)
	o, _ := tb.Claim()
	if err := o.Add(Filter{Proto: UDP, Local: netip.AddrPortFrom(local, 7000)}); err != nil {
		t.Fatal(err)
	}
	// The owner's socket listens on queue 3; a test run arrives on queue
	// 0, where a redirect would be lost: the frame goes to the kernel.
	if err := tb.objs.Slots.Put(uint32(o.Slot()), filterSlotInfo{Cookie: o.cookie, Queue: 3}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, tb, frame(udp(7000))); got != PassQueue {
		t.Fatalf("frame on another queue: %v, want %v", got, PassQueue)
	}
}

// TestMapsAllocateOnInsert: the filter maps allocate an entry as a filter
// comes (BPF_F_NO_PREALLOC). Made in advance, 65536 per-CPU entries were
// most of a fresh process's first datagram (BenchmarkFirstSend in
// tests/preload).
func TestMapsAllocateOnInsert(t *testing.T) {
	tb := newTable(t)
	for name, m := range map[string]*ebpf.Map{"flows": tb.objs.Flows, "arp_targets": tb.objs.ArpTargets} {
		if m.Flags()&unix.BPF_F_NO_PREALLOC == 0 {
			t.Errorf("map %s: flags %#x, want BPF_F_NO_PREALLOC", name, m.Flags())
		}
	}
}

// BenchmarkAddRemove is a socket's filter over its life: added at its
// decision, removed at its close.
//
//	go test -run '^$' -bench AddRemove ./vi/xdp/
func BenchmarkAddRemove(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skipf("loading BPF programs needs root (running as uid %d)", os.Geteuid())
	}
	tb, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	o, err := tb.Claim()
	if err != nil {
		b.Fatal(err)
	}
	port := uint16(1)
	for b.Loop() {
		f := Filter{Proto: UDP, Local: netip.AddrPortFrom(local, port)}
		if err := o.Add(f); err != nil {
			b.Fatal(err)
		}
		if err := o.Remove(f); err != nil {
			b.Fatal(err)
		}
		port = port%60000 + 1
	}
}
