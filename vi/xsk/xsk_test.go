package xsk_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelnet/accel/stack/wire"
	"github.com/accelnet/accel/tests/netns"
	"github.com/accelnet/accel/vi"
	"github.com/accelnet/accel/vi/xdp"
	"github.com/accelnet/accel/vi/xsk"
)

func TestMain(m *testing.M) {
	switch os.Getenv("ACCEL_TEST_HELPER") {
	case "vi-owner":
		os.Exit(helperOwner())
	case "open-restricted":
		os.Exit(helperOpenRestricted())
	}
	os.Exit(m.Run())
}

// openVI opens a port and a VI on host h.
func openVI(t testing.TB, h *netns.Host) (*xsk.Port, *xsk.VI) {
	return openVIQueue(t, h, 0)
}

func openVIQueue(t testing.TB, h *netns.Host, queue int) (*xsk.Port, *xsk.VI) {
	t.Helper()
	return openVIConfig(t, h, xsk.Config{Interface: h.Ifname, Queue: queue, Frames: 1024, RingSize: 256})
}

func openVIConfig(t testing.TB, h *netns.Host, cfg xsk.Config) (*xsk.Port, *xsk.VI) {
	t.Helper()
	var p *xsk.Port
	var v *xsk.VI
	err := h.Do(func() (err error) {
		if p, err = xsk.Open(cfg); err != nil {
			return err
		}
		v, err = p.NewVI()
		return err
	})
	if err != nil {
		if p != nil {
			p.Close()
		}
		t.Fatalf("open VI on %s: %v", h.Ifname, err)
	}
	t.Cleanup(func() { p.Close() })
	return p, v
}

// listenUDP binds a kernel UDP socket on host h.
func listenUDP(t testing.TB, h *netns.Host, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h.Addr.AsSlice(), Port: port})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recvUDP collects UDP payloads arriving on d until n arrived or the time
// is up, by destination port.
func recvUDP(d vi.Device, n int, within time.Duration) map[uint16][]string {
	got := map[uint16][]string{}
	count := 0
	ds := make([]vi.Desc, 32)
	deadline := time.Now().Add(within)
	for count < n && time.Now().Before(deadline) {
		k := d.Recv(ds)
		if k == 0 {
			pfd := []unix.PollFd{{Fd: int32(d.FD()), Events: unix.POLLIN}}
			unix.Poll(pfd, 20)
			continue
		}
		for _, desc := range ds[:k] {
			if port, payload, ok := parseUDP(d.Bytes(desc)); ok {
				got[port] = append(got[port], string(payload))
				count++
			}
		}
		d.Free(ds[:k])
	}
	return got
}

func parseUDP(b []byte) (uint16, []byte, bool) {
	_, u, err := wire.ParseUDPFrame(b)
	if err != nil {
		return 0, nil, false
	}
	return u.DstPort(), u.Payload(), true
}

func sendTo(t testing.TB, c *net.UDPConn, h *netns.Host, port int, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if _, err := c.WriteToUDP([]byte(m), &net.UDPAddr{IP: h.Addr.AsSlice(), Port: port}); err != nil {
			t.Fatalf("send to %v:%d: %v", h.Addr, port, err)
		}
	}
}

func expectKernel(t testing.TB, c *net.UDPConn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("kernel socket %v: want %q: %v", c.LocalAddr(), want, err)
	}
	if string(buf[:n]) != want {
		t.Fatalf("kernel socket %v got %q, want %q", c.LocalAddr(), buf[:n], want)
	}
}

func expectNothing(t testing.TB, c *net.UDPConn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 2048)
	if n, _, err := c.ReadFromUDP(buf); err == nil {
		t.Fatalf("kernel socket %v got %q, want nothing", c.LocalAddr(), buf[:n])
	}
}

