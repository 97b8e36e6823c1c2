package shim

import (
	"encoding/binary"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack"
)

// Waiting, readiness and epoll.
//
// A thread that must wait calls Arm with the sockets it waits for, gets
// the fds to sleep on (per stack: readable when the stack may have work),
// tries its call once more, sleeps in poll(2) in C, and calls Disarm with
// the fds Arm gave, which polls the stacks. Disarm goes by those fds and
// not by the sockets, so that it ends exactly the waits Arm began even if
// a socket was closed or an epoll set changed while the thread slept: a
// stack left counting a sleeper that is gone would raise its wake-up fd
// for nobody, and one ended twice would stop waking a thread still there.
// The sockets' readiness for poll, select and epoll comes from the stack;
// their kernel sockets add what the kernel sees (errors, hang-ups).

// maxWaitStacks is how many stacks one wait watches; it matches the C
// side's ACCEL_MAX_WAIT (two fds a stack).
const maxWaitStacks = 32

// Arm prepares a wait on the stacks of socks and puts the fds to sleep on
// into out; it returns how many, and whether some stack could not be
// watched (more than maxWaitStacks, or out too short): the caller then
// sleeps in short naps.
func (sh *Shim) Arm(socks []*Socket, out []int32) (n int, partial bool) {
	var seen [maxWaitStacks]*stack.Stack
	ns := 0
	for _, s := range socks {
		if s == nil {
			continue
		}
		st := s.u.Stack()
		if slices.Contains(seen[:ns], st) {
			continue
		}
		if ns == len(seen) || n+len(stack.WaitFDs{}.FDs) > len(out) {
			partial = true
			continue
		}
		w := st.ArmWait()
		seen[ns] = st
		ns++
		for _, fd := range w.FDs[:w.N] {
			out[n] = int32(fd)
			n++
		}
	}
	return n, partial
}

// Disarm ends the waits Arm began, given the fds it returned.
func (sh *Shim) Disarm(fds []int32) {
	m := sh.waitFDs.Load()
	if m == nil {
		return
	}
	for _, fd := range fds {
		if st := (*m)[fd]; st != nil {
			st.DisarmWait()
		}
	}
}

// Poll event bits, as poll(2) and epoll share them.
const (
	pollIn    = unix.POLLIN
	pollOut   = unix.POLLOUT
	pollErr   = unix.POLLERR
	pollHup   = unix.POLLHUP
	pollNval  = unix.POLLNVAL
	pollRdNrm = 0x40   // POLLRDNORM
	pollWrNrm = 0x100  // POLLWRNORM
	pollRdHup = 0x2000 // POLLRDHUP, EPOLLRDHUP
)

// Revents is a socket's poll(2) answer for the events asked.
func (sh *Shim) Revents(s *Socket, events int16) int16 {
	in, out, errp, hup := sh.Ready(s)
	var r int16
	if in {
		r |= events & (pollIn | pollRdNrm)
	}
	if out {
		r |= events & (pollOut | pollWrNrm)
	}
	if s.shutRD.Load() {
		r |= events & pollRdHup
	}
	if errp {
		r |= pollErr
	}
	if hup {
		r |= pollHup
	}
	return r
}

// epoll flags.
const (
	epollET      = unix.EPOLLET
	epollOneshot = unix.EPOLLONESHOT
)

// epollSet is the shadow of an application's epoll fd: its members that
// are accelerated, whose readiness the kernel cannot see. The kernel's
// epoll holds them too, asked for no events, so that it keeps reporting
// errors and hang-ups and gives epoll_ctl its exact errors.
type epollSet struct {
	mu      sync.Mutex
	entries []*epEntry

	// The entries grouped by their sockets' stack, and the nested sets,
	// remade after the entries change (grouped false): a scan polls each
	// stack once for its group, and a wait arms the groups' stacks,
	// without a walk that compares every member with every other.
	groups  []memberGroup
	subs    []*epollSet
	grouped bool

	// next is the entry a scan begins with (see EpollScan).
	next int

	// settled: the last scan looked at every entry, and no entry has
	// changed since; lt is what it reported of the level-triggered ones
	// (entry and events), which is exactly what the next scan reports if
	// no member's readiness has changed either (no stack's change count
	// moved, no shutdown). shut is sh.shutdowns at that scan.
	settled bool
	lt      []ltReport
	shut    uint64

	// A scan's readiness of the entries that are sockets, by entry, and
	// its scratch; kept to make no garbage per scan.
	in, errs []bool
	gens     []uint64
	rd, er   []bool
	gn       []uint64
}

