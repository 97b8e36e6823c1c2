// Package arp is address resolution for IPv4 over Ethernet (RFC 826) as a
// pure state machine: it takes ARP packets and the time, and says what to
// send and when it next wants to be called. It does no I/O, reads no clock
// and starts no goroutine; the stack owns all of that.
//
// It serves a stack that owns an address alone (one the kernel is not
// configured with, whose ARP the filter steers to the stack): it answers
// requests for that address and resolves next hops itself. Where the kernel
// shares the address, the kernel stays the one ARP speaker and the stack
// mirrors its neighbour table instead.
//
// The cache is bounded (Config.MaxEntries): a peer that sends ARP for many
// addresses cannot make it grow, and only requests for our own address, or
// replies to what we asked, create or update entries (RFC 826's merge rule,
// narrowed as Linux narrows it by default, arp_accept=0).
package arp

import (
	"time"

	"github.com/accelnet/accel/stack/wire"
)

// State of a cache entry, as RFC 1122 §2.3.2 and Linux name them.
type State uint8

const (
	Incomplete State = iota + 1 // asked, no answer yet
	Reachable                   // answered recently
	Stale                       // answered long ago: used, and confirmed again
	Failed                      // asked MaxProbes times, no answer
)

func (s State) String() string {
	switch s {
	case Incomplete:
		return "INCOMPLETE"
	case Reachable:
		return "REACHABLE"
	case Stale:
		return "STALE"
	case Failed:
		return "FAILED"
	}
	return "NONE"
}

// Config bounds the cache and paces it.
type Config struct {
	MaxEntries int           // default 256
	Reachable  time.Duration // how long an answer counts as fresh; default 30s
	Retransmit time.Duration // between requests for one address; default 1s (RFC 1122 §2.3.2.1)
	MaxProbes  int           // requests before an address is unreachable; default 3
	FailedFor  time.Duration // how long a failure is remembered; default 20s
}

func (c *Config) defaults() {
	if c.MaxEntries == 0 {
		c.MaxEntries = 256
	}
	if c.Reachable == 0 {
		c.Reachable = 30 * time.Second
	}
	if c.Retransmit == 0 {
		c.Retransmit = time.Second
	}
	if c.MaxProbes == 0 {
		c.MaxProbes = 3
	}
	if c.FailedFor == 0 {
		c.FailedFor = 20 * time.Second
	}
}

type entry struct {
	mac    wire.MAC
	state  State
	at     time.Duration // when the state began, or the last request went out
	probes int
}

// Cache is the neighbour cache of one interface address.
type Cache struct {
	cfg     Config
	ip      [4]byte // our address
	mac     wire.MAC
	entries map[[4]byte]*entry
}

// New makes a cache for our address ip on an interface with hardware address mac.
func New(ip [4]byte, mac wire.MAC, cfg Config) *Cache {
	cfg.defaults()
	return &Cache{cfg: cfg, ip: ip, mac: mac, entries: make(map[[4]byte]*entry, cfg.MaxEntries)}
}

// Result of a lookup.
type Result uint8

const (
	// Use: the hardware address is known; send.
	Use Result = iota + 1
	// Request: unknown; send an ARP request now (BuildRequest) and queue
	// the packet until the address resolves.
	Request
	// Wait: a request is out; queue the packet.
	Wait
	// Unreachable: no answer after MaxProbes requests (EHOSTUNREACH).
	Unreachable
	// Full: the cache is full of entries still in use; drop the packet.
	Full
)

// Lookup resolves ip for sending at time now.
func (c *Cache) Lookup(ip [4]byte, now time.Duration) (wire.MAC, Result) {
	e, ok := c.entries[ip]
	if !ok {
		if !c.makeRoom(now) {
			return wire.MAC{}, Full
		}
		c.entries[ip] = &entry{state: Incomplete, at: now, probes: 1}
		return wire.MAC{}, Request
	}
	switch e.state {
	case Reachable:
		if now-e.at < c.cfg.Reachable {
			return e.mac, Use
		}
		e.state, e.at = Stale, now
		fallthrough
	case Stale:
		// Keep sending to the old address while confirming it (RFC 1122
		// §2.3.2.1: revalidate, do not flush); Poll sends the requests.
		if e.probes == 0 {
			e.probes, e.at = 1, now-c.cfg.Retransmit
		}
		return e.mac, Use
	case Failed:
		if now-e.at < c.cfg.FailedFor {
			return wire.MAC{}, Unreachable
		}
		*e = entry{state: Incomplete, at: now, probes: 1}
		return wire.MAC{}, Request
	}
	return wire.MAC{}, Wait
}

