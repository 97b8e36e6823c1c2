package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func TestCookies(t *testing.T) {
	c, err := NewCookies()
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort("198.18.0.2:80")
	cli := netip.MustParseAddrPort("198.18.0.1:40000")
	now := 10 * time.Minute
	for _, tc := range []struct{ asked, got uint16 }{{1460, 1460}, {9000, 1460}, {1400, 1300}, {1440, 1440}, {0, 536}, {600, 536}} {
		isn := Seq(rand.Uint32())
		cookie, mss := c.Make(srv, cli, isn, tc.asked, now)
		if mss != tc.got {
			t.Errorf("MSS %d carried as %d, want %d", tc.asked, mss, tc.got)
		}
		if m, ok := c.Check(srv, cli, isn, cookie, now+90*time.Second); !ok || m != tc.got {
			t.Errorf("MSS %d: checked %d %v", tc.asked, m, ok)
		}
	}
	isn := Seq(12345)
	cookie, _ := c.Make(srv, cli, isn, 1460, now)
	if _, ok := c.Check(srv, cli, isn, cookie, now+3*time.Minute); ok {
		t.Error("a cookie three minutes old was taken")
	}
	if _, ok := c.Check(srv, netip.MustParseAddrPort("198.18.0.1:40001"), isn, cookie, now); ok {
		t.Error("a cookie for another connection was taken")
	}
	// An ISN a little off decodes as a neighbouring MSS index, as in
	// Linux; one far off does not decode.
	if _, ok := c.Check(srv, cli, isn+1<<20, cookie, now); ok {
		t.Error("a cookie with another client ISN was taken")
	}
	other, _ := NewCookies()
	if _, ok := other.Check(srv, cli, isn, cookie, now); ok {
		t.Error("another key's cookie was taken")
	}
	// Forged ACKs: a blind guess passes about 3*4/2^24 of the time.
	rng := rand.New(rand.NewPCG(2, 2))
	passed := 0
	for range 200000 {
		if _, ok := c.Check(srv, cli, isn, Seq(rng.Uint32()), now); ok {
			passed++
		}
	}
	if passed > 2 {
		t.Fatalf("%d of 200000 random cookies passed", passed)
	}
}
