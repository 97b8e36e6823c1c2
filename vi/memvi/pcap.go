package memvi

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"
)

// PcapWriter writes frames in the classic pcap format (LINKTYPE_ETHERNET,
// microsecond timestamps), which tcpdump and Wireshark read. Timestamps are
// the pair's clock.
type PcapWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	n   int
	hdr [16]byte
}

// NewPcapWriter writes the file header to w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	p := &PcapWriter{w: bufio.NewWriter(w)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4) // magic: microseconds
	binary.LittleEndian.PutUint16(h[4:], 2)          // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535) // snap length
	binary.LittleEndian.PutUint32(h[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := p.w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("memvi: write pcap header: %w", err)
	}
	return p, nil
}

// Write records one frame at time t.
func (p *PcapWriter) Write(t time.Duration, frame []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(t/time.Second))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(t%time.Second/time.Microsecond))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(len(frame)))
	if _, p.err = p.w.Write(p.hdr[:]); p.err == nil {
		_, p.err = p.w.Write(frame)
	}
	p.n++
}

// Frames is how many frames were written.
func (p *PcapWriter) Frames() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Flush writes out what is buffered and reports the first write error.
func (p *PcapWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("memvi: write pcap: %w", p.err)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("memvi: write pcap: %w", err)
	}
	return nil
}
