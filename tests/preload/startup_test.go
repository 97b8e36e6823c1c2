package preload_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkStartup is the cost of the preload to a process that makes no
// accelerated socket: /bin/true run with and without libaccel.so (with
// acceleration configured), alternating, the median of each reported.
//
//	go test -run '^$' -bench Startup -benchtime 400x ./tests/preload/
func BenchmarkStartup(b *testing.B) {
	dir := build(b)
	lib := filepath.Join(dir, "libaccel.so")
	runOnce := func(preload bool) time.Duration {
		cmd := exec.Command("/bin/true")
		cmd.Env = os.Environ()
		if preload {
			cmd.Env = append(cmd.Env, "LD_PRELOAD="+lib, "ACCEL_INTERFACES=eth0")
		}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var plain, pre []time.Duration
	for i := 0; i < b.N; i++ {
		plain = append(plain, runOnce(false))
		pre = append(pre, runOnce(true))
	}
	slices.Sort(plain)
	slices.Sort(pre)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(plain[len(plain)/2].Nanoseconds()), "plain-p50-ns")
	b.ReportMetric(float64(pre[len(pre)/2].Nanoseconds()), "preload-p50-ns")
	b.ReportMetric(float64((pre[len(pre)/2] - plain[len(plain)/2]).Nanoseconds()), "added-ns")
}
