/*
 * cancelwait: a thread cancelled while it sleeps in an accelerated recv
 * leaves nothing behind. It used to leave its stack counting a sleeper
 * that never disarmed, with the wake-up fd raised for it, and every later
 * sleep on the stack returned at once: the program spun at 100% CPU.
 *
 * A reader thread blocks in recv on LOCAL:PORT and is cancelled after
 * 300 ms; the program then creates MARK and receives N datagrams (3 s
 * timeout each), and says how much CPU those receives took.
 *
 *   cancelwait LOCAL PORT MARK N
 *
 * prints "ok datagrams=N cpu_ms=M", or why it failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static int fd;

static void *reader(void *arg)
{
	char b[64];
	recv(fd, b, sizeof b, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: cancelwait LOCAL PORT MARK N\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (fd < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || bind(fd, (void *)&a, sizeof a) != 0) {
		printf("fail: bind: %m\n");
		return 1;
	}
	pthread_t t;
	void *res;
	pthread_create(&t, NULL, reader, NULL);
	usleep(300000); /* asleep in recv, past any spin */
	if (pthread_cancel(t) != 0 || pthread_join(t, &res) != 0 || res != PTHREAD_CANCELED) {
		printf("fail: the reader was not cancelled\n");
		return 1;
	}
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int mark = open(argv[3], O_CREAT | O_WRONLY, 0600);
	if (mark < 0) {
		printf("fail: %s: %m\n", argv[3]);
		return 1;
	}
	close(mark);
	int want = atoi(argv[4]), n = 0;
	double c0 = cpu_ms();
	char b[64];
	while (n < want && recv(fd, b, sizeof b, 0) > 0)
		n++;
	printf("ok datagrams=%d cpu_ms=%.0f\n", n, cpu_ms() - c0);
	return 0;
}
