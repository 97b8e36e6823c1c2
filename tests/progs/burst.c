/* burst sends N datagrams to ADDR:PORT from port 7411, as fast as it can,
 * and exits at once: what a sender queued must not die with it.
 *
 *	burst ADDR PORT N
 *
 * A first datagram, and a pause, resolve the neighbour before the burst.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: burst ADDR PORT N\n");
		return 2;
	}
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &d.sin_addr) != 1) {
		fprintf(stderr, "burst: bad address %s\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7411)};
	if (s < 0 || bind(s, (void *)&a, sizeof a) != 0) {
		perror("burst: socket");
		return 1;
	}
	if (sendto(s, "first", 5, 0, (void *)&d, sizeof d) != 5) {
		perror("burst: first");
		return 1;
	}
	usleep(200000);
	int n = atoi(argv[3]);
	for (int i = 0; i < n; i++) {
		char b[32];
		int k = snprintf(b, sizeof b, "m%d", i);
		if (sendto(s, b, k, 0, (void *)&d, sizeof d) != k) {
			perror("burst: sendto");
			return 1;
		}
	}
	return 0;
}
