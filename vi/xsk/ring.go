package xsk

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The four AF_XDP rings are single-producer single-consumer queues in memory
// shared with the kernel: a producer index, a consumer index, a flags word
// and a power-of-two array of entries. Each side keeps a cached copy of the
// other side's index and reads the shared one only when the cache says the
// ring looks empty (consumer) or full (producer), so the common case touches
// no shared cache line but its own.
//
// Ordering: the producer writes entries, then publishes them by storing the
// producer index with release semantics; the consumer loads the producer
// index with acquire semantics before reading entries, and stores its
// consumer index (release) only after it has finished reading them, which
// hands the slots back. Go's sync/atomic loads and stores are sequentially
// consistent, which is at least acquire/release.

type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	entries  unsafe.Pointer
	mask     uint32
	size     uint32
	cached   uint32 // producer side: cached consumer + size; consumer side: cached producer
	local    uint32 // our own index (producer or consumer), published by submit/release
	mem      []byte // the mmap'd region, for munmap
}

func mapRing(fd int, off unix.XDPRingOffset, pgoff int64, size uint32, entrySize uintptr) (ring, error) {
	length := int(off.Desc + uint64(size)*uint64(entrySize))
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, err
	}
	base := unsafe.Pointer(&mem[0])
	return ring{
		producer: (*uint32)(unsafe.Add(base, off.Producer)),
		consumer: (*uint32)(unsafe.Add(base, off.Consumer)),
		flags:    (*uint32)(unsafe.Add(base, off.Flags)),
		entries:  unsafe.Add(base, off.Desc),
		mask:     size - 1,
		size:     size,
		mem:      mem,
	}, nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

// Producer side (fill ring, TX ring).

// initProducer sets the caches of a producer ring.
func (r *ring) initProducer() {
	r.local = atomic.LoadUint32(r.producer)
	r.cached = atomic.LoadUint32(r.consumer) + r.size
}

// free returns how many entries can be produced, at most n. It reads the
// kernel's consumer index only when the cache shows fewer than n.
func (r *ring) free(n uint32) uint32 {
	f := r.cached - r.local
	if f >= n {
		return n
	}
	r.cached = atomic.LoadUint32(r.consumer) + r.size // acquire: slots handed back
	return min(r.cached-r.local, n)
}

// submit publishes n produced entries.
func (r *ring) submit(n uint32) {
	r.local += n
	atomic.StoreUint32(r.producer, r.local) // release: entries written before
}

// Consumer side (RX ring, completion ring).

func (r *ring) initConsumer() {
	r.local = atomic.LoadUint32(r.consumer)
	r.cached = atomic.LoadUint32(r.producer)
}

// avail returns how many entries can be consumed, at most n.
func (r *ring) avail(n uint32) uint32 {
	a := r.cached - r.local
	if a == 0 {
		r.cached = atomic.LoadUint32(r.producer) // acquire: entries readable
		a = r.cached - r.local
	}
	return min(a, n)
}

// release hands n consumed entries back to the producer.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.consumer, r.local) // release: entries read before
}

// needWakeup reports the kernel's XDP_RING_NEED_WAKEUP flag.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// addr is entry i of a fill or completion ring (a UMEM address).
func (r *ring) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.entries, uintptr(i&r.mask)*8))
}

// desc is entry i of an RX or TX ring.
func (r *ring) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.entries, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}
