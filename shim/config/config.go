// Package config is accel's configuration: one typed registry of the
// ACCEL_* environment variables (name, type, default, accepted values, one
// line of documentation), parsed once per process. An invalid value is an
// error that names the variable and what it accepts; an unknown ACCEL_ name
// is a warning (it is most likely a typo, and the program must still run).
// `accel env` prints the registry.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Config is the parsed configuration.
type Config struct {
	Log        string   // ACCEL_LOG: debug, info, warn, error or off
	LogFile    string   // ACCEL_LOG_FILE: "" means stderr
	Interfaces []string // ACCEL_INTERFACES: interfaces to accelerate
	Queue      int      // ACCEL_QUEUE: interface queue, -1 for any free one
	Frames     int      // ACCEL_FRAMES: packet memory frames per interface
	FrameSize  int      // ACCEL_FRAME_SIZE
	RingSize   int      // ACCEL_RING_SIZE
	XDPMode    string   // ACCEL_XDP_MODE: auto, native or generic
	BindMode   string   // ACCEL_BIND_MODE: auto, copy or zerocopy
	UDP        bool     // ACCEL_UDP: accelerate UDP
	TCP        bool     // ACCEL_TCP: accelerate TCP
	Rules      []Rule   // ACCEL_RULES: which flows, first match wins
	NoFail     bool     // ACCEL_NO_FAIL: fall back to the kernel when a VI cannot be had
	SpinUsec   int      // ACCEL_SPIN_USEC: how long a blocking call polls before it sleeps
	PerThread  bool     // ACCEL_STACK_PER_THREAD: one stack and VI per application thread
	StatsFile  string   // ACCEL_STATS_FILE: JSON summary at exit ("%p": the pid)
	Profile    string   // ACCEL_PROFILE: a set of defaults (see Profiles)
}

// Profiles set several variables at once, as Onload's and VMA's profiles
// do; a variable set explicitly overrides its profile's value.
var Profiles = map[string][]string{
	"default": nil,
	// latency: blocking calls spin (for up to a second) instead of
	// sleeping; a spinning thread holds its CPU.
	"latency": {"ACCEL_SPIN_USEC=1000000"},
	// throughput: larger rings and packet memory, a short spin.
	"throughput": {"ACCEL_SPIN_USEC=50", "ACCEL_RING_SIZE=4096", "ACCEL_FRAMES=16384"},
	// safe: never spin, never fail a call for want of a VI.
	"safe": {"ACCEL_SPIN_USEC=0", "ACCEL_NO_FAIL=1"},
}

// Kind is a variable's type.
type Kind string

const (
	Bool   Kind = "bool"
	Int    Kind = "int"
	String Kind = "string"
	Enum   Kind = "enum"
	List   Kind = "list"
	Rules  Kind = "rules"
)

// Var is one variable of the registry.
type Var struct {
	Name    string
	Kind    Kind
	Default string
	Min     int      // Int: smallest accepted
	Max     int      // Int: largest accepted
	Choices []string // Enum: the accepted words
	Doc     string
	set     func(c *Config, v string) error
}

// Accepts says in words what the variable accepts, for errors and docs.
func (v *Var) Accepts() string {
	switch v.Kind {
	case Bool:
		return "0 or 1"
	case Int:
		return fmt.Sprintf("an integer from %d to %d", v.Min, v.Max)
	case Enum:
		return "one of " + strings.Join(v.Choices, ", ")
	case List:
		return "a comma-separated list of names"
	case Rules:
		return "rules ACTION ROLE LOCAL [REMOTE] separated by ;"
	}
	return "any text"
}

func intVar(name, def string, lo, hi int, doc string, field func(*Config) *int) Var {
	v := Var{Name: name, Kind: Int, Default: def, Min: lo, Max: hi, Doc: doc}
	v.set = func(c *Config, s string) error {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < lo || n > hi {
			return errors.New("want " + v.Accepts())
		}
		*field(c) = n
		return nil
	}
	return v
}

