package tcp

import "time"

// RTO computes the retransmission timeout of RFC 6298 from round-trip
// samples. Samples of retransmitted segments must not be given (Karn's
// algorithm, RFC 6298 §3) unless they come from timestamps (RFC 7323 §4).
type RTO struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	backoff      uint // timeouts since the last fresh sample
	// Min and Max bound the timeout. RFC 6298 §2.4 says at least 1 s;
	// Linux uses 200 ms (TCP_RTO_MIN), which accel follows by default
	// because its users run on fast networks. §2.5 allows a maximum of
	// at least 60 s; Linux uses 120 s.
	Min, Max time.Duration
}

// Initial timeout before any sample (RFC 6298 §2.1).
const initialRTO = time.Second

// NewRTO returns an estimator with Linux's bounds.
func NewRTO() *RTO { return &RTO{rto: initialRTO, Min: 200 * time.Millisecond, Max: 120 * time.Second} }

// Sample takes a round-trip measurement (RFC 6298 §2.2 and §2.3, with
// alpha 1/8, beta 1/4, K 4, and the clock granularity G folded into Min).
func (r *RTO) Sample(rtt time.Duration) {
	if rtt <= 0 {
		rtt = 1
	}
	if r.srtt == 0 {
		r.srtt, r.rttvar = rtt, rtt/2
	} else {
		// RTTVAR first, with the old SRTT (§2.3).
		d := r.srtt - rtt
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + rtt) / 8
	}
	r.backoff = 0
	r.rto = r.clamp(r.srtt + 4*r.rttvar)
}

// Backoff doubles the timeout after it expired (RFC 6298 §5.5).
func (r *RTO) Backoff() {
	r.backoff++
	r.rto = r.clamp(2 * r.rto)
}

func (r *RTO) clamp(d time.Duration) time.Duration { return min(max(d, r.Min), r.Max) }

// Timeout is the current retransmission timeout.
func (r *RTO) Timeout() time.Duration { return r.rto }

// SRTT and RTTVar are the smoothed round trip and its variation (0 before
// the first sample); Backoffs counts timeouts since the last sample. They
// are what TCP_INFO reports.
func (r *RTO) SRTT() time.Duration   { return r.srtt }
func (r *RTO) RTTVar() time.Duration { return r.rttvar }
func (r *RTO) Backoffs() uint        { return r.backoff }
