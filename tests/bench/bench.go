// Package bench is accel's latency comparison (`accel bench`, `make
// bench`): unmodified programs (sockperf, iperf3) between two network
// namespaces, on kernel sockets and under the preload, next to the raw VI
// floor, in rounds that alternate the configurations. It prints a table,
// and writes every figure as JSON and the latency distributions as plots.
package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/accelnet/accel/shim"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/tests/pingpong"
)

// Options of a run.
type Options struct {
	Duration time.Duration // per configuration and round; default 5s
	Rounds   int           // default 3
	Sizes    []int         // message sizes; default 64
	Configs  []string      // default all (Configs)
	Out      string        // results folder; default bench-results/TIME
	Lib      string        // libaccel.so
	Quick    bool          // one round of 1 s, for a check in under a minute
	Log      io.Writer     // progress; default stderr
}

// Config is one measured configuration.
type Config struct {
	Name string
	Kind string // latency, rate or bulk
	Doc  string
	// What the configuration runs with.
	tcp, accel, nonblocked, busyPoll, floor bool
	profile                                 string
	vars                                    []string // more ACCEL_* settings
	iperf                                   string   // "tcp" or "udp" for bulk
}

// Configs is every configuration, in table order.
var Configs = []Config{
	{Name: "kernel", Kind: "latency", Doc: "sockperf UDP ping-pong on kernel sockets, blocking (the program's default)"},
	{Name: "kernel-busypoll", Kind: "latency", busyPoll: true, Doc: "the same with net.core.busy_poll=50, busy_read=50 (restored after)"},
	{Name: "kernel-spin", Kind: "latency", nonblocked: true, Doc: "kernel sockets, sockperf spinning on non-blocking receives"},
	// The floor runs right before accel: the two share the machine's
	// state of the moment (see pairedRatio).
	{Name: "vi-floor", Kind: "latency", floor: true, Doc: "raw VIs on both ends, spinning on the RX ring: the floor"},
	{Name: "accel", Kind: "latency", accel: true, Doc: "both ends under the preload, default profile"},
	{Name: "accel-latency", Kind: "latency", accel: true, profile: "latency", Doc: "both ends under the preload, ACCEL_PROFILE=latency (spinning)"},
	{Name: "accel-sleep", Kind: "latency", accel: true, vars: []string{"ACCEL_SPIN_USEC=0"}, Doc: "both ends under the preload, never spinning: the sleeping path, against the kernel's blocking one"},
	{Name: "tcp-kernel", Kind: "latency", tcp: true, Doc: "sockperf TCP ping-pong on kernel sockets"},
	{Name: "tcp-accel", Kind: "latency", tcp: true, accel: true, Doc: "sockperf TCP ping-pong under the preload"},
	{Name: "rate-kernel", Kind: "rate", Doc: "sockperf throughput, UDP, received messages per second"},
	{Name: "rate-accel", Kind: "rate", accel: true, Doc: "the same under the preload"},
	{Name: "iperf3-tcp-kernel", Kind: "bulk", iperf: "tcp", Doc: "iperf3 TCP"},
	{Name: "iperf3-tcp-accel", Kind: "bulk", iperf: "tcp", accel: true, Doc: "iperf3 TCP under the preload"},
	{Name: "iperf3-udp-kernel", Kind: "bulk", iperf: "udp", Doc: "iperf3 UDP, 1400-byte datagrams, unlimited rate"},
	{Name: "iperf3-udp-accel", Kind: "bulk", iperf: "udp", accel: true, Doc: "iperf3 UDP under the preload"},
}

// Summary of a latency distribution, in nanoseconds.
type Summary struct {
	N                             int
	Min, P50, P90, P99, P999, Max float64
}

func summarize(ns []float64) Summary {
	if len(ns) == 0 {
		return Summary{}
	}
	slices.Sort(ns)
	at := func(q float64) float64 { return ns[min(len(ns)-1, int(q*float64(len(ns))))] }
	return Summary{N: len(ns), Min: ns[0], P50: at(0.5), P90: at(0.9), P99: at(0.99), P999: at(0.999), Max: ns[len(ns)-1]}
}

