/*
 * sigs: asynchronous signals must never run on the preload's threads
 * (ARCHITECTURE §7). The program makes an accelerated socket (so Go's
 * runtime and its threads start), then sends itself process-directed
 * signals: every SIGUSR1 handler must run on the main thread, and every
 * SIGUSR2, blocked and read through a signalfd, must reach the signalfd
 * (a thread that did not block it would die of it, and the process too).
 *
 *   sigs ADDR PORT    prints "ok handler=N signalfd=N"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int handled, wrong;
static pid_t main_tid;

static void on_usr1(int sig)
{
	(void)sig;
	if (gettid() != main_tid)
		wrong++;
	handled++;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	main_tid = gettid();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	if (fd < 0 || bind(fd, (void *)&sa, sizeof sa)) {
		perror("sigs: bind");
		return 1;
	}
	/* A receive with nothing there: the shim is in use. */
	char b[8];
	recv(fd, b, sizeof b, MSG_DONTWAIT);
	struct sigaction act = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &act, NULL);
	const int n = 50;
	for (int i = 0; i < n; i++) {
		int before = handled;
		kill(getpid(), SIGUSR1);
		for (int k = 0; k < 1000 && handled == before; k++)
			usleep(100);
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, 0);
	int got = 0;
	for (int i = 0; i < n; i++) {
		kill(getpid(), SIGUSR2);
		struct pollfd p = {.fd = sfd, .events = POLLIN};
		if (poll(&p, 1, 1000) == 1) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2)
				got++;
		}
	}
	if (wrong || handled != n || got != n) {
		printf("FAIL handler=%d wrong-thread=%d signalfd=%d\n", handled, wrong, got);
		return 1;
	}
	printf("ok handler=%d signalfd=%d\n", handled, got);
	return 0;
}
