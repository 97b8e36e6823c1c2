package stack

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
)

// spin repeats op on the stack until it stops saying EAGAIN, for at most
// 10 s, polling the stack in between.
func spin[T any](t *testing.T, s *Stack, op func() (T, error)) T {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		v, err := op()
		if err != unix.EAGAIN {
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		s.Poll()
		time.Sleep(20 * time.Microsecond)
	}
	t.Fatal("no progress in 10 s")
	var zero T
	return zero
}

// exchange writes data on u while reading n bytes back, through the
// stack, and returns what it read.
func exchange(t *testing.T, s *Stack, u *TCPSocket, data []byte, n int) []byte {
	t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 65536)
	sent := 0
	for end := time.Now().Add(30 * time.Second); sent < len(data) || got.Len() < n; {
		if time.Now().After(end) {
			t.Fatalf("sent %d of %d, got %d of %d; %v", sent, len(data), got.Len(), n, u.State())
		}
		if sent < len(data) {
			k, err := u.Write(data[sent:])
			if err != nil && err != unix.EAGAIN {
				t.Fatal(err)
			}
			sent += k
		}
		k, err := u.Read(buf)
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		got.Write(buf[:k])
		if k == 0 {
			s.Poll()
		}
	}
	return got.Bytes()
}

// awaitPeer waits for what the kernel peer read, polling the stack meanwhile
// (what the shim's progress engine does): the stack's send buffer drains.
func awaitPeer(t *testing.T, s *Stack, read <-chan []byte) []byte {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		select {
		case b := <-read:
			return b
		default:
			s.Poll()
			time.Sleep(10 * time.Microsecond)
		}
	}
	t.Fatal("the kernel peer did not read everything in 30 s")
	return nil
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// kernelPeer runs a kernel TCP endpoint on h: it reads n bytes and writes
// its own data at once, then reports what it read.
func kernelPeer(t *testing.T, conn net.Conn, n int, data []byte) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		go conn.Write(data)
		b := make([]byte, n)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(conn, b); err != nil {
			t.Error(err)
		}
		out <- b
	}()
	return out
}

// moveBothWays sends n bytes each way at once between the stack's u and
// the kernel's kc (seeded data), and checks both by SHA-256.
func moveBothWays(t *testing.T, s *Stack, u *TCPSocket, kc net.Conn, n int, seed uint64) {
	t.Helper()
	mine, theirs := randomBytes(n, seed), randomBytes(n, seed+100)
	read := kernelPeer(t, kc, n, theirs)
	got := exchange(t, s, u, mine, n)
	if sha256.Sum256(got) != sha256.Sum256(theirs) {
		t.Fatal("data from the kernel differ")
	}
	if sha256.Sum256(awaitPeer(t, s, read)) != sha256.Sum256(mine) {
		t.Fatal("data to the kernel differ")
	}
}

// TestTCPDialKernel connects from the stack to a kernel listener and moves
// 2 MB each way at once, checked by SHA-256, then closes in order.
func TestTCPDialKernel(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, kc := dialKernel(t, s, pair.B, 9900)
	moveBothWays(t, s, u, kc, 2<<20, 1)
	u.Close()
	kc.Close()
	for end := time.Now().Add(10 * time.Second); u.State() != tcp.TimeWait && u.State() != tcp.Closed; {
		if time.Now().After(end) {
			t.Fatalf("orderly close: %v", u.State())
		}
		s.Poll()
	}
	if st := s.Stats(); st.RxTCP < 100 || st.TxTCP < 100 {
		t.Fatalf("segments through the VI: %d in, %d out", st.RxTCP, st.TxTCP)
	}
}

// TestTCPListenKernel accepts a kernel client on a stack listener and
// moves 2 MB each way.
func TestTCPListenKernel(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, kc := connectKernel(t, pair, s, false, 9901)
	defer kc.Close()
	if u.RemoteAddr().Addr() != pair.B.Addr || u.LocalAddr().Port() != 9901 {
		t.Fatalf("accepted %v <- %v", u.LocalAddr(), u.RemoteAddr())
	}
	moveBothWays(t, s, u, kc, 2<<20, 3)
	// The kernel closes first: the stack sees the end of the stream.
	kc.Close()
	buf := make([]byte, 10)
	if k := spin(t, s, func() (int, error) { return u.Read(buf) }); k != 0 {
		t.Fatalf("read %d bytes after the peer's FIN", k)
	}
	u.Close()
}

// TestTCPRefused dials a kernel port nobody listens on: the kernel's RST
// ends the connect with ECONNREFUSED.
func TestTCPRefused(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	s := accelerate(t, pair.A, 24)
	u, err := s.DialTCP(netip.AddrPortFrom(pair.B.Addr, 9902), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	for end := time.Now().Add(10 * time.Second); ; {
		_, err := u.Read(buf)
		if err == unix.ECONNREFUSED {
			break
		}
		if err != unix.EAGAIN || time.Now().After(end) {
			t.Fatalf("got %v, state %v", err, u.State())
		}
		s.Poll()
	}
}