// memberGroup is the entries of a set whose sockets share a stack.
type memberGroup struct {
	st   *stack.Stack
	s    *Socket // one of them, what Arm needs
	us   []*stack.UDPSocket
	idx  []int  // the entries', in e.entries
	seen uint64 // the stack's change count when e.in etc. were filled
}

// ltReport is an event a scan reported of a level-triggered entry.
type ltReport struct {
	i int
	r uint32
}

// changed marks the entries changed (e.mu held).
func (e *epollSet) changed() { e.grouped, e.settled = false, false }

// drop removes the entries that match, and marks the entries changed if
// it removed any (e.mu held): a socket closed elsewhere leaves the sets
// it was not in settled.
func (e *epollSet) drop(match func(*epEntry) bool) {
	n := len(e.entries)
	if e.entries = slices.DeleteFunc(e.entries, match); len(e.entries) != n {
		e.changed()
	}
}

// group remakes e.groups and e.subs from the entries (e.mu held).
func (e *epollSet) group() {
	for i := range e.groups {
		clear(e.groups[i].us) // no socket kept alive by a group gone
	}
	e.groups = e.groups[:0]
	clear(e.subs)
	e.subs = e.subs[:0]
	for i, en := range e.entries {
		if en.sub != nil {
			if en.sub != e && !slices.Contains(e.subs, en.sub) {
				e.subs = append(e.subs, en.sub)
			}
			continue
		}
		st := en.s.u.Stack()
		k := slices.IndexFunc(e.groups, func(g memberGroup) bool { return g.st == st })
		if k < 0 {
			// A slot used before keeps its slices' arrays.
			k = len(e.groups)
			e.groups = slices.Grow(e.groups, 1)[:k+1]
			g := &e.groups[k]
			g.st, g.s, g.us, g.idx, g.seen = st, en.s, g.us[:0], g.idx[:0], 0
		}
		g := &e.groups[k]
		g.us = append(g.us, en.s.u)
		g.idx = append(g.idx, i)
	}
	// Slots not used this time keep nothing alive.
	clear(e.groups[len(e.groups):cap(e.groups)])
	e.grouped = true
}

// pollMembers fills e.in, e.errs and e.gens, by entry, for the entries
// that are sockets: each stack is polled once, under one lock, for all its
// sockets in the set, so that a scan of many sockets costs about one look
// at each, and a stack with no change since the last scan costs that one
// look only, its entries' values still holding. It reports whether any
// stack had changed (e.mu held).
func (e *epollSet) pollMembers() (changed bool) {
	if !e.grouped {
		e.group()
	}
	n := len(e.entries)
	// Growing keeps the values already there (the groups' seen counts
	// vouch for them); a regrouping set every seen to 0.
	e.in = slices.Grow(e.in[:0], n)[:n]
	e.errs = slices.Grow(e.errs[:0], n)[:n]
	e.gens = slices.Grow(e.gens[:0], n)[:n]
	for i := range e.groups {
		g := &e.groups[i]
		g.s.touch()
		m := len(g.us)
		e.rd = slices.Grow(e.rd[:0], m)[:m]
		e.er = slices.Grow(e.er[:0], m)[:m]
		e.gn = slices.Grow(e.gn[:0], m)[:m]
		seen, filled := g.st.Readiness(g.us, e.rd, e.er, e.gn, g.seen)
		if !filled {
			continue
		}
		g.seen, changed = seen, true
		for k, j := range g.idx {
			e.in[j], e.errs[j], e.gens[j] = e.rd[k], e.er[k], e.gn[k]
		}
	}
	return changed
}

