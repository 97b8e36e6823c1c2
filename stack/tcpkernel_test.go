package stack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi/fault"
)

// dialKernel connects the stack to a kernel listener on b and returns
// both ends, the options negotiated with the kernel checked.
func dialKernel(t *testing.T, s *Stack, b *netns.Host, port int) (*TCPSocket, net.Conn) {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(b.Addr, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	u, err := s.DialTCP(netip.AddrPortFrom(b.Addr, uint16(port)), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); ; {
		select {
		case kc := <-accepted:
			t.Cleanup(func() { kc.Close() })
			for u.State() == tcp.SynSent && time.Now().Before(end) {
				s.Poll()
			}
			return u, kc
		default:
			if time.Now().After(end) {
				t.Fatalf("no handshake: %v", u.State())
			}
			s.Poll()
		}
	}
}

// TestTCPKernelOptions: the handshake with the kernel, seen on the wire
// (a tap on the VI): our SYN offers MSS, window scaling, SACK and
// timestamps; the kernel's SYN-ACK answers with all four; the connection
// uses them, and our later segments carry timestamps echoing the kernel's.
func TestTCPKernelOptions(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	type seen struct {
		tx    bool
		flags uint8
		opts  wire.TCPOptions
	}
	var mu sync.Mutex
	var frames []seen
	tap := func(tx bool, _ time.Duration, b []byte) {
		ip, err := wire.ParseIPv4(b[wire.EthernetLen:])
		if err != nil || ip.Protocol() != wire.ProtoTCP {
			return
		}
		tcpb, err := wire.ParseTCP(ip.Payload(), ip.Src(), ip.Dst())
		if err != nil {
			return
		}
		var o wire.TCPOptions
		if wire.ParseTCPOptions(tcpb.Options(), &o) == nil {
			mu.Lock()
			frames = append(frames, seen{tx, tcpb.Flags(), o})
			mu.Unlock()
		}
	}
	s := accelerateCfg(t, pair.A, 24, func(c *Config) {
		w, err := fault.Wrap(c.Device, fault.Options{Tap: tap})
		if err != nil {
			t.Fatal(err)
		}
		c.Device = w
	})
	u, kc := dialKernel(t, s, pair.B, 9910)
	kc.Write([]byte("x"))
	b := make([]byte, 4)
	spin(t, s, func() (int, error) { return u.Read(b) })
	mu.Lock()
	defer mu.Unlock()
	if len(frames) < 3 {
		t.Fatalf("%d TCP frames seen", len(frames))
	}
	syn, synack := frames[0], frames[1]
	if !syn.tx || syn.flags != wire.TCPSyn || syn.opts.MSS != 1460 || !syn.opts.HasWS || !syn.opts.SACKPermitted || !syn.opts.HasTimestamp {
		t.Fatalf("our SYN: %+v", syn)
	}
	if synack.tx || synack.flags != wire.TCPSyn|wire.TCPAck || synack.opts.MSS != 1460 || !synack.opts.HasWS || synack.opts.WS == 0 ||
		!synack.opts.SACKPermitted || !synack.opts.HasTimestamp || synack.opts.TSEcr != syn.opts.TSVal {
		t.Fatalf("the kernel's SYN-ACK: %+v (our SYN's TSval %d)", synack, syn.opts.TSVal)
	}
	last := frames[len(frames)-1]
	for _, f := range frames[2:] {
		if f.tx {
			last = f
		}
	}
	if !last.tx || !last.opts.HasTimestamp || last.opts.HasWS || last.opts.MSS != 0 {
		t.Fatalf("our later segment's options: %+v", last)
	}
	i := u.Info()
	if i.State != tcp.Established || !i.SACK || !i.Timestamps || i.WScale[0] != synack.opts.WS || i.WScale[1] != syn.opts.WS || i.SndMSS != 1448 {
		t.Fatalf("negotiated with the kernel: %+v", i)
	}
}

// TestTCPHalfClose: the stack shuts down its writing side; the kernel
// reads the end of the stream and keeps sending, which the stack still
// receives; then the kernel closes.
func TestTCPHalfClose(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, kc := dialKernel(t, s, pair.B, 9911)
	u.Write([]byte("request"))
	u.Shutdown()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(kc) // to the FIN
		kc.Write([]byte("answer after your FIN"))
		kc.(*net.TCPConn).CloseWrite()
		got <- string(b)
	}()
	var answer []byte
	buf := make([]byte, 100)
	for end := time.Now().Add(10 * time.Second); ; {
		n, err := u.Read(buf)
		answer = append(answer, buf[:n]...)
		if err == nil && n == 0 {
			break
		}
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		if time.Now().After(end) {
			t.Fatalf("no end of stream: %q, %v", answer, u.State())
		}
		s.Poll()
	}
	if r := <-got; r != "request" || string(answer) != "answer after your FIN" {
		t.Fatalf("kernel read %q, stack read %q", r, answer)
	}
	u.Close()
	for end := time.Now().Add(10 * time.Second); u.State() != tcp.TimeWait && u.State() != tcp.Closed; {
		if time.Now().After(end) {
			t.Fatalf("after both FINs: %v", u.State())
		}
		s.Poll()
	}
}