// makeRoom frees an entry if the cache is full: a failed one first, then
// the stale one unused longest. Incomplete and reachable entries stay.
func (c *Cache) makeRoom(now time.Duration) bool {
	if len(c.entries) < c.cfg.MaxEntries {
		return true
	}
	var victim [4]byte
	found := false
	var oldest time.Duration
	for ip, e := range c.entries {
		if e.state == Failed {
			delete(c.entries, ip)
			return true
		}
		if e.state == Stale && (!found || e.at < oldest) {
			victim, oldest, found = ip, e.at, true
		}
	}
	if found {
		delete(c.entries, victim)
	}
	return found
}

// Input takes an ARP packet (already parsed) at time now. It learns from
// requests for our address and from replies to our requests, and reports
// whether to answer with BuildReply, and which address resolved (for the
// caller to send what it queued for it).
func (c *Cache) Input(a wire.ARP, now time.Duration) (reply bool, resolved [4]byte, ok bool) {
	spa, sha := a.SenderIP(), a.SenderMAC()
	if spa == ([4]byte{}) || sha == wire.Broadcast || spa == c.ip {
		// Probes (RFC 5227) and conflicts teach nothing about peers.
		return a.Op() == wire.ARPRequest && a.TargetIP() == c.ip && spa == ([4]byte{}), resolved, false
	}
	forUs := a.TargetIP() == c.ip
	e, known := c.entries[spa]
	switch {
	case known:
		// RFC 826: update an entry we have, whatever the packet's target.
		wasPending := e.state == Incomplete || e.state == Failed
		*e = entry{mac: sha, state: Reachable, at: now}
		if wasPending {
			resolved, ok = spa, true
		}
	case forUs && c.makeRoom(now):
		c.entries[spa] = &entry{mac: sha, state: Reachable, at: now}
	}
	return forUs && a.Op() == wire.ARPRequest, resolved, ok
}

// Poll does what time asks at now: requests to repeat, addresses that
// failed (their queued packets fail with EHOSTUNREACH). It calls request
// and fail for each and returns when it next needs to run (0: not before
// something else happens).
func (c *Cache) Poll(now time.Duration, request, fail func(ip [4]byte)) (next time.Duration) {
	for ip, e := range c.entries {
		probing := e.state == Incomplete || (e.state == Stale && e.probes > 0)
		if !probing {
			continue
		}
		due := e.at + c.cfg.Retransmit
		if now < due {
			next = earliest(next, due)
			continue
		}
		if e.probes > c.cfg.MaxProbes || (e.state == Incomplete && e.probes == c.cfg.MaxProbes) {
			if e.state == Stale {
				// The peer went away: forget it, the next packet
				// resolves afresh.
				delete(c.entries, ip)
				continue
			}
			e.state, e.at = Failed, now
			fail(ip)
			continue
		}
		e.probes++
		e.at = now
		request(ip)
		next = earliest(next, now+c.cfg.Retransmit)
	}
	return next
}

func earliest(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// Entry reports an address's state and hardware address.
func (c *Cache) Entry(ip [4]byte) (wire.MAC, State) {
	if e, ok := c.entries[ip]; ok {
		return e.mac, e.state
	}
	return wire.MAC{}, 0
}

// Len is the number of entries.
func (c *Cache) Len() int { return len(c.entries) }

// BuildRequest writes an Ethernet frame asking for ip into b (at least
// wire.EthernetLen+wire.ARPLen bytes) and returns its length.
func (c *Cache) BuildRequest(b []byte, ip [4]byte) int {
	wire.Ethernet(b).Build(wire.Broadcast, c.mac, wire.EtherTypeARP)
	wire.ARP(b[wire.EthernetLen:]).Build(wire.ARPRequest, c.mac, c.ip, wire.MAC{}, ip)
	return wire.EthernetLen + wire.ARPLen
}

// BuildReply writes the answer to request req into b and returns its length.
func (c *Cache) BuildReply(b []byte, req wire.ARP) int {
	wire.Ethernet(b).Build(req.SenderMAC(), c.mac, wire.EtherTypeARP)
	wire.ARP(b[wire.EthernetLen:]).Build(wire.ARPReply, c.mac, c.ip, req.SenderMAC(), req.SenderIP())
	return wire.EthernetLen + wire.ARPLen
}
