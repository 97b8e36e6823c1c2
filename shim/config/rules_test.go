package config

import (
	"net/netip"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestRulesMatch(t *testing.T) {
	rules, err := ParseRules("kernel udp-recv *:53; accel tcp-client *:* 10.0.0.0/8:6379-6380; kernel * 198.18.0.2:*")
	if err != nil {
		t.Fatal(err)
	}
	first := func(role Role, local, remote netip.AddrPort) string {
		for _, r := range rules {
			if r.Matches(role, local, remote) {
				return r.Text
			}
		}
		return ""
	}
	cases := []struct {
		role          Role
		local, remote string
		want          string
	}{
		{UDPRecv, "0.0.0.0:53", "", "kernel udp-recv *:53"},
		{UDPRecv, "0.0.0.0:54", "", ""},
		{UDPSend, "0.0.0.0:53", "1.2.3.4:53", ""}, // a DNS client is not a DNS server
		{TCPClient, "198.18.0.1:40000", "10.1.2.3:6380", "accel tcp-client *:* 10.0.0.0/8:6379-6380"},
		{TCPClient, "198.18.0.1:40000", "10.1.2.3:6381", ""},
		{TCPClient, "198.18.0.1:40000", "11.1.2.3:6379", ""},
		{TCPServer, "198.18.0.2:80", "", "kernel * 198.18.0.2:*"},
	}
	for _, c := range cases {
		var remote netip.AddrPort
		if c.remote != "" {
			remote = ap(c.remote)
		}
		if got := first(c.role, ap(c.local), remote); got != c.want {
			t.Errorf("%v %s → %s: rule %q, want %q", c.role, c.local, c.remote, got, c.want)
		}
	}
}

func TestRulesErrors(t *testing.T) {
	for _, bad := range []string{"allow udp *:1", "accel udpx *:1", "accel udp 1.2.3.4", "accel udp 1.2.3:1", "accel udp *:9-1",
		"accel udp *:70000", "accel udp ::1:5", "accel", "accel udp *:1 *:2 *:3"} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
	_, _, err := Parse([]string{"ACCEL_RULES=accel udp nowhere"})
	if err == nil || !strings.Contains(err.Error(), "ACCEL_RULES") || !strings.Contains(err.Error(), "ADDR[/BITS]:PORT") {
		t.Fatalf("invalid ACCEL_RULES: %v", err)
	}
	c, _, _ := Parse(nil)
	if len(c.Rules) != 2 || c.Rules[0].Text != "kernel udp-recv *:53" || c.Rules[1].Text != "kernel udp-send *:* *:53" || !c.UDP || !c.TCP {
		t.Fatalf("defaults: %+v", c)
	}
	if _, _, err := Parse([]string{"ACCEL_UDP=yes"}); err == nil || !strings.Contains(err.Error(), "want 0 or 1") {
		t.Fatalf("ACCEL_UDP=yes: %v", err)
	}
}
