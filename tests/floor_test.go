package tests

import (
	"testing"
	"time"

	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/tests/pingpong"
)

// BenchmarkFloor is the round trip of 64-byte UDP datagrams between the
// two test hosts: through kernel sockets, blocking and spinning, through
// raw VIs on both ends (the floor), spinning and sleeping (the floor of a
// sleeping path, to hold beside the kernel's blocking one), and through
// the stack's sockets. One iteration is one round trip; p50, p99 and min
// are reported as metrics.
//
//	go test -run '^$' -bench Floor -benchtime 20000x ./tests/
func BenchmarkFloor(b *testing.B) {
	pair := netns.New(b, netns.Options{})
	for _, m := range pingpong.Modes {
		b.Run(string(m), func(b *testing.B) {
			rtts, err := pingpong.Run(pair, pingpong.Config{Mode: m, Count: b.N})
			if err != nil {
				b.Fatal(err)
			}
			s := pingpong.Summarize(rtts)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(s.Min.Nanoseconds()), "min-ns")
			b.ReportMetric(float64(s.P50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(s.P99.Nanoseconds()), "p99-ns")
		})
	}
}

// TestPingPong runs every mode briefly and checks every datagram came back
// intact (Run compares each answer with what was sent).
func TestPingPong(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	for _, m := range pingpong.Modes {
		rtts, err := pingpong.Run(pair, pingpong.Config{Mode: m, Warmup: 10, Count: 200, Limit: 20 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if s := pingpong.Summarize(rtts); s.N != 200 || s.Min <= 0 {
			t.Fatalf("%s: summary %+v", m, s)
		}
	}
}

// BenchmarkTCPBulk is TCP bulk throughput between the two test hosts over
// kernel sockets and over the stack's TCP (each end on its own pinned
// thread, spinning): one iteration is one MB; MB/s is reported.
//
//	go test -run '^$' -bench TCPBulk -benchtime 64x ./tests/
func BenchmarkTCPBulk(b *testing.B) {
	pair := netns.New(b, netns.Options{})
	for _, m := range []pingpong.Mode{pingpong.KernelTCP, pingpong.StackTCP} {
		b.Run(string(m), func(b *testing.B) {
			d, err := pingpong.Bulk(pair, m, b.N<<20)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(b.N)/d.Seconds(), "MB/s")
		})
	}
}
