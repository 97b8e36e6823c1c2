package stack

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi/fault"
	"github.com/accelnet/accel/vi/memvi"
)

// TestTCPKernelImpaired moves 2 MB each way between the stack and the
// Linux kernel's TCP with the stack's AF_XDP VI impaired in both
// directions (loss, duplication, reordering, corruption, delay; this
// kernel has no netem), dialling and listening: the data arrive whole by
// SHA-256, the impairments really happened, and both ends recovered from
// them. A failing run leaves a pcap of what the stack saw, named by its
// seed.
func TestTCPKernelImpaired(t *testing.T) {
	light := fault.Faults{Loss: 0.01, Duplicate: 0.01, Reorder: 0.02, Corrupt: 0.005, Delay: 100 * time.Microsecond}
	heavy := fault.Faults{Loss: 0.03, Duplicate: 0.02, Reorder: 0.05, Corrupt: 0.01, Delay: 300 * time.Microsecond}
	for _, tc := range []struct {
		name   string
		seed   uint64
		dial   bool
		faults fault.Faults
	}{{"dial/light", 11, true, light}, {"listen/light", 12, false, light}, {"dial/heavy", 13, true, heavy}, {"listen/heavy", 14, false, heavy}} {
		faults := tc.faults
		t.Run(tc.name, func(t *testing.T) {
			pair := netns.New(t, netns.Options{})
			var wrapped *fault.Device
			pcap := keepPcapOnFailure(t, fmt.Sprintf("tcp-kernel-impaired-seed%d.pcap", tc.seed))
			s := accelerateCfg(t, pair.A, 24, func(c *Config) {
				var err error
				wrapped, err = fault.Wrap(c.Device, fault.Options{Rx: faults, Tx: faults, Seed: tc.seed,
					Tap: func(_ bool, at time.Duration, b []byte) { pcap.Write(at, b) }})
				if err != nil {
					t.Fatal(err)
				}
				c.Device = wrapped
			})

			u, kc := connectKernel(t, pair, s, tc.dial, 9910)
			defer kc.Close()
			moveBothWays(t, s, u, kc, 2<<20, tc.seed)
			rxc, txc := wrapped.Counts()
			t.Logf("received: %v", rxc)
			t.Logf("sent: %v", txc)
			for _, c := range []fault.Counts{rxc, txc} {
				if c.Dropped == 0 || c.Duplicated == 0 || c.Reordered == 0 {
					t.Fatalf("impairments not all exercised: %v", c)
				}
			}
			if rxc.Corrupted+txc.Corrupted == 0 {
				t.Fatal("no frame corrupted")
			}
			if d := s.Stats().Drops[DropTCPChecksum]; rxc.Corrupted > 0 && d == 0 {
				t.Fatalf("%d frames corrupted on receipt, no checksum drop counted", rxc.Corrupted)
			}
			info := u.Info()
			if info.Retransmits == 0 {
				t.Fatalf("the stack lost %d segments and retransmitted none", txc.Dropped)
			}
			t.Logf("stack: %d retransmissions, cwnd %d, srtt %v", info.Retransmits, info.Cwnd, info.RTT)
			u.Close()
		})
	}
}

// connectKernel makes a connection between the stack (on pair.A) and a
// kernel socket on pair.B: the stack dials a kernel listener, or the
// kernel dials a stack listener.
func connectKernel(t *testing.T, pair *netns.Pair, s *Stack, dial bool, port uint16) (*TCPSocket, net.Conn) {
	t.Helper()
	if dial {
		return dialKernel(t, s, pair.B, int(port))
	}
	l, err := s.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 16, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dialed := make(chan net.Conn, 1)
	go func() {
		var c net.Conn
		err := pair.B.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(pair.A.Addr, port).String(), 20*time.Second)
			return err
		})
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	u := spin(t, s, l.Accept)
	kc := <-dialed
	if kc == nil {
		t.FailNow()
	}
	return u, kc
}

// keepPcapOnFailure makes a pcap writer for a test's frames, in a file
// that is kept (and named in the log) when the test fails.
func keepPcapOnFailure(t *testing.T, name string) *memvi.PcapWriter {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pcap, err := memvi.NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pcap.Flush()
		f.Close()
		if t.Failed() {
			keep := filepath.Join(os.TempDir(), name)
			if os.Rename(path, keep) == nil {
				t.Logf("pcap of the failing run: %s", keep)
			}
		}
	})
	return pcap
}