// TestTCPZeroWindowKernel: the kernel does not read; the stack fills its
// window, probes it, and completes once the kernel reads.
func TestTCPZeroWindowKernel(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, kc := dialKernel(t, s, pair.B, 9912)
	kc.(*net.TCPConn).SetReadBuffer(4096)
	data := randomBytes(4<<20, 9)
	sent := 0
	for end := time.Now().Add(10 * time.Second); ; {
		k, err := u.Write(data[sent:])
		sent += k
		if err == unix.EAGAIN && u.Info().SndWnd == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the kernel's window never closed (sent %d)", sent)
		}
		s.Poll()
	}
	before := s.Stats().TxTCP
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
		s.Poll()
		time.Sleep(time.Millisecond)
	}
	if s.Stats().TxTCP-before < 2 {
		t.Fatal("no zero-window probes in 2.5 s")
	}
	read := kernelPeer(t, kc, len(data), nil)
	for end := time.Now().Add(30 * time.Second); sent < len(data); {
		k, err := u.Write(data[sent:])
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		sent += k
		if time.Now().After(end) {
			t.Fatalf("stuck at %d of %d", sent, len(data))
		}
		s.Poll()
	}
	if got := awaitPeer(t, s, read); string(got) != string(data) {
		t.Fatal("data differ")
	}
}

// TestTCPSynFlood floods the stack's listener with SYNs from addresses
// that do not exist (their SYN-ACKs go nowhere): the SYN queue fills, the
// listener answers with SYN cookies, and a real kernel client still
// connects and is served.
func TestTCPSynFlood(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	l, err := s.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9913), 8, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The flooder: raw IPv4 in B's namespace, forged sources.
	var raw int
	if err := pair.B.Do(func() (err error) {
		raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(raw)
	dst := pair.A.Addr.As4()
	pkt := make([]byte, wire.IPv4Len+wire.TCPLen)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		src := [4]byte{198, 18, 0, byte(100 + i%100)}
		tb := wire.TCP(pkt[wire.IPv4Len:])
		tb.Build(&wire.TCPHeader{SrcPort: uint16(10000 + i), DstPort: 9913, Seq: rng.Uint32(), Flags: wire.TCPSyn, Window: 65535}, 0, src, dst, 0)
		wire.IPv4(pkt).Build(&wire.IPv4Header{TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: dst, ID: uint16(i)}, wire.TCPLen)
		binary.BigEndian.PutUint16(pkt[2:4], uint16(len(pkt)))
		if err := unix.Sendto(raw, pkt, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			s.Poll()
		}
	}
	s.Poll()
	dialed := make(chan net.Conn, 1)
	go func() {
		var c net.Conn
		pair.B.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(pair.A.Addr, 9913).String(), 10*time.Second)
			return err
		})
		dialed <- c
	}()
	u := spin(t, s, l.Accept)
	kc := <-dialed
	if kc == nil {
		t.Fatal("the legitimate client did not connect")
	}
	defer kc.Close()
	sent, ok := l.Cookies()
	if sent == 0 || ok != 1 {
		t.Fatalf("cookies sent %d, honoured %d", sent, ok)
	}
	kc.Write([]byte("through the flood"))
	buf := make([]byte, 64)
	n := spin(t, s, func() (int, error) { return u.Read(buf) })
	if string(buf[:n]) != "through the flood" {
		t.Fatalf("read %q", buf[:n])
	}
}

