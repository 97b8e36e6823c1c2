package shim

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/tests/netns"
)

// TestKernelSharer binds kernel sockets in a stack's namespace and asks
// which of them share a port with a bind: the same address or the
// wildcard on either side, connected or not, never another address nor a
// socket that is ours.
func TestKernelSharer(t *testing.T) {
	if why := netns.Missing(); why != "" {
		t.Skip(why)
	}
	p := netns.New(t, netns.Options{})
	sh, fd := shimOn(t, p.A, netip.AddrPortFrom(p.A.Addr, 7599), netip.AddrPortFrom(p.B.Addr, 9))
	st := sh.Lookup(fd).u.Stack()
	udp := func(addr, peer netip.AddrPort) (inode uint32) {
		t.Helper()
		err := p.A.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}); err != nil {
				return err
			}
			if peer.IsValid() {
				if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: peer.Addr().As4(), Port: int(peer.Port())}); err != nil {
					return err
				}
			}
			var s unix.Stat_t
			err = unix.Fstat(fd, &s)
			inode = uint32(s.Ino)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return inode
	}
	none := func(uint32) bool { return false }
	local, any := p.A.Addr, netip.IPv4Unspecified()
	ask := func(ap netip.AddrPort, ours func(uint32) bool, want string) {
		t.Helper()
		got, err := kernelSharer(st, ap, ours)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("sharer of %v: %q, want %q", ap, got, want)
		}
	}
	ask(netip.AddrPortFrom(any, 7600), none, "")
	udp(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 7600), netip.AddrPort{})
	ask(netip.AddrPortFrom(local, 7600), none, "")             // another address
	ask(netip.AddrPortFrom(any, 7600), none, "127.0.0.1:7600") // the wildcard covers it
	in := udp(netip.AddrPortFrom(local, 7601), netip.AddrPortFrom(p.B.Addr, 9))
	ask(netip.AddrPortFrom(local, 7601), none, "connected to "+p.B.Addr.String()+":9")
	ask(netip.AddrPortFrom(any, 7601), func(i uint32) bool { return i == in }, "")
	udp(netip.AddrPortFrom(any, 7602), netip.AddrPort{})
	ask(netip.AddrPortFrom(local, 7602), none, "0.0.0.0:7602")
	// The accelerated socket itself, the kernel's socket of which is the
	// application's fd, is the shim's.
	ask(netip.AddrPortFrom(local, 7599), sh.ownsInode, "")
	ask(netip.AddrPortFrom(local, 7599), none, p.A.Addr.String()+":7599")
}
