/*
 * udppp: a UDP ping-pong between two hosts, in plain C with the socket
 * API, for running under the preload. Each of THREADS threads has its own
 * socket and port (PORT + thread index) and its own peer socket.
 *
 *   udppp server ADDR PORT THREADS COUNT WAIT
 *   udppp client ADDR PORT THREADS COUNT WAIT
 *
 * WAIT is how a thread waits for a datagram: block (recv), poll, select,
 * epoll, or spin (MSG_DONTWAIT). The server echoes COUNT datagrams per
 * thread and exits; the client sends COUNT round trips per thread, checks
 * every answer, and prints "ok", the round trips and their median in ns.
 * Any failure prints why and exits 1; every wait is bounded (5 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int server, threads, count, port;
static const char *addr, *how;
static long long *rtts;

static long long now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "udppp: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* waitfor waits until fd is readable, as WAIT says; 0 on time-out. */
static int waitfor(int fd, int ep)
{
	if (!strcmp(how, "poll")) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 5000);
		if (r < 0)
			die("poll");
		return r == 1 && (p.revents & POLLIN);
	}
	if (!strcmp(how, "select")) {
		fd_set s;
		FD_ZERO(&s);
		FD_SET(fd, &s);
		struct timeval tv = {5, 0};
		int r = select(fd + 1, &s, NULL, NULL, &tv);
		if (r < 0)
			die("select");
		return r == 1 && FD_ISSET(fd, &s);
	}
	if (!strcmp(how, "epoll")) {
		struct epoll_event ev;
		int r = epoll_wait(ep, &ev, 1, 5000);
		if (r < 0)
			die("epoll_wait");
		return r == 1 && ev.data.fd == fd;
	}
	return 1;
}

static int recv1(int fd, int ep, char *buf, size_t len)
{
	long long deadline = now() + 5000000000LL;
	for (;;) {
		if (!waitfor(fd, ep)) {
			fprintf(stderr, "udppp: no datagram in 5 s (%s)\n", how);
			exit(1);
		}
		int flags = strcmp(how, "block") ? MSG_DONTWAIT : 0;
		ssize_t n = recv(fd, buf, len, flags);
		if (n >= 0)
			return (int)n;
		if (errno != EAGAIN && errno != EINTR)
			die("recv");
		if (now() > deadline) {
			fprintf(stderr, "udppp: no datagram in 5 s (%s)\n", how);
			exit(1);
		}
	}
}

static void *run(void *arg)
{
	long i = (long)arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	struct timeval tv = {5, 0};
	if (!strcmp(how, "block") && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv))
		die("SO_RCVTIMEO");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port + i)};
	if (server) {
		if (bind(fd, (void *)&sa, sizeof sa))
			die("bind");
	} else {
		inet_pton(AF_INET, addr, &sa.sin_addr);
		if (connect(fd, (void *)&sa, sizeof sa))
			die("connect");
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll");
	char buf[2048], msg[64];
	memset(msg, 'a' + i, sizeof msg);
	for (int k = 0; k < count; k++) {
		if (server) {
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			if (!strcmp(how, "block")) {
				ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (void *)&from, &fl);
				if (n < 0)
					die("recvfrom");
				if (sendto(fd, buf, n, 0, (void *)&from, fl) != n)
					die("sendto");
				continue;
			}
			for (;;) {
				waitfor(fd, ep);
				ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (void *)&from, &fl);
				if (n >= 0) {
					if (sendto(fd, buf, n, 0, (void *)&from, fl) != n)
						die("sendto");
					break;
				}
				if (errno != EAGAIN)
					die("recvfrom");
			}
			continue;
		}
		memcpy(msg, &k, sizeof k);
		long long t = now();
		if (send(fd, msg, sizeof msg, 0) != sizeof msg)
			die("send");
		int n = recv1(fd, ep, buf, sizeof buf);
		rtts[i * count + k] = now() - t;
		if (n != sizeof msg || memcmp(buf, msg, sizeof msg)) {
			fprintf(stderr, "udppp: thread %ld round trip %d: wrong answer (%d bytes)\n", i, k, n);
			exit(1);
		}
	}
	close(ep);
	close(fd);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: udppp server|client ADDR PORT THREADS COUNT block|poll|select|epoll|spin\n");
		return 2;
	}
	server = !strcmp(argv[1], "server");
	addr = argv[2];
	port = atoi(argv[3]);
	threads = atoi(argv[4]);
	count = atoi(argv[5]);
	how = argv[6];
	rtts = calloc((size_t)threads * count, sizeof *rtts);
	pthread_t t[64];
	if (threads < 1 || threads > 64 || !rtts)
		return 2;
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	if (!server) {
		int n = threads * count;
		qsort(rtts, n, sizeof *rtts, cmp);
		printf("ok %d p50_ns %lld p99_ns %lld\n", n, rtts[n / 2], rtts[n * 99 / 100]);
	}
	return 0;
}