func TestKernelToVI(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	p, v := openVI(t, pair.B)
	if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9000)}); err != nil {
		t.Fatal(err)
	}
	steered := listenUDP(t, pair.B, 9000) // reserves the port; must get nothing
	other := listenUDP(t, pair.B, 9001)
	a := listenUDP(t, pair.A, 0)

	msgs := []string{"one", "two", "three", "four"}
	sendTo(t, a, pair.B, 9000, msgs...)
	got := recvUDP(v, len(msgs), 3*time.Second)
	if fmt.Sprint(got[9000]) != fmt.Sprint(msgs) {
		t.Fatalf("VI received %v, want %v on port 9000", got, msgs)
	}
	expectNothing(t, steered)

	sendTo(t, a, pair.B, 9001, "for the kernel")
	expectKernel(t, other, "for the kernel")

	// The kernel still answers ping (ICMP is not filtered) and ARP.
	out, err := pair.A.Command("ping", "-c", "1", "-W", "2", pair.B.Addr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping through the filter: %v\n%s", err, out)
	}
	verdicts, err := p.Table().Verdicts()
	if err != nil {
		t.Fatal(err)
	}
	if verdicts[xdp.Redirect] < uint64(len(msgs)) || verdicts[xdp.PassNoMatch] == 0 || verdicts[xdp.PassProto] == 0 {
		t.Errorf("verdict counters %v: want >= %d redirects, pass_no_match and pass_proto", verdicts, len(msgs))
	}
	if s := v.Stats(); s.RxPackets != uint64(len(msgs)) {
		t.Errorf("VI counted %d received packets, want %d", s.RxPackets, len(msgs))
	}
}

// TestReceiveOnlyRefills receives ten times the fill ring's frames on a VI
// that never transmits: the frames it frees must go back to the fill ring
// (in batches, umem.free) without a transmission's settle to push them,
// or the kernel runs out of frames to receive into and drops.
func TestReceiveOnlyRefills(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	// 128 frames: 64 on the fill ring, returned 16 at a time.
	_, v := openVIConfig(t, pair.B, xsk.Config{Interface: pair.B.Ifname, Frames: 128, RingSize: 64})
	if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9000)}); err != nil {
		t.Fatal(err)
	}
	a := listenUDP(t, pair.A, 0)
	const rounds, each = 80, 8 // 640 frames; 8 at a time fit the RX ring
	for r := range rounds {
		msgs := make([]string, each)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("r%d-%d", r, i)
		}
		sendTo(t, a, pair.B, 9000, msgs...)
		got := recvUDP(v, each, 3*time.Second)
		if fmt.Sprint(got[9000]) != fmt.Sprint(msgs) {
			t.Fatalf("round %d: VI received %v, want %v", r, got[9000], msgs)
		}
	}
	s := v.Stats()
	if s.RxPackets != rounds*each || s.RxDropped != 0 || s.TxPackets != 0 {
		t.Errorf("stats %+v: want %d received, none dropped, none sent", s, rounds*each)
	}
}

// TestBurstFillsReserve sends bursts of 1000 datagrams to a VI that nobody
// polls meanwhile. With the default sizes the fill ring is kept shallow
// (256 frames) and the rest of the burst is dropped for want of a fill
// frame; once the VI's sockets reserve 1200 frames (a large SO_RCVBUF),
// the whole burst lands.
func TestBurstFillsReserve(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	_, v := openVIConfig(t, pair.B, xsk.Config{Interface: pair.B.Ifname})
	if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9000)}); err != nil {
		t.Fatal(err)
	}
	a := listenUDP(t, pair.A, 0)
	burst := func(round int) int {
		msgs := make([]string, 1000)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("b%d-%d", round, i)
		}
		sendTo(t, a, pair.B, 9000, msgs...)
		time.Sleep(100 * time.Millisecond) // away while it lands
		return len(recvUDP(v, len(msgs), 500*time.Millisecond)[9000])
	}
	if n, s := burst(0), v.Stats(); n != 256 || s.RxFillEmpty == 0 {
		t.Fatalf("unreserved: %d of 1000 received, %d dropped for want of a fill frame; want 256 and the rest dropped", n, s.RxFillEmpty)
	}
	before := v.Stats().RxFillEmpty
	v.ReserveRx(1200)
	if n, s := burst(1), v.Stats(); n != 1000 || s.RxFillEmpty != before {
		t.Fatalf("reserved 1200: %d of 1000 received, %d more dropped for want of a fill frame", n, s.RxFillEmpty-before)
	}
}

