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

/* How many fds a wait sleeps on for the stacks (up to two per stack). */
#define ACCEL_MAX_WAIT 64
/* In an arm's result: some stack could not be watched (more than
 * ACCEL_MAX_WAIT / 2 in one wait), so the wait sleeps in short naps. */
#define ACCEL_WAIT_PARTIAL (1LL << 20)

#endif
