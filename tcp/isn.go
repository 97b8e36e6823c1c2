package tcp

import (
	"net/netip"
	"time"
)

// ISN chooses initial sequence numbers as RFC 6528 §3 asks:
// ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M
// is a timer ticking every 4 µs and F a keyed pseudo-random function (here
// HMAC-SHA256), so that an off-path attacker cannot guess a connection's
// numbers while a new incarnation of a 4-tuple still starts past the old.
type ISN struct{ k keyed }

// NewISN makes a generator with a fresh random key.
func NewISN() (*ISN, error) {
	k, err := newKeyed("ISN")
	return &ISN{k}, err
}

// Next is the ISN for a connection at time now (on any monotonic clock).
func (g *ISN) Next(local, remote netip.AddrPort, now time.Duration) Seq {
	return Seq(g.k.sum(local, remote, 0) + uint32(now/(4*time.Microsecond)))
}
