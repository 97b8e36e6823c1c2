package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Table prints the results a person reads in ten seconds.
func (rep *Report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LATENCY (round trip, µs)\tsize\tmin\tp50\tp90\tp99\tp99.9\tmax\t× kernel\t× floor\tCPU µs/rt\t\t")
	us := func(ns float64) string { return fmt.Sprintf("%.1f", ns/1e3) }
	for _, m := range rep.Measurements {
		if m.Kind != "latency" {
			continue
		}
		s := m.Summary
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t\n", m.Config, m.Size, us(s.Min), us(m.Value), us(s.P90), us(s.P99), us(s.P999), us(s.Max),
			ratio(m.Ratio), ratio(m.ToFloor), m.CPU*1e6, note(m))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "MESSAGE RATE (64 B UDP)\t\t\t\t\t\t\t\tmsg/s\t× kernel\tCPU µs/msg\t\t")
	for _, m := range rep.Measurements {
		if m.Kind == "rate" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t%.0f\t%s\t%.2f\t%s\t\n", m.Config, m.Value, ratio(m.Ratio), m.CPU*1e6, note(m))
		}
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "BULK (iperf3)\t\t\t\t\t\t\t\tGbit/s\t× kernel\tCPU s/GB\t\t")
	for _, m := range rep.Measurements {
		if m.Kind == "bulk" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t%.2f\t%s\t%.2f\t%s\t\n", m.Config, m.Value/1e9, ratio(m.Ratio), m.CPU, note(m))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nresults, JSON and plots: %s\n", rep.Out)
}

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// note says what a reader must know about a row: not accelerated after
// all, or noisy.
func note(m *Measurement) string {
	var n []string
	if m.Accel != "" && m.Accel != "accelerated" {
		n = append(n, m.Accel)
	}
	if m.Warning != "" {
		n = append(n, m.Warning)
	}
	return strings.Join(n, "; ")
}

// write saves results.json and the latency plots.
func write(rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rep.Out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	sizes := map[int]bool{}
	for _, m := range rep.Measurements {
		if m.Kind == "latency" {
			sizes[m.Size] = true
		}
	}
	for size := range sizes {
		if err := plotCDF(rep, size); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return nil
}

// plotCDF draws the distribution of round trips of every latency
// configuration at one size, on a logarithmic time axis.
func plotCDF(rep *Report, size int) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("UDP and TCP round trips, %d-byte messages (CDF)", size)
	p.X.Label.Text = "round trip (µs)"
	p.Y.Label.Text = "fraction of round trips"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	p.Add(plotter.NewGrid())
	i := 0
	for _, m := range rep.Measurements {
		if m.Kind != "latency" || m.Size != size || len(m.rtts) == 0 {
			continue
		}
		xys := cdf(m.rtts, 500)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(m.Config, l)
		i++
	}
	if i == 0 {
		return nil
	}
	p.BackgroundColor = color.White
	for _, ext := range []string{"png", "svg"} {
		name := filepath.Join(rep.Out, fmt.Sprintf("latency-cdf-%d.%s", size, ext))
		if err := p.Save(8*vg.Inch, 5*vg.Inch, name); err != nil {
			return err
		}
	}
	return nil
}

// cdf samples the empirical distribution of ns (sorted in place) at up to
// n points, in microseconds.
func cdf(ns []float64, n int) plotter.XYs {
	slices.Sort(ns)
	step := max(1, len(ns)/n)
	var xys plotter.XYs
	for i := 0; i < len(ns); i += step {
		xys = append(xys, plotter.XY{X: math.Max(ns[i]/1e3, 0.1), Y: float64(i+1) / float64(len(ns))})
	}
	xys = append(xys, plotter.XY{X: math.Max(ns[len(ns)-1]/1e3, 0.1), Y: 1})
	return xys
}