// buildUDP fills a frame from d with a UDP datagram from host src to dst.
func buildUDP(t testing.TB, d vi.Device, src, dst *netns.Host, sport, dport uint16, payload string) vi.Desc {
	t.Helper()
	ds := make([]vi.Desc, 1)
	if d.Alloc(ds) != 1 {
		t.Fatal("no free frame")
	}
	b := d.Bytes(ds[0])
	n := copy(b[wire.UDPHeadersLen:], payload)
	f := wire.UDPFrame{IP: wire.IPv4Header{TTL: 64, DF: true, Src: src.Addr.As4(), Dst: dst.Addr.As4()}, SrcPort: sport, DstPort: dport}
	copy(f.SrcMAC[:], src.MAC)
	copy(f.DstMAC[:], dst.MAC)
	ds[0].Len = uint32(wire.BuildUDPFrame(b, &f, n))
	return ds[0]
}

func TestVIToKernel(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	// With receive checksum offload off, A's kernel verifies every
	// checksum itself instead of trusting the veth.
	if out, err := pair.A.Command("ethtool", "-K", pair.A.Ifname, "rx", "off").CombinedOutput(); err != nil {
		t.Fatalf("ethtool: %v: %s", err, out)
	}
	_, v := openVI(t, pair.B)
	a := listenUDP(t, pair.A, 7000)
	// The kernel of A must know B's MAC to answer; frames from the VI need
	// no ARP of their own since the test fills the MACs in.
	good := buildUDP(t, v, pair.B, pair.A, 5000, 7000, "checksums verified")
	if n, err := v.Send([]vi.Desc{good}); n != 1 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	expectKernel(t, a, "checksums verified")

	// A corrupt UDP checksum must be dropped by A's kernel, which shows
	// that the good one really was checked.
	bad := buildUDP(t, v, pair.B, pair.A, 5000, 7000, "corrupt")
	b := v.Bytes(bad)
	b[wire.EthernetLen+wire.IPv4Len+6] ^= 0x5a
	if n, err := v.Send([]vi.Desc{bad}); n != 1 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	expectNothing(t, a)

	// A batch larger than copy mode's per-kick budget all arrives.
	const batch = 100
	ds := make([]vi.Desc, batch)
	for i := range ds {
		ds[i] = buildUDP(t, v, pair.B, pair.A, 5000, 7000, strconv.Itoa(i))
	}
	if n, err := v.Send(ds); n != batch || err != nil {
		t.Fatalf("send batch: %d, %v", n, err)
	}
	for i := range batch {
		expectKernel(t, a, strconv.Itoa(i))
	}
	if s := v.Stats(); s.TxPackets != batch+2 || s.Kicks == 0 {
		t.Errorf("stats %+v: want %d TX packets and kicks", s, batch+2)
	}
}

func TestSharedUMEM(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	p, v1 := openVI(t, pair.B)
	v2, err := p.NewVI()
	if err != nil {
		t.Fatal(err)
	}
	if v1.Owner().Slot() == v2.Owner().Slot() {
		t.Fatal("two VIs share a slot")
	}
	for i, v := range []*xsk.VI{v1, v2} {
		f := xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, uint16(9100+i))}
		if err := v.AddFilter(f); err != nil {
			t.Fatal(err)
		}
	}
	a := listenUDP(t, pair.A, 0)
	sendTo(t, a, pair.B, 9100, "v1-a", "v1-b")
	sendTo(t, a, pair.B, 9101, "v2-a", "v2-b", "v2-c")
	g1 := recvUDP(v1, 2, 3*time.Second)
	g2 := recvUDP(v2, 3, 3*time.Second)
	if fmt.Sprint(g1) != "map[9100:[v1-a v1-b]]" || fmt.Sprint(g2) != "map[9101:[v2-a v2-b v2-c]]" {
		t.Fatalf("VI 1 got %v, VI 2 got %v", g1, g2)
	}
	// Closing one VI gives its flow back to the kernel; the other goes on.
	if err := v2.Close(); err != nil {
		t.Fatal(err)
	}
	k := listenUDP(t, pair.B, 9101)
	sendTo(t, a, pair.B, 9101, "to kernel")
	expectKernel(t, k, "to kernel")
	sendTo(t, a, pair.B, 9100, "still v1")
	if g := recvUDP(v1, 1, 3*time.Second); fmt.Sprint(g) != "map[9100:[still v1]]" {
		t.Fatalf("VI 1 after VI 2 closed: %v", g)
	}
	// A new VI reuses the freed slot and its frames.
	v3, err := p.NewVI()
	if err != nil {
		t.Fatal(err)
	}
	v3.Close()
}

