/* idlewait is an event loop with nothing to do: N UDP sockets bound to
 * ADDR in one epoll set, and ITER waits of MS milliseconds each. It prints
 * the process's CPU time (every thread's, user and system) per wait: what
 * an idle program costs under the preload (BenchmarkIdleWait).
 *
 *	idlewait ADDR N ITER MS
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static double cpu_us(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: idlewait ADDR N ITER MS\n");
		return 2;
	}
	int n = atoi(argv[2]), iter = atoi(argv[3]), ms = atoi(argv[4]);
	int ep = epoll_create1(0);
	if (ep < 0) {
		perror("idlewait: epoll_create1");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(20000 + i)};
		if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
			fprintf(stderr, "idlewait: bad address %s\n", argv[1]);
			return 2;
		}
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		if (s < 0 || bind(s, (void *)&a, sizeof a) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0) {
			perror("idlewait: socket");
			return 1;
		}
	}
	/* The first waits settle what start-up left (threads, timers). */
	struct epoll_event out[16];
	for (int i = 0; i < 20; i++)
		epoll_wait(ep, out, 16, ms);
	double c0 = cpu_us();
	for (int i = 0; i < iter; i++) {
		int r = epoll_wait(ep, out, 16, ms);
		if (r != 0) {
			fprintf(stderr, "idlewait: epoll_wait returned %d\n", r);
			return 1;
		}
	}
	printf("%.1f\n", (cpu_us() - c0) / iter);
	return 0;
}
