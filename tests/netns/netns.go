// Package netns makes test hosts: two network namespaces joined by a veth
// pair, with addresses on a test subnet that exists only inside them. Tests
// and benchmarks use it; nothing it makes is reachable from anywhere else,
// and everything it makes is torn down, also when a test fails or panics.
//
// Each call makes names of its own (accel-<pid>-<n>-a/b), so runs and
// parallel tests never collide; namespaces left by a process that died are
// swept on the next call.
package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// DefaultSubnet is the test subnet (RFC 2544's benchmarking range).
var DefaultSubnet = netip.MustParsePrefix("198.18.0.0/24")

// Host is one end: a namespace with one veth interface.
type Host struct {
	NS     string // namespace name (ip netns)
	Ifname string
	Addr   netip.Addr
	MAC    net.HardwareAddr
	MTU    int
}

// Pair is two hosts on one link, and any hosts added behind them.
type Pair struct {
	A, B   *Host
	Prefix netip.Prefix
	extra  []*Host
	opts   Options
}

// Options for New.
type Options struct {
	Prefix netip.Prefix // default DefaultSubnet; A gets .1, B gets .2
	MTU    int          // default 1500
	// Queues per direction on each end (default 1). A veth delivers a
	// frame on the receive queue whose number is the sender's transmit
	// queue.
	Queues int
	// Offloads left on: by default TX checksum and segmentation offloads
	// are turned off on both ends, so that the kernel sends complete frames
	// with correct checksums, as a NIC delivers them.
	KeepOffloads bool
}

var seq atomic.Int64

// Missing reports why test hosts cannot be made here, or "" if they can.
func Missing() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("test hosts need root (running as uid %d)", os.Geteuid())
	}
	for _, tool := range []string{"ip", "ethtool", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("test hosts need %s (Debian: iproute2, ethtool, iputils-ping)", tool)
		}
	}
	return ""
}

// New makes a pair for a test and tears it down when the test ends. It
// skips the test, with the reason, where hosts cannot be made.
func New(tb testing.TB, opts Options) *Pair {
	tb.Helper()
	if why := Missing(); why != "" {
		tb.Skip(why)
	}
	p, err := Make(opts)
	if err != nil {
		tb.Fatalf("make test hosts: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("tear down test hosts: %v", err)
		}
	})
	return p
}

