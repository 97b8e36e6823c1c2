package stack

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/vi/memvi"
)

// TestTCPFaultyLink moves 4 MB each way between two stacks over the
// memory VI, on a virtual clock, under seeded loss, duplication,
// reordering, corruption and delay, for a sweep of loss rates × buffer
// sizes (fixed, or tuned: 0) × seeds: the data arrive whole (SHA-256)
// within a bound of virtual time. A failing run leaves a pcap of the
// whole exchange, named by its parameters.
func TestTCPFaultyLink(t *testing.T) {
	seeds := uint64(3)
	if raceEnabled {
		seeds = 1 // the race pass looks for races, not for seeds
	}
	for _, loss := range []float64{0.005, 0.02, 0.05} {
		faults := memvi.Faults{Loss: loss, Duplicate: 0.01, Reorder: 0.02, Corrupt: 0.01, Delay: 200 * time.Microsecond}
		for _, buf := range []int{16384, 131072, 0} {
			for seed := uint64(1); seed <= seeds; seed++ {
				testFaultyLink(t, faults, buf, seed)
			}
		}
	}
}

func testFaultyLink(t *testing.T, faults memvi.Faults, buf int, seed uint64) {
	name := fmt.Sprintf("loss%g-buf%d-seed%d", faults.Loss, buf, seed)
	t.Run(name, func(t *testing.T) {
		pcap := keepPcapOnFailure(t, "tcp-"+name+".pcap")
		n := newNet(t, memvi.Options{Seed: seed, Frames: 2048, Pcap: pcap}, nil)
		cfg := tcp.Config{SndBuf: buf, RcvBuf: buf}
		l, err := n.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8000), 8, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := n.a.DialTCP(netip.AddrPortFrom(addrB.Addr(), 8000), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var s *TCPSocket
		for i := 0; s == nil; i++ {
			n.settle(time.Millisecond)
			s, _ = l.Accept()
			if i > 5000 {
				t.Fatalf("no connection: %v", c.State())
			}
		}
		n.da.SetFaults(faults)
		n.db.SetFaults(faults)
		const size = 4 << 20
		data := [2][]byte{randomBytes(size, seed), randomBytes(size, seed+100)}
		var got [2]bytes.Buffer
		var sent [2]int
		socks := [2]*TCPSocket{c, s}
		rbuf := make([]byte, 65536)
		start := n.c.t
		for got[0].Len() < size || got[1].Len() < size {
			if n.c.t-start > 10*time.Minute {
				t.Fatalf("virtual time out: got %d and %d of %d;\nclient %+v\nserver %+v", got[0].Len(), got[1].Len(), size, c.Info(), s.Info())
			}
			for i, u := range socks {
				if sent[i] < size {
					k, err := u.Write(data[i][sent[i]:])
					if err != nil && err != unix.EAGAIN {
						t.Fatal(err)
					}
					sent[i] += k
				}
				for {
					k, err := u.Read(rbuf)
					if err != nil && err != unix.EAGAIN {
						t.Fatal(err)
					}
					if k == 0 {
						break
					}
					got[1-i].Write(rbuf[:k])
				}
			}
			n.settle(500 * time.Microsecond)
		}
		for i := range 2 {
			if sha256.Sum256(got[i].Bytes()) != sha256.Sum256(data[i]) {
				t.Fatalf("direction %d: the data differ", i)
			}
		}
		d := n.b.Stats().Drops
		if d[DropTCPChecksum]+d[DropIPChecksum]+d[DropEthNotForUs]+d[DropEtherType]+d[DropIPVersion]+d[DropIPHeaderLen]+d[DropIPTotalLen]+d[DropTCPTruncated] == 0 {
			t.Fatalf("no corrupted frame was caught: %v", d)
		}
		t.Logf("4 MB each way in %v of virtual time", n.c.t-start)
	})
}