// TestTCPKernelSimultaneousClose: both ends send their FIN before either
// has seen the other's (the kernel's FIN waits in the stack's receive
// ring while the stack closes), so both go FIN-WAIT-1 → CLOSING →
// TIME-WAIT (RFC 9293 §3.6, figure 13): TIME-WAIT on both sides, which an
// orderly close never gives.
func TestTCPKernelSimultaneousClose(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, kc := dialKernel(t, s, pair.B, 9914)
	if err := kc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the kernel's FIN reaches the ring, unread
	u.Shutdown()                      // sends our FIN without reading the ring
	if st := u.State(); st != tcp.FinWait1 {
		t.Fatalf("after shutdown: %v, want FIN-WAIT-1", st)
	}
	var seen []tcp.State
	for end := time.Now().Add(10 * time.Second); u.State() != tcp.TimeWait; {
		if time.Now().After(end) {
			t.Fatalf("states %v, never TIME-WAIT", seen)
		}
		s.Poll()
		if st := u.State(); len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
	}
	// (CLOSING may pass within one poll, the kernel's FIN and its ACK of
	// ours read together.) A passive close would have gone CLOSE-WAIT,
	// LAST-ACK, CLOSED, and never TIME-WAIT.
	for _, st := range seen {
		if st == tcp.CloseWait || st == tcp.LastAck {
			t.Fatalf("states %v: a passive close, not a simultaneous one", seen)
		}
	}
	// The kernel's side is in TIME-WAIT too.
	port := u.LocalAddr().Port()
	var out []byte
	for end := time.Now().Add(5 * time.Second); ; {
		var err error
		out, err = pair.B.Command("ss", "-Htan", "state", "time-wait").Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), fmt.Sprintf(":%d ", port)) || strings.Contains(string(out), fmt.Sprintf(":%d\n", port)) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the kernel's end is not in TIME-WAIT; ss: %q", out)
		}
		s.Poll()
		time.Sleep(time.Millisecond)
	}
	b := make([]byte, 1)
	if n, err := kc.Read(b); n != 0 || err != io.EOF {
		t.Fatalf("the kernel read %d, %v; want the end of the stream", n, err)
	}
}

// TestTCPKernelKeepalive: keepalive both ways with a kernel peer. The
// stack's probes (one octet below SND.NXT, RFC 9293 §3.8.4) draw the
// kernel's ACKs and the connection lives; the kernel's probes draw ours,
// or the kernel would give up after its three; then the kernel's end
// vanishes (the link drops everything) and the stack's keepalive ends the
// connection with ETIMEDOUT after its probes.
func TestTCPKernelKeepalive(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	var link *fault.Device
	s := accelerateCfg(t, pair.A, 24, func(c *Config) {
		var err error
		if link, err = fault.Wrap(c.Device, fault.Options{}); err != nil {
			t.Fatal(err)
		}
		c.Device = link
	})
	u, kc := dialKernel(t, s, pair.B, 9915)
	raw, err := kc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.TCP_KEEPIDLE, 1}, {unix.TCP_KEEPINTVL, 1}, {unix.TCP_KEEPCNT, 2}} {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, o[0], o[1])
		}
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	})
	u.Conn(func(c *tcp.Conn) { c.SetKeepalive(true, 300*time.Millisecond, 100*time.Millisecond, 3) })
	before := s.Stats()
	// 3.5 s idle: the kernel gives up at 1 + 2×1 s if its probes go
	// unanswered; the stack sends one probe every 300 ms.
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); {
		s.Poll()
		time.Sleep(200 * time.Microsecond)
	}
	after := s.Stats()
	if st := u.State(); st != tcp.Established || u.Err() != nil {
		t.Fatalf("after the idle time: %v %v", st, u.Err())
	}
	probes, answers := after.TxTCP-before.TxTCP, after.RxTCP-before.RxTCP
	if probes < 8 || answers < 8 {
		t.Fatalf("idle 3.5 s: %d segments out, %d in; want the stack's ~11 probes and their ACKs", probes, answers)
	}
	// The kernel's end is alive and knows the connection.
	if _, err := kc.Write([]byte("alive")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n := spin(t, s, func() (int, error) { return u.Read(buf) }); string(buf[:n]) != "alive" {
		t.Fatalf("read %q", buf[:n])
	}
	// The link goes dead: 300 ms idle and 3 probes 100 ms apart.
	cut := fault.Faults{Loss: 1}
	link.SetFaults(cut, cut)
	start := time.Now()
	for u.Err() == nil {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("keepalive did not end the connection: %v", u.State())
		}
		s.Poll()
		time.Sleep(200 * time.Microsecond)
	}
	if _, err := u.Read(buf); err != unix.ETIMEDOUT {
		t.Fatalf("read after keepalive gave up: %v, want ETIMEDOUT", err)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("gave up after %v, before idle + 3 probes (600 ms)", el)
	}
}

