package decide

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/tests/netns"
)

type fakeRouter struct{}

func (fakeRouter) LocalInterface(a netip.Addr) (string, error) {
	switch a.String() {
	case "198.18.0.2":
		return "eth0", nil
	case "10.0.0.2":
		return "eth1", nil
	}
	return "", errNoInterface
}

func (fakeRouter) RouteInterface(dst netip.Addr) (string, error) {
	switch {
	case netip.MustParsePrefix("198.18.0.0/16").Contains(dst):
		return "eth0", nil
	case netip.MustParsePrefix("10.0.0.0/8").Contains(dst):
		return "eth1", nil
	}
	return "", errors.New("network is unreachable")
}

func ap(s string) netip.AddrPort {
	if s == "" {
		return netip.AddrPort{}
	}
	return netip.MustParseAddrPort(s)
}

func TestDecide(t *testing.T) {
	cfg, _, err := config.Parse([]string{"ACCEL_INTERFACES=eth0", "ACCEL_RULES=kernel udp-recv *:53; accel udp-send *:* 198.18.9.9:*; kernel udp-send *:* 198.18.9.0/24:*"})
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, fakeRouter{})
	cases := []struct {
		role          config.Role
		local, remote string
		accel         bool
		why           string
	}{
		{config.UDPRecv, "0.0.0.0:9000", "", true, "bound to any address through eth0"},
		{config.UDPRecv, "198.18.0.2:9000", "", true, "bound through eth0"},
		{config.UDPRecv, "10.0.0.2:9000", "", false, "interface eth1 is not in ACCEL_INTERFACES"},
		{config.UDPRecv, "127.0.0.1:9000", "", false, "bound to loopback"},
		{config.UDPRecv, "0.0.0.0:53", "", false, `ACCEL_RULES: "kernel udp-recv *:53"`},
		{config.UDPSend, "0.0.0.0:4000", "198.18.0.1:9000", true, "routed through eth0"},
		{config.UDPSend, "0.0.0.0:4000", "198.18.9.9:9000", true, `(ACCEL_RULES: "accel udp-send *:* 198.18.9.9:*")`},
		{config.UDPSend, "0.0.0.0:4000", "198.18.9.8:9000", false, `ACCEL_RULES: "kernel udp-send *:* 198.18.9.0/24:*"`},
		{config.UDPSend, "0.0.0.0:4000", "8.8.8.8:53", false, "no route to 8.8.8.8"},
		{config.UDPSend, "0.0.0.0:4000", "127.0.0.1:53", false, "the peer is on loopback"},
		{config.TCPClient, "0.0.0.0:4000", "[::1]:80", false, "not IPv4"},
	}
	for _, c := range cases {
		got := d.Decide(c.role, ap(c.local), ap(c.remote))
		if got.Accelerate != c.accel || !strings.Contains(got.Reason, c.why) {
			t.Errorf("%v %s → %s: %+v, want accelerate=%v because %q", c.role, c.local, c.remote, got, c.accel, c.why)
		}
	}
}

func TestDecideSwitches(t *testing.T) {
	for env, want := range map[string]string{
		"ACCEL_UDP=0":              "ACCEL_UDP=0",
		"ACCEL_INTERFACES=":        "ACCEL_INTERFACES is empty",
		"ACCEL_RULES=kernel * *:*": `ACCEL_RULES: "kernel * *:*"`,
	} {
		base := []string{"ACCEL_INTERFACES=eth0", env}
		cfg, _, err := config.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		got := New(cfg, fakeRouter{}).Decide(config.UDPRecv, ap("0.0.0.0:9000"), netip.AddrPort{})
		if got.Accelerate || !strings.Contains(got.Reason, want) {
			t.Errorf("%s: %+v, want kernel because %q", env, got, want)
		}
	}
	cfg, _, _ := config.Parse([]string{"ACCEL_INTERFACES=eth0", "ACCEL_TCP=0"})
	if got := New(cfg, fakeRouter{}).Decide(config.TCPClient, ap("0.0.0.0:1"), ap("198.18.0.1:80")); got.Accelerate {
		t.Errorf("TCP off: %+v", got)
	}
}

