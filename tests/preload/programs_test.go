package preload_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSockperf runs sockperf's UDP server, ping-pong and throughput with
// both ends under the preload.
func TestSockperf(t *testing.T) {
	need(t, "sockperf")
	p := pair(t)
	eb := accelEnv(t, p.B)
	srv := start(t, p.B, eb, 2*time.Minute, "sockperf", "server", "-i", p.B.Addr.String(), "-p", "11111")
	bound(t, p.B, "udp", "11111")
	ea := accelEnv(t, p.A)
	out := run(t, p.A, ea, time.Minute, "sockperf", "ping-pong", "-i", p.B.Addr.String(), "-p", "11111", "-t", "2", "-m", "64")
	m := regexp.MustCompile(`ReceivedMessages=(\d+)`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("ping-pong: no summary:\n%s", out)
	}
	got, _ := strconv.Atoi(m[len(m)-1][1])
	if got < 1000 || !strings.Contains(out, "percentile 50.000") {
		t.Fatalf("ping-pong: %d round trips:\n%s", got, out)
	}
	accelerated(t, ea, uint64(got))
	t.Log(grep(out, "Summary|percentile 50.000|percentile 99.000"))

	et := accelEnv(t, p.A)
	out = run(t, p.A, et, time.Minute, "sockperf", "throughput", "-i", p.B.Addr.String(), "-p", "11111", "-t", "2", "-m", "64")
	rate := regexp.MustCompile(`Message Rate is (\d+)`).FindStringSubmatch(out)
	if rate == nil {
		t.Fatalf("throughput: no rate:\n%s", out)
	}
	n, _ := strconv.Atoi(rate[1])
	st := readStats(t, et.stats)
	if len(st.Stacks) != 1 || st.Stacks[0].TxUDP < uint64(n) {
		t.Fatalf("throughput: %d msg/s, but through the VI: %+v", n, st.Stacks)
	}
	t.Log(grep(out, "Summary"))
	srv.stop()
	// The server wrote its stats every second while it ran.
	accelerated(t, eb, uint64(got))
}

func grep(s, re string) string {
	var out []string
	r := regexp.MustCompile(re)
	for _, l := range strings.Split(s, "\n") {
		if r.MatchString(l) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "; ")
}

// TestSocat echoes datagrams through socat's UDP-LISTEN and PIPE.
func TestSocat(t *testing.T) {
	need(t, "socat")
	p := pair(t)
	eb, ea := accelEnv(t, p.B), accelEnv(t, p.A)
	srv := start(t, p.B, eb, time.Minute, "socat", "-T", "3", "UDP-LISTEN:9800,reuseaddr", "PIPE")
	bound(t, p.B, "udp", "9800")
	out := run(t, p.A, ea, time.Minute, "sh", "-c",
		fmt.Sprintf("for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done | socat -t 1 -T 3 - UDP:%s:9800", p.B.Addr))
	for i := 1; i <= 5; i++ {
		if !strings.Contains(out, fmt.Sprintf("line%d", i)) {
			t.Fatalf("echo lost line%d: %q", i, out)
		}
	}
	srv.wait(t)
	// Lines that reach socat together leave in one datagram.
	const bytes = uint64(5 * len("line1\n"))
	acceleratedBytes(t, ea, bytes, bytes)
	acceleratedBytes(t, eb, bytes, bytes)
}

// TestSocatForkPerDatagram runs socat's UDP-RECVFROM with fork, which
// waits for a datagram, forks, and has the child read it and answer (the
// way inetd runs a UDP service). The first datagram came through the VI
// and waited in the stack; the fork's hand-over must move it into the
// kernel's socket, where the child reads it (the child got nothing, and
// every request went unanswered). The sockets stay the kernel's after the
// fork, so the next requests go through the kernel.
func TestSocatForkPerDatagram(t *testing.T) {
	need(t, "socat")
	p := pair(t)
	eb := accelEnv(t, p.B)
	srv := start(t, p.B, eb, time.Minute, "socat", "-T", "2", "UDP-RECVFROM:9806,fork", "EXEC:cat")
	bound(t, p.B, "udp", "9806")
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("request%d", i)
		out := run(t, p.A, kernelEnv(t), 30*time.Second, "sh", "-c",
			fmt.Sprintf("echo %s | socat -T 3 - UDP:%s:9806", msg, p.B.Addr))
		if out != msg+"\n" {
			t.Fatalf("request %d: the forked child answered %q", i, out)
		}
	}
	srv.stop()
	st := readStats(t, eb.stats)
	if len(st.Stacks) != 1 || st.Stacks[0].RxUDP != 1 || st.Stacks[0].Requeued != 1 {
		t.Fatalf("want the first request in through the VI and moved to the kernel's socket at the fork: %+v", st.Stacks)
	}
}

