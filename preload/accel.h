/*
 * The boundary between libaccel.so (C: the interposers, the per-fd table,
 * the waiting) and libaccel-go.so (Go: the shim and the stack), which the
 * C part loads at the first socket it may accelerate.
 *
 * Every Go entry returns a value >= 0 on success, -errno on failure, or
 * one of the codes below.
 */
#ifndef ACCEL_H
#define ACCEL_H

#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Not the shim's to do: make the call in the kernel. */
#define ACCEL_PASS (-100000LL)
/* The fd is the kernel's again for good: clear its mark, then pass. */
#define ACCEL_FORGET (-100001LL)
/* Nothing yet: a blocking call waits and calls again. */
#define ACCEL_WAIT (-100002LL)
/* The call would make the Go part's own fds (a new stack): fill the low
 * fds, mark this thread as the filler, and call again. */
#define ACCEL_FILL (-100003LL)

/* The fds the C part's tables cover (fdtab, and the bits of fresh
 * sockets it gives the Go part at init). */
#define ACCEL_FD_TABLE (1 << 20)

/* accel_mirrored_bit is the bit of a tamed socket's option mask (see
 * tamed in accel.c) for an option the shim mirrors at every decision
 * (shim/shim.go: mirrored, and the two timeouts), or -1 for another
 * option. The Go part maps these bits to the shim's own order at init,
 * asking this function, so the two lists cannot drift apart unnoticed:
 * an option the shim mirrors and this does not know is read back every
 * time. */
static inline int accel_mirrored_bit(int level, int name)
{
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR: return 0;
		case SO_REUSEPORT: return 1;
		case SO_BROADCAST: return 2;
		case SO_RCVBUF: return 3;
		case SO_RCVTIMEO_OLD: case SO_RCVTIMEO_NEW: return 4;
		case SO_SNDTIMEO_OLD: case SO_SNDTIMEO_NEW: return 5;
		}
	} else if (level == IPPROTO_IP) {
		switch (name) {
		case IP_TTL: return 6;
		case IP_TOS: return 7;
		case IP_MULTICAST_TTL: return 8;
		case IP_MULTICAST_LOOP: return 9;
		}
	}
	return -1;
}

/* How many fds a wait sleeps on for the stacks (up to two per stack). */
#define ACCEL_MAX_WAIT 64
/* In an arm's result: some stack could not be watched (more than
 * ACCEL_MAX_WAIT / 2 in one wait), so the wait sleeps in short naps. */
#define ACCEL_WAIT_PARTIAL (1LL << 20)

#endif
