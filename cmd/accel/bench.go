package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/accelnet/accel/tests/bench"
)

// benchCmd runs the latency comparison (see tests/bench).
func benchCmd(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Second, "how long each configuration runs in each round")
	rounds := fs.Int("rounds", 3, "rounds; every configuration runs once per round, in turn")
	sizes := fs.String("sizes", "64", "message sizes in bytes, comma-separated (a sweep: 64,256,1024,1400)")
	configs := fs.String("configs", "", "configurations, comma-separated; default all: "+configNames())
	out := fs.String("out", "", "results folder (default bench-results/DATE-TIME)")
	quick := fs.Bool("quick", false, "one round of one second each: a check in under a minute")
	lib := fs.String("lib", "", "libaccel.so (default: next to this binary)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := bench.Options{Duration: *duration, Rounds: *rounds, Out: *out, Quick: *quick, Lib: *lib}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 8 || n > 1400 {
			return fmt.Errorf("-sizes %q: want sizes from 8 to 1400 bytes", *sizes)
		}
		o.Sizes = append(o.Sizes, n)
	}
	if *configs != "" {
		for _, c := range strings.Split(*configs, ",") {
			o.Configs = append(o.Configs, strings.TrimSpace(c))
		}
	}
	if o.Lib == "" {
		p, err := preloadPath()
		if err != nil {
			return err
		}
		o.Lib = p
	}
	rep, err := bench.Run(o)
	if err != nil {
		return err
	}
	rep.Table(w)
	return nil
}

func configNames() string {
	var n []string
	for _, c := range bench.Configs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}
