// Package decide makes the shim's one choice about a socket: at bind,
// listen or connect, does its flow run through accel's stack or stay with
// the kernel? The answer comes from the configuration (ACCEL_UDP,
// ACCEL_TCP, ACCEL_INTERFACES, ACCEL_RULES) and from the kernel's own
// routing, and always carries the reason, for the log and the stats file.
package decide

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/accelnet/accel/shim/config"
)

// Router tells which interface a flow uses, as the kernel would.
type Router interface {
	// LocalInterface is the interface that has addr.
	LocalInterface(addr netip.Addr) (string, error)
	// RouteInterface is the interface the kernel sends to dst through.
	RouteInterface(dst netip.Addr) (string, error)
}

// Decision is the answer for one flow.
type Decision struct {
	Accelerate bool
	Interface  string // the accelerated interface the flow uses
	Reason     string
}

// Decider decides with one configuration.
type Decider struct {
	cfg    *config.Config
	router Router
}

// New makes a decider.
func New(cfg *config.Config, r Router) *Decider { return &Decider{cfg: cfg, router: r} }

func kernel(format string, a ...any) Decision {
	return Decision{Reason: fmt.Sprintf(format, a...)}
}

// Decide answers for a socket doing role with local and remote ends
// (remote zero for a bind or a listen).
func (d *Decider) Decide(role config.Role, local, remote netip.AddrPort) Decision {
	c := d.cfg
	switch {
	case (role == config.UDPRecv || role == config.UDPSend) && !c.UDP:
		return kernel("UDP is off (ACCEL_UDP=0)")
	case (role == config.TCPServer || role == config.TCPClient) && !c.TCP:
		return kernel("TCP is off (ACCEL_TCP=0)")
	case len(c.Interfaces) == 0:
		return kernel("no interface is accelerated (ACCEL_INTERFACES is empty)")
	case !local.Addr().Unmap().Is4() && local.Addr().IsValid(), remote.IsValid() && !remote.Addr().Unmap().Is4():
		return kernel("not IPv4")
	}
	ruled := ""
	for _, r := range c.Rules {
		if r.Matches(role, local, remote) {
			if !r.Accel {
				return kernel("ACCEL_RULES: %q", r.Text)
			}
			ruled = fmt.Sprintf(" (ACCEL_RULES: %q)", r.Text)
			break
		}
	}
	ifname, why := d.iface(local, remote)
	if ifname == "" {
		return kernel("%s", why)
	}
	if !slices.Contains(c.Interfaces, ifname) {
		return kernel("interface %s is not in ACCEL_INTERFACES", ifname)
	}
	return Decision{Accelerate: true, Interface: ifname, Reason: fmt.Sprintf("%s through %s%s", why, ifname, ruled)}
}

// iface finds the interface of the flow: the route to the peer when there
// is one, else the interface of the local address. A wildcard or group
// bind takes the first accelerated interface (its kernel twin still hears
// the others).
func (d *Decider) iface(local, remote netip.AddrPort) (string, string) {
	if remote.IsValid() {
		dst := remote.Addr().Unmap()
		if dst.IsLoopback() {
			return "", "the peer is on loopback"
		}
		name, err := d.router.RouteInterface(dst)
		if err != nil {
			return "", fmt.Sprintf("no route to %v: %v", dst, err)
		}
		return name, "routed"
	}
	a := local.Addr().Unmap()
	switch {
	case a.IsLoopback():
		return "", "bound to loopback"
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return d.cfg.Interfaces[0], "bound to any address"
	}
	name, err := d.router.LocalInterface(a)
	if err != nil {
		return "", fmt.Sprintf("address %v: %v", a, err)
	}
	return name, "bound"
}
