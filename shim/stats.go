package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/accelnet/accel/stack"
)

// The stats file (ACCEL_STATS_FILE) says what went through the VI and
// what through the kernel, socket by socket: the proof a test needs that
// a flow really was accelerated, and what `accel stat` shows an operator.

// StackStats are one stack's counters.
type StackStats struct {
	Interface string            `json:"interface"`
	Thread    int               `json:"thread,omitempty"` // -1: the stacks of threads that exited, summed
	Queue     int               `json:"queue"`
	RxFrames  uint64            `json:"rx_frames"`
	RxUDP     uint64            `json:"rx_udp"`
	RxKernel  uint64            `json:"rx_kernel"`
	TxUDP     uint64            `json:"tx_udp"`
	TxKernel  uint64            `json:"tx_kernel"`
	Requeued  uint64            `json:"requeued,omitempty"`
	RxBytes   uint64            `json:"vi_rx_bytes"`
	TxBytes   uint64            `json:"vi_tx_bytes"`
	Drops     map[string]uint64 `json:"drops"`
	// What the VI lost before the stack saw it (XDP_STATISTICS): no
	// frame on the fill ring, or a full RX ring.
	ViRxFillEmpty uint64 `json:"vi_rx_fill_empty,omitempty"`
	ViRxRingFull  uint64 `json:"vi_rx_ring_full,omitempty"`
	ViTxRingFull  uint64 `json:"vi_tx_ring_full,omitempty"`
}

