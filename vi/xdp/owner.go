package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Proto is an IP protocol number a filter matches.
type Proto uint8

const (
	TCP Proto = unix.IPPROTO_TCP
	UDP Proto = unix.IPPROTO_UDP
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Filter selects the frames of one flow or of one local port.
//
//   - Local with a specific address and Remote set: one connection (full match).
//   - Local with a specific address, Remote zero: every peer of that address and port.
//   - Local with the unspecified address (0.0.0.0), Remote zero: the port on any address.
type Filter struct {
	Proto  Proto
	Local  netip.AddrPort
	Remote netip.AddrPort
}

func (f Filter) String() string {
	s := f.Proto.String() + " " + f.Local.String()
	if f.Remote.IsValid() {
		s += " <- " + f.Remote.String()
	}
	return s
}

// ErrInUse is returned when another live owner holds the same filter.
var ErrInUse = fmt.Errorf("filter owned by another VI: %w", unix.EADDRINUSE)

// key builds the map key; addresses and ports are kept in network byte
// order, as the program reads them straight from the headers.
func (f Filter) key() (filterFlowKey, error) {
	var k filterFlowKey
	if f.Proto != TCP && f.Proto != UDP {
		return k, fmt.Errorf("filter %v: protocol must be tcp or udp", f)
	}
	if !f.Local.IsValid() || !f.Local.Addr().Unmap().Is4() || f.Local.Port() == 0 {
		return k, fmt.Errorf("filter %v: local needs an IPv4 address and a port", f)
	}
	k.Proto = uint8(f.Proto)
	k.LocalIp = addrKey(f.Local.Addr())
	k.LocalPort = portKey(f.Local.Port())
	if f.Remote.IsValid() {
		if k.LocalIp == 0 {
			return k, fmt.Errorf("filter %v: a connection filter needs a specific local address", f)
		}
		if !f.Remote.Addr().Unmap().Is4() || f.Remote.Port() == 0 || f.Remote.Addr().Unmap().IsUnspecified() {
			return k, fmt.Errorf("filter %v: remote needs an IPv4 address and a port", f)
		}
		k.RemoteIp = addrKey(f.Remote.Addr())
		k.RemotePort = portKey(f.Remote.Port())
	}
	return k, nil
}

func (k filterFlowKey) filter() Filter {
	f := Filter{Proto: Proto(k.Proto), Local: netip.AddrPortFrom(keyAddr(k.LocalIp), keyPort(k.LocalPort))}
	if k.RemoteIp != 0 {
		f.Remote = netip.AddrPortFrom(keyAddr(k.RemoteIp), keyPort(k.RemotePort))
	}
	return f
}

func addrKey(a netip.Addr) uint32 {
	b := a.Unmap().As4()
	return binary.NativeEndian.Uint32(b[:])
}

func keyAddr(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func portKey(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func keyPort(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}

// Owner is one VI's claim on the table: a slot of the XSKMAP, a cookie, and
// the filters that steer frames to that slot.
type Owner struct {
	t      *Table
	slot   uint32
	cookie uint32
	flows  map[filterFlowKey]struct{}
	arps   map[uint32]struct{}
}

// Claim takes a free slot. Filters a dead process left on the slot are
// swept away (they were already stale: the cookie changes here).
func (t *Table) Claim() (*Owner, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := uint32(0); i < MaxSlots; i++ {
		if t.owners[i] != nil {
			continue
		}
		if t.lockf != nil {
			ok, err := t.trySlotLock(i)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		o := &Owner{t: t, slot: i, flows: map[filterFlowKey]struct{}{}, arps: map[uint32]struct{}{}}
		if err := o.stamp(); err != nil {
			t.slotUnlock(i)
			return nil, err
		}
		t.owners[i] = o
		return o, nil
	}
	return nil, fmt.Errorf("xdp: claim a slot: all %d slots of interface %d are taken: %w", MaxSlots, t.ifindex, unix.EBUSY)
}

// stamp gives the slot a new cookie and deletes the filters left on it.
func (o *Owner) stamp() error {
	var old filterSlotInfo
	if err := o.t.objs.Slots.Lookup(o.slot, &old); err != nil {
		return fmt.Errorf("xdp: claim slot %d: read cookie: %w", o.slot, err)
	}
	o.cookie = old.Cookie + 1
	if o.cookie == 0 {
		o.cookie = 1
	}
	if err := o.t.objs.Slots.Put(o.slot, filterSlotInfo{Cookie: o.cookie}); err != nil {
		return fmt.Errorf("xdp: claim slot %d: write cookie: %w", o.slot, err)
	}
	sweep(o.t.objs.Flows, new(filterFlowKey), o.slot)
	sweep(o.t.objs.ArpTargets, new(uint32), o.slot)
	return nil
}

// sweep deletes the entries of m that point at slot.
func sweep[K comparable](m *ebpf.Map, k *K, slot uint32) {
	var stale []K
	var vals []filterTarget
	it := m.Iterate()
	for it.Next(k, &vals) {
		if len(vals) > 0 && vals[0].Slot == slot {
			stale = append(stale, *k)
		}
	}
	for i := range stale {
		m.Delete(&stale[i])
	}
}

// Slot is the owner's XSKMAP index.
func (o *Owner) Slot() int { return int(o.slot) }

// SetSocket puts the AF_XDP socket fd, bound to the interface queue queue,
// into the owner's slot: from now on frames that match the owner's filters
// and arrive on that queue go to that socket.
func (o *Owner) SetSocket(fd, queue int) error {
	if err := o.t.objs.Slots.Put(o.slot, filterSlotInfo{Cookie: o.cookie, Queue: uint32(queue)}); err != nil {
		return fmt.Errorf("xdp: record queue of slot %d: %w", o.slot, err)
	}
	if err := o.t.objs.Xsks.Put(o.slot, uint32(fd)); err != nil {
		return fmt.Errorf("xdp: register socket in slot %d: %w", o.slot, classify(err))
	}
	return nil
}

func (o *Owner) target() []filterTarget {
	v := make([]filterTarget, ebpf.MustPossibleCPU())
	for i := range v {
		v[i] = filterTarget{Slot: o.slot, Cookie: o.cookie}
	}
	return v
}

// live reports whether an entry's owner still holds its slot.
func (t *Table) live(tg filterTarget) bool {
	var si filterSlotInfo
	return t.objs.Slots.Lookup(tg.Slot, &si) == nil && si.Cookie == tg.Cookie
}

// add inserts key→owner into m unless a live other owner has it.
func (o *Owner) add(m *ebpf.Map, key any) error {
	err := m.Update(key, o.target(), ebpf.UpdateNoExist)
	if !errors.Is(err, ebpf.ErrKeyExist) {
		return err
	}
	var cur []filterTarget
	if err := m.Lookup(key, &cur); err != nil {
		return err
	}
	if cur[0].Slot == o.slot && cur[0].Cookie == o.cookie {
		return nil
	}
	if o.t.live(cur[0]) {
		return ErrInUse
	}
	return m.Update(key, o.target(), ebpf.UpdateExist)
}

// remove deletes key from m if this owner has it. The entry is taken and
// read in one system call (BPF_MAP_LOOKUP_AND_DELETE_ELEM, hash maps
// since Linux 5.14), not looked up and then deleted: a socket's close
// paid a microsecond for the second. Another owner's entry, which a
// live owner meets only if its slot was claimed again while it lived
// (its lock lost), is put back as it was unless a new one took its place
// meanwhile. Where the kernel lacks the call, lookup and delete.
func (o *Owner) remove(m *ebpf.Map, key any) error {
	var cur []filterTarget
	err := m.LookupAndDelete(key, &cur)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return nil
	case err == nil:
		if cur[0].Slot == o.slot && cur[0].Cookie == o.cookie {
			return nil
		}
		if err := m.Update(key, cur, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("put back another owner's entry: %w", err)
		}
		return nil
	}
	if err := m.Lookup(key, &cur); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return err
	}
	if cur[0].Slot != o.slot || cur[0].Cookie != o.cookie {
		return nil
	}
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// Add installs a filter that steers the flow to this owner.
func (o *Owner) Add(f Filter) error {
	k, err := f.key()
	if err != nil {
		return fmt.Errorf("xdp: add: %w", err)
	}
	if err := o.add(o.t.objs.Flows, &k); err != nil {
		return fmt.Errorf("xdp: add filter %v: %w", f, err)
	}
	o.flows[k] = struct{}{}
	return nil
}

// Remove takes a filter of this owner away; its frames go to the kernel.
func (o *Owner) Remove(f Filter) error {
	k, err := f.key()
	if err != nil {
		return fmt.Errorf("xdp: remove: %w", err)
	}
	delete(o.flows, k)
	if err := o.remove(o.t.objs.Flows, &k); err != nil {
		return fmt.Errorf("xdp: remove filter %v: %w", f, err)
	}
	return nil
}

// AddARP steers ARP whose target is addr to this owner: for an address the
// stack owns alone, which the kernel does not answer for.
func (o *Owner) AddARP(addr netip.Addr) error {
	if !addr.Unmap().Is4() {
		return fmt.Errorf("xdp: add ARP filter: %v is not IPv4", addr)
	}
	k := addrKey(addr)
	if err := o.add(o.t.objs.ArpTargets, &k); err != nil {
		return fmt.Errorf("xdp: add ARP filter %v: %w", addr, err)
	}
	o.arps[k] = struct{}{}
	return nil
}

// RemoveARP stops steering ARP for addr to this owner.
func (o *Owner) RemoveARP(addr netip.Addr) error {
	k := addrKey(addr)
	delete(o.arps, k)
	if err := o.remove(o.t.objs.ArpTargets, &k); err != nil {
		return fmt.Errorf("xdp: remove ARP filter %v: %w", addr, err)
	}
	return nil
}

// Close removes the owner's filters, empties its slot and gives the slot up.
// The cookie changes too, so a filter that could not be deleted is stale.
func (o *Owner) Close() error {
	t := o.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owners[o.slot] != o {
		return nil
	}
	var errs []error
	for k := range o.flows {
		if err := o.remove(t.objs.Flows, &k); err != nil {
			errs = append(errs, err)
		}
	}
	for k := range o.arps {
		if err := o.remove(t.objs.ArpTargets, &k); err != nil {
			errs = append(errs, err)
		}
	}
	if err := t.objs.Xsks.Delete(o.slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("xdp: empty slot %d: %w", o.slot, err))
	}
	if err := t.objs.Slots.Put(o.slot, filterSlotInfo{Cookie: o.cookie + 1}); err != nil {
		errs = append(errs, fmt.Errorf("xdp: retire cookie of slot %d: %w", o.slot, err))
	}
	t.owners[o.slot] = nil
	t.slotUnlock(o.slot)
	return errors.Join(errs...)
}
