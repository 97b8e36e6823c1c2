package xsk_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xsk"
)

// openRestricted opens a port on h in a helper process (this test binary)
// whose opening thread keeps only the capabilities keep and whose
// RLIMIT_MEMLOCK is memlock bytes (0: unchanged). A subprocess, because
// the ebpf library caches what it probed of the kernel per process, and a
// probe without privileges would spoil the cache for the other tests. It
// returns the error text and whether it wraps vi.ErrPermission.
func openRestricted(t *testing.T, h *netns.Host, keep []int, memlock int) (string, bool) {
	t.Helper()
	caps := make([]string, len(keep))
	for i, c := range keep {
		caps[i] = strconv.Itoa(c)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ACCEL_TEST_HELPER=open-restricted", "HELPER_NS="+h.NS, "HELPER_IF="+h.Ifname,
		"HELPER_CAPS="+strings.Join(caps, ","), "HELPER_MEMLOCK="+strconv.Itoa(memlock))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	text, perm, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return text, perm == "permission"
}

// helperOpenRestricted is openRestricted's other half.
func helperOpenRestricted() int {
	h := &netns.Host{NS: os.Getenv("HELPER_NS"), Ifname: os.Getenv("HELPER_IF")}
	var mask [2]uint32
	for _, f := range strings.Split(os.Getenv("HELPER_CAPS"), ",") {
		if c, err := strconv.Atoi(f); err == nil {
			mask[c/32] |= 1 << (c % 32)
		}
	}
	if n, _ := strconv.Atoi(os.Getenv("HELPER_MEMLOCK")); n > 0 {
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		lim.Cur = uint64(n)
		unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim)
	}
	var openErr error
	err := h.Do(func() error {
		runtime.LockOSThread() // capabilities are per thread: this one keeps few, and dies locked
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{{Effective: mask[0], Permitted: mask[0]}, {Effective: mask[1], Permitted: mask[1]}}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		_, openErr = xsk.Open(xsk.Config{Interface: h.Ifname, Frames: 4096})
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	kind := "other"
	if errors.Is(openErr, vi.ErrPermission) {
		kind = "permission"
	}
	fmt.Printf("%v\n%s\n", openErr, kind)
	return 0
}

func TestOpenWithoutPrivileges(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	text, perm := openRestricted(t, pair.B, nil, 0)
	if !perm || !strings.Contains(text, pair.B.Ifname) {
		t.Fatalf("open without capabilities: %q; want a permission error naming the interface", text)
	}
	t.Log(text)
}

func TestUMEMOverMemlockLimit(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	// Everything but CAP_IPC_LOCK: the packet memory counts against the limit.
	keep := []int{unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN, unix.CAP_BPF, unix.CAP_PERFMON}
	text, _ := openRestricted(t, pair.B, keep, 64<<10)
	if !strings.Contains(text, "register") || !strings.Contains(text, "RLIMIT_MEMLOCK") {
		t.Fatalf("open over the memlock limit: %q; want the step and the limit named", text)
	}
	t.Log(text)
}

func TestAttachRefused(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	// Another XDP program holds the interface.
	err := pair.B.Do(func() error {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer prog.Close()
		ifc, err := netInterface(pair.B.Ifname)
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc})
		if err != nil {
			return err
		}
		defer l.Close()
		_, openErr := xsk.Open(xsk.Config{Interface: pair.B.Ifname})
		if openErr == nil || !strings.Contains(openErr.Error(), "another XDP program") || !errors.Is(openErr, unix.EBUSY) {
			t.Errorf("open on an interface with another XDP program: %v", openErr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