// xdpAttached reports whether an XDP program is attached to h's interface.
func xdpAttached(t testing.TB, h *netns.Host) bool {
	out, err := exec.Command("ip", "-n", h.NS, "-d", "link", "show", "dev", h.Ifname).CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show: %v: %s", err, out)
	}
	return bytes.Contains(out, []byte("prog/xdp"))
}

// rawSend sends a UDP datagram from host a to host b through d (a VI on a),
// so that it leaves on d's queue and arrives on b's queue of that number.
func rawSend(t testing.TB, d vi.Device, a, b *netns.Host, dport uint16, payload string) {
	t.Helper()
	f := buildUDP(t, d, a, b, 5555, dport, payload)
	if n, err := d.Send([]vi.Desc{f}); n != 1 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
}

func TestTwoProcessesAndSIGKILL(t *testing.T) {
	pair := netns.New(t, netns.Options{Queues: 2})
	// The helper is this test binary in another process: it enters B's
	// namespace, opens its own port on the same interface (the kernel
	// gives each process's UMEM a queue of its own), filters port 9300
	// and reports what it receives.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ACCEL_TEST_HELPER=vi-owner", "HELPER_NS="+pair.B.NS,
		"HELPER_IF="+pair.B.Ifname, "HELPER_ADDR="+pair.B.Addr.String(), "HELPER_PORT=9300")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	expectLine := func(want string) {
		t.Helper()
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("helper said %q, want %q", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("helper did not say %q", want)
		}
	}
	expectLine("ready queue 0")

	p, v := openVIQueue(t, pair.B, xsk.AnyQueue)
	if p.Queue() != 1 {
		t.Fatalf("second process got queue %d, want 1", p.Queue())
	}
	if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9200)}); err != nil {
		t.Fatal(err)
	}
	// The helper's filter is not ours to take.
	if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9300)}); err == nil {
		t.Fatal("took over a live process's filter")
	}
	// Host A sends from one VI per queue, to choose where frames arrive.
	_, a0 := openVIQueue(t, pair.A, 0)
	_, a1 := openVIQueue(t, pair.A, 1)
	k9200 := listenUDP(t, pair.B, 9200)
	k9300 := listenUDP(t, pair.B, 9300)

	rawSend(t, a0, pair.A, pair.B, 9300, "to helper")
	expectLine("9300 to helper")
	rawSend(t, a1, pair.A, pair.B, 9200, "to test")
	if g := recvUDP(v, 1, 3*time.Second); fmt.Sprint(g) != "map[9200:[to test]]" {
		t.Fatalf("test VI got %v", g)
	}
	expectNothing(t, k9300)
	expectNothing(t, k9200)
	// A frame of the test's flow on the helper's queue cannot reach the
	// test's socket: the kernel gets it, nothing is lost.
	rawSend(t, a0, pair.A, pair.B, 9200, "wrong queue")
	expectKernel(t, k9200, "wrong queue")

	cmd.Process.Kill()
	cmd.Wait()
	// The dead process's port is the kernel's again, at once.
	rawSend(t, a0, pair.A, pair.B, 9300, "after kill")
	expectKernel(t, k9300, "after kill")
	rawSend(t, a1, pair.A, pair.B, 9200, "survivor")
	if g := recvUDP(v, 1, 3*time.Second); fmt.Sprint(g) != "map[9200:[survivor]]" {
		t.Fatalf("surviving VI got %v", g)
	}
	vs, _ := p.Table().Verdicts()
	if vs[xdp.PassNoVI] == 0 || vs[xdp.PassQueue] == 0 {
		t.Errorf("verdicts %v: want pass_no_vi (dead owner) and pass_queue (wrong queue)", vs)
	}
	// A new owner of the dead process's slot takes its port over.
	v2, err := p.NewVI()
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9300)}); err != nil {
		t.Fatalf("take over the dead process's port: %v", err)
	}
	// The last process out detaches the program.
	if !xdpAttached(t, pair.B) {
		t.Fatal("no XDP program attached while a port is open")
	}
	p.Close()
	if xdpAttached(t, pair.B) {
		t.Fatal("XDP program still attached after the last port closed")
	}
}