// TestTCPKernelLinger: SO_LINGER with zero aborts with a RST (the kernel
// reads ECONNRESET) and leaves nothing behind, no TIME-WAIT; with a time,
// the queued data and the FIN are acknowledged (Flushed) and the kernel
// reads all of it and the end of the stream.
func TestTCPKernelLinger(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)

	u, kc := dialKernel(t, s, pair.B, 9916)
	zero := time.Duration(0)
	u.SetLinger(&zero)
	u.Write([]byte("unsent?"))
	u.Close()
	if st := u.State(); st != tcp.Closed {
		t.Fatalf("after an aborting close: %v", st)
	}
	s.mu.Lock()
	left := len(s.tcpst.conns)
	s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d connections left after an aborting close", left)
	}
	kc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	var err error
	for err == nil {
		_, err = kc.Read(b)
	}
	if !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("the kernel read %v, want ECONNRESET", err)
	}

	u, kc = dialKernel(t, s, pair.B, 9917)
	data := randomBytes(256<<10, 5)
	read := make(chan []byte, 1)
	go func() {
		kc.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(kc)
		read <- b
	}()
	sent := 0
	for end := time.Now().Add(10 * time.Second); sent < len(data); {
		n, _ := u.Write(data[sent:])
		sent += n
		s.Poll()
		if time.Now().After(end) {
			t.Fatalf("wrote %d of %d", sent, len(data))
		}
	}
	second := time.Second
	u.SetLinger(&second)
	u.Close()
	for end := time.Now().Add(second); !u.Flushed(); {
		if time.Now().After(end) {
			t.Fatalf("not flushed within the linger time: %v", u.State())
		}
		s.Poll()
	}
	if got := <-read; !bytes.Equal(got, data) {
		t.Fatalf("the kernel read %d bytes, want the %d written before close", len(got), len(data))
	}
}

// TestTCPTimeWaitReuse: the stack closes first and keeps TIME-WAIT; the
// kernel client connects again from the same port at once. The SYN is
// newer (RFC 6191), so the stack's listener takes it without waiting for
// the TIME-WAIT to end or for the client's SYN to be retransmitted (1 s).
func TestTCPTimeWaitReuse(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	l, err := s.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9918), 8, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const clientPort = 40123
	dial := func() (net.Conn, time.Duration, error) {
		var c net.Conn
		start := time.Now()
		err := pair.B.Do(func() (err error) {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: pair.B.Addr.AsSlice(), Port: clientPort},
				Control: func(_, _ string, rc syscall.RawConn) error {
					return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
				}}
			c, err = d.Dial("tcp4", netip.AddrPortFrom(pair.A.Addr, 9918).String())
			return err
		})
		return c, time.Since(start), err
	}
	type result struct {
		c   net.Conn
		d   time.Duration
		err error
	}
	connect := func() (*TCPSocket, result) {
		done := make(chan result, 1)
		go func() { c, d, err := dial(); done <- result{c, d, err} }()
		u := spin(t, s, l.Accept)
		for {
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				t.Cleanup(func() { r.c.Close() })
				return u, r
			default:
				s.Poll()
			}
		}
	}
	u, first := connect()
	u.Close() // the stack closes first: TIME-WAIT is ours
	first.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for end := time.Now().Add(5 * time.Second); ; {
		s.Poll()
		if b := make([]byte, 1); true {
			first.c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := first.c.Read(b); err == io.EOF {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatal("the kernel never read the stack's FIN")
		}
	}
	first.c.Close()
	for end := time.Now().Add(5 * time.Second); u.State() != tcp.TimeWait; {
		if time.Now().After(end) {
			t.Fatalf("the stack's end: %v, want TIME-WAIT", u.State())
		}
		s.Poll()
	}
	before := s.Stats()
	u2, second := connect()
	after := s.Stats()
	// Taken at once: the SYN in, the SYN-ACK out, the ACK in. Refused,
	// it would have drawn our ACK, the kernel's RST and a second SYN.
	if in, out := after.RxTCP-before.RxTCP, after.TxTCP-before.TxTCP; in != 2 || out != 1 || second.d > 900*time.Millisecond {
		t.Fatalf("reconnecting from the same port: %d segments in, %d out, %v: the SYN was not taken in TIME-WAIT", in, out, second.d)
	}
	if u2 == u || u2.State() != tcp.Established || u2.RemoteAddr().Port() != clientPort {
		t.Fatalf("second connection: %v from %v", u2.State(), u2.RemoteAddr())
	}
	if _, err := second.c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n := spin(t, s, func() (int, error) { return u2.Read(b) }); string(b[:n]) != "again" {
		t.Fatalf("read %q", b[:n])
	}
}

