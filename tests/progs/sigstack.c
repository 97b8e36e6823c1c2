/*
 * sigstack: the application's signal handlers run on a stack with room
 * for them, however often they land inside the preload's Go part.
 *
 * A SIGALRM handler that uses 64 KB of stack interrupts a ping-pong every
 * 200 us; one handler is installed before the first socket (before the Go
 * part loads) and, for the second half, again after it. Each time it runs
 * the handler checks where it is: on the thread's own stack, or on a
 * signal stack (sigaltstack) of at least 128 KB. A handler found anywhere
 * else (a goroutine's stack of a few KB, or Go's own 32 KB signal stack)
 * counts as misplaced; writing its 64 KB there corrupted the Go heap.
 *
 *   sigstack PEER PORT ROUNDS
 *
 * prints "ok handled=N misplaced=N rounds=N", or why it failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

static char *lo, *hi;
static volatile sig_atomic_t handled, misplaced;
static volatile char sink;

static void on_alarm(int sig)
{
	volatile char big[64 * 1024];
	stack_t alt;
	char *here = (char *)&alt;
	int ok = here >= lo && here < hi;
	if (!ok && sigaltstack(NULL, &alt) == 0 && (alt.ss_flags & SS_ONSTACK))
		ok = here >= (char *)alt.ss_sp && here < (char *)alt.ss_sp + alt.ss_size && alt.ss_size >= 128 * 1024;
	if (!ok) {
		misplaced++;
		handled++;
		return; /* its 64 KB would overrun what it is on */
	}
	for (size_t i = 0; i < sizeof big; i += 256)
		big[i] = (char)i;
	sink = big[1024];
	handled++;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: sigstack PEER PORT ROUNDS\n");
		return 2;
	}
	pthread_attr_t a;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a) != 0 || pthread_attr_getstack(&a, &addr, &size) != 0) {
		printf("fail: no stack bounds\n");
		return 1;
	}
	lo = addr;
	hi = lo + size;
	handle(SIGALRM, on_alarm, SA_RESTART);
	int fd = udp_to(argv[1], argv[2]);
	if (fd < 0) {
		printf("fail: socket: %m\n");
		return 1;
	}
	int rounds = atoi(argv[3]), done = 0;
	struct itimerval it = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &it, NULL);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[64] = "ping";
	for (int i = 0; i < rounds; i++) {
		if (i == rounds / 2)
			handle(SIGALRM, on_alarm, SA_RESTART); /* again, with the Go part loaded */
		if (send(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
			printf("fail: send: %m\n");
			return 1;
		}
		if (recv(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf)
			done++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("ok handled=%d misplaced=%d rounds=%d\n", (int)handled, (int)misplaced, done);
	return 0;
}
