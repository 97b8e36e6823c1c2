package stack

// Drop is why the stack dropped a frame or a datagram.
type Drop int

const (
	DropEthTruncated Drop = iota
	DropEthNotForUs       // destination MAC neither ours, broadcast nor multicast
	DropEtherType         // neither IPv4 nor ARP
	DropARPMalformed
	DropARPNotOwned // ARP arrived, but the kernel speaks ARP for our address
	DropIPTruncated
	DropIPVersion
	DropIPHeaderLen
	DropIPTotalLen
	DropIPChecksum
	DropIPTTL
	DropIPFragment // the filter gives fragments to the kernel; one got here anyway
	DropIPNotForUs // destination address not ours
	DropIPProto    // neither UDP nor TCP
	DropUDPTruncated
	DropUDPLength
	DropUDPChecksum
	DropUDPNoSocket // no socket for the port (closed while its filter was going)
	DropUDPRcvBuf   // the socket's receive buffer was full
	DropNoFrame     // no free frame to send with
	DropTxRing      // the device's TX ring was full
	DropPendingFull // too many datagrams waiting for one next hop
	DropUnresolved  // the next hop never resolved
	DropTCPTruncated
	DropTCPChecksum
	DropTCPOptions  // an option with an illegal length (RFC 9293 §3.1)
	DropTCPNoSocket // no connection or listener (answered with a RST)
	DropICMPStale   // an ICMP error quoting a sequence number not in flight (RFC 5927 §4.1)
	NumDrops
)

var dropNames = [NumDrops]string{
	"eth_truncated", "eth_not_for_us", "ethertype", "arp_malformed", "arp_not_owned",
	"ip_truncated", "ip_version", "ip_header_len", "ip_total_len", "ip_checksum", "ip_ttl",
	"ip_fragment", "ip_not_for_us", "ip_proto",
	"udp_truncated", "udp_length", "udp_checksum", "udp_no_socket", "udp_rcvbuf",
	"tx_no_frame", "tx_ring_full", "pending_full", "unresolved",
	"tcp_truncated", "tcp_checksum", "tcp_options", "tcp_no_socket", "icmp_stale",
}

func (d Drop) String() string {
	if d >= 0 && d < NumDrops {
		return dropNames[d]
	}
	return "drop?"
}

// Stats are a stack's counters.
type Stats struct {
	RxFrames uint64
	RxUDP    uint64 // datagrams from the device delivered to sockets
	RxKernel uint64 // datagrams kernel twins received (fragments, loopback, other interfaces)
	TxUDP    uint64 // datagrams sent through the device
	TxKernel uint64 // datagrams handed to kernel twins (other routes, over the MTU)
	// Requeued counts received datagrams moved into their kernel twins
	// when a fork or an exec shared the socket (requeue).
	Requeued uint64
	RxTCP    uint64 // TCP segments received
	TxTCP    uint64 // TCP segments sent
	// TimeWaitOverflow counts connections closed without TIME-WAIT for
	// the bound (Config.MaxTimeWait).
	TimeWaitOverflow uint64
	ARPIn            uint64
	ARPOut           uint64
	Drops            [NumDrops]uint64
}

// Stats returns the stack's counters.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Stack) drop(d Drop) { s.stats.Drops[d]++ }