type epEntry struct {
	fd       int
	s        *Socket   // an accelerated socket, or
	sub      *epollSet // an epoll fd with accelerated members (nested)
	events   uint32
	data     uint64
	gen      uint64 // the socket's generation when last reported (EPOLLET)
	inEdge   bool   // EPOLLET: an edge not yet reported
	outEdge  bool
	disabled bool // EPOLLONESHOT fired
}

// EpollCtl mirrors an epoll_ctl the kernel accepted for an accelerated
// fd, or for an epoll fd (nested: nested is set), whose accelerated
// members the parent must see. It reports whether the epoll fd now has
// accelerated members or nested sets.
func (sh *Shim) EpollCtl(epfd, op, fd int, events uint32, data uint64, nested bool) bool {
	s := sh.fds.get(fd)
	sh.mu.Lock()
	var sub *epollSet
	if nested {
		sub = sh.shadow(fd)
	}
	e := sh.epolls[epfd]
	if e == nil {
		if (s == nil && sub == nil) || op != unix.EPOLL_CTL_ADD {
			sh.mu.Unlock()
			return false
		}
		e = &epollSet{}
		sh.epolls[epfd] = e
	}
	sh.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	i := slices.IndexFunc(e.entries, func(x *epEntry) bool { return x.fd == fd })
	switch op {
	case unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_MOD:
		if s == nil && sub == nil {
			break
		}
		en := &epEntry{fd: fd, s: s, sub: sub, events: events, data: data, inEdge: true, outEdge: true}
		if s != nil {
			en.gen = s.u.Generation()
		}
		if i >= 0 {
			// EPOLL_CTL_MOD (re-arming a one-shot, often once per event)
			// keeps the member, so its group; what a scan reports of it
			// changes.
			if old := e.entries[i]; old.s != en.s || old.sub != en.sub {
				e.changed()
			}
			e.entries[i] = en
			e.settled = false
		} else {
			e.entries = append(e.entries, en)
			e.changed()
		}
	case unix.EPOLL_CTL_DEL:
		e.drop(func(x *epEntry) bool { return x.fd == fd })
	}
	return len(e.entries) > 0
}

// shadow is epfd's shadow, made empty if it has none (sh.mu held).
func (sh *Shim) shadow(epfd int) *epollSet {
	e := sh.epolls[epfd]
	if e == nil {
		e = &epollSet{}
		sh.epolls[epfd] = e
	}
	return e
}

// OnePerStack appends s to out unless out has a socket of its stack:
// what Arm needs of the sockets a wait is for.
func OnePerStack(out []*Socket, s *Socket) []*Socket {
	st := s.u.Stack()
	if slices.ContainsFunc(out, func(x *Socket) bool { return x.u.Stack() == st }) {
		return out
	}
	return append(out, s)
}

// EpollSockets appends, for Arm, one socket of each stack that the
// members of an epoll fd's shadow (its nested sets' included) live on and
// that out has none of yet: Arm watches stacks, and a set of thousands
// of sockets has one or a few.
func (sh *Shim) EpollSockets(epfd int, out []*Socket) []*Socket {
	sh.mu.Lock()
	e := sh.epolls[epfd]
	sh.mu.Unlock()
	if e == nil {
		return out
	}
	return e.sockets(out, 0)
}

// sockets appends one socket of each of the set's stacks, nested sets'
// included, that out has none of.
func (e *epollSet) sockets(out []*Socket, depth int) []*Socket {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.grouped {
		e.group()
	}
	for _, g := range e.groups {
		out = OnePerStack(out, g.s)
	}
	if depth < maxNesting {
		for _, sub := range e.subs {
			out = sub.sockets(out, depth+1)
		}
	}
	return out
}

// generation sums the generations of the set's sockets, nested sets'
// included: it changes with every new event in the set, which is what an
// edge-triggered parent reports (the kernel wakes a parent's entry for
// an epoll fd when an event joins the child's ready list).
func (e *epollSet) generation(depth int) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var g uint64
	for _, en := range e.entries {
		switch {
		case en.s != nil:
			g += en.s.u.Generation()
		case en.sub != nil && en.sub != e && depth < maxNesting:
			g += en.sub.generation(depth + 1)
		}
	}
	return g
}