// Measurement is one configuration at one size, over all rounds.
type Measurement struct {
	Config   string
	Size     int
	Kind     string
	Rounds   []float64 // per round: p50 RTT (ns), messages/s, or bits/s
	Summary  Summary   // latency: all rounds' round trips together
	Value    float64   // the median of Rounds
	CPU      float64   // CPU seconds (user+system, both ends) per round trip or message; per GB for bulk
	Accel    string    // "accelerated", "pass-through" or "" (not under the preload)
	Spread   float64   // (max-min)/median of Rounds
	Warning  string    `json:",omitempty"`
	Ratio    float64   `json:",omitempty"` // p50 (or rate) relative to the kernel's, paired by round (pairedRatio)
	ToFloor  float64   `json:",omitempty"` // p50 relative to the floor, paired by round
	rtts     []float64
	cpuTotal float64
	count    float64
}

// Report is a run's results.
type Report struct {
	Machine      map[string]string
	Options      map[string]string
	Measurements []*Measurement
	Out          string
}

// Run runs the comparison.
func Run(o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Quick {
		o.Duration, o.Rounds = time.Second, 1
	}
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int{64}
	}
	configs, err := choose(o.Configs)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		o.Out = filepath.Join("bench-results", time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	for _, c := range configs {
		for _, tool := range tools(c) {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Errorf("configuration %s needs %s (make deps installs it as root)", c.Name, tool)
			}
		}
		if c.accel {
			if _, err := os.Stat(o.Lib); err != nil {
				return nil, fmt.Errorf("configuration %s needs the preload library: %w", c.Name, err)
			}
		}
	}
	if why := netns.Missing(); why != "" {
		return nil, errors.New(why)
	}
	pair, err := netns.Make(netns.Options{})
	if err != nil {
		return nil, fmt.Errorf("test hosts: %w", err)
	}
	defer pair.Close()
	r := &runner{o: o, pair: pair, tmp: filepath.Join(o.Out, "tmp")}
	if err := os.MkdirAll(r.tmp, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.tmp)
	results := map[string]*Measurement{}
	var order []*Measurement
	for round := 0; round < o.Rounds; round++ {
		// Alternate: every configuration once per round, in turn.
		for _, size := range o.Sizes {
			for _, c := range configs {
				if c.Kind != "latency" && size != o.Sizes[0] {
					continue
				}
				key := fmt.Sprintf("%s/%d", c.Name, size)
				m := results[key]
				if m == nil {
					m = &Measurement{Config: c.Name, Size: size, Kind: c.Kind}
					results[key] = m
					order = append(order, m)
				}
				fmt.Fprintf(o.Log, "round %d/%d: %s, %d bytes\n", round+1, o.Rounds, c.Name, size)
				if err := r.measure(c, size, m); err != nil {
					return nil, fmt.Errorf("%s (%d bytes), round %d: %w", c.Name, size, round+1, err)
				}
			}
		}
	}
	rep := &Report{Machine: machine(), Out: o.Out, Measurements: order,
		Options: map[string]string{"duration": o.Duration.String(), "rounds": strconv.Itoa(o.Rounds), "sizes": fmt.Sprint(o.Sizes)}}
	finish(rep)
	if err := write(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

func choose(names []string) ([]Config, error) {
	if len(names) == 0 {
		return Configs, nil
	}
	var out []Config
	for _, n := range names {
		i := slices.IndexFunc(Configs, func(c Config) bool { return c.Name == n })
		if i < 0 {
			var all []string
			for _, c := range Configs {
				all = append(all, c.Name)
			}
			return nil, fmt.Errorf("unknown configuration %q: want one of %s", n, strings.Join(all, ", "))
		}
		out = append(out, Configs[i])
	}
	return out, nil
}

func tools(c Config) []string {
	switch {
	case c.floor:
		return nil
	case c.iperf != "":
		return []string{"iperf3", "taskset"}
	}
	return []string{"sockperf", "taskset"}
}

// finish computes the medians, spreads and ratios.
func finish(rep *Report) {
	find := func(name string, size int) *Measurement {
		for _, m := range rep.Measurements {
			if m.Config == name && m.Size == size {
				return m
			}
		}
		return nil
	}
	for _, m := range rep.Measurements {
		rs := slices.Clone(m.Rounds)
		slices.Sort(rs)
		if len(rs) > 0 {
			m.Value = rs[len(rs)/2]
			if m.Value > 0 {
				m.Spread = (rs[len(rs)-1] - rs[0]) / m.Value
			}
			if m.Spread > 0.25 && len(rs) > 1 {
				m.Warning = fmt.Sprintf("rounds disagree by %.0f%%: the machine is noisy", 100*m.Spread)
			}
		}
		if m.Kind == "latency" {
			m.Summary = summarize(m.rtts)
		}
		if m.count > 0 {
			m.CPU = m.cpuTotal / m.count
		}
	}
	for _, m := range rep.Measurements {
		base := "kernel"
		switch {
		case m.Kind == "rate":
			base = "rate-kernel"
		case strings.HasPrefix(m.Config, "tcp-"):
			base = "tcp-kernel"
		case strings.HasPrefix(m.Config, "iperf3-tcp"):
			base = "iperf3-tcp-kernel"
		case strings.HasPrefix(m.Config, "iperf3-udp"):
			base = "iperf3-udp-kernel"
		}
		if k := find(base, m.Size); k != nil {
			m.Ratio = pairedRatio(m, k)
		}
		if m.Kind == "latency" && !strings.HasPrefix(m.Config, "tcp-") {
			if f := find("vi-floor", m.Size); f != nil {
				m.ToFloor = pairedRatio(m, f)
			}
		}
	}
}

// pairedRatio is m relative to base: the median, over rounds, of m's
// value in a round over base's in the same round. The machine's speed
// drifts: on the 2-vCPU guests this was written on, every spinning
// ping-pong (the floor included) ran 1.0-1.5 µs slower for seconds at a
// time, and a ratio of the two medians compared a slow stretch with a
// fast one when they fell apart (with the floor three configurations
// after accel: accel 5.3-5.4 µs in all three rounds of one run, the floor
// 3.4 in all three, 1.60×; run back to back for 12 rounds they were slow
// together, and the rounds' ratios were 1.09-1.31×). Configurations of a
// round run one after another, so a round's pair saw the same machine as
// nearly as two measurements can; the floor runs right before accel. Without a pair for every round (a measurement
// failed, or measured nothing), it is the ratio of the medians; 0 when
// either has none.
func pairedRatio(m, base *Measurement) float64 {
	if len(m.Rounds) == len(base.Rounds) && len(m.Rounds) > 0 {
		rs := make([]float64, 0, len(m.Rounds))
		for i, v := range m.Rounds {
			if v > 0 && base.Rounds[i] > 0 {
				rs = append(rs, v/base.Rounds[i])
			}
		}
		if len(rs) == len(m.Rounds) {
			slices.Sort(rs)
			return rs[len(rs)/2]
		}
	}
	if m.Value > 0 && base.Value > 0 {
		return m.Value / base.Value
	}
	return 0
}

// runner runs the measurements on one pair of hosts.
type runner struct {
	o    Options
	pair *netns.Pair
	tmp  string
	seq  int
}

// settle is how long a server is given to start listening.
func (r *runner) settle() time.Duration {
	if r.o.Quick {
		return 300 * time.Millisecond
	}
	return time.Second
}

func (r *runner) measure(c Config, size int, m *Measurement) error {
	switch {
	case c.floor:
		return r.floor(size, m)
	case c.iperf != "":
		return r.iperf(c, m)
	case c.Kind == "rate":
		return r.rate(c, m)
	}
	return r.pingpong(c, size, m)
}

// env is the environment of one end.
func (r *runner) env(c Config, h *netns.Host) (vars []string, stats string) {
	if !c.accel {
		return nil, ""
	}
	r.seq++
	stats = filepath.Join(r.tmp, fmt.Sprintf("stats-%d-%s.json", r.seq, h.NS))
	vars = []string{"LD_PRELOAD=" + r.o.Lib, "ACCEL_INTERFACES=" + h.Ifname, "ACCEL_STATS_FILE=" + stats, "ACCEL_LOG=error"}
	if c.profile != "" {
		vars = append(vars, "ACCEL_PROFILE="+c.profile)
	}
	vars = append(vars, c.vars...)
	return vars, stats
}

// proc is a program run in a namespace, pinned to a CPU.
type proc struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan struct{}
}