// helperOwner is the helper process of TestTwoProcessesAndSIGKILL.
func helperOwner() int {
	h := &netns.Host{NS: os.Getenv("HELPER_NS"), Ifname: os.Getenv("HELPER_IF"), Addr: netip.MustParseAddr(os.Getenv("HELPER_ADDR"))}
	port, _ := strconv.Atoi(os.Getenv("HELPER_PORT"))
	var p *xsk.Port
	var v *xsk.VI
	err := h.Do(func() (err error) {
		if p, err = xsk.Open(xsk.Config{Interface: h.Ifname, Queue: xsk.AnyQueue, Frames: 1024, RingSize: 256}); err != nil {
			return err
		}
		if v, err = p.NewVI(); err != nil {
			return err
		}
		return v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(h.Addr, uint16(port))})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("ready queue", p.Queue())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for port, msgs := range recvUDP(v, 1, time.Second) {
			fmt.Println(port, strings.Join(msgs, ","))
		}
	}
	return 0
}

func TestNoAllocations(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	_, v := openVI(t, pair.B)
	ds := make([]vi.Desc, 8)
	allocs := testing.AllocsPerRun(200, func() {
		n := v.Alloc(ds)
		for i := range n {
			b := v.Bytes(ds[i])
			b[0] = 1
			ds[i].Len = 60
		}
		sent, _ := v.Send(ds[:n])
		v.Free(ds[sent:n])
		v.Free(ds[:v.Recv(ds)])
		_ = v.Stats()
	})
	if allocs != 0 {
		t.Fatalf("data path allocates %.1f times per round", allocs)
	}
}

func TestOpenErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := xsk.Open(xsk.Config{Interface: "no-such-if0"}); err == nil || !strings.Contains(err.Error(), "no-such-if0") {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := xsk.Open(xsk.Config{Interface: "lo", RingSize: 100}); err == nil || !strings.Contains(err.Error(), "ring size 100") {
		t.Errorf("bad ring size: %v", err)
	}
}

func netInterface(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifc.Index, nil
}

