package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/memvi"
)

// FuzzInput feeds arbitrary frames to a stack with sockets bound: it never
// panics, and every frame is accounted for once: delivered, ARP, or
// dropped for a reason.
func FuzzInput(f *testing.F) {
	n := newNet(f, memvi.Options{}, nil)
	u := udpSock(f, n.b, 7000)
	u.Connect(netip.MustParseAddrPort("198.18.0.1:5000"))
	udpSock(f, n.b, 7001)
	var seed []byte
	n.inject(f, func(b []byte) []byte { seed = append([]byte(nil), b...); return b[:0] })
	f.Add(seed)
	f.Add(make([]byte, 60))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 1514 {
			return
		}
		ds := make([]vi.Desc, 1)
		if n.da.Alloc(ds) != 1 {
			t.Fatal("out of frames")
		}
		copy(n.da.Bytes(ds[0])[:len(frame)], frame)
		ds[0].Len = uint32(len(frame))
		before := n.b.Stats()
		n.da.Send(ds)
		n.c.t += time.Millisecond
		n.b.Poll()
		// Keep the socket queues from filling across runs.
		for {
			if _, _, err := u.RecvFrom(make([]byte, 64), false, false); err != nil {
				break
			}
		}
		after := n.b.Stats()
		in := after.RxFrames - before.RxFrames
		var accounted uint64
		for d := range DropNoFrame { // the input drops
			accounted += after.Drops[d] - before.Drops[d]
		}
		accounted += after.RxUDP - before.RxUDP + after.ARPIn - before.ARPIn
		if in != accounted {
			t.Fatalf("%d frames in, %d accounted for", in, accounted)
		}
	})
}
