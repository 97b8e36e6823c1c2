package xdp

import (
	"fmt"
	"iter"
	"net/netip"
)

// Verdict is why the program did what it did with a frame; the order is
// filter.c's enum verdict.
type Verdict int

const (
	Redirect Verdict = iota
	PassNotIPv4
	PassARP
	PassOptions
	PassFragment
	PassProto
	PassNoMatch
	PassStale
	PassNoVI
	PassTruncated
	PassQueue
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{
	"redirect", "pass_not_ipv4", "pass_arp", "pass_ip_options", "pass_fragment",
	"pass_proto", "pass_no_match", "pass_stale", "pass_no_vi", "pass_truncated", "pass_queue",
}

func (v Verdict) String() string {
	if v >= 0 && v < NumVerdicts {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Verdicts sums the per-CPU verdict counters.
func (t *Table) Verdicts() ([NumVerdicts]uint64, error) {
	var out [NumVerdicts]uint64
	var per []uint64
	for v := Verdict(0); v < NumVerdicts; v++ {
		if err := t.objs.Verdicts.Lookup(uint32(v), &per); err != nil {
			return out, fmt.Errorf("xdp: read verdict %v: %w", v, err)
		}
		for _, n := range per {
			out[v] += n
		}
	}
	return out, nil
}

// FilterStat is one installed filter with its counters summed over CPUs.
type FilterStat struct {
	Filter  Filter
	ARP     bool // an ARP filter: Filter.Local.Addr() is the target address
	Slot    int
	Live    bool // the owner still holds the slot
	Packets uint64
	Bytes   uint64
}

// Filters lists every installed filter on the table, of every process.
func (t *Table) Filters() iter.Seq[FilterStat] {
	return func(yield func(FilterStat) bool) {
		var k filterFlowKey
		var vals []filterTarget
		it := t.objs.Flows.Iterate()
		for it.Next(&k, &vals) {
			if !yield(t.stat(k.filter(), false, vals)) {
				return
			}
		}
		var a uint32
		it = t.objs.ArpTargets.Iterate()
		for it.Next(&a, &vals) {
			f := Filter{Local: netip.AddrPortFrom(keyAddr(a), 0)}
			if !yield(t.stat(f, true, vals)) {
				return
			}
		}
	}
}

func (t *Table) stat(f Filter, arp bool, vals []filterTarget) FilterStat {
	s := FilterStat{Filter: f, ARP: arp, Slot: int(vals[0].Slot), Live: t.live(vals[0])}
	for _, v := range vals {
		s.Packets += v.Packets
		s.Bytes += v.Bytes
	}
	return s
}
