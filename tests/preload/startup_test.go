package preload_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// BenchmarkIdleWait is what an idle event loop costs: CPU time (all the
// process's threads) per 2 ms epoll_wait over 10 accelerated sockets that
// never receive, on the kernel and under the preload, in alternated runs,
// the median of each reported. Go's scheduler is what the preload adds
// here: a thread that keeps its P in C must move the P's tick, or sysmon
// takes the P and keeps polling every 20 us (see maybe_yield in
// preload/lib/accel.c).
//
//	go test -run '^$' -bench IdleWait -benchtime 3x ./tests/preload/
func BenchmarkIdleWait(b *testing.B) {
	p := pair(b)
	prog := filepath.Join(build(b), "idlewait")
	once := func(e *env) float64 {
		out := run(b, p.A, e, time.Minute, prog, p.A.Addr.String(), "10", "300", "2")
		v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if err != nil {
			b.Fatalf("idlewait printed %q: %v", out, err)
		}
		return v
	}
	var kern, acc []float64
	for range b.N {
		kern = append(kern, once(kernelEnv(b)))
		e := accelEnv(b, p.A, "ACCEL_SPIN_USEC=0")
		acc = append(acc, once(e))
		if st := readStats(b, e.stats); len(st.Sockets) < 10 {
			b.Fatalf("%d sockets accelerated, want 10", len(st.Sockets))
		}
	}
	slices.Sort(kern)
	slices.Sort(acc)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(kern[len(kern)/2], "kernel-cpu-us/wait")
	b.ReportMetric(acc[len(acc)/2], "preload-cpu-us/wait")
}
