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
