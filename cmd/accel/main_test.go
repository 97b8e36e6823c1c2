package main

import (
	"bytes"
	"net/netip"
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
