package main

import (
	"math/bits"
	"testing"

	"github.com/accelnet/accel/shim"
)

// TestTamedBits checks that the C part knows every option the shim
// mirrors, each by a bit of its own: an option it did not know would
// leave a socket it was set on not fresh (read back in full, correct
// but slow), and two options on one bit would make a decision read both
// whenever either was set.
func TestTamedBits(t *testing.T) {
	toShim := tamedBits()
	var all uint32
	for b, m := range toShim {
		if bits.OnesCount32(m) > 1 {
			t.Errorf("C's bit %d stands for several of the shim's options: %#x", b, m)
		}
		all |= m
	}
	if want := uint32(1)<<len(shim.MirroredOptions) - 1; all != want {
		t.Errorf("the C part knows the shim's options %#x, want all of %#x", all, want)
	}
}
