/* common.h: what the test programs of tests/progs share. */
#ifndef PROGS_COMMON_H
#define PROGS_COMMON_H

#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* cpu_ms is the process's CPU time so far, every thread's, in ms. */
static inline double cpu_ms(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

/* udp_to is a UDP socket connected to ADDR:PORT, or -1. */
static inline int udp_to(const char *addr, const char *port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
	if (fd < 0 || inet_pton(AF_INET, addr, &peer.sin_addr) != 1 || connect(fd, (void *)&peer, sizeof peer) != 0)
		return -1;
	return fd;
}

/* handle installs h for sig with flags, blocking nothing more. */
static inline void handle(int sig, void (*h)(int), int flags)
{
	struct sigaction sa = {.sa_handler = h, .sa_flags = flags};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

#endif