// SocketStats are one socket's counters, once however many fds it has.
type SocketStats struct {
	FD        int    `json:"fd"`
	Dups      []int  `json:"dup_fds,omitempty"` // its other fds (dup, dup2, F_DUPFD)
	Local     string `json:"local"`
	Remote    string `json:"remote,omitempty"`
	Reason    string `json:"reason"`
	Detached  bool   `json:"handed_to_kernel,omitempty"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	Drops     uint64 `json:"rcvbuf_drops"`
	Open      bool   `json:"open"`
}

// Stats is the process's summary.
type Stats struct {
	PID       int               `json:"pid"`
	Stacks    []StackStats      `json:"stacks"`
	Sockets   []SocketStats     `json:"sockets"`
	Fallbacks map[string]uint64 `json:"fallbacks"`
}

func (s *Socket) stats(fd int) SocketStats {
	c := s.u.Counts()
	st := SocketStats{FD: fd, Local: s.u.LocalAddr().String(), Reason: s.reason, Detached: s.u.Detached(),
		RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes,
		Drops: s.u.Drops(), Open: fd >= 0}
	if r := s.u.RemoteAddr(); r.IsValid() {
		st.Remote = r.String()
	}
	return st
}

// stats are the stack's counters, as the stats file shows them.
func (is *ifStack) stats() StackStats {
	c := is.st.Stats()
	v := is.vi.Stats()
	ss := StackStats{Interface: is.key.ifname, Thread: is.key.tid, Queue: is.port.Queue(),
		RxFrames: c.RxFrames, RxUDP: c.RxUDP, RxKernel: c.RxKernel, TxUDP: c.TxUDP, TxKernel: c.TxKernel, Requeued: c.Requeued,
		RxBytes: v.RxBytes, TxBytes: v.TxBytes, Drops: map[string]uint64{},
		ViRxFillEmpty: v.RxFillEmpty, ViRxRingFull: v.RxRingFull, ViTxRingFull: v.TxRingFull}
	for d, n := range c.Drops {
		if n > 0 {
			ss.Drops[stack.Drop(d).String()] = n
		}
	}
	return ss
}

// add adds o's counters to s's.
func (s *StackStats) add(o StackStats) {
	s.RxFrames += o.RxFrames
	s.RxUDP += o.RxUDP
	s.RxKernel += o.RxKernel
	s.TxUDP += o.TxUDP
	s.TxKernel += o.TxKernel
	s.Requeued += o.Requeued
	s.RxBytes += o.RxBytes
	s.TxBytes += o.TxBytes
	s.ViRxFillEmpty += o.ViRxFillEmpty
	s.ViRxRingFull += o.ViRxRingFull
	s.ViTxRingFull += o.ViTxRingFull
	for d, n := range o.Drops {
		s.Drops[d] += n
	}
}

// Stats gathers the summary.
func (sh *Shim) Stats() Stats {
	out := Stats{PID: os.Getpid(), Fallbacks: map[string]uint64{}}
	sh.mu.Lock()
	for _, is := range sh.stacks {
		out.Stacks = append(out.Stacks, is.stats())
	}
	for _, sum := range sh.reaped {
		out.Stacks = append(out.Stacks, *sum)
	}
	for k, v := range sh.fallbacks {
		out.Fallbacks[k] = v
	}
	out.Sockets = append(out.Sockets, sh.gone...)
	sh.mu.Unlock()
	at := map[*Socket]int{}
	sh.fds.each(func(fd int, s *Socket) {
		if i, ok := at[s]; ok {
			out.Sockets[i].Dups = append(out.Sockets[i].Dups, fd)
			return
		}
		at[s] = len(out.Sockets)
		out.Sockets = append(out.Sockets, s.stats(fd))
	})
	return out
}

// Exit is called when the stacks are about to vanish with the process's
// image (its exit, an exec): every stack sends what it queued, and the
// datagrams still waiting for a neighbour's resolution go to the kernel,
// which sends them after the stacks are gone (stack.AtExit).
func (sh *Shim) Exit() {
	for _, is := range sh.stackList(nil) {
		is.st.AtExit()
	}
}

// stackList appends the stacks to out, as they are now: the callers work
// on each without sh.mu, which a stack's work must not hold.
func (sh *Shim) stackList(out []*ifStack) []*ifStack {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, is := range sh.stacks {
		out = append(out, is)
	}
	return out
}

// statsMu orders the writers of the stats file (the periodic one, exit).
var statsMu sync.Mutex

// WriteStats writes the stats file, if one is configured: to a temporary
// name and then renamed, so a reader never sees half of it.
func (sh *Shim) WriteStats() {
	path := sh.cfg.StatsFile
	if path == "" {
		return
	}
	statsMu.Lock()
	defer statsMu.Unlock()
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	b, err := json.MarshalIndent(sh.Stats(), "", "  ")
	if err == nil {
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if err = os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		sh.log.Warn("cannot write the stats file", zap.String("ACCEL_STATS_FILE", path), zap.Error(err))
	}
}

// progressEvery is how often the progress engine looks for stacks that no
// thread has polled: it keeps timers, the kernel's side and the receive
// rings moving while the application computes. While no stack has work
// that only time moves (Stack.Timed: TCP, a resolution, a timer), the
// engine doubles its period up to progressIdle: each of its ticks wakes
// one of the runtime's threads, on a CPU the application may be about to
// wake on (200 a second per process, with the scheduler's yields and
// sysmon the runtime's main source of wake-ups in a sleeping UDP ping-pong).
// Nothing is lost by the longer period: a sleeping thread wakes for its
// own frames, the kernel watcher wakes it for the kernel's side, and a
// thread that comes back polls first.
const (
	progressEvery = 5 * time.Millisecond
	progressIdle  = 80 * time.Millisecond
)

// StartProgress starts the progress engine, and the periodic stats file,
// until stop is closed. Its timer exists when it returns.
func (sh *Shim) StartProgress(stop <-chan struct{}) {
	t := time.NewTimer(progressEvery)
	go sh.progress(t, stop)
}

// progressPeriod is the engine's next period after one of every: the
// shortest while a stack is timed, else twice as long, up to progressIdle.
func progressPeriod(every time.Duration, timed bool) time.Duration {
	if timed {
		return progressEvery
	}
	return min(2*every, progressIdle)
}

func (sh *Shim) progress(t *time.Timer, stop <-chan struct{}) {
	defer t.Stop()
	lastStats := time.Now()
	every := progressEvery
	var stacks []*ifStack
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			stacks = sh.stackList(stacks[:0])
			timed := false
			for _, is := range stacks {
				if !is.polled.Swap(false) {
					is.st.Poll()
				}
				timed = timed || is.st.Timed()
			}
			every = progressPeriod(every, timed)
			if len(stacks) > 0 && now.Sub(lastStats) >= time.Second {
				lastStats = now
				sh.watchSharers()
				sh.reapStacks()
				if sh.cfg.StatsFile != "" {
					sh.WriteStats()
				}
			}
			clear(stacks)
			t.Reset(every)
		}
	}
}
