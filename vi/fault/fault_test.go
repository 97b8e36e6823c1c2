package fault_test

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/fault"
	"github.com/accelnet/accel/vi/memvi"
)

// send puts n numbered frames on a.
func send(t *testing.T, a vi.Device, from, n int) {
	t.Helper()
	for i := range n {
		var d [1]vi.Desc
		if a.Alloc(d[:]) != 1 {
			t.Fatal("no frame")
		}
		b := a.Bytes(d[0])
		binary.BigEndian.PutUint32(b, uint32(from+i))
		d[0].Len = 64
		if k, err := a.Send(d[:]); k != 1 || err != nil {
			t.Fatal(k, err)
		}
	}
}

// drain receives from b until nothing more comes in wait, returning the
// frame numbers in order.
func drain(b vi.Device, wait time.Duration) []uint32 {
	var got []uint32
	var ds [16]vi.Desc
	for end := time.Now().Add(wait); time.Now().Before(end); {
		n := b.Recv(ds[:])
		for _, d := range ds[:n] {
			got = append(got, binary.BigEndian.Uint32(b.Bytes(d)))
			end = time.Now().Add(wait)
		}
		b.Free(ds[:n])
	}
	return got
}

// TestWrapReceive wraps the receiving end of a memory pair: every frame
// sent is accounted for as delivered, dropped or duplicated, reordering
// shows in the order, and corrupted frames differ.
func TestWrapReceive(t *testing.T) {
	a, b, err := memvi.NewPair(memvi.Options{Frames: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w, err := fault.Wrap(b, fault.Options{Rx: fault.Faults{Loss: 0.05, Duplicate: 0.05, Reorder: 0.1}, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 2000
	send(t, a, 0, n)
	got := drain(w, 20*time.Millisecond)
	rxc, _ := w.Counts()
	if rxc.Frames != n {
		t.Fatalf("the wrapper saw %d frames of %d", rxc.Frames, n)
	}
	if want := n - int(rxc.Dropped) + int(rxc.Duplicated); len(got) != want {
		t.Fatalf("received %d frames, want %d (%v)", len(got), want, rxc)
	}
	if rxc.Dropped < 50 || rxc.Duplicated < 50 || rxc.Reordered < 100 {
		t.Fatalf("impairments far from their rates: %v", rxc)
	}
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	if inversions < int(rxc.Reordered)/2 {
		t.Fatalf("%d frames reordered, %d inversions seen", rxc.Reordered, inversions)
	}
}

// TestWrapDelay: a delayed frame is not there before its time, and the
// wrapper's fd wakes a sleeper when it comes due; transmit impairments
// apply to what the wrapper sends.
func TestWrapDelay(t *testing.T) {
	a, b, err := memvi.NewPair(memvi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const delay = 30 * time.Millisecond
	w, err := fault.Wrap(a, fault.Options{Tx: fault.Faults{Delay: delay}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	send(t, w, 42, 1)
	var ds [4]vi.Desc
	if b.Recv(ds[:]) != 0 {
		t.Fatal("a delayed frame arrived at once")
	}
	// Sleep on the wrapper's fd: it must wake when the frame is due.
	pfd := []unix.PollFd{{Fd: int32(w.FD()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 2000)
		if err == unix.EINTR {
			continue
		}
		if n != 1 {
			t.Fatalf("the fd did not wake for the delayed frame: %d %v", n, err)
		}
		break
	}
	if el := time.Since(start); el < delay {
		t.Fatalf("woke after %v, before the delay of %v", el, delay)
	}
	w.Recv(ds[:]) // the owner's poll sends what is due
	got := drain(b, 10*time.Millisecond)
	if len(got) != 1 || got[0] != 42 {
		t.Fatalf("received %v, want [42]", got)
	}
}
