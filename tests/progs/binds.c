/* binds makes, binds and closes UDP sockets, one after the other, and
 * prints how long each took on average: the cost of a socket's decision
 * under the preload (BenchmarkSocketDecision).
 *
 *	binds ADDR N
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: binds ADDR N\n");
		return 2;
	}
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "binds: bad address %s\n", argv[1]);
		return 2;
	}
	int n = atoi(argv[2]);
	/* The first socket makes the stack (and starts the preload's Go
	 * part): not what is measured. */
	int first = socket(AF_INET, SOCK_DGRAM, 0);
	if (first < 0 || bind(first, (void *)&a, sizeof a) != 0) {
		perror("binds: first socket");
		return 1;
	}
	double t0 = now();
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s < 0 || bind(s, (void *)&a, sizeof a) != 0) {
			perror("binds: socket");
			return 1;
		}
		/* The number Linux gives: the lowest free, after the first
		 * socket. The Go part's own fds must not have taken it. */
		if (s != first + 1) {
			fprintf(stderr, "binds: socket %d got fd %d, want %d\n", i, s, first + 1);
			return 1;
		}
		close(s);
	}
	printf("%.0f ns per socket\n", (now() - t0) / n * 1e9);
	return 0;
}