// TestTCPPathMTU: a kernel listener behind a router whose far link has an
// MTU of 1000, and which advertises an MSS of 1460 all the same (advmss),
// so that only path MTU discovery can save the connection: the router
// drops our full segments with "fragmentation needed" (RFC 1191); the
// stack hears it on its ICMP socket, cuts its segments to the path and
// resends at once; 256 kB arrive whole.
func TestTCPPathMTU(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	far, err := pair.AddBehind(pair.A, netip.MustParsePrefix("198.19.0.0/24"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	router := netip.MustParseAddr("198.19.0.1")
	if out, err := exec.Command("ip", "-n", far.NS, "route", "change", "default", "via", router.String(), "advmss", "1460").CombinedOutput(); err != nil {
		t.Fatalf("advmss on the far host: %v: %s", err, out)
	}
	s := accelerate(t, pair.B, 24)
	u, kc := dialKernel(t, s, far, 9919)
	if got := u.Info().SndMSS; got != 1448 {
		t.Fatalf("MSS %d before any ICMP, want the advertised 1460 less timestamps", got)
	}
	data := randomBytes(256<<10, 9)
	read := make(chan []byte, 1)
	go func() {
		kc.SetReadDeadline(time.Now().Add(15 * time.Second))
		b := make([]byte, len(data))
		n, _ := io.ReadFull(kc, b)
		read <- b[:n]
	}()
	sent := 0
	var got []byte
	for end := time.Now().Add(15 * time.Second); got == nil; {
		if sent < len(data) {
			n, _ := u.Write(data[sent:])
			sent += n
		}
		s.Poll()
		select {
		case got = <-read:
		default:
			if time.Now().After(end) {
				t.Fatalf("sent %d of %d; %+v", sent, len(data), u.Info())
			}
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the far host read %d bytes, want %d whole", len(got), len(data))
	}
	i := u.Info()
	if i.SndMSS > 1000-40-12 {
		t.Fatalf("MSS %d after the path said 1000", i.SndMSS)
	}
	s.mu.Lock()
	p := s.kern.pmtu[far.Addr.As4()]
	s.mu.Unlock()
	if p != 1000 {
		t.Fatalf("path MTU to %v recorded as %d", far.Addr, p)
	}
	if i.Timeouts > 1 {
		t.Fatalf("%d retransmission timeouts: the segments should have gone again at the ICMP, not at the timer", i.Timeouts)
	}

	// A forged "fragmentation needed" quoting a sequence number that is
	// not in flight (a blind attacker's guess) changes nothing.
	u.Write([]byte("in flight"))
	forged := func(seq uint32, mtu int) []byte {
		b := make([]byte, 20+8+20+8)
		q := wire.IPv4(b[28:])
		q.Build(&wire.IPv4Header{TTL: 64, DF: true, Protocol: wire.ProtoTCP, Src: pair.B.Addr.As4(), Dst: far.Addr.As4()}, 500)
		binary.BigEndian.PutUint16(b[48:], u.LocalAddr().Port())
		binary.BigEndian.PutUint16(b[50:], u.RemoteAddr().Port())
		binary.BigEndian.PutUint32(b[52:], seq)
		wire.ICMP(b[20:]).Build(wire.ICMPUnreachable, wire.ICMPFragNeeded, uint32(mtu), 28)
		wire.IPv4(b).Build(&wire.IPv4Header{TTL: 64, Protocol: 1, Src: router.As4(), Dst: pair.B.Addr.As4()}, 36)
		return b
	}
	s.mu.Lock()
	before := s.stats.Drops[DropICMPStale]
	una := uint32(u.c.SndUna())
	s.kern.icmpInput(forged(una-100_000, 576))
	after, mss := s.stats.Drops[DropICMPStale], u.c.Info().SndMSS
	s.mu.Unlock()
	if after != before+1 || mss != i.SndMSS {
		t.Fatalf("a forged ICMP: stale drops %d → %d, MSS %d → %d", before, after, i.SndMSS, mss)
	}
}
