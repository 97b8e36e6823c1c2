package tcp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// ISN chooses initial sequence numbers as RFC 6528 §3 asks:
// ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M
// is a timer ticking every 4 µs and F a keyed pseudo-random function (here
// HMAC-SHA256), so that an off-path attacker cannot guess a connection's
// numbers while a new incarnation of a 4-tuple still starts past the old.
type ISN struct{ key [32]byte }

// NewISN makes a generator with a fresh random key.
func NewISN() (*ISN, error) {
	g := &ISN{}
	if _, err := rand.Read(g.key[:]); err != nil {
		return nil, fmt.Errorf("tcp: ISN key: %w", err)
	}
	return g, nil
}

// Next is the ISN for a connection at time now (on any monotonic clock).
func (g *ISN) Next(local, remote netip.AddrPort, now time.Duration) Seq {
	var msg [36]byte
	l, r := local.Addr().As16(), remote.Addr().As16()
	copy(msg[0:16], l[:])
	binary.BigEndian.PutUint16(msg[16:18], local.Port())
	copy(msg[18:34], r[:])
	binary.BigEndian.PutUint16(msg[34:36], remote.Port())
	mac := hmac.New(sha256.New, g.key[:])
	mac.Write(msg[:])
	f := binary.BigEndian.Uint32(mac.Sum(nil))
	return Seq(f + uint32(now/(4*time.Microsecond)))
}
