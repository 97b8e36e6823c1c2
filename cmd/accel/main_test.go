package main

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi/xdp"
	"github.com/accelnet/accel/vi/xsk"
)

func TestEnv(t *testing.T) {
	var out bytes.Buffer
	if err := envCmd(&out, []string{"ACCEL_QUEUE=2", "ACCEL_INTERFACE=x"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"ACCEL_LOG ", "ACCEL_QUEUE", `"2"`, "did you mean ACCEL_INTERFACES?"} {
		if !strings.Contains(s, want) {
			t.Errorf("accel env output lacks %q:\n%s", want, s)
		}
	}
	err := envCmd(&out, []string{"ACCEL_FRAMES=0"})
	if err == nil || !strings.Contains(err.Error(), "ACCEL_FRAMES") {
		t.Fatalf("invalid value: %v", err)
	}
}

func TestFilters(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	var out bytes.Buffer
	err := pair.B.Do(func() error {
		if err := filtersCmd(&out, []string{"-i", pair.B.Ifname}); err != nil {
			return err
		}
		p, err := xsk.Open(xsk.Config{Interface: pair.B.Ifname, Frames: 256, RingSize: 64})
		if err != nil {
			return err
		}
		defer p.Close()
		v, err := p.NewVI()
		if err != nil {
			return err
		}
		if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 4242)}); err != nil {
			return err
		}
		return filtersCmd(&out, []string{"-i", pair.B.Ifname})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"no accel filter program attached", "pass_no_match", "udp 198.18.0.2:4242", "live"} {
		if !strings.Contains(s, want) {
			t.Errorf("accel filters output lacks %q:\n%s", want, s)
		}
	}
}

// TestStat prints a stats file: the stacks' counters under their columns
// (a datagram moved to the kernel's socket at a fork is requeued), each
// socket's state, and why sockets stayed with the kernel.
func TestStat(t *testing.T) {
	path := t.TempDir() + "/stats.json"
	js := `{"pid": 42, "stacks": [{"interface": "va0", "rx_udp": 7, "tx_udp": 5, "requeued": 2, "drops": {"udp_rcvbuf": 1}}],
		"sockets": [{"fd": -1, "local": "0.0.0.0:7000", "reason": "bound", "handed_to_kernel": true, "rx_packets": 7}],
		"fallbacks": {"fork: parent and child share the kernel's socket": 1}}`
	if err := os.WriteFile(path, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := statCmd(&out, []string{path}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	col := func(header, row, name string) string {
		i := strings.Index(header, name)
		if i < 0 || i >= len(row) {
			return ""
		}
		return strings.Fields(row[i:])[0]
	}
	var header, row string
	for i, l := range lines {
		if strings.HasPrefix(l, "STACK") && i+1 < len(lines) {
			header, row = l, lines[i+1]
		}
	}
	for name, want := range map[string]string{"RX VI": "7", "TX VI": "5", "REQUEUED": "2"} {
		if got := col(header, row, name); got != want {
			t.Errorf("column %s: %q, want %q\n%s", name, got, want, out.String())
		}
	}
	for _, want := range []string{"handed to kernel", "udp_rcvbuf:1", "fork: parent and child share the kernel's socket"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}
