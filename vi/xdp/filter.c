//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// accel's flow filter: the NIC filter table of the Onload model, built as an
// XDP program. A frame that matches a filter is redirected to the AF_XDP
// socket (VI) that owns the filter; everything else is passed to the kernel.
//
// Lookup order (most specific first, as a NIC's filter table does):
//   1. (proto, local ip, local port, remote ip, remote port)  full match
//   2. (proto, local ip, local port)                          local match
//   3. (proto, any ip,   local port)                          wildcard match
// ARP whose target protocol address a stack owns alone is steered by a
// separate table keyed by that address.
//
// A filter names its owner by slot and by the owner's cookie. Each slot's
// current cookie is kept in slots; a filter left behind by an owner
// that died (even by SIGKILL) no longer matches the cookie of its slot, so its
// traffic goes to the kernel instead of being black-holed. When the owner's
// socket closes, the kernel empties its XSKMAP slot as well and
// bpf_redirect_map falls back to XDP_PASS.
//
// Go side: vi/xdp. Regenerate with `go generate ./vi/xdp` (needs clang).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_SLOTS 64

// Verdict reasons; vi/xdp.Verdict mirrors this list.
enum verdict {
	V_REDIRECT = 0,   // handed to a VI
	V_PASS_NOT_IPV4,  // not IPv4 or ARP (IPv6, VLAN, ...)
	V_PASS_ARP,       // ARP for an address no stack owns alone
	V_PASS_OPTIONS,   // IPv4 header with options
	V_PASS_FRAGMENT,  // IPv4 fragment: the kernel reassembles
	V_PASS_PROTO,     // neither TCP nor UDP (ICMP, ...)
	V_PASS_NO_MATCH,  // no filter for the flow
	V_PASS_STALE,     // the filter's owner is gone (cookie mismatch)
	V_PASS_NO_VI,     // the owner's slot is empty (socket closed)
	V_PASS_TRUNCATED, // frame too short for its headers
	V_PASS_QUEUE,     // arrived on another queue than the owner's socket
	V_MAX,
};

struct flow_key {
	__u32 local_ip;    // network byte order; 0 for "any address"
	__u32 remote_ip;   // network byte order; 0 unless a full match
	__u16 local_port;  // network byte order
	__u16 remote_port; // network byte order; 0 unless a full match
	__u8 proto;        // IPPROTO_TCP or IPPROTO_UDP
	__u8 pad[3];
};

struct target {
	__u32 slot;
	__u32 cookie;
	__u64 packets; // per CPU: only this CPU's program writes it
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// What the program knows of a slot's owner: its cookie, and the queue its
// socket is bound to (a socket only receives frames from its own queue; a
// redirect from another queue would be dropped, so such frames pass).
struct slot_info {
	__u32 cookie;
	__u32 queue;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct slot_info);
} slots SEC(".maps");

// Entries are allocated as filters come, not all at the map's creation
// (BPF_F_NO_PREALLOC): 65536 per-CPU entries made in advance took 60-70
// ms of the first accelerated socket's send in a process that attached
// the program (72% of the samples of a fresh process's first datagram),
// where an insertion's own allocation is a few microseconds of a
// decision. Only user space inserts; the program only looks up.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_key);
	__type(value, struct target);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct target);
} arp_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, V_MAX);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int count(__u32 v, int action)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &v);
	if (n)
		*n += 1;
	return action;
}

// deliver redirects to the target's VI when the target's owner is alive and
// listens on the queue the frame arrived on.
static __always_inline int deliver(struct xdp_md *ctx, struct target *t, __u64 len)
{
	__u32 slot = t->slot;
	struct slot_info *si = bpf_map_lookup_elem(&slots, &slot);
	if (!si || si->cookie != t->cookie)
		return count(V_PASS_STALE, XDP_PASS);
	if (si->queue != ctx->rx_queue_index)
		return count(V_PASS_QUEUE, XDP_PASS);
	t->packets += 1;
	t->bytes += len;
	// The low bits of flags are the action when the slot is empty.
	if (bpf_redirect_map(&xsks, slot, XDP_PASS) != XDP_REDIRECT)
		return count(V_PASS_NO_VI, XDP_PASS);
	return count(V_REDIRECT, XDP_REDIRECT);
}

struct arp_ipv4 {
	__be16 htype, ptype;
	__u8 hlen, plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

SEC("xdp")
int accel_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return count(V_PASS_TRUNCATED, XDP_PASS);

	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		struct arp_ipv4 *arp = (void *)(eth + 1);
		if ((void *)(arp + 1) > end)
			return count(V_PASS_TRUNCATED, XDP_PASS);
		if (arp->ptype != bpf_htons(ETH_P_IP) || arp->plen != 4)
			return count(V_PASS_ARP, XDP_PASS);
		__u32 tpa;
		__builtin_memcpy(&tpa, arp->tpa, 4);
		struct target *t = bpf_map_lookup_elem(&arp_targets, &tpa);
		if (!t)
			return count(V_PASS_ARP, XDP_PASS);
		return deliver(ctx, t, len);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(V_PASS_NOT_IPV4, XDP_PASS);

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return count(V_PASS_TRUNCATED, XDP_PASS);
	// Options are rare and the stack's fast path does not parse them; the
	// kernel handles such packets (RFC 791 §3.1: IHL > 5).
	if (ip->version != 4 || ip->ihl != 5)
		return count(V_PASS_OPTIONS, XDP_PASS);
	// More-fragments set or a non-zero offset: the kernel reassembles and
	// the socket's kernel twin receives the datagram.
	if (ip->frag_off & bpf_htons(0x3fff))
		return count(V_PASS_FRAGMENT, XDP_PASS);
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return count(V_PASS_PROTO, XDP_PASS);

	// TCP and UDP both start with source port, destination port.
	__be16 *ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > end)
		return count(V_PASS_TRUNCATED, XDP_PASS);

	struct flow_key k = {
		.local_ip = ip->daddr,
		.remote_ip = ip->saddr,
		.local_port = ports[1],
		.remote_port = ports[0],
		.proto = ip->protocol,
	};
	struct target *t = bpf_map_lookup_elem(&flows, &k);
	if (t)
		return deliver(ctx, t, len);
	k.remote_ip = 0;
	k.remote_port = 0;
	t = bpf_map_lookup_elem(&flows, &k);
	if (t)
		return deliver(ctx, t, len);
	k.local_ip = 0;
	t = bpf_map_lookup_elem(&flows, &k);
	if (t)
		return deliver(ctx, t, len);
	return count(V_PASS_NO_MATCH, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
