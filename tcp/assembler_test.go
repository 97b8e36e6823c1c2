package tcp

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func ranges(a *Assembler) string {
	s := ""
	a.Ranges(func(off, size int) bool { s += fmt.Sprintf("[%d,%d)", off, off+size); return true })
	return s
}

func TestAssembler(t *testing.T) {
	var a Assembler
	a.Add(10, 5) // [10,15)
	a.Add(30, 5) // [30,35)
	a.Add(20, 5) // [20,25)
	if a.Front() != 0 || ranges(&a) != "[20,25)[30,35)[10,15)" {
		t.Fatalf("front %d, SACK order %s", a.Front(), ranges(&a))
	}
	a.Add(12, 10) // joins [10,25)
	if ranges(&a) != "[10,25)[30,35)" {
		t.Fatalf("after a merge: %s", ranges(&a))
	}
	a.Add(0, 10) // fills the hole at the front
	if a.Front() != 25 || ranges(&a) != "[30,35)" {
		t.Fatalf("front %d, beyond %s", a.Front(), ranges(&a))
	}
	a.Advance(25)
	if a.Front() != 0 || ranges(&a) != "[5,10)" {
		t.Fatalf("after advancing: front %d, %s", a.Front(), ranges(&a))
	}
	a.Add(0, 5)
	if a.Front() != 10 || !func() bool { a.Advance(10); return a.Empty() }() {
		t.Fatal("the last hole")
	}
}

func TestAssemblerBounded(t *testing.T) {
	var a Assembler
	for i := range maxRanges {
		if !a.Add(10+i*10, 1) {
			t.Fatalf("range %d refused", i)
		}
	}
	if a.Add(1000, 1) {
		t.Fatal("took a range beyond the bound")
	}
	if !a.Add(11, 1) { // touches an existing range: no new one needed
		t.Fatal("refused a byte that extends a range")
	}
}

// TestAssemblerAgainstModel adds random segments and compares with a bitmap.
func TestAssemblerAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for run := range 200 {
		var a Assembler
		have := make([]bool, 400)
		for range 60 {
			off, size := rng.IntN(350), 1+rng.IntN(40)
			if a.Add(off, size) {
				for i := off; i < off+size && i < len(have); i++ {
					have[i] = true
				}
			}
			if rng.IntN(8) == 0 && a.Front() > 0 {
				n := rng.IntN(a.Front()) + 1
				a.Advance(n)
				have = append(have[n:], make([]bool, n)...)
			}
		}
		front := 0
		for front < len(have) && have[front] {
			front++
		}
		if a.Front() != front {
			t.Fatalf("run %d: front %d, model %d", run, a.Front(), front)
		}
		covered := make([]bool, len(have))
		a.Ranges(func(off, size int) bool {
			for i := off; i < off+size; i++ {
				if !have[i] {
					t.Fatalf("run %d: byte %d claimed but not received", run, i)
				}
				covered[i] = true
			}
			if off > 0 && have[off-1] {
				t.Fatalf("run %d: range at %d does not start at a hole", run, off)
			}
			return true
		})
		for i := front; i < len(have); i++ {
			if have[i] && !covered[i] {
				t.Fatalf("run %d: byte %d received but in no range", run, i)
			}
		}
	}
}
