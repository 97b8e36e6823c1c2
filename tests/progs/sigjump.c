/*
 * sigjump: the timeout idiom of many UDP clients (Stevens' dg_cli): a
 * receive that nobody answers, ended by an alarm whose handler
 * siglongjmps out of it. Under the preload the handler used to land
 * inside the Go part, and the jump left Go's callback unfinished: the
 * thread's later calls all went to the kernel (and the next garbage
 * collection would have waited for that callback for ever); one that
 * landed in a sleep left its wait armed, and the stack's later sleeps
 * returned at once.
 *
 * ROUNDS receives on PEER:SILENT end by the alarm; then 1000 round trips
 * with PEER:ECHO; then one last receive with a 500 ms timeout, nobody
 * sending, whose CPU time it reports.
 *
 *   sigjump PEER SILENT ECHO ROUNDS
 *
 * prints "ok timeouts=N rounds=N idle_cpu_ms=N", or why it failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

static sigjmp_buf jump;

static void on_alarm(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: sigjump PEER SILENT ECHO ROUNDS\n");
		return 2;
	}
	handle(SIGALRM, on_alarm, 0);
	int fd = udp_to(argv[1], argv[2]);
	if (fd < 0) {
		printf("fail: socket: %m\n");
		return 1;
	}
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &peer.sin_addr);
	char b[64] = "x";
	volatile int timeouts = 0;
	int rounds = atoi(argv[4]);
	for (volatile int i = 0; i < rounds; i++) {
		struct itimerval it = {{0, 0}, {0, 1000 + (i % 7) * 300}};
		if (sigsetjmp(jump, 1) != 0) {
			timeouts++;
			continue;
		}
		setitimer(ITIMER_REAL, &it, NULL);
		recv(fd, b, sizeof b, 0); /* nobody answers */
		printf("fail: a receive nobody answered returned\n");
		return 1;
	}
	peer.sin_port = htons(atoi(argv[3]));
	if (connect(fd, (void *)&peer, sizeof peer) != 0) {
		printf("fail: connect: %m\n");
		return 1;
	}
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int ok = 0;
	for (int i = 0; i < 1000; i++) {
		send(fd, b, sizeof b, 0);
		if (recv(fd, b, sizeof b, 0) == (ssize_t)sizeof b)
			ok++;
	}
	peer.sin_port = htons(atoi(argv[2]));
	connect(fd, (void *)&peer, sizeof peer);
	tv = (struct timeval){.tv_usec = 500000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	double c0 = cpu_ms();
	recv(fd, b, sizeof b, 0);
	printf("ok timeouts=%d rounds=%d idle_cpu_ms=%.0f\n", timeouts, ok, cpu_ms() - c0);
	return 0;
}