func boolVar(name, def, doc string, field func(*Config) *bool) Var {
	v := Var{Name: name, Kind: Bool, Default: def, Doc: doc}
	v.set = func(c *Config, s string) error {
		switch strings.TrimSpace(s) {
		case "1":
			*field(c) = true
		case "0":
			*field(c) = false
		default:
			return errors.New("want " + v.Accepts())
		}
		return nil
	}
	return v
}

func rulesVar(name, def, doc string, field func(*Config) *[]Rule) Var {
	return Var{Name: name, Kind: Rules, Default: def, Doc: doc, set: func(c *Config, s string) error {
		r, err := ParseRules(s)
		if err != nil {
			return err
		}
		*field(c) = r
		return nil
	}}
}

func enumVar(name, def string, choices []string, doc string, field func(*Config) *string) Var {
	v := Var{Name: name, Kind: Enum, Default: def, Choices: choices, Doc: doc}
	v.set = func(c *Config, s string) error {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(choices, s) {
			return errors.New("want " + v.Accepts())
		}
		*field(c) = s
		return nil
	}
	return v
}

func stringVar(name, def, doc string, field func(*Config) *string) Var {
	return Var{Name: name, Kind: String, Default: def, Doc: doc, set: func(c *Config, s string) error {
		*field(c) = s
		return nil
	}}
}

func listVar(name, def, doc string, field func(*Config) *[]string) Var {
	return Var{Name: name, Kind: List, Default: def, Doc: doc, set: func(c *Config, s string) error {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		*field(c) = out
		return nil
	}}
}

// Registry is every ACCEL_* variable, in the order `accel env` shows them.
var Registry = []Var{
	enumVar("ACCEL_LOG", "warn", []string{"debug", "info", "warn", "error", "off"},
		"how much accel logs (never to the program's stdout)", func(c *Config) *string { return &c.Log }),
	stringVar("ACCEL_LOG_FILE", "", "append the log to this file instead of stderr",
		func(c *Config) *string { return &c.LogFile }),
	listVar("ACCEL_INTERFACES", "", "interfaces whose traffic is accelerated; empty: none (pure pass-through)",
		func(c *Config) *[]string { return &c.Interfaces }),
	intVar("ACCEL_QUEUE", "-1", -1, 1023, "interface queue to bind; -1 takes the first queue no other process holds",
		func(c *Config) *int { return &c.Queue }),
	intVar("ACCEL_FRAMES", "4096", 128, 1<<20, "packet memory frames per interface (each ACCEL_FRAME_SIZE bytes)",
		func(c *Config) *int { return &c.Frames }),
	enumIntVar("ACCEL_FRAME_SIZE", "2048", []int{2048, 4096}, "bytes per packet frame",
		func(c *Config) *int { return &c.FrameSize }),
	enumIntVar("ACCEL_RING_SIZE", "2048", []int{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536},
		"entries of each AF_XDP ring (fill, completion, RX, TX)", func(c *Config) *int { return &c.RingSize }),
	enumVar("ACCEL_XDP_MODE", "auto", []string{"auto", "native", "generic"},
		"how the filter program attaches: native (driver) XDP, generic XDP, or auto: generic on a veth of one queue (cheaper there), native elsewhere, each falling back to the other",
		func(c *Config) *string { return &c.XDPMode }),
	enumVar("ACCEL_BIND_MODE", "auto", []string{"auto", "copy", "zerocopy"},
		"AF_XDP copy or zero-copy; auto lets the driver choose", func(c *Config) *string { return &c.BindMode }),
	boolVar("ACCEL_UDP", "1", "accelerate UDP sockets", func(c *Config) *bool { return &c.UDP }),
	boolVar("ACCEL_TCP", "1", "accelerate TCP sockets", func(c *Config) *bool { return &c.TCP }),
	boolVar("ACCEL_NO_FAIL", "1", "when a VI cannot be had (no privileges, no XDP, out of memory): 1 keeps the socket with the kernel and logs why, 0 fails the call",
		func(c *Config) *bool { return &c.NoFail }),
	intVar("ACCEL_SPIN_USEC", "100", 0, 60000000, "microseconds a blocking call polls the stack before it sleeps (0: sleep at once)",
		func(c *Config) *int { return &c.SpinUsec }),
	boolVar("ACCEL_STACK_PER_THREAD", "0", "give each application thread its own stack and VI (shared packet memory; filters steer each flow to its thread; a SO_REUSEPORT group shares its first member's)",
		func(c *Config) *bool { return &c.PerThread }),
	enumVar("ACCEL_PROFILE", "default", []string{"default", "latency", "throughput", "safe"},
		"a set of defaults: latency (spin instead of sleeping), throughput (bigger rings), safe (never spin, never fail); explicit variables override it",
		func(c *Config) *string { return &c.Profile }),
	stringVar("ACCEL_STATS_FILE", "", "write a JSON summary of stacks and sockets here at exit, and every second while sockets are open (%p becomes the pid)",
		func(c *Config) *string { return &c.StatsFile }),
	rulesVar("ACCEL_RULES", DefaultRules, "which flows to accelerate: ordered rules, first match wins, none matching: accelerate (see shim/config/rules.go)",
		func(c *Config) *[]Rule { return &c.Rules }),
}

