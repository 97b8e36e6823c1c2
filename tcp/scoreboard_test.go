package tcp

import (
	"math/rand/v2"
	"testing"
)

const smss = 1000

func TestScoreboardLossAndPipe(t *testing.T) {
	sb := NewScoreboard(smss)
	una, nxt := Seq(0), Seq(10000) // ten segments out
	sb.StartRecovery(una)
	sb.Update(una, nxt, []Block{{1000, 2000}})
	if sb.IsLost(0) {
		t.Fatal("one SACKed segment above: not lost yet")
	}
	sb.Update(una, nxt, []Block{{3000, 4000}, {5000, 6000}})
	// Three discontiguous SACKed ranges above 0: lost. Above 2000 only
	// two, 2000 bytes (not more than 2*SMSS): not lost.
	if !sb.IsLost(0) || sb.IsLost(2000) {
		t.Fatalf("IsLost(0) %v, IsLost(2000) %v", sb.IsLost(0), sb.IsLost(2000))
	}
	// Pipe: hole [0,1000) lost: 0; [2000,3000), [4000,5000) and
	// [6000,10000) in flight: 6000.
	if p := sb.Pipe(una, nxt); p != 6000 {
		t.Fatalf("pipe %d, want 6000", p)
	}
	seq, n, rule, ok := sb.NextSeg(una, nxt, 0)
	if !ok || seq != 0 || n != smss || rule != RuleLost {
		t.Fatalf("first NextSeg: %d+%d rule %d %v", seq, n, rule, ok)
	}
	sb.Sent(seq, n, rule, nxt)
	// The retransmission is in flight: pipe counts it.
	if p := sb.Pipe(una, nxt); p != 7000 {
		t.Fatalf("pipe after the retransmission %d, want 7000", p)
	}
	// No lost hole left past HighRxt: new data first (rule 2), then the
	// hole at 2000 (rule 3).
	if seq, _, rule, _ := sb.NextSeg(una, nxt, 500); seq != nxt || rule != RuleNew {
		t.Fatalf("with new data: %d rule %d", seq, rule)
	}
	seq, n, rule, _ = sb.NextSeg(una, nxt, 0)
	if seq != 2000 || rule != RuleHole {
		t.Fatalf("without new data: %d rule %d", seq, rule)
	}
	sb.Sent(seq, n, rule, nxt)
	sb.Sent(4000, 1000, RuleHole, nxt)
	// Holes below the highest SACK all retransmitted: one rescue, of the
	// highest outstanding octet.
	seq, n, rule, ok = sb.NextSeg(una, nxt, 0)
	if !ok || rule != RuleRescue || seq != 9000 || n != smss {
		t.Fatalf("rescue: %d+%d rule %d %v", seq, n, rule, ok)
	}
	sb.Sent(seq, n, rule, nxt)
	if _, _, _, ok := sb.NextSeg(una, nxt, 0); ok {
		t.Fatal("a second rescue in one recovery")
	}
	// The cumulative ACK moves past the first hole: the rest shifts.
	sb.Update(2000, nxt, nil)
	if sb.SACKed(1500) || !sb.SACKed(3500) {
		t.Fatal("update below una")
	}
}

func TestScoreboardClipsAndBounds(t *testing.T) {
	sb := NewScoreboard(smss)
	// Blocks below SND.UNA or past SND.NXT are clipped: a receiver cannot
	// SACK what was never sent.
	sb.Update(1000, 5000, []Block{{0, 1500}, {4500, 9000}, {6000, 7000}})
	if sb.SACKed(999) || !sb.SACKed(1000) || !sb.SACKed(4999) || sb.SACKed(5000) || sb.SACKed(6500) {
		t.Fatal("clipping")
	}
	big := NewScoreboard(smss)
	for i := range 2 * maxRanges {
		big.Update(0, 1<<20, []Block{{Seq(i * 2000), Seq(i*2000 + 1000)}})
	}
	if big.n != maxRanges || !big.SACKed(0) || big.SACKed(Seq((2*maxRanges-1)*2000)) {
		t.Fatalf("overflow kept %d ranges; must keep the lowest", big.n)
	}
}

// TestScoreboardAgainstModel checks SACKed, IsLost and Pipe against an
// octet map, with random blocks and retransmissions.
func TestScoreboardAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const size = 8000
	for run := range 100 {
		sb := NewScoreboard(100)
		base := Seq(rng.Uint32())
		sacked := make([]bool, size)
		sb.StartRecovery(base)
		for range 6 {
			l := rng.IntN(size - 1)
			r := l + 1 + rng.IntN(min(900, size-l-1))
			sb.Update(base, base.Add(size), []Block{{base.Add(uint32(l)), base.Add(uint32(r))}})
			for i := l; i < r; i++ {
				sacked[i] = true
			}
		}
		rxt := rng.IntN(size)
		sb.Sent(base, uint32(rxt), RuleLost, base.Add(size))
		var pipe uint32
		for i := range size {
			s := base.Add(uint32(i))
			if sb.SACKed(s) != sacked[i] {
				t.Fatalf("run %d: SACKed(%d) = %v", run, i, !sacked[i])
			}
			// The model's IsLost, octet by octet.
			ranges, bytes := 0, 0
			for j := i + 1; j < size; j++ {
				if sacked[j] {
					bytes++
					if !sacked[j-1] || j == i+1 {
						ranges++
					}
				}
			}
			lost := ranges >= DupThresh || bytes > (DupThresh-1)*100
			if sb.IsLost(s) != lost {
				t.Fatalf("run %d: IsLost(%d) = %v, model %v", run, i, !lost, lost)
			}
			if !sacked[i] {
				if !lost {
					pipe++
				}
				if i < rxt {
					pipe++
				}
			}
		}
		if got := sb.Pipe(base, base.Add(size)); got != pipe {
			t.Fatalf("run %d: pipe %d, model %d", run, got, pipe)
		}
	}
}