// maxNesting bounds nested epoll sets, as the kernel's EP_MAX_NESTS.
const maxNesting = 4

// peek reports whether a wait on the set would return an accelerated
// member, without consuming an edge or a one-shot.
func (e *epollSet) peek(sh *Shim, depth int) bool { return e.peekEdge(sh, depth, false) }

// peekEdge is peek; edge polls the members' stacks even when data waits
// (for an edge-triggered parent, see Shim.ready).
func (e *epollSet) peekEdge(sh *Shim, depth int, edge bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.entries {
		if en.disabled {
			continue
		}
		if en.sub != nil {
			if en.sub == e || depth >= maxNesting || en.events&(unix.EPOLLIN|unix.EPOLLRDNORM) == 0 {
				continue
			}
			et := en.events&epollET != 0
			ready := en.sub.peekEdge(sh, depth+1, edge || et)
			if et && !en.inEdge && en.sub.generation(depth+1) == en.gen {
				continue // no new event since the last report
			}
			if ready {
				return true
			}
			continue
		}
		in, out, errp, hup := sh.ready(en.s, edge || en.events&epollET != 0)
		if en.events&epollET != 0 {
			in = in && (en.inEdge || en.s.u.Generation() != en.gen)
			out = out && en.outEdge
		}
		if (in && en.events&(unix.EPOLLIN|unix.EPOLLRDNORM) != 0) || (out && en.events&(unix.EPOLLOUT|unix.EPOLLWRNORM) != 0) || errp || hup {
			return true
		}
	}
	return false
}

// EpollReady reports whether an epoll fd has a ready accelerated member
// (poll(2) on an epoll fd: POLLIN).
func (sh *Shim) EpollReady(epfd int) bool {
	sh.mu.Lock()
	e := sh.epolls[epfd]
	sh.mu.Unlock()
	return e != nil && e.peek(sh, 0)
}