func enumIntVar(name, def string, choices []int, doc string, field func(*Config) *int) Var {
	words := make([]string, len(choices))
	for i, c := range choices {
		words[i] = strconv.Itoa(c)
	}
	v := Var{Name: name, Kind: Enum, Default: def, Choices: words, Doc: doc}
	v.set = func(c *Config, s string) error {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || !slices.Contains(choices, n) {
			return errors.New("want " + v.Accepts())
		}
		*field(c) = n
		return nil
	}
	return v
}

// Lookup finds a variable of the registry by name.
func Lookup(name string) (*Var, bool) {
	for i := range Registry {
		if Registry[i].Name == name {
			return &Registry[i], true
		}
	}
	return nil, false
}

// Parse reads the configuration from env (KEY=value strings, as
// os.Environ). It returns every invalid value in one error, and a warning
// for every unknown ACCEL_ name.
func Parse(env []string) (*Config, []string, error) {
	c := &Config{}
	for i := range Registry {
		if err := Registry[i].set(c, Registry[i].Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", Registry[i].Name, err))
		}
	}
	var errs []error
	var warnings []string
	// The profile's values come first, so that explicit ones win.
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "ACCEL_PROFILE="); ok {
			if vals, ok := Profiles[strings.ToLower(strings.TrimSpace(p))]; ok {
				env = append(append([]string(nil), vals...), env...)
			}
		}
	}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "ACCEL_") {
			continue
		}
		v, known := Lookup(name)
		if !known {
			warnings = append(warnings, unknown(name))
			continue
		}
		if err := v.set(c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, val, err))
		}
	}
	return c, warnings, errors.Join(errs...)
}

// unknown words the warning for an unknown name, with the closest known
// name when one is close.
func unknown(name string) string {
	best, dist := "", 4
	for _, v := range Registry {
		if d := distance(name, v.Name); d < dist {
			best, dist = v.Name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown variable %s ignored (did you mean %s?)", name, best)
	}
	return fmt.Sprintf("unknown variable %s ignored (accel env lists the known ones)", name)
}

// distance is the Levenshtein distance of two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	once     sync.Once
	loaded   *Config
	warnings []string
	loadErr  error
)

// Load parses the process's environment, once.
func Load() (*Config, []string, error) {
	once.Do(func() { loaded, warnings, loadErr = Parse(os.Environ()) })
	return loaded, warnings, loadErr
}