func (r *runner) start(h *netns.Host, cpu int, vars []string, name string, args ...string) (*proc, error) {
	argv := []string{"netns", "exec", h.NS}
	if runtime.NumCPU() > cpu {
		argv = append(argv, "taskset", "-c", strconv.Itoa(cpu))
	}
	argv = append(argv, name)
	cmd := exec.Command("ip", append(argv, args...)...)
	cmd.Env = append(os.Environ(), vars...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// wait waits up to limit, then kills the program's group.
func (p *proc) wait(limit time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(limit):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s: no end after %v", strings.Join(p.cmd.Args, " "), limit)
	}
	if !p.cmd.ProcessState.Success() {
		return fmt.Errorf("%s: %v: %s", strings.Join(p.cmd.Args, " "), p.cmd.ProcessState, lastLines(p.out.String(), 5))
	}
	return nil
}

// stop ends a server: SIGINT (sockperf and iperf3 end cleanly on it).
func (p *proc) stop() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// cpu is the program's user and system time, in seconds.
func (p *proc) cpu() float64 {
	if p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.UserTime().Seconds() + p.cmd.ProcessState.SystemTime().Seconds()
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

const port = "11111"

// pingpong runs sockperf ping-pong and reads every round trip from its
// full log.
func (r *runner) pingpong(c Config, size int, m *Measurement) error {
	a, b := r.pair.A, r.pair.B
	srvVars, srvStats := r.env(c, b)
	cliVars, cliStats := r.env(c, a)
	common := []string{"-i", b.Addr.String(), "-p", port}
	if c.tcp {
		common = append(common, "--tcp")
	}
	if c.nonblocked {
		common = append(common, "--nonblocked")
	}
	if c.busyPoll {
		restore, err := busyPoll(50)
		if err != nil {
			return err
		}
		defer restore()
	}
	srv, err := r.start(b, 1, srvVars, "sockperf", append([]string{"server"}, common...)...)
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(r.settle())
	log := filepath.Join(r.tmp, fmt.Sprintf("full-%d.csv", r.seq))
	r.seq++
	secs := strconv.FormatFloat(r.o.Duration.Seconds(), 'f', -1, 64)
	cli, err := r.start(a, 0, cliVars, "sockperf", append([]string{"ping-pong", "-t", secs, "-m", strconv.Itoa(size), "--full-log", log}, common...)...)
	if err != nil {
		return err
	}
	if err := cli.wait(r.o.Duration + time.Minute); err != nil {
		return err
	}
	srv.stop()
	rtts, err := readFullLog(log)
	if err != nil {
		return err
	}
	if len(rtts) == 0 {
		return fmt.Errorf("sockperf measured no round trip:\n%s", lastLines(cli.out.String(), 5))
	}
	m.rtts = append(m.rtts, rtts...)
	m.Rounds = append(m.Rounds, summarize(slices.Clone(rtts)).P50)
	m.cpuTotal += cli.cpu() + srv.cpu()
	m.count += float64(len(rtts))
	if c.accel {
		m.Accel = accelState(cliStats, srvStats)
	}
	return nil
}

// readFullLog reads sockperf's --full-log: packet, send time, receive
// time (seconds); a receive time of 0 is a lost round trip.
func readFullLog(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sockperf's full log: %w", err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ",")
		if len(fs) < 3 {
			continue
		}
		tx, err1 := strconv.ParseFloat(strings.TrimSpace(fs[1]), 64)
		rx, err2 := strconv.ParseFloat(strings.TrimSpace(fs[2]), 64)
		if err1 != nil || err2 != nil || rx == 0 || rx < tx {
			continue
		}
		out = append(out, (rx-tx)*1e9)
	}
	return out, sc.Err()
}

// accelState reads both ends' stats files: accelerated when both carried
// traffic through a VI, pass-through when neither made an accelerated
// socket (no Go part, no file, or no stack).
func accelState(paths ...string) string {
	through := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var st shim.Stats
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		for _, s := range st.Stacks {
			if s.RxUDP+s.TxUDP > 0 {
				through++
				break
			}
		}
	}
	switch through {
	case len(paths):
		return "accelerated"
	case 0:
		return "pass-through"
	}
	return "partly accelerated"
}

