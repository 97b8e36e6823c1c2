package stack

import (
	"net/netip"
	"testing"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/vi"
)

// nullDev is a device that sends into nothing and never receives: what is
// left of a send is the stack's own work.
type nullDev struct {
	mem  []byte
	free []uint64
}

func newNullDev() *nullDev {
	d := &nullDev{mem: make([]byte, 64*2048)}
	for i := range 64 {
		d.free = append(d.free, uint64(i*2048))
	}
	return d
}

func (d *nullDev) Recv(ds []vi.Desc) int { return 0 }
func (d *nullDev) Alloc(ds []vi.Desc) int {
	n := min(len(ds), len(d.free))
	for i := range n {
		ds[i] = vi.Desc{Addr: d.free[len(d.free)-1-i], Len: 2048}
	}
	d.free = d.free[:len(d.free)-n]
	return n
}
func (d *nullDev) Send(ds []vi.Desc) (int, error) { d.Free(ds); return len(ds), nil }
func (d *nullDev) Free(ds []vi.Desc) {
	for _, x := range ds {
		d.free = append(d.free, x.Addr-x.Addr%2048)
	}
}
func (d *nullDev) Bytes(x vi.Desc) []byte { return d.mem[x.Addr : x.Addr+uint64(x.Len)] }
func (d *nullDev) FD() int                { return -1 }
func (d *nullDev) Info() vi.Info {
	return vi.Info{Name: "null", Ifindex: 1, MTU: 1500, HWAddr: [6]byte{2, 0, 0, 0, 0, 1}, FrameSize: 2048, Frames: 64}
}
func (d *nullDev) Stats() vi.Stats { return vi.Stats{} }
func (d *nullDev) Close() error    { return nil }

// BenchmarkSendTo is a connected socket's send with the next hop resolved,
// on a device that costs nothing.
func BenchmarkSendTo(b *testing.B) {
	s, err := New(Config{Device: newNullDev(), Addr: addrA})
	if err != nil {
		b.Fatal(err)
	}
	peer := addrB.Addr().As4()
	reply := make([]byte, wire.ARPLen)
	wire.ARP(reply).Build(wire.ARPReply, wire.MAC{2, 0, 0, 0, 0, 2}, peer, s.mac, s.addr)
	s.res.lookup(peer)
	s.res.input(reply, 0)
	u, _ := s.NewUDP()
	u.Connect(netip.AddrPortFrom(addrB.Addr(), 7000))
	p := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := u.SendTo(p, netip.AddrPort{}); err != nil {
			b.Fatal(err)
		}
	}
}
