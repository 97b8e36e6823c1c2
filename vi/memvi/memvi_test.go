package memvi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/vi"
)

// clock is a virtual clock.
type clock struct{ t time.Duration }

func (c *clock) now() time.Duration { return c.t }

func pair(t *testing.T, o Options) (*VI, *VI, *clock) {
	t.Helper()
	c := &clock{}
	o.Now = c.now
	a, b, err := NewPair(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, c
}

// send sends n frames numbered from first; each frame carries its number.
func send(t *testing.T, v *VI, first, n int) {
	t.Helper()
	ds := make([]vi.Desc, 1)
	for i := first; i < first+n; i++ {
		if v.Alloc(ds) != 1 {
			t.Fatal("no free frame")
		}
		b := v.Bytes(ds[0])
		binary.BigEndian.PutUint32(b, uint32(i))
		copy(b[4:60], bytes.Repeat([]byte{0xab}, 56))
		ds[0].Len = 60
		if k, err := v.Send(ds); k != 1 || err != nil {
			t.Fatalf("send: %d %v", k, err)
		}
	}
}

// recv drains v and returns the frame numbers in arrival order, and how
// many frames differed from what was sent.
func recv(v *VI) (got []int, corrupt int) {
	ds := make([]vi.Desc, 16)
	for {
		n := v.Recv(ds)
		if n == 0 {
			return
		}
		for _, d := range ds[:n] {
			b := v.Bytes(d)
			got = append(got, int(binary.BigEndian.Uint32(b)))
			if d.Len != 60 || !bytes.Equal(b[4:60], bytes.Repeat([]byte{0xab}, 56)) {
				corrupt++
			}
		}
		v.Free(ds[:n])
	}
}

func TestBothDirections(t *testing.T) {
	a, b, _ := pair(t, Options{})
	send(t, a, 0, 5)
	send(t, b, 100, 3)
	if got, bad := recv(b); fmt.Sprint(got) != "[0 1 2 3 4]" || bad != 0 {
		t.Errorf("B got %v (%d corrupt)", got, bad)
	}
	if got, bad := recv(a); fmt.Sprint(got) != "[100 101 102]" || bad != 0 {
		t.Errorf("A got %v (%d corrupt)", got, bad)
	}
	if s := a.Stats(); s.TxPackets != 5 || s.RxPackets != 3 {
		t.Errorf("A stats %+v", s)
	}
}

func TestFaultsAreSeededAndCounted(t *testing.T) {
	run := func(seed uint64) ([]int, int) {
		a, b, _ := pair(t, Options{Seed: seed, Frames: 2048, AtoB: Faults{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1}})
		send(t, a, 0, 1000)
		_ = a
		return recv(b)
	}
	got1, bad1 := run(7)
	got2, bad2 := run(7)
	if fmt.Sprint(got1) != fmt.Sprint(got2) || bad1 != bad2 {
		t.Fatal("the same seed gave two different runs")
	}
	got3, _ := run(8)
	if fmt.Sprint(got1) == fmt.Sprint(got3) {
		t.Fatal("two seeds gave the same run")
	}
	seen := map[int]int{}
	reordered := 0
	for i, n := range got1 {
		seen[n]++
		if i > 0 && n < got1[i-1] {
			reordered++
		}
	}
	lost, dup := 0, 0
	for i := range 1000 {
		switch seen[i] {
		case 0:
			lost++
		case 2:
			dup++
		}
	}
	// 10% each, on 1000 frames: well inside 5%..15%.
	for name, n := range map[string]int{"lost": lost, "duplicated": dup, "reordered": reordered, "corrupted": bad1} {
		if n < 50 || n > 150 {
			t.Errorf("%s %d of 1000 frames, want about 100", name, n)
		}
	}
}

func TestDelayOnVirtualClock(t *testing.T) {
	a, b, c := pair(t, Options{AtoB: Faults{Delay: 5 * time.Millisecond}})
	send(t, a, 0, 3)
	if got, _ := recv(b); len(got) != 0 {
		t.Fatalf("frames arrived before their delay: %v", got)
	}
	if due, ok := b.NextDue(); !ok || due != 5*time.Millisecond {
		t.Fatalf("next due %v %v", due, ok)
	}
	c.t = 5 * time.Millisecond
	if got, _ := recv(b); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("after the delay: %v", got)
	}
}

func TestReceiverOutOfFrames(t *testing.T) {
	a, b, _ := pair(t, Options{Frames: 8})
	// B holds all its frames: nothing more can arrive.
	held := make([]vi.Desc, 8)
	if b.Alloc(held) != 8 {
		t.Fatal("alloc")
	}
	send(t, a, 0, 3)
	if got, _ := recv(b); len(got) != 0 {
		t.Fatalf("received into no frames: %v", got)
	}
	if s := b.Stats(); s.RxDropped != 3 || s.RxFillEmpty != 3 {
		t.Fatalf("stats %+v: want 3 drops for want of frames", s)
	}
	if a.Alloc(make([]vi.Desc, 8)) != 8 {
		t.Fatal("the sender lost frames it sent")
	}
}

func TestPcap(t *testing.T) {
	var buf bytes.Buffer
	p, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, b, _ := pair(t, Options{Pcap: p, AtoB: Faults{Loss: 1}})
	send(t, b, 0, 2)
	send(t, a, 0, 4) // all lost: not on the wire
	recv(a)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(data[20:]) != 1 {
		t.Fatalf("bad pcap header % x", data[:24])
	}
	records := 0
	for off := 24; off < len(data); records++ {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		if n != 60 {
			t.Fatalf("record %d has %d bytes", records, n)
		}
		off += 16 + n
	}
	if records != 2 || p.Frames() != 2 {
		t.Fatalf("%d records, want 2", records)
	}
}

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	a, b, _ := pair(t, Options{})
	ds := make([]vi.Desc, 4)
	allocs := testing.AllocsPerRun(100, func() {
		n := a.Alloc(ds)
		for i := range n {
			ds[i].Len = 60
		}
		a.Send(ds[:n])
		b.Free(ds[:b.Recv(ds)])
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round", allocs)
	}
}

// TestReadiness: the eventfd is readable exactly while frames wait.
func TestReadiness(t *testing.T) {
	a, b, _ := pair(t, Options{})
	readable := func() bool {
		pfd := []unix.PollFd{{Fd: int32(b.FD()), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, 0)
		return n == 1
	}
	if readable() {
		t.Fatal("readable with nothing sent")
	}
	send(t, a, 0, 3)
	if !readable() {
		t.Fatal("not readable with frames waiting")
	}
	ds := make([]vi.Desc, 2)
	b.Free(ds[:b.Recv(ds)])
	if !readable() {
		t.Fatal("not readable with a frame still waiting")
	}
	b.Free(ds[:b.Recv(ds)])
	if readable() {
		t.Fatal("readable after everything was received")
	}
}
