// Package preload_test runs unmodified programs under libaccel.so between
// two network namespaces and checks that they behave as on the kernel,
// and, through the stats file, that their traffic went through a VI.
package preload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accelnet/accel/shim"
	"github.com/accelnet/accel/tests/artifacts"
	"github.com/accelnet/accel/tests/netns"
)

func root() string { return artifacts.Root() }

func build(t testing.TB) string {
	t.Helper()
	if why := artifacts.Missing(); why != "" {
		t.Skip(why)
	}
	dir, err := artifacts.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) { artifacts.Main(m) }

// env is an environment for a program under the preload on host h.
type env struct {
	dir   string
	stats string
	vars  []string
}

// accelEnv preloads the library and accelerates h's interface; the stats
// file goes to a fresh path.
func accelEnv(t testing.TB, h *netns.Host, extra ...string) *env {
	dir := build(t)
	stats := filepath.Join(t.TempDir(), h.NS+"-stats.json")
	vars := []string{"LD_PRELOAD=" + filepath.Join(dir, "libaccel.so"), "ACCEL_INTERFACES=" + h.Ifname,
		"ACCEL_STATS_FILE=" + stats, "ACCEL_LOG=warn"}
	t.Cleanup(func() {
		// A failure shows what the stacks saw: drops by reason, VI
		// counters, fallbacks (a rare loss is diagnosed from this).
		if t.Failed() {
			if b, err := os.ReadFile(stats); err == nil {
				t.Logf("stats file of %s:\n%s", h.NS, b)
			}
		}
	})
	return &env{dir: dir, stats: stats, vars: append(vars, extra...)}
}

// kernelEnv runs a program without the preload.
func kernelEnv(t testing.TB) *env { return &env{dir: build(t)} }

// proc is a program started in a namespace, bounded in time.
type proc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	err    bytes.Buffer
	done   chan struct{}
	cancel context.CancelFunc
}

// start runs name in h's namespace with e, killed (by its process group)
// after limit or at the end of the test.
func start(t testing.TB, h *netns.Host, e *env, limit time.Duration, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.Env = append(os.Environ(), e.vars...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	p := &proc{cmd: cmd, done: make(chan struct{}), cancel: cancel}
	cmd.Stdout, cmd.Stderr = &p.out, &p.err
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// wait waits for the program to end and fails the test if it did not
// exit 0 in time.
func (p *proc) wait(t testing.TB) string {
	t.Helper()
	<-p.done
	p.cancel()
	if err := p.cmd.ProcessState; err == nil || !err.Success() {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args[3:], " "), p.cmd.ProcessState, p.out.String(), p.err.String())
	}
	return p.out.String()
}

// stop ends the program (SIGTERM to its group, then SIGKILL) and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		p.cancel()
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	p.cancel()
}

// run runs a program to its end and returns its stdout.
func run(t testing.TB, h *netns.Host, e *env, limit time.Duration, name string, args ...string) string {
	t.Helper()
	return start(t, h, e, limit, name, args...).wait(t)
}

// readStats reads a stats file, waiting for it to appear.
func readStats(t testing.TB, path string) shim.Stats {
	t.Helper()
	var st shim.Stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if err = json.Unmarshal(b, &st); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats file %s: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accelerated checks that at least n datagrams came in and went out
// through the VI, by the stats file.
func accelerated(t *testing.T, e *env, n uint64) shim.Stats {
	t.Helper()
	st := readStats(t, e.stats)
	rx, tx := viDatagrams(st)
	if rx < n || tx < n {
		t.Fatalf("through the VI: %d datagrams in, %d out; want at least %d each\nstats: %+v", rx, tx, n, st)
	}
	return st
}

// acceleratedBytes reads e's stats file: its sockets received rx payload
// bytes and sent tx, and its stacks carried datagrams through the VI each
// way that bytes were asked for. For programs whose writes may merge into
// fewer datagrams than they made (a pipe read once for two lines).
func acceleratedBytes(t *testing.T, e *env, rx, tx uint64) {
	t.Helper()
	st := readStats(t, e.stats)
	in, out := viDatagrams(st)
	var rxb, txb uint64
	for _, s := range st.Sockets {
		rxb, txb = rxb+s.RxBytes, txb+s.TxBytes
	}
	if rxb != rx || txb != tx || (rx > 0 && in == 0) || (tx > 0 && out == 0) {
		t.Fatalf("through the VI: %d bytes in (%d datagrams), %d out (%d); want %d and %d\nstats: %+v", rxb, in, txb, out, rx, tx, st)
	}
}

// viDatagrams adds up the UDP datagrams the stacks carried through their
// VIs, in and out.
func viDatagrams(st shim.Stats) (in, out uint64) {
	for _, s := range st.Stacks {
		in, out = in+s.RxUDP, out+s.TxUDP
	}
	return in, out
}

func pair(t testing.TB) *netns.Pair {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	return netns.New(t, netns.Options{})
}

// need skips the test when a program is not installed.
func need(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (make deps installs it as root)", n)
		}
	}
}

// bound waits until h has sockets bound to each of ports (proto "udp", or
// "tcp" listening), up to 10 s: a server's readiness, where a sleep would
// guess at its start-up time and a busy machine would beat the guess (a
// client's first datagram, sent before the bind, is lost for good).
func bound(t *testing.T, h *netns.Host, proto string, ports ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := h.Command("cat", "/proc/net/"+proto).Output()
		if err != nil {
			t.Fatalf("read /proc/net/%s in %s: %v", proto, h.NS, err)
		}
		missing := ""
		for _, p := range ports {
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("port %q: %v", p, err)
			}
			if !hasBound(string(out), n, proto == "tcp") {
				missing = p
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing bound to %s port %s in %s after 10 s", proto, missing, h.NS)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasBound reads a /proc/net/{udp,tcp} table for a local port (listening,
// for TCP: state 0A).
func hasBound(table string, port int, listen bool) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, l := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && (!listen || f[3] == "0A") {
			return true
		}
	}
	return false
}
