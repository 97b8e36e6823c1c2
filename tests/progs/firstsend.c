/* firstsend times a process's first UDP datagram: a socket, then one
 * sendto of 8 bytes to ADDR:PORT, which under the preload is where the
 * socket is decided and, in a process with no stack yet, the Go part
 * loads and the stack, its VI and the interface's filter are made. It
 * prints the sendto's microseconds (BenchmarkFirstSend).
 *
 *	firstsend ADDR PORT
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: firstsend ADDR PORT\n");
		return 2;
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "firstsend: bad address %s\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("firstsend: socket");
		return 1;
	}
	double t0 = now_us();
	if (sendto(s, "12345678", 8, 0, (struct sockaddr *)&a, sizeof a) != 8) {
		perror("firstsend: sendto");
		return 1;
	}
	printf("%.1f\n", now_us() - t0);
	close(s);
	return 0;
}
