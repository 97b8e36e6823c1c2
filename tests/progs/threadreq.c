/*
 * threadreq: a client that runs each request on a new thread: a socket,
 * one round trip, close, exit. With ACCEL_STACK_PER_THREAD=1 every thread
 * made a stack and a VI, which stayed after it: fds went from 27 to 370
 * over 50 threads. Exited threads' stacks must be closed (the progress
 * engine looks once a second).
 *
 * It runs N threads one after the other, then waits WAIT_MS, and counts
 * its open fds after the first thread and at the end.
 *
 *   threadreq PEER PORT N WAIT_MS
 *
 * prints "ok answered=N fds_first=N fds_end=N", or why it failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char *peer, *port;
static atomic_int answered;

static void *request(void *arg)
{
	(void)arg;
	int fd = udp_to(peer, port);
	if (fd < 0)
		return NULL;
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char b[64] = "request";
	if (send(fd, b, sizeof b, 0) == (ssize_t)sizeof b && recv(fd, b, sizeof b, 0) == (ssize_t)sizeof b)
		atomic_fetch_add(&answered, 1);
	close(fd);
	return NULL;
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: threadreq PEER PORT N WAIT_MS\n");
		return 2;
	}
	peer = argv[1];
	port = argv[2];
	int n = atoi(argv[3]), first = -1;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, request, NULL) != 0 || pthread_join(t, NULL) != 0) {
			printf("fail: thread %d\n", i);
			return 1;
		}
		if (i == 0)
			first = open_fds();
	}
	usleep(atoi(argv[4]) * 1000);
	printf("ok answered=%d fds_first=%d fds_end=%d\n", atomic_load(&answered), first, open_fds());
	return 0;
}
