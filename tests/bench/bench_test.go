package bench

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accelnet/accel/tests/artifacts"
	"github.com/accelnet/accel/tests/netns"
)

func TestMain(m *testing.M) { artifacts.Main(m) }

// TestQuick runs `accel bench --quick` and checks the structure of what it
// produces, never its speed: every configuration measured something, the
// JSON parses, the plots are images, and the test hosts are gone.
func TestQuick(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	if why := artifacts.Missing(); why != "" {
		t.Skip(why)
	}
	for _, tool := range []string{"sockperf", "iperf3", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it as root)", tool)
		}
	}
	dir, err := artifacts.Dir()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results")
	cmd := exec.Command(filepath.Join(dir, "accel"), "bench", "--quick", "--out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("accel bench --quick: %v\n%s", err, b)
	}
	table := string(b)
	for _, c := range Configs {
		if !strings.Contains(table, c.Name) {
			t.Errorf("the table has no row for %s", c.Name)
		}
	}
	var rep Report
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if rep.Machine["kernel"] == "" || rep.Machine["cpus"] == "" {
		t.Errorf("no machine description: %v", rep.Machine)
	}
	seen := map[string]bool{}
	for _, m := range rep.Measurements {
		seen[m.Config] = true
		if len(m.Rounds) != 1 || m.Value <= 0 {
			t.Errorf("%s: no observation: %+v", m.Config, m)
		}
		if m.Kind == "latency" && (m.Summary.N == 0 || m.Summary.P50 <= 0 || m.Summary.Min > m.Summary.Max) {
			t.Errorf("%s: latency summary %+v", m.Config, m.Summary)
		}
		if strings.HasSuffix(m.Config, "accel") && m.Accel == "" {
			t.Errorf("%s: not said whether it was accelerated", m.Config)
		}
	}
	for _, c := range Configs {
		if !seen[c.Name] {
			t.Errorf("no measurement for %s", c.Name)
		}
	}
	f, err := os.Open(filepath.Join(out, "latency-cdf-64.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("the plot is not an image: %v", err)
	}
	svg, err := os.ReadFile(filepath.Join(out, "latency-cdf-64.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("the SVG plot: %v", err)
	}
	// tests/netns names a process's namespaces accel-PID-N-a and -b.
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if mine := fmt.Sprintf("accel-%d-", cmd.Process.Pid); strings.Contains(string(ns), mine) {
		t.Fatalf("namespaces left behind:\n%s", ns)
	}
}

// TestPairedRatio: a machine that runs slower for a while moves a
// configuration and its reference together within a round, and the
// ratio must not take one's slow rounds against the other's fast ones.
// Figures like a noisy run's (µs): accel slow in rounds 2, 3 and 5, the
// floor only in 2 and 3. Against the floor the medians give 5.3/3.4.
func TestPairedRatio(t *testing.T) {
	floor := &Measurement{Config: "vi-floor", Kind: "latency", Size: 64, Rounds: []float64{3.4, 4.85, 4.9, 3.4, 3.38}}
	accel := &Measurement{Config: "accel", Kind: "latency", Size: 64, Rounds: []float64{4.3, 5.3, 5.4, 4.25, 5.35}}
	kernel := &Measurement{Config: "kernel", Kind: "latency", Size: 64, Rounds: []float64{55, 56, 57, 55, 56}}
	finish(&Report{Measurements: []*Measurement{kernel, floor, accel}})
	if accel.Value != 5.3 || floor.Value != 3.4 {
		t.Fatalf("medians %v and %v, want 5.3 and 3.4", accel.Value, floor.Value)
	}
	// Per round: 1.265, 1.093, 1.102, 1.25, 1.583; the median is 1.25.
	if want := 4.25 / 3.4; accel.ToFloor != want {
		t.Errorf("accel to the floor %.4f, want the median of the rounds' ratios %.4f (the medians' ratio is %.4f)",
			accel.ToFloor, want, accel.Value/floor.Value)
	}
	if want := 5.3 / 56; accel.Ratio != want {
		t.Errorf("accel to the kernel %.4f, want %.4f", accel.Ratio, want)
	}
	// A round missing (a failed measurement): the medians' ratio.
	short := &Measurement{Config: "accel-latency", Kind: "latency", Size: 64, Rounds: []float64{4.3, 5.3}}
	finish(&Report{Measurements: []*Measurement{kernel, floor, short}})
	if want := short.Value / floor.Value; short.ToFloor != want {
		t.Errorf("with a round missing: %.4f, want the medians' ratio %.4f", short.ToFloor, want)
	}
	empty := &Measurement{Config: "accel-sleep", Kind: "latency", Size: 64}
	finish(&Report{Measurements: []*Measurement{kernel, floor, empty}})
	if empty.ToFloor != 0 || empty.Ratio != 0 {
		t.Errorf("nothing measured, and ratios %v %v", empty.ToFloor, empty.Ratio)
	}
}