// busyPoll sets the kernel's busy-polling sysctls (global: they are not
// per namespace) and returns what restores them.
func busyPoll(us int) (func(), error) {
	names := []string{"/proc/sys/net/core/busy_poll", "/proc/sys/net/core/busy_read"}
	var old []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("busy polling: %w", err)
		}
		old = append(old, strings.TrimSpace(string(b)))
	}
	for _, n := range names {
		if err := os.WriteFile(n, []byte(strconv.Itoa(us)), 0o644); err != nil {
			return nil, fmt.Errorf("busy polling: %w", err)
		}
	}
	return func() {
		for i, n := range names {
			os.WriteFile(n, []byte(old[i]), 0o644)
		}
	}, nil
}

// floor measures raw VIs on both ends (in this process).
func (r *runner) floor(size int, m *Measurement) error {
	n := int(min(r.o.Duration/(8*time.Microsecond), 300000))
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	rtts, err := pingpong.Run(r.pair, pingpong.Config{Mode: pingpong.VIRaw, Size: max(size, 8), Count: n, Limit: r.o.Duration + time.Minute})
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err != nil {
		return err
	}
	ns := make([]float64, len(rtts))
	for i, d := range rtts {
		ns[i] = float64(d.Nanoseconds())
	}
	m.rtts = append(m.rtts, ns...)
	m.Rounds = append(m.Rounds, summarize(slices.Clone(ns)).P50)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	m.cpuTotal += tv(after.Utime) - tv(before.Utime) + tv(after.Stime) - tv(before.Stime)
	m.count += float64(len(ns))
	return nil
}