// EpollScan writes the ready accelerated members of epfd into events (C's
// packed struct epoll_event, 12 bytes each) and returns how many, with
// level-triggered, edge-triggered and one-shot semantics as epoll(7).
func (sh *Shim) EpollScan(epfd int, events []byte) int {
	sh.mu.Lock()
	e := sh.epolls[epfd]
	sh.mu.Unlock()
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	moved := e.pollMembers()
	shut := sh.shutdowns.Load()
	if e.settled && !moved && shut == e.shut && len(e.subs) == 0 && len(e.lt)*12 <= len(events) {
		// Nothing any member's readiness depends on has changed since
		// the last scan: it reports what that one did of the
		// level-triggered entries (the others reported only edges,
		// which are spent), without a walk of the set.
		for k, x := range e.lt {
			e.entries[x.i].report(events[k*12:], x.r)
		}
		return len(e.lt)
	}
	e.shut = shut
	e.lt = e.lt[:0]
	sticky := false // an edge-triggered entry reported something not an edge
	n, last, full := 0, -1, false
	for k := range len(e.entries) {
		if (n+1)*12 > len(events) {
			full = true
			break
		}
		i := (e.next + k) % len(e.entries)
		en := e.entries[i]
		if en.disabled {
			continue
		}
		if en.sub != nil {
			// A nested set is readable while one of its members is:
			// level-triggered, or with EPOLLET once per new event in it,
			// or once with EPOLLONESHOT.
			if en.sub == e {
				continue
			}
			// peek first: it polls the stacks, which may queue what the
			// generation must count.
			ready := en.sub.peekEdge(sh, 1, en.events&epollET != 0)
			if en.events&epollET != 0 {
				if g := en.sub.generation(1); g != en.gen {
					en.gen, en.inEdge = g, true
				}
				if !en.inEdge {
					continue
				}
			}
			if !ready {
				continue
			}
			r := en.events & (unix.EPOLLIN | unix.EPOLLRDNORM)
			if r == 0 {
				continue
			}
			en.inEdge = false
			en.report(events[n*12:], r)
			n, last = n+1, i
			continue
		}
		// As sh.ready, from the scan's one look at the socket's stack.
		in, out, errp, hup := en.s.readiness(e.in[i], e.errs[i])
		var r uint32
		if en.events&epollET != 0 {
			if g := e.gens[i]; g != en.gen {
				en.gen, en.inEdge = g, true
			}
			in = in && en.inEdge
			out = out && en.outEdge
		}
		if in {
			r |= en.events & (unix.EPOLLIN | unix.EPOLLRDNORM)
		}
		if out {
			r |= en.events & (unix.EPOLLOUT | unix.EPOLLWRNORM)
		}
		if en.s.shutRD.Load() {
			r |= en.events & unix.EPOLLRDHUP
		}
		if errp {
			r |= unix.EPOLLERR
		}
		if hup {
			r |= unix.EPOLLHUP
		}
		if r == 0 {
			continue
		}
		if r&(unix.EPOLLIN|unix.EPOLLRDNORM) != 0 {
			en.inEdge = false
		}
		if r&(unix.EPOLLOUT|unix.EPOLLWRNORM) != 0 {
			en.outEdge = false
		}
		if en.events&(epollET|epollOneshot) == 0 {
			e.lt = append(e.lt, ltReport{i, r})
		} else if r&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			sticky = true
		}
		en.report(events[n*12:], r)
		n, last = n+1, i
	}
	e.settled = !full && !sticky
	// In the order of the entries, as a scan from the first reports.
	slices.SortFunc(e.lt, func(a, b ltReport) int { return a.i - b.i })
	// With more ready members than room, the next scan begins after the
	// last one reported: the kernel queues a level-triggered member it
	// reported behind the others (ep_send_events), so that every ready
	// member has its turn, however few events a wait asks for.
	e.next = 0
	if full && last >= 0 {
		e.next = last + 1
	}
	return n
}

// report writes the entry's event r into ev (C's packed struct
// epoll_event) and ends a one-shot entry.
func (en *epEntry) report(ev []byte, r uint32) {
	if en.events&epollOneshot != 0 {
		en.disabled = true
	}
	binary.NativeEndian.PutUint32(ev, r)
	binary.NativeEndian.PutUint64(ev[4:], en.data)
}

// dropFromEpolls removes a closed socket from every shadow set, as the
// kernel removes a file from its epoll sets at its last close.
func (sh *Shim) dropFromEpolls(s *Socket) {
	sh.mu.Lock()
	sets := slices.Collect(maps.Values(sh.epolls))
	sh.mu.Unlock()
	for _, e := range sets {
		e.mu.Lock()
		e.drop(func(x *epEntry) bool { return x.s == s })
		e.mu.Unlock()
	}
}

// restoreEpolls gives a socket handed back to the kernel its real events
// in the kernel's epoll sets, and takes it out of the shadows.
func (sh *Shim) restoreEpolls(s *Socket) {
	sh.mu.Lock()
	type reg struct {
		epfd int
		en   *epEntry
	}
	var regs []reg
	for epfd, e := range sh.epolls {
		e.mu.Lock()
		for _, en := range e.entries {
			if en.s == s {
				regs = append(regs, reg{epfd, en})
			}
		}
		e.drop(func(x *epEntry) bool { return x.s == s })
		e.mu.Unlock()
	}
	sh.mu.Unlock()
	for _, r := range regs {
		ev := unix.EpollEvent{Events: r.en.events}
		binary.NativeEndian.PutUint64((*[8]byte)(unsafe.Pointer(&ev.Fd))[:], r.en.data)
		unix.EpollCtl(r.epfd, unix.EPOLL_CTL_MOD, r.en.fd, &ev)
	}
}

// IsShadowed reports whether epfd has accelerated members.
func (sh *Shim) IsShadowed(epfd int) bool {
	sh.mu.Lock()
	e := sh.epolls[epfd]
	sh.mu.Unlock()
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.entries) > 0
}