// TestNetcat sends datagrams with nc -u to nc -u -l.
func TestNetcat(t *testing.T) {
	need(t, "nc")
	p := pair(t)
	eb, ea := accelEnv(t, p.B), accelEnv(t, p.A)
	srv := start(t, p.B, eb, time.Minute, "nc", "-u", "-l", "-W", "3", "9810")
	bound(t, p.B, "udp", "9810")
	run(t, p.A, ea, time.Minute, "sh", "-c",
		fmt.Sprintf("(echo one; sleep 0.2; echo two; sleep 0.2; echo three; sleep 0.3) | nc -u -q 1 %s 9810", p.B.Addr))
	out := srv.wait(t)
	if out != "one\ntwo\nthree\n" {
		t.Fatalf("nc -l got %q", out)
	}
	// Lines that reach nc together leave in one datagram (a busy machine
	// can delay nc past the sleeps): every byte must have gone through
	// the VI, in however many datagrams.
	const bytes = uint64(len("one\ntwo\nthree\n"))
	acceleratedBytes(t, eb, bytes, 0)
	acceleratedBytes(t, ea, 0, bytes)
}

// TestIperf3 runs a UDP test of iperf3 (its control connection is TCP,
// which stays with the kernel) and checks that nothing was lost.
func TestIperf3(t *testing.T) {
	need(t, "iperf3")
	p := pair(t)
	eb, ea := accelEnv(t, p.B), accelEnv(t, p.A)
	srv := start(t, p.B, eb, 2*time.Minute, "iperf3", "-s", "-1", "-B", p.B.Addr.String(), "-p", "5301")
	bound(t, p.B, "tcp", "5301")
	out := run(t, p.A, ea, time.Minute, "iperf3", "-u", "-c", p.B.Addr.String(), "-p", "5301", "-b", "20M", "-t", "2", "-l", "1200", "-J")
	srv.wait(t)
	var res struct {
		End struct {
			Sum struct {
				Packets     int     `json:"packets"`
				LostPackets int     `json:"lost_packets"`
				Bits        float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	s := res.End.Sum
	if s.Packets < 1000 || s.LostPackets > s.Packets/100 {
		t.Fatalf("iperf3: %d packets, %d lost", s.Packets, s.LostPackets)
	}
	accelerated(t, eb, 0)
	if st := readStats(t, eb.stats); len(st.Stacks) != 1 || st.Stacks[0].RxUDP < uint64(s.Packets)*9/10 {
		t.Fatalf("iperf3 server: %d packets, through the VI: %+v", s.Packets, st.Stacks)
	}
	t.Logf("iperf3 -u: %d packets, %d lost, %.1f Mbit/s", s.Packets, s.LostPackets, s.Bits/1e6)
}

// TestMemcachedUDP runs memcached's UDP protocol: four worker threads,
// each in libevent's epoll over its own dup of the one UDP socket, served
// by four client threads at once (python3, under the preload too). Every
// answer must carry its request's id and the value set; with one stack
// per process, and with one per thread, where the socket is made on the
// main thread and served on the workers'.
func TestMemcachedUDP(t *testing.T) {
	need(t, "memcached", "python3")
	for _, mode := range []string{"ACCEL_STACK_PER_THREAD=0", "ACCEL_STACK_PER_THREAD=1"} {
		t.Run(mode, func(t *testing.T) {
			p := pair(t)
			eb, ea := accelEnv(t, p.B, mode), accelEnv(t, p.A)
			srv := start(t, p.B, eb, time.Minute, "memcached", "-U", "11311", "-p", "0", "-l", p.B.Addr.String(), "-u", "root", "-t", "4")
			bound(t, p.B, "udp", "11311")
			const clients, gets = 4, 500
			out := run(t, p.A, ea, time.Minute, "python3", "-c", fmt.Sprintf(`
import socket, struct, threading
SERVER = (%q, 11311)
def request(s, rid, cmd):
    # memcached's UDP frame: request id, sequence, datagrams, reserved
    s.sendto(struct.pack("!HHHH", rid, 0, 1, 0) + cmd, SERVER)
    d, _ = s.recvfrom(65536)
    got, seq, total, _ = struct.unpack("!HHHH", d[:8])
    assert (got, seq, total) == (rid, 0, 1), (rid, got, seq, total)
    return d[8:]
def client(c, res):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    v = b"value-%%d" %% c
    assert request(s, 1, b"set key%%d 0 0 %%d\r\n%%s\r\n" %% (c, len(v), v)) == b"STORED\r\n"
    want = b"VALUE key%%d 0 %%d\r\n%%s\r\nEND\r\n" %% (c, len(v), v)
    res[c] = sum(request(s, 2 + i, b"get key%%d\r\n" %% c) == want for i in range(%d))
res = [0] * %d
ts = [threading.Thread(target=client, args=(c, res)) for c in range(len(res))]
for x in ts: x.start()
for x in ts: x.join()
print(sum(res))
`, p.B.Addr.String(), gets, clients))
			if strings.TrimSpace(out) != strconv.Itoa(clients*gets) {
				t.Fatalf("%s right answers, want %d", strings.TrimSpace(out), clients*gets)
			}
			srv.stop()
			accelerated(t, eb, clients*(gets+1))
			accelerated(t, ea, clients*(gets+1))
		})
	}
}

// TestPassThrough runs programs that accel does not accelerate (TCP, not
// yet; fork-heavy shells) under the preload with acceleration configured:
// they must work exactly as before, each within a time bound.
func TestPassThrough(t *testing.T) {
	p := pair(t)
	t.Run("shells", func(t *testing.T) {
		e := accelEnv(t, p.A)
		for _, sh := range []string{"bash", "sh"} {
			out := run(t, p.A, e, time.Minute, sh, "-c",
				`n=0; for i in $(seq 1 200); do n=$((n+$(echo 1 | cat))); done; echo $n; (sleep 0.1 &); wait; true | true && echo done`)
			if out != "200\ndone\n" {
				t.Fatalf("%s: %q", sh, out)
			}
		}
	})
	t.Run("nginx-curl", func(t *testing.T) {
		need(t, "nginx", "curl")
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from nginx\n"), 0o644)
		conf := fmt.Sprintf(`user root; daemon off; master_process on; worker_processes 2; pid %[1]s/nginx.pid;
error_log %[1]s/error.log; events { worker_connections 64; }
http { access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s;
uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
server { listen %[2]s:8080; root %[1]s; } }`, dir, p.B.Addr)
		os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
		eb, ea := accelEnv(t, p.B), accelEnv(t, p.A)
		srv := start(t, p.B, eb, 2*time.Minute, "nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir)
		url := fmt.Sprintf("http://%s:8080/index.html", p.B.Addr)
		get := func() string {
			return run(t, p.A, ea, 30*time.Second, "curl", "-s", "--retry", "20", "--retry-connrefused", "--retry-delay", "0", "--max-time", "10", url)
		}
		if out := get(); out != "hello from nginx\n" {
			t.Fatalf("curl: %q", out)
		}
		run(t, p.B, eb, 30*time.Second, "nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-s", "reload")
		time.Sleep(500 * time.Millisecond)
		for range 5 {
			if out := get(); out != "hello from nginx\n" {
				t.Fatalf("curl after reload: %q", out)
			}
		}
		run(t, p.B, eb, 30*time.Second, "nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-s", "quit")
		srv.wait(t)
	})
	t.Run("redis", func(t *testing.T) {
		need(t, "redis-server", "redis-cli")
		dir := t.TempDir()
		eb, ea := accelEnv(t, p.B), accelEnv(t, p.A)
		addr := p.B.Addr.String()
		srv := start(t, p.B, eb, 2*time.Minute, "redis-server", "--port", "6390", "--bind", addr, "--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no")
		cli := func(args ...string) string {
			return strings.TrimSpace(run(t, p.A, ea, 30*time.Second, "redis-cli", append([]string{"-h", addr, "-p", "6390"}, args...)...))
		}
		for i := 0; ; i++ {
			if out, _ := p.A.Command("redis-cli", "-h", addr, "-p", "6390", "ping").Output(); strings.TrimSpace(string(out)) == "PONG" {
				break
			}
			if i == 100 {
				t.Fatalf("redis-server did not start: %s %s", srv.out.String(), srv.err.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if cli("set", "k", "v") != "OK" || cli("get", "k") != "v" {
			t.Fatal("set/get failed")
		}
		if out := cli("bgsave"); !strings.Contains(out, "Background saving started") {
			t.Fatalf("bgsave: %q", out)
		}
		for i := 0; ; i++ {
			info := cli("info", "persistence")
			if strings.Contains(info, "rdb_bgsave_in_progress:0") && strings.Contains(info, "rdb_last_bgsave_status:ok") &&
				!strings.Contains(info, "rdb_last_save_time:0") {
				break
			}
			if i == 100 {
				t.Fatalf("bgsave did not finish: %s", info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); err != nil {
			t.Fatalf("bgsave wrote nothing: %v", err)
		}
		cli("shutdown", "nosave")
		srv.wait(t)

		// Daemonized: the server forks and its parent exits.
		pidfile := filepath.Join(dir, "redis.pid")
		t.Cleanup(func() {
			// The daemon is ours: end it by its pid if the test did not.
			if b, err := os.ReadFile(pidfile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
		run(t, p.B, eb, 30*time.Second, "redis-server", "--port", "6391", "--bind", addr, "--dir", dir, "--save", "",
			"--daemonize", "yes", "--pidfile", pidfile, "--protected-mode", "no")
		for i := 0; ; i++ {
			if out, _ := p.A.Command("redis-cli", "-h", addr, "-p", "6391", "ping").Output(); strings.TrimSpace(string(out)) == "PONG" {
				break
			}
			if i == 100 {
				t.Fatal("daemonized redis-server did not answer")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out := strings.TrimSpace(run(t, p.A, ea, 30*time.Second, "redis-cli", "-h", addr, "-p", "6391", "incr", "n")); out != "1" {
			t.Fatalf("incr: %q", out)
		}
		run(t, p.A, ea, 30*time.Second, "redis-cli", "-h", addr, "-p", "6391", "shutdown", "nosave")
		for i := 0; ; i++ {
			if _, err := os.Stat(pidfile); err != nil {
				break
			}
			if i == 100 {
				t.Fatal("daemonized redis-server did not stop")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