// udpIn reads the namespace's count of UDP datagrams the kernel delivered.
func udpIn(h *netns.Host) (float64, error) {
	out, err := h.Command("cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, err
	}
	var head []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "Udp: ") {
			continue
		}
		f := strings.Fields(l)
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "InDatagrams" && i < len(f) {
				return strconv.ParseFloat(f[i], 64)
			}
		}
	}
	return 0, errors.New("no Udp InDatagrams in /proc/net/snmp")
}

// rate runs sockperf throughput (64 bytes) and counts what the server's
// side received: through its kernel, and through its VI (stats file).
func (r *runner) rate(c Config, m *Measurement) error {
	a, b := r.pair.A, r.pair.B
	srvVars, srvStats := r.env(c, b)
	cliVars, cliStats := r.env(c, a)
	common := []string{"-i", b.Addr.String(), "-p", port}
	srv, err := r.start(b, 1, srvVars, "sockperf", append([]string{"server"}, common...)...)
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(r.settle())
	in0, err := udpIn(b)
	if err != nil {
		return err
	}
	secs := strconv.FormatFloat(r.o.Duration.Seconds(), 'f', -1, 64)
	cli, err := r.start(a, 0, cliVars, "sockperf", append([]string{"throughput", "-t", secs, "-m", "64"}, common...)...)
	if err != nil {
		return err
	}
	if err := cli.wait(r.o.Duration + time.Minute); err != nil {
		return err
	}
	// The server's stats file is rewritten every second while it runs
	// (sockperf may leave on SIGINT without running exit handlers): let
	// one more write catch up, once nothing more arrives.
	time.Sleep(1100 * time.Millisecond)
	srv.stop()
	in1, err := udpIn(b)
	if err != nil {
		return err
	}
	got := in1 - in0
	if srvStats != "" {
		if b, err := os.ReadFile(srvStats); err == nil {
			var st shim.Stats
			if json.Unmarshal(b, &st) == nil {
				for _, s := range st.Stacks {
					got += float64(s.RxUDP)
				}
			}
		}
		m.Accel = accelState(cliStats, srvStats)
	}
	// sockperf sends for the duration after its warm-up (a few
	// messages); what arrived is over that duration.
	rate := got / r.o.Duration.Seconds()
	m.Rounds = append(m.Rounds, rate)
	m.cpuTotal += cli.cpu() + srv.cpu()
	m.count += got
	return nil
}