// TestKernelRouter asks a real kernel, in a test host's namespace.
func TestKernelRouter(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	err := pair.A.Do(func() error {
		var k Kernel
		if name, err := k.RouteInterface(pair.B.Addr); err != nil || name != pair.A.Ifname {
			t.Errorf("route to B: %q %v, want %s", name, err, pair.A.Ifname)
		}
		if name, err := k.RouteInterface(netip.MustParseAddr("127.0.0.1")); err != nil || name != "lo" {
			t.Errorf("route to loopback: %q %v", name, err)
		}
		if _, err := k.RouteInterface(netip.MustParseAddr("203.0.113.1")); !errors.Is(err, unix.ENETUNREACH) {
			t.Errorf("route to nowhere: %v, want ENETUNREACH", err)
		}
		if name, err := k.LocalInterface(pair.A.Addr); err != nil || name != pair.A.Ifname {
			t.Errorf("local %v: %q %v", pair.A.Addr, name, err)
		}
		if _, err := k.LocalInterface(pair.B.Addr); err == nil {
			t.Error("found B's address on A")
		}
		// An interface the caller names by its index is not asked of
		// the kernel; others still are.
		ifc, err := net.InterfaceByName(pair.A.Ifname)
		if err != nil {
			return err
		}
		var asked []int
		k.Known = func(index int) (string, bool) {
			asked = append(asked, index)
			return "known", index == ifc.Index
		}
		if name, err := k.RouteInterface(pair.B.Addr); err != nil || name != "known" {
			t.Errorf("route to B, A's index known: %q %v", name, err)
		}
		if name, err := k.LocalInterface(pair.A.Addr); err != nil || name != "known" {
			t.Errorf("local %v, A's index known: %q %v", pair.A.Addr, name, err)
		}
		if name, err := k.RouteInterface(netip.MustParseAddr("127.0.0.1")); err != nil || name != "lo" {
			t.Errorf("route to loopback, lo's index not known: %q %v", name, err)
		}
		if fmt.Sprint(asked) != fmt.Sprint([]int{ifc.Index, ifc.Index, 1}) {
			t.Errorf("Known asked for %v", asked)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRoutes looks routes up through a kept netlink socket: the same
// answers as a socket of its own, request after request (an answer left
// unread from an earlier request is skipped), and the namespace the
// socket was made in answers, and Known names, only while Here says the
// caller is there.
func TestRoutes(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	var r *Routes
	err := pair.A.Do(func() (err error) {
		if r, err = OpenRoutes(); err != nil {
			return err
		}
		k := Kernel{Routes: r}
		for i := range 50 {
			if name, err := k.RouteInterface(pair.B.Addr); err != nil || name != pair.A.Ifname {
				t.Fatalf("lookup %d, route to B: %q %v, want %s", i, name, err, pair.A.Ifname)
			}
			if _, err := k.RouteInterface(netip.MustParseAddr("203.0.113.1")); !errors.Is(err, unix.ENETUNREACH) {
				t.Fatalf("lookup %d, route to nowhere: %v, want ENETUNREACH", i, err)
			}
		}
		// An answer nobody read (a lookup whose reading failed) comes
		// first: the next lookup skips it.
		if err := sendRouteRequest(r.fd, 99999, netip.MustParseAddr("127.0.0.1")); err != nil {
			return err
		}
		if name, err := k.RouteInterface(pair.B.Addr); err != nil || name != pair.A.Ifname {
			t.Errorf("after an unread answer, route to B: %q %v, want %s", name, err, pair.A.Ifname)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	err = pair.B.Do(func() error {
		// In B, A's socket (if it answered) routes A's own address over
		// lo; B's kernel routes it out of B's interface. A's interface
		// is Known by its index, which B's has too.
		ifc, err := net.InterfaceByName(pair.B.Ifname)
		if err != nil {
			return err
		}
		here := true
		k := Kernel{Routes: r, Here: func() bool { return here }}
		if name, err := k.RouteInterface(pair.A.Addr); err != nil || name != "lo" {
			t.Errorf("A's socket, asked from B: %q %v, want lo (A's route to its own address)", name, err)
		}
		k.Known = func(index int) (string, bool) { return "A's", index == ifc.Index }
		here = false
		if name, err := k.RouteInterface(pair.A.Addr); err != nil || name != pair.B.Ifname {
			t.Errorf("from B, A's socket and names not here: %q %v, want %s", name, err, pair.B.Ifname)
		}
		here = true
		if name, err := k.RouteInterface(pair.B.Addr.Next()); err != nil || name != "A's" {
			t.Errorf("from B, A's names here (wrongly): %q %v, want the Known name", name, err)
		}
		r.Close()
		k.Known = nil
		if name, err := k.RouteInterface(pair.A.Addr); err != nil || name != pair.B.Ifname {
			t.Errorf("from B, A's socket closed: %q %v, want %s", name, err, pair.B.Ifname)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRoutesKept: a kept socket's answers are kept until a route, rule,
// address or link changes, and a lookup right after a change gets the new
// answer.
func TestRoutesKept(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	ip := func(args ...string) {
		t.Helper()
		if out, err := pair.A.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	var r *Routes
	if err := pair.A.Do(func() (err error) { r, err = OpenRoutes(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if r.watch < 0 {
		t.Fatal("no listening socket")
	}
	ifc := pair.A.Ifname
	dst := netip.MustParseAddr("10.9.9.9")
	look := func(want string, wantErr error) (asked bool) {
		t.Helper()
		seq := r.seq
		var name string
		var err error
		if e := pair.A.Do(func() error {
			name, err = Kernel{Routes: r}.RouteInterface(dst)
			return nil
		}); e != nil {
			t.Fatal(e)
		}
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("route to %v: %q %v, want %v", dst, name, err, wantErr)
			}
		} else if name != want {
			t.Fatalf("route to %v: %q %v, want %s", dst, name, err, want)
		}
		return r.seq != seq
	}
	look("", unix.ENETUNREACH)
	if !look("", unix.ENETUNREACH) {
		t.Error("a failed lookup was kept")
	}
	ip("route", "add", "10.9.9.0/24", "dev", ifc)
	look(ifc, nil)
	if look(ifc, nil) {
		t.Error("nothing changed, and the kernel was asked again")
	}
	ip("route", "add", "10.9.9.9/32", "dev", "lo")
	if !look("lo", nil) {
		t.Error("a route was added, and the kept answer served")
	}
	ip("route", "del", "10.9.9.9/32", "dev", "lo")
	look(ifc, nil)
	// A link going down takes its routes away with a link message only.
	ip("link", "set", ifc, "down")
	look("", unix.ENETUNREACH)
	ip("link", "set", ifc, "up")
	ip("route", "add", "10.9.9.0/24", "dev", ifc)
	look(ifc, nil)
	// A rule sends it through another table.
	ip("route", "add", "10.9.9.0/24", "dev", "lo", "table", "100")
	look(ifc, nil)
	ip("rule", "add", "to", "10.9.9.0/24", "table", "100")
	look("lo", nil)
}

// BenchmarkRouteInterface is a decision's route lookup through a kept
// socket, its interface Known: asked of the kernel every time, and
// answered as the last time when nothing changed.
//
//	go test -run '^$' -bench RouteInterface ./shim/decide/
func BenchmarkRouteInterface(b *testing.B) {
	pair := netns.New(b, netns.Options{})
	for _, kept := range []bool{false, true} {
		name := map[bool]string{false: "asked", true: "kept"}[kept]
		b.Run(name, func(b *testing.B) {
			err := pair.A.Do(func() error {
				r, err := OpenRoutes()
				if err != nil {
					return err
				}
				defer r.Close()
				if !kept {
					unix.Close(r.watch)
					r.watch = -1
				}
				// The shim names its stacks' interfaces (Known): only
				// the route is asked.
				k := Kernel{Routes: r, Known: func(int) (string, bool) { return "known", true }}
				for b.Loop() {
					if _, err := k.RouteInterface(pair.B.Addr); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
