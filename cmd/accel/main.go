// Command accel is the operator's tool for the accel socket accelerator:
// it runs programs under the preload (accel run), documents the
// configuration (accel env), shows what the filter program of an
// interface is doing (accel filters) and what a process accelerated
// (accel stat).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"text/tabwriter"

	"github.com/accelnet/accel/shim/config"
	"github.com/accelnet/accel/vi/xdp"
)

const usage = `usage: accel <command> [arguments]

commands:
  env                 the ACCEL_* variables: defaults, accepted values, and this environment's values
  filters -i IFACE    the XDP filter program on an interface: verdict counters and installed filters
  run PROGRAM [ARGS]   run a program with libaccel.so preloaded
  bench [FLAGS]       the latency comparison: sockperf and iperf3 on the kernel and accelerated (as root)
  stat STATS-FILE     show a process's stats file (ACCEL_STATS_FILE)
  version             the build's version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "env":
		err = envCmd(os.Stdout, os.Environ())
	case "filters":
		err = filtersCmd(os.Stdout, os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	case "bench":
		err = benchCmd(os.Stdout, os.Args[2:])
	case "stat":
		err = statCmd(os.Stdout, os.Args[2:])
	case "version":
		fmt.Println(version())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "accel: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "accel:", err)
		os.Exit(1)
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "accel " + s.Value
			}
		}
		return "accel " + bi.Main.Version
	}
	return "accel (unknown version)"
}

// envCmd prints the registry and checks the given environment against it.
func envCmd(w io.Writer, env []string) error {
	set := map[string]string{}
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				set[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tACCEPTS\tSET HERE\tMEANING")
	for _, v := range config.Registry {
		here := "-"
		if s, ok := set[v.Name]; ok {
			here = fmt.Sprintf("%q", s)
		}
		def := v.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, def, v.Accepts(), here, v.Doc)
	}
	tw.Flush()
	_, warnings, err := config.Parse(env)
	for _, wn := range warnings {
		fmt.Fprintln(w, "warning:", wn)
	}
	if err != nil {
		return fmt.Errorf("this environment's configuration is invalid:\n%w", err)
	}
	return nil
}

func filtersCmd(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("filters", flag.ContinueOnError)
	name := fs.String("i", "", "interface")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("filters: name the interface with -i")
	}
	ifc, err := net.InterfaceByName(*name)
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	t, ok, err := xdp.Inspect(ifc.Index)
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	if !ok {
		fmt.Fprintf(w, "%s: no accel filter program attached\n", ifc.Name)
		return nil
	}
	defer t.Close()
	vs, err := t.Verdicts()
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: accel filter program attached\n\nVERDICT\tFRAMES\n", ifc.Name)
	for v := xdp.Verdict(0); v < xdp.NumVerdicts; v++ {
		fmt.Fprintf(tw, "%v\t%d\n", v, vs[v])
	}
	fmt.Fprintln(tw, "\nFILTER\tSLOT\tOWNER\tFRAMES\tBYTES")
	for s := range t.Filters() {
		what := s.Filter.String()
		if s.ARP {
			what = "arp " + s.Filter.Local.Addr().String()
		}
		owner := "live"
		if !s.Live {
			owner = "gone"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\n", what, s.Slot, owner, s.Packets, s.Bytes)
	}
	return tw.Flush()
}