// iperf runs iperf3, TCP or UDP, and takes the received bit rate.
func (r *runner) iperf(c Config, m *Measurement) error {
	a, b := r.pair.A, r.pair.B
	srvVars, srvStats := r.env(c, b)
	cliVars, cliStats := r.env(c, a)
	srv, err := r.start(b, 1, srvVars, "iperf3", "-s", "-1", "-B", b.Addr.String(), "-p", "5201")
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(r.settle())
	secs := strconv.Itoa(max(1, int(math.Round(r.o.Duration.Seconds()))))
	args := []string{"-c", b.Addr.String(), "-p", "5201", "-t", secs, "-J"}
	if c.iperf == "udp" {
		args = append(args, "-u", "-b", "0", "-l", "1400")
	}
	cli, err := r.start(a, 0, cliVars, "iperf3", args...)
	if err != nil {
		return err
	}
	if err := cli.wait(r.o.Duration + time.Minute); err != nil {
		return err
	}
	srv.wait(30 * time.Second)
	var res struct {
		End struct {
			SumReceived struct {
				Bits  float64 `json:"bits_per_second"`
				Bytes float64 `json:"bytes"`
			} `json:"sum_received"`
			Sum struct {
				Bits        float64 `json:"bits_per_second"`
				Bytes       float64 `json:"bytes"`
				LostPercent float64 `json:"lost_percent"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(cli.out.String()), &res); err != nil {
		return fmt.Errorf("iperf3's report: %w: %s", err, lastLines(cli.out.String(), 3))
	}
	bits, bytes := res.End.SumReceived.Bits, res.End.SumReceived.Bytes
	if c.iperf == "udp" {
		// Received: sent less what the server counted lost.
		bits = res.End.Sum.Bits * (1 - res.End.Sum.LostPercent/100)
		bytes = res.End.Sum.Bytes * (1 - res.End.Sum.LostPercent/100)
	}
	m.Rounds = append(m.Rounds, bits)
	m.cpuTotal += cli.cpu() + srv.cpu()
	m.count += bytes / 1e9
	if c.accel {
		m.Accel = accelState(cliStats, srvStats)
	}
	return nil
}

// machine describes where the run happened.
func machine() map[string]string {
	out := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "time": time.Now().UTC().Format(time.RFC3339)}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		str := func(b [65]int8) string {
			var s []byte
			for _, c := range b {
				if c == 0 {
					break
				}
				s = append(s, byte(c))
			}
			return string(s)
		}
		out["kernel"] = str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				out["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	for _, t := range []string{"sockperf", "iperf3"} {
		if v, err := exec.Command(t, "--version").CombinedOutput(); err == nil {
			out[t] = strings.TrimSpace(strings.SplitN(string(v), "\n", 2)[0])
		}
	}
	return out
}
