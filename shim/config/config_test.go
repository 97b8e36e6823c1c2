package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, warn, err := Parse(nil)
	if err != nil || len(warn) != 0 {
		t.Fatal(err, warn)
	}
	if c.Log != "warn" || c.Queue != -1 || c.Frames != 4096 || c.FrameSize != 2048 || len(c.Interfaces) != 0 {
		t.Fatalf("defaults %+v", c)
	}
	for _, v := range Registry {
		if v.Doc == "" || !strings.HasPrefix(v.Name, "ACCEL_") {
			t.Errorf("%s: needs a doc line and the ACCEL_ prefix", v.Name)
		}
	}
}

func TestValues(t *testing.T) {
	c, _, err := Parse([]string{"ACCEL_LOG=Debug", "ACCEL_INTERFACES=eth0, eth1,", "ACCEL_QUEUE=3", "ACCEL_RING_SIZE=512", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Log != "debug" || strings.Join(c.Interfaces, "|") != "eth0|eth1" || c.Queue != 3 || c.RingSize != 512 {
		t.Fatalf("parsed %+v", c)
	}
}

func TestInvalidNamesTheVariable(t *testing.T) {
	_, _, err := Parse([]string{"ACCEL_FRAMES=lots", "ACCEL_RING_SIZE=1000", "ACCEL_LOG=loud", "ACCEL_QUEUE=-2"})
	if err == nil {
		t.Fatal("invalid values accepted")
	}
	for _, want := range []string{
		`ACCEL_FRAMES="lots": want an integer from 128 to 1048576`,
		`ACCEL_RING_SIZE="1000": want one of 64, 128`,
		`ACCEL_LOG="loud": want one of debug, info, warn, error, off`,
		`ACCEL_QUEUE="-2": want an integer from -1 to 1023`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestUnknownWarns(t *testing.T) {
	_, warn, err := Parse([]string{"ACCEL_INTERFACE=eth0", "ACCEL_ZZZZZZZZZZZZ=1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 2 || !strings.Contains(warn[0], "did you mean ACCEL_INTERFACES?") || !strings.Contains(warn[1], "accel env") {
		t.Fatalf("warnings %q", warn)
	}
}

func TestLoggerGoesToFileNotStdout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accel.log")
	c, _, _ := Parse([]string{"ACCEL_LOG=info", "ACCEL_LOG_FILE=" + path})
	l, err := NewLogger(c)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("too quiet to show")
	l.Info("fallback to kernel")
	l.Sync()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "fallback to kernel") || strings.Contains(string(b), "too quiet") {
		t.Fatalf("log file holds %q", b)
	}
	c.LogFile = filepath.Join(t.TempDir(), "no", "such", "dir", "x.log")
	if _, err := NewLogger(c); err == nil || !strings.Contains(err.Error(), "ACCEL_LOG_FILE") {
		t.Fatalf("unwritable log file: %v", err)
	}
}

// TestProfiles: a profile sets its variables; an explicit one wins.
func TestProfiles(t *testing.T) {
	c, _, err := Parse([]string{"ACCEL_PROFILE=latency"})
	if err != nil || c.SpinUsec != 1000000 || c.Profile != "latency" {
		t.Fatalf("latency: %+v %v", c, err)
	}
	c, _, err = Parse([]string{"ACCEL_SPIN_USEC=7", "ACCEL_PROFILE=latency"})
	if err != nil || c.SpinUsec != 7 {
		t.Fatalf("explicit ACCEL_SPIN_USEC lost to the profile: %d %v", c.SpinUsec, err)
	}
	c, _, err = Parse([]string{"ACCEL_PROFILE=throughput"})
	if err != nil || c.RingSize != 4096 || c.Frames != 16384 {
		t.Fatalf("throughput: %+v %v", c, err)
	}
	if _, _, err := Parse([]string{"ACCEL_PROFILE=fast"}); err == nil || !strings.Contains(err.Error(), "ACCEL_PROFILE") {
		t.Fatalf("unknown profile: %v", err)
	}
	for name, vals := range Profiles {
		if _, _, err := Parse(vals); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
	}
}
