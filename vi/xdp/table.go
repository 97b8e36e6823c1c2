// Package xdp is the NIC filter table of the Onload model, built from an XDP
// program (filter.c) and its BPF maps: a frame whose flow matches a filter is
// redirected to the AF_XDP socket that owns the filter, everything else is
// passed to the kernel.
//
// One program serves an interface, shared by every VI and every process on
// it. The first process attaches it with a BPF link; later processes find
// that link among the kernel's links by interface, and open its program and
// maps by ID. Every process holds a reference to the link, so the program
// stays attached while any of them runs and the kernel detaches it when the
// last one exits, even by SIGKILL. This needs no bpffs pins: pins live in a
// mount namespace, and `ip netns exec` (how accelerated programs are started
// in namespaces) gives each process a private /sys, where pins would not be
// shared.
//
// Owners (one per VI) claim a slot of the XSKMAP with an open-file-description
// lock that dies with the process, and stamp their filters with a per-slot
// cookie. A process killed with SIGKILL leaves no flow black-holed: the
// kernel empties its XSKMAP slot when its socket closes (the program then
// passes the traffic to the kernel), and the next owner of the slot changes
// the cookie and sweeps the dead owner's filters away.
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
	// ModeAuto tries the driver's native XDP, then generic XDP; on a
	// veth, generic first (see Table.attachLink).
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

// RunDir holds the lock files that processes sharing an interface
// coordinate through. A variable so that tests can move it.
var RunDir = "/run/accel"

// Table is the filter table of one interface, as seen by one process.
type Table struct {
	objs    filterObjects
	link    link.Link // nil for a detached table (tests)
	ifindex int
	lockf   *os.File // lock file: byte MaxSlots guards setup, byte i is slot i
	mode    Mode
	iface   linkInfo // the interface as join found it

	mu     sync.Mutex
	owners [MaxSlots]*Owner
}

// New loads the program and a private set of maps without attaching them to
// anything. It is what tests run the program on (Program.Run).
func New() (*Table, error) {
	t := &Table{}
	if err := loadObjects(&t.objs); err != nil {
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
	ns, err := vi.ThreadNetns()
	if err != nil {
		return nil, fmt.Errorf("xdp: attach: %w", err)
	}
	t := &Table{ifindex: ifindex, mode: mode}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("xdp: attach: make %s: %w", RunDir, err)
	}
	name := fmt.Sprintf("if%d-ns%d.lock", ifindex, ns)
	t.lockf, err = os.OpenFile(filepath.Join(RunDir, name), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("xdp: attach: open lock file: %w", err)
	}
	if err := t.setupLock(); err != nil {
		t.lockf.Close()
		return nil, err
	}
	defer t.setupUnlock()
	found, err := t.join()
	if err == nil && !found {
		err = t.attach()
	}
	if err != nil {
		t.lockf.Close()
		return nil, err
	}
	return t, nil
}

// join looks for accel's program attached to the interface and, if it is
// there, takes a reference to its link, program and maps.
func (t *Table) join() (bool, error) {
	li, err := linkXDP(t.ifindex)
	t.iface = li
	progID := li.progID
	if err != nil {
		return false, fmt.Errorf("xdp: attach: %w", err)
	}
	if progID == 0 {
		return false, nil
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(progID))
	if err != nil {
		return false, fmt.Errorf("xdp: attach: open attached program: %w", classify(err))
	}
	pinfo, err := prog.Info()
	if err != nil || pinfo.Name != filterProgAccelFilter {
		prog.Close()
		name := "?"
		if pinfo != nil {
			name = pinfo.Name
		}
		return false, fmt.Errorf("xdp: attach: interface %d runs another XDP program (%q): %w", t.ifindex, name, unix.EBUSY)
	}
	// Hold the program's link, so that it stays attached while this
	// process runs.
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType || uint32(info.Program) != progID {
			continue
		}
		if err := t.openMaps(pinfo); err != nil {
			prog.Close()
			return false, err
		}
		t.objs.AccelFilter = prog
		t.link = it.Take()
		return true, nil
	}
	prog.Close()
	if err := it.Err(); err != nil {
		return false, fmt.Errorf("xdp: attach: list BPF links: %w", classify(err))
	}
	return false, fmt.Errorf("xdp: attach: accel's program is attached to interface %d without a BPF link (by an older version?): %w", t.ifindex, unix.EBUSY)
}

