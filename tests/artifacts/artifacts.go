// Package artifacts builds, once per test process, what tests run under
// the preload: libaccel.so and libaccel-go.so, the accel binary, and the C
// test programs of tests/progs, from this checkout into a temporary
// directory, so that `go test` needs nothing built beforehand.
package artifacts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Root is the checkout's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Missing says what the build needs that is not here, or "".
func Missing() string {
	for _, t := range []string{"gcc", "go"} {
		if _, err := exec.LookPath(t); err != nil {
			return "building the preload library needs " + t
		}
	}
	return ""
}

// Dir builds everything once and returns the directory that holds it:
// libaccel.so, libaccel-go.so, accel, conform, udppp, sigs, shutwake,
// sigrace, binds.
func Dir() (string, error) {
	once.Do(func() {
		if dir, err = os.MkdirTemp("", "accel-artifacts-"); err != nil {
			return
		}
		steps := [][]string{
			{"go", "build", "-tags", "netgo,osusergo", "-buildmode=c-shared", "-ldflags=" + GoLibLDFlags, "-o", filepath.Join(dir, "libaccel-go.so"), "./preload"},
			{"gcc", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-o", filepath.Join(dir, "libaccel.so"), "preload/lib/accel.c", "-ldl", "-lpthread"},
			{"go", "build", "-o", filepath.Join(dir, "accel"), "./cmd/accel"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "conform"), "tests/progs/conform.c"},
			{"gcc", "-O2", "-Wall", "-o", filepath.Join(dir, "udppp"), "tests/progs/udppp.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "sigs"), "tests/progs/sigs.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "shutwake"), "tests/progs/shutwake.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "sigrace"), "tests/progs/sigrace.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "binds"), "tests/progs/binds.c"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "idlewait"), "tests/progs/idlewait.c"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "burst"), "tests/progs/burst.c"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "sigstack"), "tests/progs/sigstack.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "cancelwait"), "tests/progs/cancelwait.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "sigjump"), "tests/progs/sigjump.c"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "threadreq"), "tests/progs/threadreq.c", "-lpthread"},
			{"gcc", "-O1", "-Wall", "-o", filepath.Join(dir, "firstsend"), "tests/progs/firstsend.c"},
		}
		for _, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Dir = Root()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
			if out, e := cmd.CombinedOutput(); e != nil {
				err = fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), e, out)
				return
			}
		}
	})
	return dir, err
}

// Main runs a package's tests, then removes what Dir built: each test
// process builds its own copy (27 MB), which would otherwise pile up in
// the temporary directory run after run. A package that calls Dir calls
// Main from its TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// GoLibLDFlags are the Go part's link flags, the Makefile's GOLIBLDFLAGS:
// async preemption off, so that its runtime sends no SIGURG into the
// application's threads.
const GoLibLDFlags = "-X=runtime.godebugDefault=asyncpreemptoff=1"
