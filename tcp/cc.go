package tcp

import (
	"math"
	"time"
)

// Congestion is a congestion control algorithm, chosen per connection
// (TCP_CONGESTION). It owns cwnd and ssthresh; loss recovery (which
// segments to send, RFC 6675's pipe or RFC 6582's partial ACKs) belongs
// to the connection. Sizes are bytes.
type Congestion interface {
	Name() string
	Cwnd() uint32
	Ssthresh() uint32
	// OnAck takes bytes newly acknowledged outside loss recovery.
	OnAck(acked uint32, now, srtt time.Duration)
	// OnCongestion is a loss found by duplicate ACKs or SACK, with flight
	// bytes outstanding: it sets ssthresh and cwnd for recovery.
	OnCongestion(flight uint32, now time.Duration)
	// OnTimeout is a retransmission timeout.
	OnTimeout(flight uint32, now time.Duration)
}

// InitialWindow is RFC 6928's: min(10*MSS, max(2*MSS, 14600)).
func InitialWindow(mss uint32) uint32 { return min(10*mss, max(2*mss, 14600)) }

// NewCongestion returns the algorithm called name ("reno" or "cubic"), or
// nil if there is none of that name.
func NewCongestion(name string, mss uint32) Congestion {
	switch name {
	case "reno", "newreno":
		return NewReno(mss)
	case "cubic":
		return NewCubic(mss)
	}
	return nil
}

// Reno is RFC 5681's congestion control (NewReno's, whose difference is in
// recovery, RFC 6582).
type Reno struct {
	mss, cwnd, ssthresh uint32
	counted             uint32 // bytes acknowledged toward the next increase
}

// NewReno starts a connection's window.
func NewReno(mss uint32) *Reno {
	return &Reno{mss: mss, cwnd: InitialWindow(mss), ssthresh: math.MaxUint32}
}

func (r *Reno) Name() string     { return "reno" }
func (r *Reno) Cwnd() uint32     { return r.cwnd }
func (r *Reno) Ssthresh() uint32 { return r.ssthresh }

// OnAck grows the window: in slow start by the bytes acknowledged
// (appropriate byte counting, RFC 3465 §2.3), without its limit L of two
// segments per ACK, as Linux's tcp_slow_start: a stretch ACK for a whole
// window (receive offload, or a stack that acknowledges a batch at once)
// would otherwise hold slow start to two segments a round trip. In
// congestion avoidance, one SMSS per window acknowledged (RFC 5681 §3.1,
// counted in bytes as RFC 3465 §2.1 does).
func (r *Reno) OnAck(acked uint32, now, srtt time.Duration) {
	if r.cwnd < r.ssthresh {
		r.cwnd += min(acked, r.ssthresh-r.cwnd)
		return
	}
	r.counted += acked
	if r.counted >= r.cwnd {
		r.counted -= r.cwnd
		r.cwnd += r.mss
	}
}

// OnCongestion halves: ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681
// eq. 4), and recovery starts from cwnd = ssthresh (RFC 6675 §5).
func (r *Reno) OnCongestion(flight uint32, now time.Duration) {
	r.ssthresh = max(flight/2, 2*r.mss)
	r.cwnd, r.counted = r.ssthresh, 0
}

// OnTimeout sets ssthresh as on a loss and cwnd to the loss window of one
// segment (RFC 5681 §3.1).
func (r *Reno) OnTimeout(flight uint32, now time.Duration) {
	r.ssthresh = max(flight/2, 2*r.mss)
	r.cwnd, r.counted = r.mss, 0
}

// Cubic is RFC 9438's congestion control. Windows are kept in segments as
// the RFC writes them; time in seconds.
type Cubic struct {
	mss        uint32
	cwnd       float64 // segments
	ssthresh   float64 // segments
	wMax       float64 // window before the last reduction
	lastMax    float64 // the one before, for fast convergence (§4.7)
	k          float64 // seconds to reach wMax again (§4.2, eq. 2)
	epoch      time.Duration
	inEpoch    bool
	wEst       float64 // the Reno-friendly estimate (§4.3)
	cwndEpoch  float64 // cwnd when the epoch began
	alphaFixed bool    // wEst has reached wMax: alpha is 1
}

// RFC 9438 §5's constants.
const (
	cubicC    = 0.4
	cubicBeta = 0.7
)

var cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta) // §4.3

// NewCubic starts a connection's window.
func NewCubic(mss uint32) *Cubic {
	return &Cubic{mss: mss, cwnd: float64(InitialWindow(mss)) / float64(mss), ssthresh: math.Inf(1)}
}

func (c *Cubic) Name() string { return "cubic" }
func (c *Cubic) Cwnd() uint32 { return uint32(c.cwnd * float64(c.mss)) }

func (c *Cubic) Ssthresh() uint32 {
	if math.IsInf(c.ssthresh, 1) {
		return math.MaxUint32
	}
	return uint32(c.ssthresh * float64(c.mss))
}

// wCubic is the window at t seconds into the epoch (§4.2, eq. 1).
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.wMax
}

// OnAck grows the window: slow start as Reno's below ssthresh (§4.10),
// else toward the cubic target of one RTT ahead, no slower than the
// Reno-friendly estimate (§4.2–§4.4).
func (c *Cubic) OnAck(acked uint32, now, srtt time.Duration) {
	segs := float64(acked) / float64(c.mss)
	if c.cwnd < c.ssthresh {
		c.cwnd = min(c.cwnd+segs, max(c.ssthresh, c.cwnd))
		return
	}
	if !c.inEpoch {
		c.inEpoch, c.epoch = true, now
		c.cwndEpoch, c.wEst = c.cwnd, c.cwnd
		if c.wMax < c.cwnd {
			c.wMax, c.k = c.cwnd, 0
		} else {
			c.k = math.Cbrt((c.wMax - c.cwndEpoch) / cubicC)
		}
	}
	t := (now - c.epoch + srtt).Seconds()
	// §4.2: the target lies between cwnd and 1.5 cwnd.
	target := min(max(c.wCubic(t), c.cwnd), 1.5*c.cwnd)
	alpha := cubicAlpha
	if c.alphaFixed {
		alpha = 1
	}
	c.wEst += alpha * segs / c.cwnd
	if c.wEst >= c.wMax {
		c.alphaFixed = true
	}
	if c.wCubic((now - c.epoch).Seconds()) < c.wEst {
		// The Reno-friendly region (§4.3): at least as fast as Reno.
		c.cwnd = max(c.cwnd, c.wEst)
		return
	}
	// §4.4: increase by (target - cwnd)/cwnd for each segment acknowledged.
	c.cwnd += (target - c.cwnd) / c.cwnd * segs
}

// reduce is §4.6 and §4.7: remember the window, with fast convergence,
// and multiply by beta.
func (c *Cubic) reduce(flight uint32) {
	if c.cwnd < c.lastMax {
		c.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = c.cwnd
	}
	c.lastMax = c.cwnd
	c.ssthresh = max(float64(flight)/float64(c.mss)*cubicBeta, 2)
	c.inEpoch, c.alphaFixed = false, false
}

// OnCongestion is §4.6: ssthresh = flight * beta, and cwnd = ssthresh.
func (c *Cubic) OnCongestion(flight uint32, now time.Duration) {
	c.reduce(flight)
	c.cwnd = c.ssthresh
}

// OnTimeout is §4.8: ssthresh as on a loss, cwnd one segment (RFC 5681).
func (c *Cubic) OnTimeout(flight uint32, now time.Duration) {
	c.reduce(flight)
	c.cwnd = 1
}
