/*
 * sigrace: a handler that runs while a thread is inside a blocking
 * receive ends that receive, with data or with EINTR, and never leaves the
 * thread asleep (signal(7): a handler without SA_RESTART interrupts the
 * call it lands in).
 *
 * Each round a receiver thread blocks in recv; the echo of a datagram the
 * main thread sends wakes it; the main thread sends it SIGUSR1 after a
 * random 0-40 us, so the handler lands anywhere on the receive's way out
 * and back in. The handler notes whether it interrupted the preload's Go
 * part (its address in libaccel-go.so, or, since the preload defers a
 * handler that lands there to the end of that call, accel_deferred_signal
 * naming it), which runs only once a receive has
 * begun, as a system call has once it entered the kernel; the C part's
 * first instructions come before that point, like the program's own. A
 * round whose handler ran in Go and whose receiver then stayed asleep for
 * 300 ms is lost; one whose handler ran before the receive began is late
 * (the kernel has that race too); a second signal ends either.
 *
 *   sigrace LOCAL PEER PORT ROUNDS
 *
 * prints "ok rounds=N inside=N lost=N late=N", or why it failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static int fd, rounds;
static atomic_int started, finished;
static volatile sig_atomic_t stop, hit_inside;
static volatile int failed;

/* The preload's Go part's executable code, found once it is loaded. */
static struct {
	uintptr_t lo, hi;
} code[8];
static int ncode;

static int find_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libaccel-go"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && ncode < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			code[ncode].lo = info->dlpi_addr + ph->p_vaddr;
			code[ncode].hi = code[ncode].lo + ph->p_memsz;
			ncode++;
		}
	}
	return 0;
}

/* The preload runs a handler that lands inside its Go part (or in a
 * wait it has armed) when the thread is out of both, and says so. */
static int (*deferred_signal)(void);

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	(void)si;
	uintptr_t pc = (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
	for (int i = 0; i < ncode; i++)
		if (pc >= code[i].lo && pc < code[i].hi)
			hit_inside = 1;
	if (deferred_signal && deferred_signal() == sig)
		hit_inside = 1;
	stop = 1;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *receiver(void *arg)
{
	(void)arg;
	char b[64];
	for (int r = 1; r <= rounds && !failed; r++) {
		while (atomic_load(&started) < r)
			usleep(20);
		while (!stop) {
			ssize_t n = recv(fd, b, sizeof b, 0);
			if (n < 0 && errno != EINTR) {
				perror("sigrace: recv");
				failed = 1;
			}
		}
		atomic_store(&finished, r);
	}
	return NULL;
}

/* wait_round waits up to ms for the receiver to end round r. */
static int wait_round(int r, int ms)
{
	for (long long end = now_ns() + ms * 1000000LL; now_ns() < end;) {
		if (atomic_load(&finished) >= r)
			return 1;
		usleep(100);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	rounds = atoi(argv[4]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	struct sockaddr_in p = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	inet_pton(AF_INET, argv[1], &l.sin_addr);
	inet_pton(AF_INET, argv[2], &p.sin_addr);
	if (fd < 0 || bind(fd, (void *)&l, sizeof l) || connect(fd, (void *)&p, sizeof p)) {
		perror("sigrace: bind/connect");
		return 1;
	}
	char b[8];
	recv(fd, b, sizeof b, MSG_DONTWAIT); /* the preload is loaded by now */
	dl_iterate_phdr(find_code, NULL);
	deferred_signal = (int (*)(void))dlsym(RTLD_DEFAULT, "accel_deferred_signal");
	struct sigaction act = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &act, NULL);
	pthread_t t;
	pthread_create(&t, NULL, receiver, NULL);
	unsigned seed = 12345;
	int inside = 0, lost = 0, late = 0;
	for (int r = 1; r <= rounds && !failed; r++) {
		stop = 0;
		hit_inside = 0;
		atomic_store(&started, r);
		usleep(400); /* the receiver is asleep in recv */
		if (send(fd, "ping", 4, 0) != 4) {
			perror("sigrace: send");
			return 1;
		}
		seed = seed * 1103515245 + 12345;
		for (long long end = now_ns() + (seed >> 8) % 40000; now_ns() < end;)
			;
		pthread_kill(t, SIGUSR1);
		if (!wait_round(r, 300)) {
			if (hit_inside)
				lost++;
			else
				late++;
			pthread_kill(t, SIGUSR1);
			if (!wait_round(r, 3000)) {
				printf("FAIL round %d: the receiver is still asleep after two signals\n", r);
				return 1;
			}
		}
		inside += hit_inside;
	}
	pthread_join(t, NULL);
	if (failed)
		return 1;
	printf("ok rounds=%d inside=%d lost=%d late=%d code=%d\n", rounds, inside, lost, late, ncode);
	return 0;
}
