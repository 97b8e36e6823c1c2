// Package xdp is the NIC filter table of the Onload model, built from an XDP
// program (filter.c) and its BPF maps: a frame whose flow matches a filter is
// redirected to the AF_XDP socket that owns the filter, everything else is
// passed to the kernel.
//
// One program serves an interface, shared by every VI and every process on
// it. The first process attaches it and pins the link and the maps under
// bpffs (mounting bpffs if needed); later processes load the pinned maps; the
// last one out detaches. Owners (one per VI) claim a slot of the XSKMAP with
// an open-file-description lock that dies with the process, and stamp their
// filters with a per-slot cookie, so that a process killed with SIGKILL leaves
// no flow black-holed: its slot empties, its filters go stale, and the
// program passes their traffic to the kernel.
package xdp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// MaxSlots is the number of owners (VIs) one interface can have at once; it
// is the XSKMAP size of filter.c.
const MaxSlots = 64

// Mode is how the program is attached.
type Mode int

const (
	// ModeAuto tries the driver's native XDP, then generic XDP.
	ModeAuto Mode = iota
	ModeNative
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "auto"
}

// Paths under which tables are shared between processes. Variables so that
// tests can move them.
var (
	BPFFSDir = "/sys/fs/bpf"
	RunDir   = "/run/accel"
)

// Table is the filter table of one interface, as seen by one process.
type Table struct {
	objs    filterObjects
	link    link.Link // nil for a detached table (tests)
	ifindex int
	pinDir  string   // "" when not shared
	lockf   *os.File // lock file: byte MaxSlots guards setup, byte i is slot i
	mode    Mode

	mu     sync.Mutex
	owners [MaxSlots]*Owner
}

// New loads the program and a private set of maps without attaching them to
// anything. It is what tests run the program on (Program.Run).
func New() (*Table, error) {
	t := &Table{}
	if err := loadFilterObjects(&t.objs, nil); err != nil {
		return nil, fmt.Errorf("xdp: load filter program: %w", classify(err))
	}
	return t, nil
}

// Attach opens the shared filter table of the interface ifindex in the
// calling thread's network namespace, attaching the program if no process
// has yet. The caller must keep the thread in that namespace for the call.
func Attach(ifindex int, mode Mode) (*Table, error) {
	if ifindex <= 0 {
		return nil, fmt.Errorf("xdp: attach: invalid interface index %d", ifindex)
	}
	ns, err := netnsID()
	if err != nil {
		return nil, fmt.Errorf("xdp: attach: %w", err)
	}
	if err := ensureBPFFS(BPFFSDir); err != nil {
		return nil, fmt.Errorf("xdp: attach: %w", err)
	}
	name := fmt.Sprintf("if%d-ns%d", ifindex, ns)
	t := &Table{ifindex: ifindex, pinDir: filepath.Join(BPFFSDir, "accel", name), mode: mode}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("xdp: attach: make %s: %w", RunDir, err)
	}
	t.lockf, err = os.OpenFile(filepath.Join(RunDir, name+".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("xdp: attach: open lock file: %w", err)
	}
	if err := t.setupLock(); err != nil {
		t.lockf.Close()
		return nil, err
	}
	defer t.setupUnlock()
	if err := t.load(); err != nil {
		t.lockf.Close()
		return nil, err
	}
	return t, nil
}

// load finds the pinned maps and link, or creates, attaches and pins them.
// It runs under the setup lock.
func (t *Table) load() error {
	if err := os.MkdirAll(t.pinDir, 0o700); err != nil {
		return fmt.Errorf("xdp: attach: make pin folder: %w", err)
	}
	// A link pinned by an earlier process may have outlived its interface
	// (deleted and its index reused): then start afresh.
	linkPath := filepath.Join(t.pinDir, "link")
	if l, err := link.LoadPinnedLink(linkPath, nil); err == nil {
		info, ierr := l.Info()
		if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == t.ifindex {
			t.link = l
		} else {
			l.Unpin()
			l.Close()
			t.unpinMaps()
		}
	}
	spec, err := loadFilter()
	if err != nil {
		return fmt.Errorf("xdp: attach: %w", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinByName
	}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: t.pinDir}}
	if err := spec.LoadAndAssign(&t.objs, opts); err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return fmt.Errorf("xdp: attach: maps pinned in %s belong to another accel version (remove them when no accelerated process runs): %w", t.pinDir, err)
		}
		return fmt.Errorf("xdp: attach: load program and maps: %w", classify(err))
	}
	if t.link != nil {
		return nil
	}
	l, err := t.attachLink()
	if err != nil {
		t.objs.Close()
		return err
	}
	if err := l.Pin(linkPath); err != nil {
		l.Close()
		t.objs.Close()
		return fmt.Errorf("xdp: attach: pin link: %w", err)
	}
	t.link = l
	return nil
}

func (t *Table) attachLink() (link.Link, error) {
	try := []link.XDPAttachFlags{link.XDPDriverMode, link.XDPGenericMode}
	switch t.mode {
	case ModeNative:
		try = try[:1]
	case ModeGeneric:
		try = try[1:]
	}
	var err error
	for _, flags := range try {
		var l link.Link
		l, err = link.AttachXDP(link.XDPOptions{Program: t.objs.AccelFilter, Interface: t.ifindex, Flags: flags})
		if err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("xdp: attach program to interface %d (%s mode): %w", t.ifindex, t.mode, classify(err))
}

// Close releases the process's hold on the table. The last process out
// detaches the program and removes the pinned maps. Owners still open are
// closed first.
func (t *Table) Close() error {
	t.mu.Lock()
	owners := t.owners
	t.mu.Unlock()
	for _, o := range owners {
		if o != nil {
			o.Close()
		}
	}
	if t.lockf == nil {
		return t.objs.Close()
	}
	var errs []error
	if err := t.setupLock(); err != nil {
		errs = append(errs, err)
	} else if !t.othersHoldSlots() {
		if err := t.link.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("xdp: unpin link: %w", err))
		}
		t.unpinMaps()
		os.Remove(t.pinDir)
	}
	if t.link != nil {
		errs = append(errs, t.link.Close())
	}
	errs = append(errs, t.objs.Close())
	t.setupUnlock()
	errs = append(errs, t.lockf.Close())
	return errors.Join(errs...)
}

func (t *Table) unpinMaps() {
	for _, name := range []string{filterMapArpTargets, filterMapFlows, filterMapSlotCookie, filterMapVerdicts, filterMapXsks} {
		os.Remove(filepath.Join(t.pinDir, name))
	}
}

// Program is the filter program, for tests that run it on crafted frames.
func (t *Table) Program() *ebpf.Program { return t.objs.AccelFilter }

// Ifindex is the interface the table is attached to (0 if none).
func (t *Table) Ifindex() int { return t.ifindex }

// Shared reports whether the table is pinned and shared with other processes.
func (t *Table) Shared() bool { return t.pinDir != "" }

// classify maps the kernel's refusals onto vi's sentinel errors, keeping the
// original error in the chain.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return errors.Join(vi.ErrPermission, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL) && errors.Is(err, ebpf.ErrNotSupported),
		errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EAFNOSUPPORT):
		return errors.Join(vi.ErrNotSupported, err)
	}
	return err
}
