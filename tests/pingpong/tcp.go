package pingpong

import (
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack"
	"github.com/accelnet/accel/tcp"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi/xsk"
)

// TCP round trips: one connection, each message read whole before the
// answer (a stream has no message boundaries: ends read exactly Size
// bytes).

const tcpPort = 9710

// kernelTCPEnd is a connected kernel TCP socket, spinning on MSG_DONTWAIT.
type kernelTCPEnd struct{ fd int }

func newKernelTCPEnds(pair *netns.Pair) (endpoint, endpoint, error) {
	var lfd int
	err := pair.B.Do(func() (err error) {
		if lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if err = unix.Bind(lfd, &unix.SockaddrInet4{Port: tcpPort, Addr: pair.B.Addr.As4()}); err != nil {
			return err
		}
		return unix.Listen(lfd, 1)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kernel TCP listener: %w", err)
	}
	defer unix.Close(lfd)
	var cfd int
	err = pair.A.Do(func() (err error) {
		if cfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Connect(cfd, &unix.SockaddrInet4{Port: tcpPort, Addr: pair.B.Addr.As4()})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kernel TCP connect: %w", err)
	}
	sfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(cfd)
		return nil, nil, err
	}
	for _, fd := range []int{cfd, sfd} {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return &kernelTCPEnd{cfd}, &kernelTCPEnd{sfd}, nil
}

func (e *kernelTCPEnd) send(p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(e.fd, p)
		if err != nil && err != unix.EAGAIN {
			return err
		}
		p = p[max(n, 0):]
	}
	return nil
}

func (e *kernelTCPEnd) recv(buf []byte, deadline time.Time) (int, error) {
	got := 0
	for i := 0; got < len(buf); i++ {
		n, _, err := unix.Recvfrom(e.fd, buf[got:], unix.MSG_DONTWAIT)
		if err == nil && n == 0 {
			return got, io.EOF
		}
		if err == nil {
			got += n
			continue
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return got, err
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			return got, errTimeout
		}
	}
	return got, nil
}

func (e *kernelTCPEnd) close() { unix.Close(e.fd) }

// stackTCPEnd is a TCP connection of a Kernel-mode stack on a VI.
type stackTCPEnd struct {
	port *xsk.Port
	st   *stack.Stack
	u    *stack.TCPSocket
	l    *stack.TCPListener
}

func newStackOn(h *netns.Host, bits int) (*stackTCPEnd, error) {
	e := &stackTCPEnd{}
	err := h.Do(func() (err error) {
		if e.port, err = xsk.Open(xsk.Config{Interface: h.Ifname, Frames: 2048, RingSize: 512}); err != nil {
			return err
		}
		v, err := e.port.NewVI()
		if err != nil {
			return err
		}
		e.st, err = stack.New(stack.Config{Device: v, Addr: netip.PrefixFrom(h.Addr, bits), Kernel: true})
		return err
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("stack on %s: %w", h.NS, err)
	}
	return e, nil
}

func newStackTCPEnds(pair *netns.Pair) (endpoint, endpoint, error) {
	server, err := newStackOn(pair.B, pair.Prefix.Bits())
	if err != nil {
		return nil, nil, err
	}
	client, err := newStackOn(pair.A, pair.Prefix.Bits())
	if err != nil {
		server.close()
		return nil, nil, err
	}
	fail := func(err error) (endpoint, endpoint, error) { client.close(); server.close(); return nil, nil, err }
	cfg := tcp.Config{NoDelay: true}
	if server.l, err = server.st.ListenTCP(netip.AddrPortFrom(pair.B.Addr, tcpPort), 1, cfg); err != nil {
		return fail(err)
	}
	if client.u, err = client.st.DialTCP(netip.AddrPortFrom(pair.B.Addr, tcpPort), cfg); err != nil {
		return fail(err)
	}
	for end := time.Now().Add(10 * time.Second); server.u == nil; {
		client.st.Poll()
		if u, err := server.l.Accept(); err == nil {
			server.u = u
		}
		if time.Now().After(end) {
			return fail(fmt.Errorf("stack TCP: no handshake: %v", client.u.State()))
		}
	}
	for client.u.State() != tcp.Established {
		client.st.Poll()
	}
	return client, server, nil
}

func (e *stackTCPEnd) send(p []byte) error {
	for len(p) > 0 {
		n, err := e.u.Write(p)
		if err != nil && err != unix.EAGAIN {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (e *stackTCPEnd) recv(buf []byte, deadline time.Time) (int, error) {
	got := 0
	for i := 0; got < len(buf); i++ {
		n, err := e.u.Read(buf[got:])
		if err == nil && n == 0 {
			return got, io.EOF
		}
		if err == nil {
			got += n
			continue
		}
		if err != unix.EAGAIN {
			return got, err
		}
		if i&1023 == 0 && time.Now().After(deadline) {
			return got, errTimeout
		}
	}
	return got, nil
}

func (e *stackTCPEnd) poll() { e.st.Poll() }

func (e *stackTCPEnd) close() {
	if e.st != nil {
		e.st.Close()
	}
	if e.port != nil {
		e.port.Close()
	}
}

// Bulk sends n bytes one way over a TCP connection (KernelTCP or
// StackTCP), the receiver on its own pinned thread, and returns how long
// the transfer took, from the first byte written to the last read.
func Bulk(pair *netns.Pair, mode Mode, n int) (time.Duration, error) {
	var client, server endpoint
	var err error
	switch mode {
	case KernelTCP:
		client, server, err = newKernelTCPEnds(pair)
	case StackTCP:
		client, server, err = newStackTCPEnds(pair)
	default:
		return 0, fmt.Errorf("pingpong: bulk over %q: want %s or %s", mode, KernelTCP, StackTCP)
	}
	if err != nil {
		return 0, err
	}
	defer client.close()
	defer server.close()
	deadline := time.Now().Add(2 * time.Minute)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pin(1)
		buf := make([]byte, 256<<10)
		for got := 0; got < n; {
			k, err := server.recv(buf[:min(len(buf), n-got)], deadline)
			got += k
			if err != nil {
				done <- fmt.Errorf("receiver at %d of %d bytes: %w", got, n, err)
				return
			}
		}
		done <- nil
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pin(0)
	chunk := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < n; sent += len(chunk) {
		if err := client.send(chunk[:min(len(chunk), n-sent)]); err != nil {
			return 0, err
		}
	}
	// The sender's stack has no progress engine here: what its send
	// buffer still holds goes only while someone polls it.
	poller, _ := client.(interface{ poll() })
	for {
		select {
		case err := <-done:
			if err != nil {
				return 0, err
			}
			return time.Since(start), nil
		default:
			if poller != nil {
				poller.poll()
			} else {
				return time.Since(start), <-done
			}
		}
	}
}