// Make makes a pair; the caller must Close it.
func Make(opts Options) (_ *Pair, err error) {
	if opts.Prefix == (netip.Prefix{}) {
		opts.Prefix = DefaultSubnet
	}
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.Queues == 0 {
		opts.Queues = 1
	}
	nq := strconv.Itoa(opts.Queues)
	sweep()
	n := seq.Add(1)
	base := fmt.Sprintf("accel-%d-%d", os.Getpid(), n)
	tag := fmt.Sprintf("%x%x", os.Getpid(), n) // interface names are at most 15 bytes
	if len(tag) > 11 {
		tag = tag[len(tag)-11:]
	}
	a := opts.Prefix.Addr().Next()
	p := &Pair{
		opts:   opts,
		Prefix: opts.Prefix,
		A:      &Host{NS: base + "-a", Ifname: "va" + tag, Addr: a, MTU: opts.MTU},
		B:      &Host{NS: base + "-b", Ifname: "vb" + tag, Addr: a.Next(), MTU: opts.MTU},
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for _, h := range []*Host{p.A, p.B} {
		if err := run("ip", "netns", "add", h.NS); err != nil {
			return nil, err
		}
	}
	if err := run("ip", "link", "add", p.A.Ifname, "numtxqueues", nq, "numrxqueues", nq, "netns", p.A.NS, "type", "veth",
		"peer", "name", p.B.Ifname, "numtxqueues", nq, "numrxqueues", nq, "netns", p.B.NS); err != nil {
		return nil, err
	}
	for _, h := range []*Host{p.A, p.B} {
		if err := setUp(h, opts.Prefix.Bits(), opts.KeepOffloads); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// setUp addresses and raises a host's interface, and reads its MAC.
func setUp(h *Host, bits int, keepOffloads bool) error {
	steps := [][]string{
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "-n", h.NS, "link", "set", h.Ifname, "mtu", strconv.Itoa(h.MTU)},
		{"ip", "-n", h.NS, "addr", "add", netip.PrefixFrom(h.Addr, bits).String(), "dev", h.Ifname},
		{"ip", "-n", h.NS, "link", "set", h.Ifname, "up"},
	}
	if !keepOffloads {
		steps = append(steps, []string{"ip", "netns", "exec", h.NS, "ethtool", "-K", h.Ifname, "tx", "off", "tso", "off", "gso", "off", "gro", "off"})
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	err := h.Do(func() error {
		// No IPv6 chatter (router solicitations, DAD) on test links.
		os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0)
		ifc, err := net.InterfaceByName(h.Ifname)
		if err != nil {
			return err
		}
		h.MAC = ifc.HardwareAddr
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s in %s: %w", h.Ifname, h.NS, err)
	}
	return nil
}

// AddBehind makes a host C on a new link to router (A or B) with subnet
// prefix: router gets prefix's first address on that link and forwards
// between its links, C the second with a default route through router,
// and the pair's other host a route to prefix through router. The new link
// has MTU mtu (0: the pair's). It returns C; Close removes it with the pair.
func (p *Pair) AddBehind(router *Host, prefix netip.Prefix, mtu int) (*Host, error) {
	if mtu == 0 {
		mtu = p.opts.MTU
	}
	other := p.A
	if router == p.A {
		other = p.B
	}
	n := len(p.extra) + 1
	tag := strings.TrimPrefix(router.Ifname, "va")
	tag = strings.TrimPrefix(tag, "vb")
	c := &Host{NS: fmt.Sprintf("%s-c%d", strings.TrimSuffix(p.A.NS, "-a"), n), Ifname: fmt.Sprintf("vc%d%s", n, tag),
		Addr: prefix.Addr().Next().Next(), MTU: mtu}
	r := &Host{NS: router.NS, Ifname: fmt.Sprintf("vr%d%s", n, tag), Addr: prefix.Addr().Next(), MTU: mtu}
	if err := run("ip", "netns", "add", c.NS); err != nil {
		return nil, err
	}
	p.extra = append(p.extra, c)
	steps := [][]string{
		{"ip", "link", "add", r.Ifname, "netns", r.NS, "type", "veth", "peer", "name", c.Ifname, "netns", c.NS},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	for _, h := range []*Host{r, c} {
		if err := setUp(h, prefix.Bits(), p.opts.KeepOffloads); err != nil {
			return nil, err
		}
	}
	steps = [][]string{
		{"ip", "netns", "exec", router.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "-n", c.NS, "route", "add", "default", "via", r.Addr.String()},
		{"ip", "-n", other.NS, "route", "add", prefix.String(), "via", router.Addr.String()},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close deletes both namespaces (and with them the veth pair) and whatever
// accel pinned or locked for them.
func (p *Pair) Close() error {
	var errs []error
	for _, h := range append([]*Host{p.A, p.B}, p.extra...) {
		if h == nil {
			continue
		}
		if ino, err := h.inode(); err == nil {
			cleanAccelState(ino)
		}
		if _, err := os.Stat(h.path()); err == nil {
			if err := run("ip", "netns", "del", h.NS); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (h *Host) path() string { return filepath.Join("/var/run/netns", h.NS) }

func (h *Host) inode() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(h.path(), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// cleanAccelState removes bpffs pins and lock files that accel's filter
// tables made for interfaces of the namespace with inode ino.
func cleanAccelState(ino uint64) {
	suffix := fmt.Sprintf("-ns%d", ino)
	pins, _ := filepath.Glob("/sys/fs/bpf/accel/*" + suffix)
	for _, d := range pins {
		os.RemoveAll(d)
	}
	locks, _ := filepath.Glob("/run/accel/*" + suffix + ".lock")
	for _, f := range locks {
		os.Remove(f)
	}
}

// Do runs fn on a thread that is in the host's namespace. Goroutines fn
// starts run elsewhere; sockets and fds fn makes stay in the namespace.
func (h *Host) Do(fn func() error) error {
	ns, err := os.Open(h.path())
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", h.NS, err)
	}
	defer ns.Close()
	return vi.InNetns(ns, fn)
}

// Command is a command to run inside the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sweep deletes namespaces this package made in processes that have died.
func sweep() {
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		f := strings.Split(e.Name(), "-")
		if len(f) != 4 || f[0] != "accel" {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			h := &Host{NS: e.Name()}
			if ino, err := h.inode(); err == nil {
				cleanAccelState(ino)
			}
			run("ip", "netns", "del", e.Name())
		}
	}
}
