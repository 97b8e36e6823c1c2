package tcp

// Block is one SACK block: [Left, Right) received (RFC 2018 §3).
type Block struct{ Left, Right Seq }

// DupThresh is RFC 6675's: the number of SACKed segments above a hole
// that mark it lost (the three duplicate ACKs of RFC 5681).
const DupThresh = 3

// Scoreboard is the sender's record of SACKed data and its loss recovery
// state (RFC 6675 §3, §4): which octets past SND.UNA the receiver holds,
// which holes are lost, how much is in flight (pipe), and what to send
// next. Ranges are bounded; when they overflow, the highest is forgotten,
// which costs at worst an extra retransmission, never a skipped one.
type Scoreboard struct {
	r         [maxRanges]Block // sorted, disjoint, within [SND.UNA, SND.NXT)
	n         int
	mss       uint32
	highRxt   Seq // end (exclusive) of what recovery has retransmitted
	rescue    Seq // RescueRxt
	hasRescue bool
}

// NewScoreboard makes an empty scoreboard for segments of mss bytes.
func NewScoreboard(mss uint32) *Scoreboard { return &Scoreboard{mss: mss} }

// Reset forgets all SACK information (after a retransmission timeout,
// RFC 6675 §5.1 lets the sender start again from what is acknowledged).
func (sb *Scoreboard) Reset() { *sb = Scoreboard{mss: sb.mss} }

// StartRecovery begins a loss recovery phase at SND.UNA una: nothing has
// been retransmitted in it yet (RFC 6675 §5, step 4).
func (sb *Scoreboard) StartRecovery(una Seq) { sb.highRxt, sb.hasRescue = una, false }

// Update takes an ACK: cumulative acknowledgment una (SND.UNA after it)
// and its SACK blocks (RFC 6675 §4, Update()). Blocks below una, or
// outside [una, nxt), are ignored or clipped: a receiver cannot SACK what
// was never sent (RFC 2018 §3, and the defence against D-SACK confusion).
func (sb *Scoreboard) Update(una, nxt Seq, blocks []Block) {
	// Drop what una now covers.
	k := 0
	for i := range sb.n {
		b := sb.r[i]
		if b.Right.LessEq(una) {
			continue
		}
		if b.Left.LessThan(una) {
			b.Left = una
		}
		sb.r[k] = b
		k++
	}
	sb.n = k
	if sb.highRxt.LessThan(una) {
		sb.highRxt = una
	}
	for _, b := range blocks {
		if b.Left.LessThan(una) {
			b.Left = una
		}
		if nxt.LessThan(b.Right) {
			b.Right = nxt
		}
		if b.Right.LessEq(b.Left) {
			continue
		}
		sb.add(b)
	}
}

// add merges b into the sorted ranges.
func (sb *Scoreboard) add(b Block) {
	i := 0
	for i < sb.n && sb.r[i].Right.LessThan(b.Left) {
		i++
	}
	j := i
	for j < sb.n && sb.r[j].Left.LessEq(b.Right) {
		if sb.r[j].Left.LessThan(b.Left) {
			b.Left = sb.r[j].Left
		}
		if b.Right.LessThan(sb.r[j].Right) {
			b.Right = sb.r[j].Right
		}
		j++
	}
	merged := j - i
	if merged == 0 {
		if sb.n == maxRanges {
			if i == sb.n {
				return // b is the highest: forget it
			}
			sb.n-- // forget the highest
		}
		copy(sb.r[i+1:sb.n+1], sb.r[i:sb.n])
		sb.n++
	} else {
		copy(sb.r[i+1:], sb.r[j:sb.n])
		sb.n -= merged - 1
	}
	sb.r[i] = b
}

// SACKed reports whether octet s is SACKed.
func (sb *Scoreboard) SACKed(s Seq) bool {
	for _, b := range sb.r[:sb.n] {
		if s.InWindow(b.Left, b.Right.Sub(b.Left)) {
			return true
		}
	}
	return false
}

// IsLost is RFC 6675 §4's IsLost(SeqNum): DupThresh discontiguous SACKed
// ranges above s, or more than (DupThresh-1)*SMSS SACKed octets above s.
func (sb *Scoreboard) IsLost(s Seq) bool {
	ranges, bytes := 0, uint32(0)
	for _, b := range sb.r[:sb.n] {
		if b.Right.LessEq(s.Add(1)) {
			continue
		}
		ranges++
		left := b.Left
		if left.LessEq(s) {
			left = s.Add(1)
		}
		bytes += b.Right.Sub(left)
	}
	return ranges >= DupThresh || bytes > (DupThresh-1)*sb.mss
}

