package tcp

import (
	"net/netip"
	"time"
)

// Cookies makes and checks SYN cookies (RFC 4987 §3.6): when a listener's
// SYN queue is full, the SYN-ACK's sequence number carries what the
// listener would have kept, and the final ACK gives it back, so a SYN flood
// costs no memory. The layout is Linux's:
//
//	cookie = H(4-tuple) + ISN_client + count<<24 + ((H(4-tuple, count) + mssIndex) mod 2^24)
//
// with count the minutes of the clock. A cookie lives two minutes. As in
// Linux, a client ISN a few units off decodes as a neighbouring MSS index:
// forging a cookie at all needs the keyed hash, so this only matters to an
// attacker who has seen the SYN-ACK. Only the
// MSS survives, as an index into mssTable; window scaling, SACK and
// timestamps are lost unless the connection encodes them elsewhere.
type Cookies struct{ k keyed }

// mssTable is the MSS a cookie can carry (Linux's IPv4 table).
var mssTable = [...]uint16{536, 1300, 1440, 1460}

// cookieLife is how many minutes a cookie stays valid.
const cookieLife = 2

// NewCookies makes a cookie maker with a fresh random key.
func NewCookies() (*Cookies, error) {
	k, err := newKeyed("SYN cookie")
	return &Cookies{k}, err
}

// Make is the ISN of the SYN-ACK answering a SYN with sequence number isn
// and MSS option mss (0 if none), at time now. It returns the MSS the
// cookie carries: the largest in the table not above mss.
func (c *Cookies) Make(local, remote netip.AddrPort, isn Seq, mss uint16, now time.Duration) (Seq, uint16) {
	idx := 0
	for i, m := range mssTable {
		if m <= mss {
			idx = i
		}
	}
	count := uint32(now / time.Minute)
	v := c.k.sum(local, remote, 0) + uint32(isn) + count<<24 + (c.k.sum(local, remote, count)+uint32(idx))&0xffffff
	return Seq(v), mssTable[idx]
}

// Check takes the final ACK of a handshake: its sequence number minus one
// is the client's ISN, its acknowledgment minus one the cookie. It returns
// the MSS the cookie carried, or ok false for a cookie that is not ours,
// is for another connection, or has expired.
func (c *Cookies) Check(local, remote netip.AddrPort, isn, cookie Seq, now time.Duration) (mss uint16, ok bool) {
	diff := uint32(cookie) - c.k.sum(local, remote, 0) - uint32(isn)
	count := uint32(now / time.Minute)
	age := (count - diff>>24) & 0xff
	if age > cookieLife {
		return 0, false
	}
	then := count - age
	idx := (diff - c.k.sum(local, remote, then)) & 0xffffff
	if idx >= uint32(len(mssTable)) {
		return 0, false
	}
	return mssTable[idx], true
}