// openMaps opens the maps of an attached program by ID.
func (t *Table) openMaps(pinfo *ebpf.ProgramInfo) error {
	ids, _ := pinfo.MapIDs()
	byName := map[string]**ebpf.Map{
		filterMapArpTargets: &t.objs.ArpTargets, filterMapFlows: &t.objs.Flows,
		filterMapSlots: &t.objs.Slots, filterMapVerdicts: &t.objs.Verdicts, filterMapXsks: &t.objs.Xsks,
	}
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.objs.filterMaps.Close()
			return fmt.Errorf("xdp: attach: open map %d: %w", id, classify(err))
		}
		info, err := m.Info()
		if p, ok := byName[info.Name]; err == nil && ok && *p == nil {
			*p = m
		} else {
			m.Close()
		}
	}
	for name, p := range byName {
		if *p == nil {
			t.objs.filterMaps.Close()
			return fmt.Errorf("xdp: attach: the attached program has no map %q: another accel version runs on interface %d", name, t.ifindex)
		}
	}
	return nil
}

// attach loads the program with fresh maps and attaches it.
func (t *Table) attach() error {
	if err := loadObjects(&t.objs); err != nil {
		return fmt.Errorf("xdp: attach: load program and maps: %w", classify(err))
	}
	l, err := t.attachLink()
	if err != nil {
		t.objs.Close()
		return err
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
	default:
		// A veth's native XDP only costs: AF_XDP on it is copy mode in
		// either mode, and native mode adds a NAPI pass and a copy of
		// every frame into a page of its own (veth_xdp_rcv_skb), for
		// frames to the stack and to the kernel alike. Generic XDP runs
		// the program on the skb the sender made. Measured here
		// (sockperf UDP ping-pong between two namespaces, one-way p50,
		// 2 s rounds alternated): 13.7/14.1 against 14.7/14.8 µs
		// sleeping, 3.0-4.4 against 3.2-5.3 µs spinning. Only on a
		// veth of one queue: generic XDP sees every frame as queue 0's,
		// where native mode keeps the queue the peer sent on, which a
		// veth of several queues gives each process's port.
		if t.iface.kind == "veth" && t.iface.rxQueues == 1 {
			try = []link.XDPAttachFlags{link.XDPGenericMode, link.XDPDriverMode}
		}
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

// Close releases the process's hold on the table, closing its owners
// first. When no process holds the link any more, the kernel detaches the
// program.
func (t *Table) Close() error {
	t.mu.Lock()
	owners := t.owners
	t.mu.Unlock()
	errs := []error{}
	for _, o := range owners {
		if o != nil {
			errs = append(errs, o.Close())
		}
	}
	if t.link != nil {
		errs = append(errs, t.link.Close())
	}
	errs = append(errs, t.objs.Close())
	if t.lockf != nil {
		errs = append(errs, t.lockf.Close())
	}
	return errors.Join(errs...)
}

// Program is the filter program, for tests that run it on crafted frames.
func (t *Table) Program() *ebpf.Program { return t.objs.AccelFilter }

// classify maps the kernel's refusals onto vi's sentinel errors, keeping the
// original error in the chain. The ebpf library says ErrNotSupported for
// kernel features it probed and found missing.
func classify(err error) error {
	if errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, vi.ErrNotSupported) {
		return fmt.Errorf("%w: %w", vi.ErrNotSupported, err)
	}
	return vi.Classify(err)
}

// Inspect opens the table of an interface only if accel's program is
// attached to it (ok false otherwise), without attaching anything: for
// operator tools that read counters.
func Inspect(ifindex int) (t *Table, ok bool, err error) {
	t = &Table{ifindex: ifindex}
	found, err := t.join()
	if err != nil || !found {
		return nil, false, err
	}
	return t, true, nil
}

// loadObjects loads the filter program and its maps. The XSKMAP is made
// without BTF for its key and value: Linux refuses BTF on one (ENOTSUPP),
// cilium/ebpf then makes it again without, and the refused map's free
// waits for an RCU grace period (xsk_map_free calls synchronize_net).
func loadObjects(objs *filterObjects) error {
	spec, err := loadFilter()
	if err != nil {
		return err
	}
	if m := spec.Maps["xsks"]; m != nil {
		m.Key, m.Value = nil, nil
	}
	return spec.LoadAndAssign(objs, nil)
}
