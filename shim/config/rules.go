package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rules decide, flow by flow, between the stack and the kernel. They are
// modelled on VMA's libvma.conf: an ordered list, the first rule that
// matches wins, and a flow no rule matches is accelerated (on an
// accelerated interface, for a protocol that is on).
//
//	ACCEL_RULES="kernel udp-recv *:53; accel tcp-client 10.0.0.0/8:*; kernel * *:*"
//
// A rule is ACTION ROLE LOCAL [REMOTE]:
//
//	ACTION  accel | kernel
//	ROLE    udp-recv (a UDP socket binding: its local side), udp-send (a UDP
//	        socket connecting or sending: its remote side), tcp-server
//	        (listen: local), tcp-client (connect: remote), udp, tcp, or *
//	LOCAL, REMOTE  ADDR[/BITS]:PORT[-PORT], with * for any address or port
//
// The default keeps DNS (UDP port 53, servers and queries) with the
// kernel, as VMA does for servers: nothing there is latency-critical, and
// a resolver's socket would otherwise start the Go runtime in every tool a
// script runs under the preload.
const DefaultRules = "kernel udp-recv *:53; kernel udp-send *:* *:53"

// Role is what a socket is doing when its flow is decided.
type Role int

const (
	UDPRecv   Role = iota + 1 // a UDP socket binds
	UDPSend                   // a UDP socket connects or sends
	TCPServer                 // a TCP socket listens
	TCPClient                 // a TCP socket connects
)

var roleWords = map[string][]Role{
	"udp-recv": {UDPRecv}, "udp-send": {UDPSend}, "tcp-server": {TCPServer}, "tcp-client": {TCPClient},
	"udp": {UDPRecv, UDPSend}, "tcp": {TCPServer, TCPClient}, "*": {UDPRecv, UDPSend, TCPServer, TCPClient},
}

// Endpoint matches an address and port: a prefix and a port range.
type Endpoint struct {
	Prefix         netip.Prefix // invalid: any address
	PortLo, PortHi uint16       // 0, 65535: any port
}

// Matches reports whether ap is in the endpoint.
func (e Endpoint) Matches(ap netip.AddrPort) bool {
	if e.Prefix.IsValid() && !e.Prefix.Contains(ap.Addr().Unmap()) {
		return false
	}
	return ap.Port() >= e.PortLo && ap.Port() <= e.PortHi
}

// Rule is one parsed rule.
type Rule struct {
	Accel  bool
	Roles  []Role
	Local  Endpoint
	Remote Endpoint
	Text   string
}

// Matches reports whether the rule covers a flow of role with the given
// local and remote ends (remote is zero for a bind or a listen).
func (r Rule) Matches(role Role, local, remote netip.AddrPort) bool {
	found := false
	for _, x := range r.Roles {
		found = found || x == role
	}
	if !found || !r.Local.Matches(local) {
		return false
	}
	return !remote.IsValid() || r.Remote.Matches(remote)
}

// ParseRules reads the ACCEL_RULES syntax.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for _, text := range strings.Split(s, ";") {
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		r, err := parseRule(text)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", text, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(text string) (Rule, error) {
	f := strings.Fields(text)
	if len(f) < 3 || len(f) > 4 {
		return Rule{}, errors.New("want ACTION ROLE LOCAL [REMOTE]")
	}
	r := Rule{Text: text, Remote: Endpoint{PortHi: 65535}}
	switch f[0] {
	case "accel":
		r.Accel = true
	case "kernel":
	default:
		return Rule{}, fmt.Errorf("action %q: want accel or kernel", f[0])
	}
	roles, ok := roleWords[f[1]]
	if !ok {
		return Rule{}, fmt.Errorf("role %q: want udp-recv, udp-send, tcp-server, tcp-client, udp, tcp or *", f[1])
	}
	r.Roles = roles
	var err error
	if r.Local, err = parseEndpoint(f[2]); err != nil {
		return Rule{}, err
	}
	if len(f) == 4 {
		if r.Remote, err = parseEndpoint(f[3]); err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

// parseEndpoint reads ADDR[/BITS]:PORT[-PORT] with * for any.
func parseEndpoint(s string) (Endpoint, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Endpoint{}, fmt.Errorf("endpoint %q: want ADDR[/BITS]:PORT[-PORT]", s)
	}
	e := Endpoint{PortHi: 65535}
	if a := s[:i]; a != "*" {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, aerr := netip.ParseAddr(a)
			if aerr != nil || !addr.Is4() {
				return Endpoint{}, fmt.Errorf("endpoint %q: address %q is not IPv4, a prefix or *", s, a)
			}
			p = netip.PrefixFrom(addr, 32)
		}
		e.Prefix = p.Masked()
	}
	if ports := s[i+1:]; ports != "*" {
		lo, hi, ranged := strings.Cut(ports, "-")
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h := l
		var err2 error
		if ranged {
			h, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || h < l {
			return Endpoint{}, fmt.Errorf("endpoint %q: port %q is not a port, a range LO-HI or *", s, ports)
		}
		e.PortLo, e.PortHi = uint16(l), uint16(h)
	}
	return e, nil
}
