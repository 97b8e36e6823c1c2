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

	"github.com/accelnet/accel/tests/netns"
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
	kern, acc := alternate(b, p.A, []string{"ACCEL_SPIN_USEC=0"}, 10, prog, p.A.Addr.String(), "10", "300", "2")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(kern, "kernel-cpu-us/wait")
	b.ReportMetric(acc, "preload-cpu-us/wait")
}

// alternate runs prog (which prints one number) on host h b.N times on
// the kernel and as many under the preload (with the setting extra), in
// turn, and returns the medians of what it printed. Each run under the
// preload must have accelerated at least sockets sockets.
func alternate(b *testing.B, h *netns.Host, extra []string, sockets int, prog string, args ...string) (kern, acc float64) {
	once := func(e *env) float64 {
		out := run(b, h, e, time.Minute, prog, args...)
		v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if err != nil {
			b.Fatalf("%s printed %q: %v", filepath.Base(prog), out, err)
		}
		return v
	}
	var ks, as []float64
	for range b.N {
		ks = append(ks, once(kernelEnv(b)))
		e := accelEnv(b, h, extra...)
		as = append(as, once(e))
		if st := readStats(b, e.stats); len(st.Sockets) < sockets {
			b.Fatalf("%d sockets accelerated, want %d", len(st.Sockets), sockets)
		}
	}
	slices.Sort(ks)
	slices.Sort(as)
	return ks[len(ks)/2], as[len(as)/2]
}

// BenchmarkFirstSend is what a short-lived program's first datagram costs:
// the first sendto of a fresh process, on the kernel and under the preload
// (where it loads the Go part, makes the stack and its VI, and attaches the
// interface's filter, no other process holding it), in alternated runs.
// It was 117 ms at the median under the preload before the filter's maps
// allocated entries on insertion, the low fds were filled by dup instead
// of open, the XSKMAP was made without BTF and the fd table grown once
// (19 ms after).
//
//	go test -run '^$' -bench FirstSend -benchtime 20x ./tests/preload/
func BenchmarkFirstSend(b *testing.B) {
	p := pair(b)
	prog := filepath.Join(build(b), "firstsend")
	kern, acc := alternate(b, p.A, nil, 1, prog, p.B.Addr.String(), "9")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(kern, "kernel-p50-us")
	b.ReportMetric(acc, "preload-p50-us")
}
