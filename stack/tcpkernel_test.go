package stack

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
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

// TestTCPKernelOptions: the kernel's SYN-ACK offered window scaling, SACK
// and timestamps, and the connection uses them.
func TestTCPKernelOptions(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, _ := dialKernel(t, s, pair.B, 9910)
	i := u.Info()
	if i.State != tcp.Established || !i.SACK || !i.Timestamps || i.WScale[0] == 0 || i.WScale[1] == 0 || i.SndMSS != 1448 {
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
