package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/accelnet/accel/shim"
	"github.com/accelnet/accel/shim/config"
)

// preloadPath finds libaccel.so: ACCEL_LIBRARY, else next to this binary
// (make puts both in bin/), else ../lib/accel/ as an installation would.
func preloadPath() (string, error) {
	if p := os.Getenv("ACCEL_LIBRARY"); p != "" {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the accel binary: %w", err)
	}
	dir := filepath.Dir(exe)
	for _, p := range []string{filepath.Join(dir, "libaccel.so"), filepath.Join(dir, "..", "lib", "accel", "libaccel.so")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("libaccel.so is neither next to accel nor in ../lib/accel (set ACCEL_LIBRARY)")
}

// runCmd runs a program under the preload: it checks the configuration,
// adds libaccel.so to LD_PRELOAD and execs the program in place.
func runCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: accel run PROGRAM [ARGUMENTS]")
	}
	if _, _, err := config.Parse(os.Environ()); err != nil {
		return err
	}
	lib, err := preloadPath()
	if err != nil {
		return err
	}
	prog, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	env := os.Environ()
	pre := lib
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LD_PRELOAD="); ok {
			if v != "" {
				pre = lib + ":" + v
			}
			env = append(env[:i], env[i+1:]...)
			break
		}
	}
	env = append(env, "LD_PRELOAD="+pre)
	return syscall.Exec(prog, args, env)
}

// statCmd prints a stats file (ACCEL_STATS_FILE) as tables.
func statCmd(w io.Writer, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: accel stat STATS-FILE")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var st shim.Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "process %d\n\nSTACK\tTHREAD\tQUEUE\tRX VI\tTX VI\tRX KERNEL\tTX KERNEL\tREQUEUED\tDROPS\n", st.PID)
	for _, s := range st.Stacks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\n", s.Interface, s.Thread, s.Queue, s.RxUDP, s.TxUDP, s.RxKernel, s.TxKernel, s.Requeued, s.Drops)
	}
	fmt.Fprintf(tw, "\nSOCKET\tREMOTE\tRX\tTX\tRCVBUF DROPS\tSTATE\tREASON\n")
	for _, s := range st.Sockets {
		state := "open"
		switch {
		case s.Detached:
			state = "handed to kernel"
		case !s.Open:
			state = "closed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Local, s.Remote, s.RxPackets, s.TxPackets, s.Drops, state, s.Reason)
	}
	fmt.Fprintf(tw, "\nLEFT WITH THE KERNEL\tSOCKETS\n")
	for why, n := range st.Fallbacks {
		fmt.Fprintf(tw, "%s\t%d\n", why, n)
	}
	return tw.Flush()
}