// TestSharedUMEMConcurrent drives two VIs of one port from two goroutines,
// as two threads with their own stacks do: each receives its flow and
// sends, through the shared pool, fill and completion rings. Run with -race.
func TestSharedUMEMConcurrent(t *testing.T) {
	pair := netns.New(t, netns.Options{})
	p, v1 := openVI(t, pair.B)
	v2, err := p.NewVI()
	if err != nil {
		t.Fatal(err)
	}
	vis := []*xsk.VI{v1, v2}
	for i, v := range vis {
		if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, uint16(9500+i))}); err != nil {
			t.Fatal(err)
		}
	}
	a := listenUDP(t, pair.A, 7000)
	const per = 200
	// Read the answers as they come: a kernel socket's buffer holds
	// only a few hundred small datagrams.
	acked := make(chan int)
	go func() {
		n := 0
		buf := make([]byte, 64)
		a.SetReadDeadline(time.Now().Add(8 * time.Second))
		for n < 2*per {
			if _, _, err := a.ReadFromUDP(buf); err != nil {
				break
			}
			n++
		}
		acked <- n
	}()
	counts := make(chan int, 2)
	for i, v := range vis {
		go func() {
			got := 0
			ds := make([]vi.Desc, 16)
			for end := time.Now().Add(5 * time.Second); got < per && time.Now().Before(end); {
				n := v.Recv(ds)
				for _, d := range ds[:n] {
					if port, _, ok := parseUDP(v.Bytes(d)); ok && port == uint16(9500+i) {
						got++
					}
				}
				v.Free(ds[:n])
				// Each received frame is answered from a fresh frame.
				for range n {
					f := buildUDP(t, v, pair.B, pair.A, uint16(9500+i), 7000, "ack")
					if k, _ := v.Send([]vi.Desc{f}); k != 1 {
						v.Free([]vi.Desc{f})
					}
				}
			}
			counts <- got
		}()
	}
	go func() {
		for i := range per {
			for port := 9500; port <= 9501; port++ {
				a.WriteToUDP([]byte(strconv.Itoa(i)), &net.UDPAddr{IP: pair.B.Addr.AsSlice(), Port: port})
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for range 2 {
		if got := <-counts; got != per {
			t.Fatalf("a VI received %d of %d", got, per)
		}
	}
	if acks := <-acked; acks != 2*per {
		t.Fatalf("%d of %d answers arrived", acks, 2*per)
	}
}

// TestXDPModeOnVeth checks which XDP mode the filter is attached in: on a
// veth of one queue, auto picks generic (native mode there adds a NAPI
// pass and a copy of every frame, see xdp.Table.attachLink); on one of
// several queues, native (generic XDP loses the queue); an explicit mode
// is kept. Frames reach the VI in each.
func TestXDPModeOnVeth(t *testing.T) {
	for _, c := range []struct {
		mode   xdp.Mode
		queues int
		want   string // what `ip link` prints for the attachment
	}{{xdp.ModeAuto, 1, "xdpgeneric"}, {xdp.ModeAuto, 2, "xdp"}, {xdp.ModeNative, 1, "xdp"}, {xdp.ModeGeneric, 1, "xdpgeneric"}} {
		t.Run(fmt.Sprintf("%s-%dq", c.mode, c.queues), func(t *testing.T) {
			pair := netns.New(t, netns.Options{Queues: c.queues})
			_, v := openVIConfig(t, pair.B, xsk.Config{Interface: pair.B.Ifname, Frames: 1024, RingSize: 256, XDP: c.mode})
			out, err := pair.B.Command("ip", "-o", "link", "show", "dev", pair.B.Ifname).CombinedOutput()
			if err != nil {
				t.Fatalf("ip link: %v\n%s", err, out)
			}
			if got := attachedMode(string(out)); got != c.want {
				t.Errorf("mode %s: attached as %q, want %q (ip link: %s)", c.mode, got, c.want, out)
			}
			if err := v.AddFilter(xdp.Filter{Proto: xdp.UDP, Local: netip.AddrPortFrom(pair.B.Addr, 9000)}); err != nil {
				t.Fatal(err)
			}
			// A kernel socket's frames take any of A's queues; a VI on
			// A's queue 0 lands them on B's queue 0, the port's.
			_, a := openVIQueue(t, pair.A, 0)
			rawSend(t, a, pair.A, pair.B, 9000, "m")
			if got := recvUDP(v, 1, 3*time.Second); fmt.Sprint(got[9000]) != "[m]" {
				t.Errorf("mode %s: VI received %v", c.mode, got)
			}
		})
	}
}

// attachedMode is the XDP attachment `ip -o link` shows: "xdp" (native),
// "xdpgeneric", "xdpoffload" or "".
func attachedMode(line string) string {
	for _, f := range strings.Fields(line) {
		switch f {
		case "xdp", "xdpgeneric", "xdpoffload", "xdpdrv":
			return f
		}
	}
	return ""
}
