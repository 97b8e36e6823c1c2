package tcp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// keyed is a secret key and the keyed pseudo-random function of a
// connection's 4-tuple that initial sequence numbers (RFC 6528) and SYN
// cookies (RFC 4987) are both built on: HMAC-SHA256, truncated to 32 bits.
type keyed struct{ key [32]byte }

func newKeyed(what string) (keyed, error) {
	var k keyed
	if _, err := rand.Read(k.key[:]); err != nil {
		return k, fmt.Errorf("tcp: %s key: %w", what, err)
	}
	return k, nil
}

// sum is F(local, remote, extra).
func (k *keyed) sum(local, remote netip.AddrPort, extra uint32) uint32 {
	var msg [40]byte
	l, r := local.Addr().As16(), remote.Addr().As16()
	copy(msg[0:16], l[:])
	binary.BigEndian.PutUint16(msg[16:18], local.Port())
	copy(msg[18:34], r[:])
	binary.BigEndian.PutUint16(msg[34:36], remote.Port())
	binary.BigEndian.PutUint32(msg[36:40], extra)
	mac := hmac.New(sha256.New, k.key[:])
	mac.Write(msg[:])
	return binary.BigEndian.Uint32(mac.Sum(nil))
}
