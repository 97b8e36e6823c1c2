// Package fault impairs the frames of a VI for tests: seeded loss,
// duplication, reordering, bit corruption and delay. This kernel has no
// netem, so the impairments live here, in two forms: Injector decides a
// frame's fate (vi/memvi's wire uses it), and Wrap puts an Injector on
// each direction of any vi.Device, the AF_XDP VI included, so that a
// stack meets the same impairments against a real peer (the Linux
// kernel's TCP) as against another stack in memory.
package fault

import (
	"math/rand/v2"
	"time"

	"github.com/accelnet/accel/vi"
)

// Faults are the impairments of one direction. Probabilities are per frame.
type Faults struct {
	Loss      float64
	Duplicate float64
	Reorder   float64 // the frame is held back and goes after the next one
	Corrupt   float64 // one random bit of the frame flips
	Delay     time.Duration
}

// Any reports whether f impairs anything.
func (f Faults) Any() bool {
	return f.Loss > 0 || f.Duplicate > 0 || f.Reorder > 0 || f.Corrupt > 0 || f.Delay > 0
}

// Fate is what happens to one frame.
type Fate struct {
	Drop   bool
	Copies int  // 1, or 2 for a duplicate
	Flip   int  // the bit to flip, or -1
	Hold   bool // held back, to go after the next frame
}

// Injector draws frames' fates from a seeded generator, so that a run is
// repeated from its seed.
type Injector struct {
	Faults
	rng *rand.Rand
}

// NewInjector makes an injector of f seeded by seed.
func NewInjector(f Faults, seed uint64) *Injector {
	return &Injector{Faults: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Decide draws the fate of a frame of n bytes. canHold says whether the
// frame may be held back (one frame is held at a time).
func (in *Injector) Decide(n int, canHold bool) Fate {
	f := Fate{Copies: 1, Flip: -1}
	if in.Loss > 0 && in.rng.Float64() < in.Loss {
		f.Drop = true
		return f
	}
	if in.Duplicate > 0 && in.rng.Float64() < in.Duplicate {
		f.Copies = 2
	}
	if in.Corrupt > 0 && n > 0 && in.rng.Float64() < in.Corrupt {
		f.Flip = in.rng.IntN(n * 8)
	}
	if in.Reorder > 0 && canHold && in.rng.Float64() < in.Reorder {
		f.Hold = true
	}
	return f
}

// FlipBit flips bit i of b (i from Fate.Flip).
func FlipBit(b []byte, i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] ^= 1 << (i % 8)
	}
}

// Timed is a frame on its way, due at At.
type Timed struct {
	At   time.Duration
	Desc vi.Desc
}

// Schedule puts w into q, which is kept in order of time; frames due at
// the same time stay in the order they came, so that only Reorder
// reorders.
func Schedule(q []Timed, w Timed) []Timed {
	i := len(q)
	for i > 0 && q[i-1].At > w.At {
		i--
	}
	q = append(q, Timed{})
	copy(q[i+1:], q[i:])
	q[i] = w
	return q
}