// Pipe is RFC 6675 §4's SetPipe(): octets in flight between SND.UNA una
// and SND.NXT nxt. Every unSACKed octet not lost counts once, and every
// one recovery has retransmitted counts (again). IsLost is the same for
// all octets of one hole (the SACKed ranges above them are the same), so
// the count goes hole by hole.
func (sb *Scoreboard) Pipe(una, nxt Seq) uint32 {
	var pipe uint32
	sb.holes(una, nxt, func(h Block) bool {
		size := h.Right.Sub(h.Left)
		if !sb.IsLost(h.Left) {
			pipe += size
		}
		if h.Left.LessThan(sb.highRxt) {
			pipe += min(sb.highRxt, h.Right).Sub(h.Left)
		}
		return true
	})
	return pipe
}

// holes calls fn for each unSACKed range in [una, nxt), lowest first.
func (sb *Scoreboard) holes(una, nxt Seq, fn func(Block) bool) {
	at := una
	for _, b := range sb.r[:sb.n] {
		if at.LessThan(b.Left) && !fn(Block{at, b.Left}) {
			return
		}
		if at.LessThan(b.Right) {
			at = b.Right
		}
	}
	if at.LessThan(nxt) {
		fn(Block{at, nxt})
	}
}

// Rule says which of RFC 6675 §4's NextSeg() rules chose a segment.
type Rule int

const (
	RuleLost   Rule = 1 // a lost hole, first retransmission
	RuleNew    Rule = 2 // new data
	RuleHole   Rule = 3 // a hole below the highest SACK, not yet lost
	RuleRescue Rule = 4 // the one rescue retransmission of a recovery
)

// NextSeg is RFC 6675 §4's NextSeg(): what to send next during recovery,
// between SND.UNA una and SND.NXT nxt, with newData octets of new data
// sendable (within both windows). It returns the first octet and the size
// (at most SMSS); ok false when there is nothing to send. Call Sent with
// what was sent.
func (sb *Scoreboard) NextSeg(una, nxt Seq, newData uint32) (Seq, uint32, Rule, bool) {
	if sb.n > 0 {
		top := sb.r[sb.n-1].Right // the highest octet any SACK covers
		from := sb.highRxt
		if from.LessThan(una) {
			from = una
		}
		// Rules 1 and 3: the first unSACKed hole past HighRxt below the
		// highest SACK; lost → rule 1. Rule 3 waits for rule 2.
		var hole Block
		found := false
		sb.holes(from, top, func(h Block) bool { hole, found = h, true; return false })
		if found && sb.IsLost(hole.Left) {
			return hole.Left, min(sb.mss, hole.Right.Sub(hole.Left)), RuleLost, true
		}
		if newData > 0 {
			return nxt, min(sb.mss, newData), RuleNew, true
		}
		if found {
			return hole.Left, min(sb.mss, hole.Right.Sub(hole.Left)), RuleHole, true
		}
	} else if newData > 0 {
		return nxt, min(sb.mss, newData), RuleNew, true
	}
	// Rule 4: one rescue per recovery, including the highest outstanding
	// unSACKed octet.
	if sb.hasRescue && !sb.rescue.LessThan(una) {
		return 0, 0, 0, false
	}
	var last Block
	found := false
	sb.holes(una, nxt, func(h Block) bool { last, found = h, true; return true })
	if !found {
		return 0, 0, 0, false
	}
	size := min(sb.mss, last.Right.Sub(last.Left))
	return last.Right - Seq(size), size, RuleRescue, true
}

// Sent records a segment NextSeg chose: rules 1 and 3 move HighRxt, rule
// 4 sets RescueRxt to the recovery point and leaves HighRxt alone.
func (sb *Scoreboard) Sent(seq Seq, n uint32, rule Rule, recoveryPoint Seq) {
	switch rule {
	case RuleLost, RuleHole:
		if end := seq.Add(n); sb.highRxt.LessThan(end) {
			sb.highRxt = end
		}
	case RuleRescue:
		sb.rescue, sb.hasRescue = recoveryPoint, true
	}
}
