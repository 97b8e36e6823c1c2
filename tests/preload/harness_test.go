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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accelnet/accel/shim"
	"github.com/accelnet/accel/tests/netns"
)

// artifacts are the libraries and test programs, built once per run into
// a temporary directory from this checkout, so that `go test` alone needs
// nothing built beforehand.
var artifacts struct {
	once sync.Once
	dir  string
	err  error
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func build(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("the preload tests need gcc to build libaccel.so")
	}
	artifacts.once.Do(func() {
		dir, err := os.MkdirTemp("", "accel-preload-")
		if err != nil {
			artifacts.err = err
			return
		}
		artifacts.dir = dir
		r := root()
		steps := [][]string{
			{"go", "build", "-tags", "netgo,osusergo", "-buildmode=c-shared", "-o", filepath.Join(dir, "libaccel-go.so"), "./preload"},
			{"gcc", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-o", filepath.Join(dir, "libaccel.so"), "preload/lib/accel.c", "-ldl", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "conform"), "tests/progs/conform.c"},
			{"gcc", "-O2", "-Wall", "-o", filepath.Join(dir, "udppp"), "tests/progs/udppp.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "sigs"), "tests/progs/sigs.c", "-lpthread"},
			{"go", "build", "-o", filepath.Join(dir, "accel"), "./cmd/accel"},
		}
		for _, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Dir = r
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				artifacts.err = fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), err, out)
				return
			}
		}
	})
	if artifacts.err != nil {
		t.Fatal(artifacts.err)
	}
	return artifacts.dir
}

// env is an environment for a program under the preload on host h.
type env struct {
	dir   string
	stats string
	vars  []string
}

// accelEnv preloads the library and accelerates h's interface; the stats
// file goes to a fresh path.
func accelEnv(t *testing.T, h *netns.Host, extra ...string) *env {
	dir := build(t)
	stats := filepath.Join(t.TempDir(), h.NS+"-stats.json")
	vars := []string{"LD_PRELOAD=" + filepath.Join(dir, "libaccel.so"), "ACCEL_INTERFACES=" + h.Ifname,
		"ACCEL_STATS_FILE=" + stats, "ACCEL_LOG=warn"}
	return &env{dir: dir, stats: stats, vars: append(vars, extra...)}
}

// kernelEnv runs a program without the preload.
func kernelEnv(t *testing.T) *env { return &env{dir: build(t)} }

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
func start(t *testing.T, h *netns.Host, e *env, limit time.Duration, name string, args ...string) *proc {
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
func (p *proc) wait(t *testing.T) string {
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
func run(t *testing.T, h *netns.Host, e *env, limit time.Duration, name string, args ...string) string {
	t.Helper()
	return start(t, h, e, limit, name, args...).wait(t)
}

// readStats reads a stats file, waiting for it to appear.
func readStats(t *testing.T, path string) shim.Stats {
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
	var rx, tx uint64
	for _, s := range st.Stacks {
		rx += s.RxUDP
		tx += s.TxUDP
	}
	if rx < n || tx < n {
		t.Fatalf("through the VI: %d datagrams in, %d out; want at least %d each\nstats: %+v", rx, tx, n, st)
	}
	return st
}

func pair(t *testing.T) *netns.Pair {
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
