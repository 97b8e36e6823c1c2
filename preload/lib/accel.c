/*
 * libaccel.so: the part of accel that every process under LD_PRELOAD runs.
 *
 * It interposes the socket API. A byte per fd says what the fd is to accel:
 * a kernel fd (every call goes straight to libc, ~2 ns of checking), a
 * candidate (an AF_INET datagram socket not yet decided), or accelerated.
 * The Go part (libaccel-go.so: the shim and the stack) is loaded with
 * dlopen when a candidate first binds, connects or sends, so that processes
 * that never make an accelerated socket (shells, tools, daemons before
 * they fork) never start Go's runtime (ARCHITECTURE §6).
 *
 * Every entry into Go passes the checks of ARCHITECTURE §7: Go is loaded
 * and ready; this process is the one that loaded it (a child forked after
 * Go was loaded must not enter it: its runtime threads are gone); this
 * thread is not already inside Go (a signal handler that interrupted Go);
 * errno is saved and restored. A call that cannot enter Go goes to libc.
 *
 * Blocking is done here: Go's calls never block. A call that must wait
 * spins (calling Go again) for ACCEL_SPIN_USEC, then sleeps in ppoll(2) on
 * the stacks' wait fds and the application's other fds, and calls again.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/sockios.h>

#include "../accel.h"

#define EXPORT __attribute__((visibility("default")))
/* Thread-locals in the static TLS block: this library is preloaded, so the
 * block has room for them when it loads, and each access is one load off
 * %fs. A -fPIC library's default model calls __tls_get_addr at each
 * access, which was 1.5 to 2 % of a sleeping ping-pong thread's samples. */
#define THREAD __thread __attribute__((tls_model("initial-exec")))

/* ---- libc's functions ---- */

#define REAL(name) real_##name
#define DECLARE(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)

DECLARE(int, socket, int, int, int);
DECLARE(int, bind, int, const struct sockaddr *, socklen_t);
DECLARE(int, connect, int, const struct sockaddr *, socklen_t);
DECLARE(int, close, int);
DECLARE(int, close_range, unsigned, unsigned, int);
DECLARE(int, dup, int);
DECLARE(int, dup2, int, int);
DECLARE(int, dup3, int, int, int);
DECLARE(int, fcntl, int, int, ...);
DECLARE(int, fcntl64, int, int, ...);
DECLARE(int, ioctl, int, unsigned long, ...);
DECLARE(int, shutdown, int, int);
DECLARE(int, setsockopt, int, int, int, const void *, socklen_t);
DECLARE(int, getsockopt, int, int, int, void *, socklen_t *);
DECLARE(ssize_t, send, int, const void *, size_t, int);
DECLARE(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
DECLARE(ssize_t, sendmsg, int, const struct msghdr *, int);
DECLARE(int, sendmmsg, int, struct mmsghdr *, unsigned int, int);
DECLARE(ssize_t, recv, int, void *, size_t, int);
DECLARE(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *);
DECLARE(ssize_t, recvmsg, int, struct msghdr *, int);
DECLARE(int, recvmmsg, int, struct mmsghdr *, unsigned int, int, struct timespec *);
DECLARE(ssize_t, read, int, void *, size_t);
DECLARE(ssize_t, write, int, const void *, size_t);
DECLARE(ssize_t, readv, int, const struct iovec *, int);
DECLARE(ssize_t, writev, int, const struct iovec *, int);
DECLARE(int, poll, struct pollfd *, nfds_t, int);
DECLARE(int, ppoll, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
DECLARE(int, select, int, fd_set *, fd_set *, fd_set *, struct timeval *);
DECLARE(int, pselect, int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
DECLARE(int, epoll_ctl, int, int, int, struct epoll_event *);
DECLARE(int, epoll_wait, int, struct epoll_event *, int, int);
DECLARE(int, epoll_pwait, int, struct epoll_event *, int, int, const sigset_t *);
DECLARE(int, epoll_pwait2, int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
DECLARE(pid_t, fork, void);
DECLARE(int, execve, const char *, char *const[], char *const[]);
DECLARE(int, execveat, int, const char *, char *const[], char *const[], int);
DECLARE(int, fexecve, int, char *const[], char *const[]);
DECLARE(int, execv, const char *, char *const[]);
DECLARE(int, execvp, const char *, char *const[]);
DECLARE(int, execvpe, const char *, char *const[], char *const[]);
DECLARE(int, posix_spawn, pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	char *const[], char *const[]);
DECLARE(int, posix_spawnp, pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	char *const[], char *const[]);
DECLARE(int, system, const char *);
DECLARE(int, setns, int, int);
DECLARE(int, unshare, int);

/* resolve finds libc's definition of a function we interpose. A missing
 * one (an older libc without close_range or epoll_pwait2) stays NULL and
 * its interposer answers ENOSYS, as that libc would have. */
static void *resolve(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define RESOLVE(name) (real_##name ? 0 : (real_##name = resolve(#name), 0))

/* ---- the fd table ---- */

enum {
	FD_KERNEL = 0,
	FD_CAND = 1,   /* AF_INET datagram socket, not decided */
	FD_ACCEL = 2,  /* accelerated: the shim has it */
	FD_KIND = 3,
	FD_SHADOW = 4, /* an epoll fd with accelerated members or nested sets */
	FD_EPOLLFD = 8, /* an epoll fd */
	FD_GO = 16,     /* one of the Go part's own fds (see go_fds) */
	/* An epoll fd with duplicates: another fd may add accelerated
	 * members to the instance, so it is always treated as shadowed. */
	FD_EPALIAS = 32,
	FD_GROUP = 64, /* in the table of fd groups (see groups) */
	/* A socket the program made: never one of the Go part's, even when
	 * another thread made it while a decision filled the low fds and it
	 * landed in the Go part's band (unfill). */
	FD_APP = 128,
};

#define FD_TABLE ACCEL_FD_TABLE
static unsigned char fdtab[FD_TABLE];

static inline int kind(int fd)
{
	return (unsigned)fd < FD_TABLE ? (fdtab[fd] & FD_KIND) : FD_KERNEL;
}

static inline void set_kind(int fd, int k)
{
	if ((unsigned)fd < FD_TABLE)
		fdtab[fd] = (fdtab[fd] & ~FD_KIND) | k;
}

/* An fd's generation moves on when the program closes it, or puts
 * another file on its number (dup2), while the shim knows it. A thread
 * waiting in a receive or send on an accelerated fd (io) looks at it
 * between its calls into the stack: once it moved, the socket the thread
 * waits on is gone, and the number may already be another socket's,
 * whose datagrams the thread took (a receive blocked on a socket that
 * another thread closed got the next datagram of the socket opened after
 * it on the same number). Linux keeps such a thread on the closed socket
 * until its call ends; here it ends with EBADF. Untouched entries cost
 * no memory. */
static uint16_t fdgen[FD_TABLE];

static inline unsigned fd_gen(int fd)
{
	return (unsigned)fd < FD_TABLE ? __atomic_load_n(&fdgen[fd], __ATOMIC_ACQUIRE) : 0;
}

static inline void fd_gone(int fd)
{
	if ((unsigned)fd < FD_TABLE)
		__atomic_add_fetch(&fdgen[fd], 1, __ATOMIC_RELEASE);
}

/* Candidates this process made with socket() and has set no option on
 * since, nor duplicated: their options are all the kernel's defaults, so
 * the shim's decision need not read them back (some thirty getsockopt
 * calls: half a bind's decision, 86 against 44 us measured). A bit an
 * fd, in words the Go part reads with atomic loads. An option set where
 * no interposer sees it (a raw system call) is missed, as such calls
 * always are. */
static uint32_t pristine[FD_TABLE / 32];

/* A fresh socket on which the program set only options the decision
 * mirrors (accel_mirrored_bit: SO_REUSEADDR, which servers set before
 * every bind, SO_RCVTIMEO, which clients set on nearly every socket)
 * stays fresh but tamed: tamed[fd] has a bit for each of those it set,
 * and its decision reads back those and no other. A client's socket
 * with a receive timeout read ten options at each decision, one now. */
static uint32_t tamed[FD_TABLE];

static inline int test_bit(const uint32_t *words, int fd)
{
	return (__atomic_load_n(&words[fd >> 5], __ATOMIC_RELAXED) >> (fd & 31)) & 1;
}

static inline void set_bit(uint32_t *words, int fd, int on)
{
	uint32_t bit = 1u << (fd & 31);
	if (on)
		__atomic_fetch_or(&words[fd >> 5], bit, __ATOMIC_SEQ_CST);
	else if (test_bit(words, fd))
		__atomic_fetch_and(&words[fd >> 5], ~bit, __ATOMIC_SEQ_CST);
}

static inline void set_pristine(int fd, int on)
{
	if ((unsigned)fd >= FD_TABLE)
		return;
	set_bit(pristine, fd, on);
	if (__atomic_load_n(&tamed[fd], __ATOMIC_RELAXED))
		__atomic_store_n(&tamed[fd], 0, __ATOMIC_SEQ_CST);
}

/* note_option: a setsockopt on fd leaves it fresh but tamed, or not
 * fresh. */
static inline void note_option(int fd, int level, int name)
{
	if ((unsigned)fd >= FD_TABLE)
		return;
	int b = accel_mirrored_bit(level, name);
	if (b >= 0 && test_bit(pristine, fd))
		__atomic_fetch_or(&tamed[fd], 1u << b, __ATOMIC_SEQ_CST);
	else
		set_pristine(fd, 0);
}

static inline int shadowed(int fd)
{
	return (unsigned)fd < FD_TABLE && (fdtab[fd] & (FD_SHADOW | FD_EPALIAS));
}

/* The Go part's path, and the last signal a trampoline saw on this
 * thread (see "signals"). */
static char go_path[PATH_MAX];
static THREAD volatile sig_atomic_t sig_seen;
/* sleep_ts is the timeout of the ppoll this thread is about to sleep in,
 * while it prepares it. A handler that runs before the ppoll starts zeroes
 * it, so the ppoll returns at once instead of sleeping through a signal
 * that should have ended the wait; one that comes after it started
 * interrupts it. This closes the race pselect(2) exists for without its
 * two sigprocmask calls around every sleep. */
static THREAD struct timespec *volatile sleep_ts;
/* waiting: the thread has armed a wait on the stacks and not yet ended
 * it (see deferral, under "signals"). */
static THREAD volatile sig_atomic_t waiting;

/* ---- the Go part ---- */

static struct {
	long long (*init)(int64_t *spin_ns, void (*forget)(int), volatile int *fill_tid, uint32_t *pristine, uint32_t *tamed,
		volatile int *netns_moved);
	long long (*bind)(int, const void *, uint32_t);
	long long (*connect)(int, const void *, uint32_t);
	long long (*sendmsg)(int, const void *, int, int64_t *, const int32_t *, int);
	long long (*recvmsg)(int, void *, int, int64_t *, const int32_t *, int);
	long long (*owned)(int);
	void (*thread)(void);
	void (*yield)(void);
	long long (*arm)(const int *, int, int32_t *, int);
	void (*disarm)(const int32_t *, int);
	long long (*poll)(void *, uint64_t);
	long long (*arm_epoll)(int, int32_t *, int);
	long long (*epoll_ctl)(int, int, int, uint32_t, uint64_t, int);
	long long (*epoll_scan)(int, void *, int);
	void (*close)(int);
	void (*dup)(int, int, int);
	void (*nonblock)(int, int);
	void (*async)(int);
	void (*shutdown)(int, int);
	void (*setsockopt)(int, int, int, const void *, uint32_t);
	long long (*sockerr)(int);
	long long (*inq)(int);
	void (*handover)(int cloexec_too);
	void (*exit)(void);
} go;

enum { GO_UNLOADED, GO_READY, GO_FAILED, GO_CHILD };
static volatile int go_state = GO_UNLOADED;
static pid_t go_pid;
static int64_t spin_ns;
static int enabled; /* ACCEL_INTERFACES is set and ACCEL_UDP is not 0 */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static THREAD int in_go;

static void logmsg(const char *msg)
{
	/* The program's stdout is never ours; stderr, once per message kind. */
	const char *lvl = getenv("ACCEL_LOG");
	if (lvl && strcmp(lvl, "off") == 0)
		return;
	char buf[512];
	int n = snprintf(buf, sizeof buf, "accel[%d]: %s\n", (int)getpid(), msg);
	if (n > 0) {
		RESOLVE(write);
		real_write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	}
}

/* The Go part's own fds (its runtime's epoll, the VI, the filter's maps,
 * netlink, eventfds) must not take the low numbers the application would
 * have had: a program that prints or compares fd numbers would see a
 * difference. While Go may make fds (at start-up and when a socket's
 * decision makes a stack), every free number below a high base is filled
 * with /dev/null, so the kernel gives Go's fds numbers from the base up,
 * and then the fillers are closed. */
#include <sys/resource.h>
#define FILL_MAX 4096
#define GO_BAND 256
struct fill {
	int n;
	int base;
	unsigned char before[GO_BAND];
	int fds[FILL_MAX];
};
/* The thread that keeps the low fds filled, for the Go part (see
 * DECIDE_CALL); 0: none. */
static volatile int fill_tid;

/* The Go part's own fds, by number and identity: a child forked after Go
 * was loaded closes them (see atfork_child), so that it does not keep the
 * parent's VI and its interface queue when the parent is gone. */
#include <sys/stat.h>
#define MAX_GO_FDS 128
static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} go_fds[MAX_GO_FDS];
static int ngo_fds;

/* fill_top is one past the highest fd the fillers and the Go part's band
 * need in the table: the lower of the fd limit and 1024, as base is 96
 * below it (the Go part makes ~20 fds). */
static int fill_top(void)
{
	struct rlimit rl;
	int top = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
		top = (int)rl.rlim_cur;
	return top;
}

/* grow_fd_table grows the kernel's fd table to fill_top at once, with a
 * copy of fd made at the top and closed. Filling grew it by doubling,
 * four times, and in a threaded process (the Go part's runtime starts its
 * threads as it loads) each growth waits for an RCU grace period: 6 and
 * 12 ms for the last two here. The load grows it before the Go part
 * starts, so that it need not grow again. */
static void grow_fd_table(int fd)
{
	RESOLVE(fcntl);
	RESOLVE(close);
	int top = real_fcntl(fd, F_DUPFD_CLOEXEC, fill_top() - 1);
	if (top >= 0)
		real_close(top);
}

/* keep_filler keeps fd as a filler if it is below the band, and closes it
 * (the band reached: filling is done) if not. */
static int keep_filler(struct fill *f, int fd)
{
	RESOLVE(close);
	if (fd >= f->base) {
		real_close(fd);
		return 0;
	}
	f->fds[f->n++] = fd;
	return 1;
}

/* fill_low fills with copies of one /dev/null fd (a dup costs a fraction
 * of an open's path walk: the ~900 opens were ~10 ms of a new stack's
 * first send). */
static void fill_low(struct fill *f)
{
	int base = fill_top() - 96;
	f->n = 0;
	f->base = base;
	RESOLVE(fcntl);
	for (int i = 0; i < GO_BAND; i++)
		f->before[i] = base > 0 && real_fcntl(base + i, F_GETFD) >= 0;
	if (base <= 0)
		return;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || !keep_filler(f, null))
		return;
	grow_fd_table(null);
	while (f->n < FILL_MAX) {
		int fd = real_fcntl(null, F_DUPFD_CLOEXEC, 0);
		if (fd < 0 || !keep_filler(f, fd))
			break;
	}
}

/* unfill closes the fillers, a run of consecutive numbers at a time where
 * close_range(2) is there (fillers mostly are one run). */
static void unfill(struct fill *f)
{
	RESOLVE(close);
	RESOLVE(close_range);
	for (int i = 0; i < f->n;) {
		int j = i + 1;
		while (j < f->n && f->fds[j] == f->fds[j - 1] + 1)
			j++;
		if (j - i == 1 || !real_close_range || real_close_range((unsigned)f->fds[i], (unsigned)f->fds[j - 1], 0) != 0)
			for (int k = i; k < j; k++)
				real_close(f->fds[k]);
		i = j;
	}
	f->n = 0;
	for (int i = 0; f->base > 0 && i < GO_BAND && ngo_fds < MAX_GO_FDS; i++) {
		struct stat st;
		/* New in the band and unknown here: the Go part's. A socket or
		 * epoll fd another thread made meanwhile is the program's. */
		int known = (unsigned)(f->base + i) < FD_TABLE && fdtab[f->base + i];
		if (!f->before[i] && !known && fstat(f->base + i, &st) == 0) {
			go_fds[ngo_fds].fd = f->base + i;
			go_fds[ngo_fds].dev = st.st_dev;
			go_fds[ngo_fds].ino = st.st_ino;
			ngo_fds++;
			if ((unsigned)(f->base + i) < FD_TABLE)
				fdtab[f->base + i] = FD_GO;
		}
	}
}

static void forget(int fd);
static void note_async(int fd);
static void epolls_to_go(void);

static void atfork_child(void)
{
	/* Only this thread exists in the child: Go's runtime threads do not.
	 * Every accelerated fd is the kernel's socket from here on. */
	if (go_state != GO_READY)
		return;
	go_state = GO_CHILD;
	/* Close the Go part's fds that are still what they were. */
	RESOLVE(close);
	for (int i = 0; i < ngo_fds; i++) {
		struct stat st;
		if (fstat(go_fds[i].fd, &st) == 0 && st.st_dev == go_fds[i].dev && st.st_ino == go_fds[i].ino)
			real_close(go_fds[i].fd);
	}
}

/* ---- the signal stack ----
 *
 * An application's signal handler runs on the stack of whatever the
 * thread was doing, and a thread inside the Go part is on a goroutine's
 * stack: 4 KB at first (the runtime's extra M), grown only as Go code
 * needs, with nothing below it: a handler that used more (printf, syslog,
 * a backtrace) would write over the Go heap (one installed after the Go
 * part loaded ran there at 3181 of 3457 signals landing on a spinning
 * ping-pong). Go itself, when it loads, marks the
 * handlers already installed SA_ONSTACK and gives each thread that calls
 * into it a 32 KB signal stack, again with nothing below it. So each thread
 * gets a signal stack of its own before its first call into Go: 256 KB
 * (reserved, touched only as used) above a guard page, so that a handler
 * that runs off it faults instead of corrupting memory; Go then uses it
 * as the thread's (it keeps a signal stack it finds). The application's
 * handlers are installed SA_ONSTACK (install). A thread that had a
 * signal stack already keeps its own. The stack is unmapped when the
 * thread exits. */
#define ALTSTACK_SIZE (256 * 1024)
static THREAD int alt_given;
static pthread_key_t alt_key;
static pthread_once_t alt_once = PTHREAD_ONCE_INIT;

static void alt_free(void *base)
{
	long page = sysconf(_SC_PAGESIZE);
	stack_t cur;
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == (char *)base + page) {
		if (cur.ss_flags & SS_ONSTACK)
			return; /* exiting from a handler: leave it */
		stack_t off = {.ss_flags = SS_DISABLE};
		sigaltstack(&off, NULL);
	}
	munmap(base, ALTSTACK_SIZE + page);
}

static void alt_key_make(void)
{
	pthread_key_create(&alt_key, alt_free);
}

static void give_altstack(void)
{
	if (alt_given)
		return;
	alt_given = 1;
	stack_t cur;
	if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
		return; /* the thread has one */
	long page = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, ALTSTACK_SIZE + page, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return;
	stack_t st = {.ss_sp = base + page, .ss_size = ALTSTACK_SIZE};
	if (mprotect(base, page, PROT_NONE) != 0 || sigaltstack(&st, NULL) != 0) {
		munmap(base, ALTSTACK_SIZE + page);
		return;
	}
	pthread_once(&alt_once, alt_key_make);
	pthread_setspecific(alt_key, base);
}

static void accel_exit(void)
{
	if (go_state == GO_READY && getpid() == go_pid && !in_go) {
		give_altstack();
		in_go++;
		go.exit();
		in_go--;
	}
}

#define SYM(field, name)                                                     \
	do {                                                                     \
		*(void **)&go.field = dlsym(h, name);                                \
		if (!go.field) {                                                     \
			snprintf(why, sizeof why, "libaccel-go.so has no %s", name);     \
			goto fail;                                                       \
		}                                                                    \
	} while (0)

/* ---- network namespaces ----
 *
 * The Go part keeps a netlink socket for its decisions' route lookups,
 * made in the namespace the program was in when Go started. Once a
 * thread of the program moves to another namespace, a lookup there
 * would get the first namespace's routes: netns_moved tells the Go part
 * to ask in the calling thread's namespace from then on, with a socket
 * of its own each time. Set before the call, never cleared: a setns that
 * fails costs only those sockets. */
static volatile int netns_moved;

EXPORT int setns(int fd, int nstype)
{
	RESOLVE(setns);
	if (!real_setns) {
		errno = ENOSYS;
		return -1;
	}
	/* 0: whatever namespace fd is (or, for a pidfd, all of them). */
	if (nstype == 0 || (nstype & CLONE_NEWNET))
		__atomic_store_n(&netns_moved, 1, __ATOMIC_SEQ_CST);
	return real_setns(fd, nstype);
}

EXPORT int unshare(int flags)
{
	RESOLVE(unshare);
	if (!real_unshare) {
		errno = ENOSYS;
		return -1;
	}
	if (flags & CLONE_NEWNET)
		__atomic_store_n(&netns_moved, 1, __ATOMIC_SEQ_CST);
	return real_unshare(flags);
}

/* load_go loads the Go part. Asynchronous signals are blocked while it
 * loads so that the runtime's threads inherit a mask that blocks them:
 * the application's signals then never run on Go's threads (§7). */
static void load_go(void)
{
	char why[600];
	char path[PATH_MAX];
	Dl_info info;
	if (!dladdr((void *)load_go, &info) || !info.dli_fname) {
		snprintf(why, sizeof why, "cannot find libaccel.so's own path");
		goto fail_early;
	}
	snprintf(path, sizeof path, "%s", info.dli_fname);
	char *slash = strrchr(path, '/');
	if (slash)
		snprintf(slash + 1, sizeof path - (slash + 1 - path), "libaccel-go.so");
	else
		snprintf(path, sizeof path, "libaccel-go.so");

	snprintf(go_path, sizeof go_path, "%s", path);
	sigset_t all, old;
	sigfillset(&all);
	/* Synchronous signals must still reach whoever faults. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int any = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (any >= 0) {
		grow_fd_table(any);
		RESOLVE(close);
		real_close(any);
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, sizeof why, "dlopen: %.500s", dlerror());
		goto fail;
	}
	SYM(init, "accel_go_init");
	SYM(bind, "accel_go_bind");
	SYM(connect, "accel_go_connect");
	SYM(sendmsg, "accel_go_sendmsg");
	SYM(recvmsg, "accel_go_recvmsg");
	SYM(owned, "accel_go_owned");
	SYM(thread, "accel_go_thread");
	SYM(yield, "accel_go_yield");
	SYM(arm, "accel_go_arm");
	SYM(disarm, "accel_go_disarm");
	SYM(poll, "accel_go_poll");
	SYM(arm_epoll, "accel_go_arm_epoll");
	SYM(epoll_ctl, "accel_go_epoll_ctl");
	SYM(epoll_scan, "accel_go_epoll_scan");
	SYM(close, "accel_go_close");
	SYM(dup, "accel_go_dup");
	SYM(nonblock, "accel_go_nonblock");
	SYM(async, "accel_go_async");
	SYM(shutdown, "accel_go_shutdown");
	SYM(setsockopt, "accel_go_setsockopt");
	SYM(sockerr, "accel_go_sockerr");
	SYM(inq, "accel_go_inq");
	SYM(handover, "accel_go_handover");
	SYM(exit, "accel_go_exit");
	static struct fill f;
	fill_low(&f);
	give_altstack();
	in_go++;
	long long r = go.init(&spin_ns, forget, &fill_tid, pristine, tamed, &netns_moved);
	in_go--;
	unfill(&f);
	if (r < 0) {
		snprintf(why, sizeof why, "the Go part did not start (%s); see the log", strerror((int)-r));
		goto fail;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	go_pid = getpid();
	go_state = GO_READY;
	atexit(accel_exit);
	epolls_to_go();
	return;
fail:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
fail_early: {
	char msg[700];
	snprintf(msg, sizeof msg, "acceleration off, every socket stays with the kernel: %s", why);
	logmsg(msg);
	go_state = GO_FAILED;
}
}

/* enter reports whether this call may enter Go, loading it if need be. */
static int enter(void)
{
	if (in_go)
		return 0;
	int st = go_state;
	if (st == GO_READY) {
		return 1;
	}
	if (st != GO_UNLOADED)
		return 0;
	pthread_mutex_lock(&load_mu);
	if (go_state == GO_UNLOADED)
		load_go();
	pthread_mutex_unlock(&load_mu);
	return go_state == GO_READY;
}

/* ready reports whether Go may be entered, without loading it. */
static inline int ready(void)
{
	return go_state == GO_READY && !in_go;
}

/* The slow paths also check the pid: a child made by a raw clone or
 * _Fork runs no atfork handler. */
static int ready_slow(void)
{
	if (go_state == GO_READY && getpid() != go_pid)
		go_state = GO_CHILD;
	return ready();
}

/* Go learns of each thread at its first call, to give it a P. */
static THREAD int registered;
#define REGISTER()                                                           \
	do {                                                                     \
		if (__builtin_expect(!registered, 0)) {                              \
			registered = 1;                                                  \
			give_altstack();                                                 \
			go.thread();                                                     \
		}                                                                    \
	} while (0)

/*
 * A thread that calls into Go keeps a P while it is back in C (the runtime
 * counts it as in a system call), and the P's scheduling tick does not move
 * while only this thread's callbacks run on it. After 10 ms of that, Go's
 * sysmon takes the P away as from a goroutine that never yields; with every
 * P idle it sleeps deeply, the thread's next call wakes it, and it polls
 * every 20 us again, for milliseconds, on the CPU the thread runs on. Those
 * timer wake-ups cost the thread's own wake-ups on a VM: with ACCEL_SPIN_USEC=0
 * 10 to 30 % of sockperf's round trips took 40 us more (a C program ticking
 * every 20 us beside the kernel's sockperf does the same to it). So a thread
 * yields to the Go scheduler, which moves its P's tick: once per 5 ms just
 * before it sleeps, where the yield's hand-offs between Go's threads (four
 * or five futex calls, another thread woken) cost no round trip, as the
 * thread has nothing to do until its data comes; and, for a thread that
 * keeps calling without sleeping, at a call once 8 ms have passed, which
 * it looks at once per 64 calls. Yielding only at calls missed threads
 * that call rarely: an event loop waking every 2 ms made 3 calls a wake,
 * so it looked every 40 ms, lost its P each time, and kept sysmon at 20 us
 * (109-122 us of CPU per 2 ms wait with 10 idle sockets against 13-26 on
 * the kernel; 51-54 with the yield before sleeps).
 */
static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline struct timespec ts_of(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	return ts;
}

static THREAD unsigned go_calls;
static THREAD int64_t next_yield;
#define YIELD_EVERY_NS 5000000
/* A call yields only this late: before-sleep yields come first. */
#define YIELD_CALL_LATE_NS 3000000
/* A thread whose last sleep was longer does not yield before sleeping: Go
 * takes its P in a sleep past 10 ms anyway, and a yield before each such
 * sleep kept sysmon polling every 20 us (1.3-1.8 ms of CPU per 20 ms wait
 * against 0.24-0.26 without, with 10 idle sockets). */
#define SHORT_SLEEP_NS 5000000
static THREAD int64_t last_sleep_ns;

/* maybe_yield yields if, at now, the thread's last yield is late ns
 * overdue; it reports whether it did. */
static int maybe_yield(int64_t now, int64_t late)
{
	if (now < next_yield + late)
		return 0;
	next_yield = now + YIELD_EVERY_NS;
	in_go++;
	go.yield();
	in_go--;
	return 1;
}

/* ---- deferral of the application's signal handlers ----
 *
 * A handler that does not return (siglongjmp, the timeout idiom of many
 * UDP clients) must not leave from inside the Go part: the callback never
 * returns to Go, whose M keeps its P and looks busy for ever. in_go stayed
 * raised too, so every later call of the thread went to the kernel, and
 * the next garbage collection would wait for that P without end. Nor may
 * it leave a wait armed: its stack would count a sleeper for ever, keep
 * its wake-up fd raised, and every later sleep would return at once. So
 * a handler due while the thread is inside Go or has a wait open runs
 * when it is out of both, at the end of that call into Go or of the wait,
 * a few microseconds later, as if the signal had come then: a wait it
 * interrupts still ends with EINTR (sig_seen is noted at once), and a
 * sleep it lands in still wakes. It runs with its sa_mask (and its own
 * signal unless SA_NODEFER) blocked, with the signal's siginfo; the
 * ucontext is that of the deferred call, not of the interruption. */
struct deferred_info {
	int code, status;
	pid_t pid;
	uid_t uid;
	union sigval value;
};
static THREAD volatile uint64_t deferred;
static THREAD struct deferred_info deferred_info[64];
static THREAD volatile sig_atomic_t running_deferred;

/* accel_deferred_signal is, inside a handler, the signal it was deferred
 * for (0: it runs where the signal landed). A program or a test can tell
 * with it a handler that landed inside accel from one that did not. */
EXPORT int accel_deferred_signal(void)
{
	return running_deferred;
}
static struct sigaction app_act[_NSIG];

static void call_handler(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *a = &app_act[sig];
	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else if (a->sa_handler != SIG_IGN && a->sa_handler != SIG_DFL)
		a->sa_handler(sig);
}

static void run_deferred_slow(void)
{
	int e = errno;
	while (deferred && !in_go && !waiting) {
		int sig = __builtin_ctzll(deferred);
		deferred &= ~(1ull << sig);
		struct deferred_info d = deferred_info[sig];
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_signo = sig;
		si.si_code = d.code;
		si.si_pid = d.pid;
		si.si_uid = d.uid;
		si.si_status = d.status;
		si.si_value = d.value;
		sigset_t mask = app_act[sig].sa_mask, old;
		if (!(app_act[sig].sa_flags & SA_NODEFER))
			sigaddset(&mask, sig);
		pthread_sigmask(SIG_BLOCK, &mask, &old);
		ucontext_t uc;
		getcontext(&uc);
		int outer = running_deferred;
		running_deferred = sig;
		call_handler(sig, &si, &uc);
		running_deferred = outer;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	errno = e;
}

static inline void run_deferred(void)
{
	if (__builtin_expect(deferred != 0, 0) && !in_go && !waiting)
		run_deferred_slow();
}

/* defer_handler notes a handler due now; it reports whether it must wait
 * (the thread is inside Go or has a wait open). */
static int defer_handler(int sig, const siginfo_t *si)
{
	if ((!in_go && !waiting) || sig >= 64)
		return 0;
	struct deferred_info *d = &deferred_info[sig];
	*d = (struct deferred_info){.code = si ? si->si_code : 0};
	if (si) {
		d->pid = si->si_pid;
		d->uid = si->si_uid;
		d->status = si->si_status;
		d->value = si->si_value;
	}
	deferred |= 1ull << sig;
	return 1;
}

/* GO_DO runs stmt inside Go's side: errno kept, re-entry marked, the
 * thread registered; GO_CALL is GO_DO for an expression's value. After
 * it, the handlers deferred while it ran run (run_deferred). */
#define GO_CALL(expr)                                                        \
	({                                                                       \
		__typeof__(expr) r_;                                                 \
		GO_DO(r_ = (expr));                                                  \
		r_;                                                                  \
	})

#define GO_DO(stmt)                                                          \
	do {                                                                     \
		int saved_errno_ = errno;                                            \
		if (__builtin_expect(++go_calls % 64 == 0, 0) && registered)        \
			maybe_yield(now_ns(), YIELD_CALL_LATE_NS);                       \
		in_go++;                                                             \
		REGISTER();                                                          \
		stmt;                                                                \
		in_go--;                                                             \
		errno = saved_errno_;                                                \
		run_deferred();                                                      \
	} while (0)

/* ---- start-up ---- */

__attribute__((constructor)) static void accel_init(void)
{
	const char *ifs = getenv("ACCEL_INTERFACES");
	const char *udp = getenv("ACCEL_UDP");
	enabled = ifs && *ifs && !(udp && strcmp(udp, "0") == 0);
	pthread_atfork(NULL, NULL, atfork_child);
}

/* ---- signals ----
 *
 * A blocking socket call interrupted by a signal returns EINTR, unless the
 * handler was installed with SA_RESTART and the socket has no timeout, in
 * which case Linux restarts it (sock_intr_errno). poll, select and
 * epoll_wait are never restarted. Our waits (a spin, then ppoll) must do
 * the same, so we must know that a handler ran on this thread, and with
 * which flags: the application's handlers are installed through a
 * trampoline that notes the signal, then calls them. Handlers of the Go
 * part's runtime are installed as they are.
 */
DECLARE(int, sigaction, int, const struct sigaction *, struct sigaction *);

static void trampoline(int sig, siginfo_t *si, void *uc)
{
	sig_seen = sig;
	struct timespec *t = sleep_ts;
	if (t)
		*t = (struct timespec){0, 0};
	if (!defer_handler(sig, si))
		call_handler(sig, si, uc);
}

/* from_go reports whether a caller's address is in the Go part. */
static int from_go(void *ret)
{
	Dl_info info;
	return go_path[0] && dladdr(ret, &info) && info.dli_fname && strcmp(info.dli_fname, go_path) == 0;
}

static int install(int sig, const struct sigaction *act, struct sigaction *old, int mine)
{
	RESOLVE(sigaction);
	if (!mine && sig == SIGURG && act) {
		/* The Go part is built with async preemption off (Makefile:
		 * runtime.godebugDefault), so its runtime never sends SIGURG
		 * and needs no handler for it. Its handler would only make a
		 * SIGURG the application ignores interrupt the application's
		 * waits (poll and epoll_wait end with EINTR after any handler,
		 * SA_RESTART or not): it is not installed, and the Go part is
		 * told what is there. */
		return old ? real_sigaction(sig, NULL, old) : 0;
	}
	if (!mine || sig <= 0 || sig >= _NSIG)
		return real_sigaction(sig, act, old);
	struct sigaction t, prev;
	const struct sigaction *use = act;
	struct sigaction saved = app_act[sig];
	if (act && act->sa_handler != SIG_IGN && act->sa_handler != SIG_DFL) {
		t = *act;
		/* On the thread's signal stack (give_altstack), never on a
		 * goroutine's. */
		t.sa_flags |= SA_SIGINFO | SA_ONSTACK;
		t.sa_sigaction = trampoline;
		use = &t;
	}
	if (act)
		app_act[sig] = *act;
	int r = real_sigaction(sig, use, &prev);
	if (r != 0) {
		if (act)
			app_act[sig] = saved;
		return r;
	}
	if (old) {
		*old = prev;
		if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction == trampoline)
			*old = saved; /* the application's own view */
	}
	return 0;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return install(sig, act, old, !from_go(__builtin_return_address(0)));
}

/* signal() in glibc has BSD semantics: SA_RESTART, the handler stays. */
EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	struct sigaction act = {.sa_handler = h, .sa_flags = SA_RESTART}, old;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	if (install(sig, &act, &old, 1) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal(sig, h);
}

/* sysv_signal: the handler is reset on delivery, calls are not restarted. */
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	struct sigaction act = {.sa_handler = h, .sa_flags = SA_RESETHAND | SA_NODEFER}, old;
	sigemptyset(&act.sa_mask);
	if (install(sig, &act, &old, 1) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* interrupted reports whether a wait must end with EINTR because a
 * handler ran on this thread: always for poll-like calls (restart = 0),
 * and for socket calls unless the handler asked for SA_RESTART and the
 * socket has no timeout. It clears the note. */
static int interrupted(int restartable)
{
	int sig = sig_seen;
	if (!sig)
		return 0;
	sig_seen = 0;
	return !(restartable && (app_act[sig].sa_flags & SA_RESTART));
}

/* ---- sockets ---- */

EXPORT int socket(int domain, int type, int protocol)
{
	RESOLVE(socket);
	int fd = real_socket(domain, type, protocol);
	if (fd >= 0) {
		int cand = enabled && domain == AF_INET && (type & 0xf) == SOCK_DGRAM &&
			(protocol == 0 || protocol == IPPROTO_UDP);
		set_kind(fd, cand ? FD_CAND : FD_KERNEL);
		set_pristine(fd, cand);
		if ((unsigned)fd < FD_TABLE)
			fdtab[fd] = (fdtab[fd] & ~FD_SHADOW) | FD_APP;
	}
	return fd;
}

/* Epoll registrations of candidates, replayed when one is accelerated:
 * an application may add a socket to epoll before its first send. */
struct pending_reg {
	int epfd, fd;
	struct epoll_event ev;
};
#define MAX_PENDING 256
static struct pending_reg pending[MAX_PENDING];
static int npending;
static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;

static void pending_note(int epfd, int op, int fd, struct epoll_event *ev)
{
	pthread_mutex_lock(&pending_mu);
	int i;
	for (i = 0; i < npending; i++)
		if (pending[i].epfd == epfd && pending[i].fd == fd)
			break;
	if (op == EPOLL_CTL_DEL) {
		if (i < npending)
			pending[i] = pending[--npending];
	} else if (ev) {
		if (i == npending && npending < MAX_PENDING)
			npending++;
		if (i < npending)
			pending[i] = (struct pending_reg){epfd, fd, *ev};
	}
	pthread_mutex_unlock(&pending_mu);
}

static int masked_ctl(int epfd, int op, int fd, const struct epoll_event *ev);

/* Epoll fds inside epoll fds, registered before Go was loaded: Go learns
 * them when it starts, since their members may be accelerated later. */
static struct pending_reg nests[MAX_PENDING];
static int nnests;

static void nest_note(int epfd, int op, int fd, struct epoll_event *ev)
{
	pthread_mutex_lock(&pending_mu);
	int i;
	for (i = 0; i < nnests; i++)
		if (nests[i].epfd == epfd && nests[i].fd == fd)
			break;
	if (op == EPOLL_CTL_DEL) {
		if (i < nnests)
			nests[i] = nests[--nnests];
	} else if (ev) {
		if (i == nnests && nnests < MAX_PENDING)
			nnests++;
		if (i < nnests)
			nests[i] = (struct pending_reg){epfd, fd, *ev};
	}
	pthread_mutex_unlock(&pending_mu);
}

/* Groups of fds that are one open file, for what the kernel cannot tell
 * us later: duplicates of an epoll fd made before Go started (when it
 * starts, every fd of the instance gets one shadow), and duplicates of a
 * socket not yet decided (when it is decided, every fd of it is, the same
 * way). Each entry is an fd with its group's number, and the fd has
 * FD_GROUP; a close forgets its fd, and the rest stay one group, as in
 * the kernel. */
static struct {
	int fd, group;
} groups[MAX_PENDING];
static int ngroups, group_seq;

static int group_find(int fd)
{
	for (int i = 0; i < ngroups; i++)
		if (groups[i].fd == fd)
			return i;
	return -1;
}

static void group_note(int oldfd, int newfd)
{
	pthread_mutex_lock(&pending_mu);
	int i = group_find(oldfd);
	if (i < 0 && ngroups < MAX_PENDING) {
		i = ngroups++;
		groups[i].fd = oldfd;
		groups[i].group = ++group_seq;
		fdtab[oldfd] |= FD_GROUP;
	}
	int full = i < 0 || ngroups == MAX_PENDING;
	if (!full) {
		groups[ngroups].fd = newfd;
		groups[ngroups].group = groups[i].group;
		ngroups++;
		fdtab[newfd] |= FD_GROUP;
	}
	pthread_mutex_unlock(&pending_mu);
	static int warned;
	if (full && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		logmsg("more than 256 duplicated epoll fds or undecided sockets: a call through a duplicate may miss "
		       "what the shim does through the original");
}

/* group_forget takes fd out of its group, if it is in one. */
static void group_forget(int fd)
{
	if ((unsigned)fd >= FD_TABLE || !(fdtab[fd] & FD_GROUP))
		return;
	pthread_mutex_lock(&pending_mu);
	int i = group_find(fd);
	if (i >= 0)
		groups[i] = groups[--ngroups];
	fdtab[fd] &= ~FD_GROUP;
	pthread_mutex_unlock(&pending_mu);
}

/* group_take ends fd's group and returns its other fds (at most max). */
static int group_take(int fd, int *out, int max)
{
	if ((unsigned)fd >= FD_TABLE || !(fdtab[fd] & FD_GROUP))
		return 0;
	pthread_mutex_lock(&pending_mu);
	int n = 0, i = group_find(fd);
	int g = i >= 0 ? groups[i].group : 0;
	for (int j = 0; g && j < ngroups; j++) {
		if (groups[j].group != g)
			continue;
		if (groups[j].fd != fd && n < max)
			out[n++] = groups[j].fd;
		fdtab[groups[j].fd] &= ~FD_GROUP;
		groups[j--] = groups[--ngroups];
	}
	pthread_mutex_unlock(&pending_mu);
	return n;
}

static void epolls_to_go(void)
{
	int fds[MAX_PENDING], n = 0;
	pthread_mutex_lock(&pending_mu);
	for (int i = 0; i < ngroups; i++)
		if (fdtab[groups[i].fd] & FD_EPOLLFD)
			fds[n++] = groups[i].fd;
	pthread_mutex_unlock(&pending_mu);
	for (int i = 0; i < n; i++) {
		int others[MAX_PENDING];
		int k = group_take(fds[i], others, MAX_PENDING);
		for (int j = 0; j < k; j++)
			GO_DO(go.dup(fds[i], others[j], 1));
	}
	pthread_mutex_lock(&pending_mu);
	for (int i = 0; i < nnests; i++)
		if (GO_CALL(go.epoll_ctl(nests[i].epfd, EPOLL_CTL_ADD, nests[i].fd, nests[i].ev.events, nests[i].ev.data.u64, 1)) > 0)
			fdtab[nests[i].epfd] |= FD_SHADOW;
	nnests = 0;
	pthread_mutex_unlock(&pending_mu);
}

/* settle gives fd its decision: accelerated (its epoll registrations move
 * into the shadows) or the kernel's (they stay the kernel's). */
static void settle(int fd, int accel)
{
	set_kind(fd, accel ? FD_ACCEL : FD_KERNEL);
	pthread_mutex_lock(&pending_mu);
	for (int i = 0; i < npending; i++) {
		if (pending[i].fd != fd)
			continue;
		struct pending_reg p = pending[i];
		pending[i--] = pending[--npending];
		if (accel && masked_ctl(p.epfd, EPOLL_CTL_MOD, p.fd, &p.ev) == 0 &&
			GO_CALL(go.epoll_ctl(p.epfd, EPOLL_CTL_ADD, p.fd, p.ev.events, p.ev.data.u64, 0)) > 0)
			fdtab[p.epfd] |= FD_SHADOW;
	}
	pthread_mutex_unlock(&pending_mu);
}

/* settle_group settles fd and every duplicate made while it was
 * undecided; the shim learns the duplicates of an accelerated one. */
static void settle_group(int fd, int accel)
{
	int dups[MAX_PENDING];
	int n = group_take(fd, dups, MAX_PENDING);
	settle(fd, accel);
	for (int i = 0; i < n; i++) {
		if (accel)
			GO_DO(go.dup(fd, dups[i], 0));
		settle(dups[i], accel);
	}
}

/* accelerated marks fd, and its undecided duplicates, as the shim's. */
static void accelerated(int fd) { settle_group(fd, 1); }

/* forget gives fd, and its undecided duplicates, to the kernel. */
static void forget(int fd) { settle_group(fd, 0); }

/* decided applies the shim's answer to a call that may have decided a
 * candidate: 0 and above is the call's result; PASS and FORGET leave it to
 * the kernel (FORGET: for good). */
static long long decided(int fd, long long r)
{
	if (r == ACCEL_FORGET) {
		forget(fd);
		return ACCEL_PASS;
	}
	if (r != ACCEL_PASS && r != ACCEL_WAIT && kind(fd) == FD_CAND) {
		if (GO_CALL(go.owned(fd)) > 0)
			accelerated(fd); /* the shim took it (even if the call failed) */
		else if (r >= 0)
			forget(fd); /* decided for the kernel, which did the call */
	}
	return r;
}

/* Interfaces' addresses, for surely_kernel. */
#include <ifaddrs.h>
#include <net/if.h>

/* on_accel_iface reports whether a is an address of an interface named
 * in ACCEL_INTERFACES. */
static int on_accel_iface(uint32_t a)
{
	const char *list = getenv("ACCEL_INTERFACES");
	struct ifaddrs *ifs, *i;
	if (!list || getifaddrs(&ifs) != 0)
		return 1; /* cannot tell: let the shim decide */
	int found = 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name)
			continue;
		if (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) != a)
			continue;
		size_t n = strlen(i->ifa_name);
		for (const char *p = list; *p;) {
			const char *e = strchr(p, ',');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			while (len && (*p == ' ')) {
				p++;
				len--;
			}
			while (len && p[len - 1] == ' ')
				len--;
			if (len == n && strncmp(p, i->ifa_name, n) == 0)
				found = 1;
			if (!e)
				break;
			p = e + 1;
		}
	}
	freeifaddrs(ifs);
	return found;
}

/* surely_kernel answers, without loading Go, for the flows that the shim
 * would certainly leave with the kernel: loopback, a bind to an address
 * of an interface that is not accelerated, and (with the default rules)
 * DNS queries. A curl or a script under the preload then never starts
 * Go's runtime for its resolver's socket. */
static int surely_kernel(const struct sockaddr *sa, socklen_t len, int remote)
{
	if (!sa || len < sizeof(struct sockaddr_in) || sa->sa_family != AF_INET)
		return 0; /* the shim or the kernel gives the error */
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	uint32_t a = ntohl(in->sin_addr.s_addr);
	if ((a >> 24) == 127)
		return 1;
	if (remote)
		return ntohs(in->sin_port) == 53 && !getenv("ACCEL_RULES");
	/* Once Go is loaded the shim decides: it looks the address up with
	 * one netlink dump, where getifaddrs makes two (every link's
	 * attributes among them), about a tenth of a bind's decision. */
	if (a == INADDR_ANY || IN_MULTICAST(a) || a == INADDR_BROADCAST || go_state != GO_UNLOADED)
		return 0;
	return !on_accel_iface(a);
}

/* DECIDE_CALL makes a Go call that may decide a candidate. A decision
 * that makes a new stack (the first socket on an interface, or on a
 * thread with ACCEL_STACK_PER_THREAD) makes the Go part's fds: Go answers
 * ACCEL_FILL, having done nothing, and the call comes again with the low
 * fds filled and this thread named as the filler (fill_tid, which Go
 * reads). Every other decision costs no filling: filling is some two
 * thousand system calls, which made each socket's bind take 4 ms. */
static pthread_mutex_t fill_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fill fill_store;
#define DECIDE_CALL(fd, expr)                                                \
	({                                                                       \
		long long r2_ = GO_CALL(expr);                                       \
		if (r2_ == ACCEL_FILL) {                                             \
			pthread_mutex_lock(&fill_mu);                                    \
			fill_low(&fill_store);                                           \
			__atomic_store_n(&fill_tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST); \
			r2_ = GO_CALL(expr);                                             \
			__atomic_store_n(&fill_tid, 0, __ATOMIC_SEQ_CST);                \
			unfill(&fill_store);                                             \
			pthread_mutex_unlock(&fill_mu);                                  \
			if (r2_ == ACCEL_FILL) /* not after a fill: a bug, not a hang */ \
				r2_ = -ENOMEM;                                               \
		}                                                                    \
		r2_;                                                                 \
	})

static inline int ret_errno(long long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

/* kernel_for_good makes a call the kernel's and forgets fd once it
 * succeeded: Linux leaves a socket whose bind or connect failed as it was,
 * and the next call decides it again. */
static int kernel_for_good(int fd, const struct sockaddr *sa, socklen_t len,
	int (*real)(int, const struct sockaddr *, socklen_t))
{
	int r = real(fd, sa, len);
	if (r == 0)
		forget(fd);
	return r;
}

/* bind_or_connect is bind and connect: a candidate is decided by the
 * address (remote: connect's), in C when it is surely the kernel's, else
 * by the shim. */
static int bind_or_connect(int fd, const struct sockaddr *sa, socklen_t len, int remote,
	int (*real)(int, const struct sockaddr *, socklen_t))
{
	int k = kind(fd);
	if (k == FD_CAND && surely_kernel(sa, len, remote))
		return kernel_for_good(fd, sa, len, real);
	if (k == FD_KERNEL || !enter() || !ready_slow())
		return real(fd, sa, len);
	/* The Go part is loaded from here on: its entries are set. */
	long long r = DECIDE_CALL(fd, (remote ? go.connect : go.bind)(fd, sa, len));
	if (r == ACCEL_FORGET)
		return kernel_for_good(fd, sa, len, real);
	r = decided(fd, r);
	if (r == ACCEL_PASS)
		return real(fd, sa, len);
	return ret_errno(r);
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	RESOLVE(bind);
	return bind_or_connect(fd, sa, len, 0, real_bind);
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	RESOLVE(connect);
	return bind_or_connect(fd, sa, len, 1, real_connect);
}

/* A wait: spin until spin_end, then sleep until deadline (0: none). now
 * is the clock as wait_now last read it (0: read it next time). */
struct wait {
	int64_t start, spin_end, deadline, now;
	unsigned spins;
};

/* wait_now is the time for a wait's checks. The clock costs more than a
 * spin's call into the stack on a VM (kvm-clock: ~8 % of a spinning
 * thread's time went to reading it), so a spin reads it every 8th look,
 * and the first look and the first after a sleep (now set to 0) read it. */
static inline int64_t wait_now(struct wait *w)
{
	if (!w->now || (++w->spins & 7) == 0)
		w->now = now_ns();
	return w->now;
}

/* wait_expired starts a wait at its first EWAIT (timeo: the socket's
 * SO_RCVTIMEO or SO_SNDTIMEO, which the shim gave with the EWAIT), and
 * reports whether the deadline passed. */
static int wait_expired(struct wait *w, int64_t now, int64_t timeo)
{
	if (!w->start) {
		w->start = now;
		w->spin_end = now + spin_ns;
		w->deadline = timeo > 0 ? now + timeo : 0;
	}
	return w->deadline && now >= w->deadline;
}

/* armed is a wait on the stacks: the fds an arm gave, which the disarm
 * that ends it takes back, and the longest nap it may sleep (-1: any). */
struct armed {
	int32_t fds[ACCEL_MAX_WAIT];
	int n;
	int64_t cap_ns;
};

/* arm_result reads an arm's answer: a count, with ACCEL_WAIT_PARTIAL when
 * a stack could not be watched (then, or if the arm failed, the wait naps
 * for a millisecond at a time instead of sleeping through that stack's
 * work). */
static void arm_result(struct armed *a, long long r)
{
	a->n = r < 0 ? 0 : (int)(r & (ACCEL_WAIT_PARTIAL - 1));
	a->cap_ns = r < 0 || (r & ACCEL_WAIT_PARTIAL) ? 1000000 : -1;
}

/* disarm_wait ends the thread's wait on the stacks. */
static void disarm_wait(const int32_t *fds, int n)
{
	GO_DO(go.disarm(fds, n));
	waiting = 0;
}

/* end_wait disarms the thread's wait, then runs the handlers deferred
 * while it was open. */
static void end_wait(const int32_t *fds, int n)
{
	disarm_wait(fds, n);
	run_deferred();
}

/* A thread cancelled in its sleep (ppoll is a cancellation point) never
 * comes back to disarm the wait: its stack went on counting a sleeper,
 * kept its wake-up fd raised for it, and every later sleep on the stack
 * returned at once: a program that cancelled a thread blocked in recv
 * spun at 100% CPU after (4.9 s of CPU in a 5 s wait). The cancellation
 * disarms it on the way out. */
struct sleeping {
	const int32_t *wfds;
	int nw;
	struct pollfd *heap;
};

static void cancelled_sleep(void *arg)
{
	struct sleeping *c = arg;
	sleep_ts = NULL;
	disarm_wait(c->wfds, c->nw); /* the thread is leaving: no handler runs */
	free(c->heap);
}

/* cancellable_ppoll is ppoll, disarming c's wait if the thread is
 * cancelled in it (a function of its own: the cleanup's setjmp would
 * make the caller's locals volatile). */
static int cancellable_ppoll(struct pollfd *p, nfds_t n, const struct timespec *ts, const sigset_t *mask,
	struct sleeping *c)
{
	int r;
	pthread_cleanup_push(cancelled_sleep, c);
	r = real_ppoll(p, n, ts, mask);
	pthread_cleanup_pop(0);
	return r;
}

/* sleep_on sleeps until one of the stacks' wait fds (and extra, if any)
 * is ready, or the deadline; it returns ppoll's result. */
static int sleep_on(const int32_t *wfds, int nw, struct pollfd *extra, int nextra, struct wait *w,
	int64_t cap_ns, const sigset_t *mask)
{
	RESOLVE(ppoll);
	struct pollfd local[72];
	struct pollfd *p = local;
	int n = nextra + nw;
	if (n > (int)(sizeof local / sizeof local[0])) {
		p = malloc(sizeof *p * n);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
	}
	if (nextra)
		memcpy(p, extra, sizeof *p * nextra);
	for (int i = 0; i < nw; i++)
		p[nextra + i] = (struct pollfd){.fd = wfds[i], .events = POLLIN};
	/* Before the deadline's arithmetic: a yield takes tens of us. */
	int64_t start = now_ns();
	if (registered && last_sleep_ns < SHORT_SLEEP_NS && maybe_yield(start, 0))
		start = now_ns();
	int64_t left = -1;
	if (w->deadline) {
		left = w->deadline - start;
		if (left < 0)
			left = 0;
	}
	if (cap_ns >= 0 && (left < 0 || cap_ns < left))
		left = cap_ns;
	/* No deadline is a timeout past the kernel's clock range (KTIME_MAX):
	 * the kernel sleeps without a timer, as for NULL, but a handler has a
	 * timeout to zero (sleep_ts). */
	struct timespec ts = left >= 0 ? ts_of(left) : (struct timespec){.tv_sec = (time_t)1 << 40};
	sleep_ts = &ts;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (sig_seen)
		ts = (struct timespec){0, 0};
	struct sleeping c = {wfds, nw, p != local ? p : NULL};
	int r = cancellable_ppoll(p, n, &ts, mask, &c);
	sleep_ts = NULL;
	last_sleep_ns = now_ns() - start;
	w->now = 0; /* the wait's next look reads the clock afresh */
	if (nextra) {
		int e = errno;
		memcpy(extra, p, sizeof *p * nextra);
		errno = e;
	}
	if (p != local)
		free(p);
	return r;
}

/* given_back ends io for a call the shim gave back (PASS, FORGET): EBADF
 * once the fd's generation moved, as the number may be another file's
 * now; else the kernel's call, FORGET giving the fd to it for good. */
static long long given_back(int fd, unsigned gen, long long r)
{
	if (fd_gen(fd) != gen)
		return -EBADF;
	if (r == ACCEL_FORGET)
		forget(fd);
	return ACCEL_PASS;
}

/* io waits for a send or receive on an accelerated fd. It returns the
 * call's result, or PASS. */
static long long io(int fd, void *m, int flags, int send)
{
	/* A cancellation point, as the kernel's call is even when it has
	 * data at once; a spin (only calls into Go) has none. */
	pthread_testcancel();
	struct wait w = {0};
	int64_t timeo = 0;
	/* A signal whose handler runs from here on ends the wait, as one
	 * that comes during the system call does in Linux. */
	sig_seen = 0;
	/* woke: the wait a sleep just ended, which the next call disarms
	 * before it tries (one crossing into Go, not two, on the way from a
	 * wake-up to the data). */
	struct armed a, *woke = NULL;
	unsigned gen = fd_gen(fd);
	for (;;) {
		if (fd_gen(fd) != gen) {
			if (woke)
				end_wait(woke->fds, woke->n);
			return -EBADF;
		}
		const int32_t *wf = woke ? woke->fds : NULL;
		int nwf = woke ? woke->n : 0;
		long long r = send ? DECIDE_CALL(fd, go.sendmsg(fd, m, flags, &timeo, wf, nwf)) : GO_CALL(go.recvmsg(fd, m, flags, &timeo, wf, nwf));
		if (woke) {
			/* That call ended the wait. */
			waiting = 0;
			run_deferred();
		}
		woke = NULL;
		if (r == ACCEL_FORGET || r == ACCEL_PASS)
			return given_back(fd, gen, r);
		if (r != ACCEL_WAIT)
			return decided(fd, r);
		int64_t now = wait_now(&w);
		if (wait_expired(&w, now, timeo))
			return -EAGAIN;
		/* A socket with a timeout is never restarted (Linux). */
		if (interrupted(!w.deadline))
			return -EINTR;
		if (now < w.spin_end)
			continue;
		/* Sleep: arm the stack, try once more (a thread may have queued
		 * our data just before we armed), then wait. */
		waiting = 1;
		arm_result(&a, GO_CALL(go.arm(&fd, 1, a.fds, ACCEL_MAX_WAIT)));
		r = send ? GO_CALL(go.sendmsg(fd, m, flags, &timeo, NULL, 0)) : GO_CALL(go.recvmsg(fd, m, flags, &timeo, NULL, 0));
		if (r != ACCEL_WAIT) {
			end_wait(a.fds, a.n);
			return r == ACCEL_FORGET || r == ACCEL_PASS ? given_back(fd, gen, r) : r;
		}
		/* A send waits for TX room, which no fd signals: short naps. */
		int64_t cap = send && (a.cap_ns < 0 || a.cap_ns > 200000) ? 200000 : a.cap_ns;
		int s = sleep_on(a.fds, a.n, NULL, 0, &w, cap, NULL);
		if (s < 0 && errno == EINTR && interrupted(!w.deadline)) {
			end_wait(a.fds, a.n);
			return -EINTR;
		}
		woke = &a;
	}
}

static ssize_t do_sendmsg(int fd, const struct msghdr *m, int flags)
{
	RESOLVE(sendmsg);
	long long r = io(fd, (void *)m, flags, 1);
	if (r == ACCEL_PASS)
		return real_sendmsg(fd, m, flags);
	return ret_errno(r);
}

static ssize_t do_recvmsg(int fd, struct msghdr *m, int flags)
{
	RESOLVE(recvmsg);
	long long r = io(fd, m, flags, 0);
	if (r == ACCEL_PASS)
		return real_recvmsg(fd, m, flags);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (ssize_t)r;
}

/* shim_fd reports whether a data call on fd is the shim's: accelerated,
 * or a candidate that a send may decide. */
static inline int shim_fd(int fd, int sending)
{
	int k = kind(fd);
	if (k == FD_ACCEL)
		return ready();
	if (k == FD_CAND && sending)
		return enter() && ready_slow();
	return 0;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	RESOLVE(sendmsg);
	if (kind(fd) == FD_CAND && (!m || !m->msg_name || surely_kernel(m->msg_name, m->msg_namelen, 1))) {
		ssize_t r = real_sendmsg(fd, m, flags);
		if (r >= 0 && m && m->msg_name)
			forget(fd);
		return r;
	}
	if (!shim_fd(fd, 1))
		return real_sendmsg(fd, m, flags);
	if (m && m->msg_controllen) /* ancillary data: the kernel's socket does it */
		return real_sendmsg(fd, m, flags);
	return do_sendmsg(fd, m, flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	RESOLVE(sendto);
	if (kind(fd) == FD_CAND && (!to || surely_kernel(to, tolen, 1))) {
		ssize_t r = real_sendto(fd, buf, len, flags, to, tolen);
		if (r >= 0 && to)
			forget(fd);
		return r;
	}
	if (!shim_fd(fd, 1))
		return real_sendto(fd, buf, len, flags, to, tolen);
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1};
	return do_sendmsg(fd, &m, flags);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	RESOLVE(send);
	if (!shim_fd(fd, 0))
		return real_send(fd, buf, len, flags);
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	return do_sendmsg(fd, &m, flags);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	RESOLVE(write);
	if (!shim_fd(fd, 0))
		return real_write(fd, buf, len);
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	return do_sendmsg(fd, &m, 0);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	RESOLVE(writev);
	if (!shim_fd(fd, 0) || n < 0 || n > IOV_MAX)
		return real_writev(fd, iov, n);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
	return do_sendmsg(fd, &m, 0);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	RESOLVE(sendmmsg);
	if (!shim_fd(fd, 1))
		return real_sendmmsg(fd, v, n, flags);
	if (n > UIO_MAXIOV)
		n = UIO_MAXIOV;
	unsigned int i;
	for (i = 0; i < n; i++) {
		ssize_t r = v[i].msg_hdr.msg_controllen ? (RESOLVE(sendmsg), real_sendmsg(fd, &v[i].msg_hdr, flags))
							: do_sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0) {
			if (i > 0)
				break; /* as Linux: the count sent, the error for next time */
			return -1;
		}
		v[i].msg_len = (unsigned int)r;
		if (kind(fd) != FD_ACCEL && kind(fd) != FD_CAND) {
			/* Handed back to the kernel mid-way: the rest goes there. */
			int k = real_sendmmsg(fd, v + i + 1, n - i - 1, flags);
			return k < 0 ? (int)i + 1 : (int)i + 1 + k;
		}
	}
	return (int)i;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	RESOLVE(recvmsg);
	if (!shim_fd(fd, 0))
		return real_recvmsg(fd, m, flags);
	return do_recvmsg(fd, m, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	RESOLVE(recvfrom);
	if (!shim_fd(fd, 0))
		return real_recvfrom(fd, buf, len, flags, from, fromlen);
	struct iovec iov = {buf, len};
	struct msghdr m = {.msg_name = from, .msg_namelen = from && fromlen ? *fromlen : 0, .msg_iov = &iov, .msg_iovlen = 1};
	if (from && !fromlen) {
		errno = EFAULT;
		return -1;
	}
	ssize_t r = do_recvmsg(fd, &m, flags);
	if (r >= 0 && from && fromlen)
		*fromlen = m.msg_namelen;
	return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	RESOLVE(recv);
	if (!shim_fd(fd, 0))
		return real_recv(fd, buf, len, flags);
	struct iovec iov = {buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	return do_recvmsg(fd, &m, flags);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	RESOLVE(read);
	if (!shim_fd(fd, 0))
		return real_read(fd, buf, len);
	struct iovec iov = {buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	return do_recvmsg(fd, &m, 0);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	RESOLVE(readv);
	if (!shim_fd(fd, 0) || n < 0 || n > IOV_MAX)
		return real_readv(fd, iov, n);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
	return do_recvmsg(fd, &m, 0);
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
	RESOLVE(recvmmsg);
	if (!shim_fd(fd, 0))
		return real_recvmmsg(fd, v, n, flags, tmo);
	if (n > UIO_MAXIOV)
		n = UIO_MAXIOV;
	int64_t end = 0;
	if (tmo) {
		if (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000) {
			errno = EINVAL;
			return -1;
		}
		end = now_ns() + (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec;
	}
	unsigned int i;
	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		if (i > 0 && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		ssize_t r = do_recvmsg(fd, &v[i].msg_hdr, f);
		if (r < 0) {
			if (i > 0)
				break;
			return -1;
		}
		v[i].msg_len = (unsigned int)r;
		/* As Linux, the timeout is looked at after each datagram. */
		if (tmo && now_ns() >= end) {
			i++;
			break;
		}
	}
	if (tmo) {
		int64_t left = end - now_ns();
		*tmo = ts_of(left > 0 ? left : 0);
	}
	return (int)i;
}

/* Fortified variants (_FORTIFY_SOURCE builds call these). */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
	socklen_t *fromlen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

/* ---- options, control ---- */

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	RESOLVE(setsockopt);
	note_option(fd, level, name);
	int r = real_setsockopt(fd, level, name, val, len);
	if (r != 0)
		return r;
	int k = kind(fd);
	if (k == FD_ACCEL && ready()) {
		GO_DO(go.setsockopt(fd, level, name, val, len));
	} else if (k == FD_CAND && level == IPPROTO_IP &&
		   (name == IP_ADD_MEMBERSHIP || name == IP_DROP_MEMBERSHIP || name == IP_MULTICAST_IF) &&
		   enter() && ready_slow()) {
		GO_DO(go.setsockopt(fd, level, name, val, len)); /* only recorded: no stack */
	}
	return 0;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	RESOLVE(getsockopt);
	int r = real_getsockopt(fd, level, name, val, len);
	if (r == 0 && level == SOL_SOCKET && name == SO_ERROR && kind(fd) == FD_ACCEL && ready() && val && len &&
		*len >= sizeof(int)) {
		long long e = GO_CALL(go.sockerr(fd));
		if (e > 0)
			*(int *)val = (int)e;
	}
	return r;
}

EXPORT int shutdown(int fd, int how)
{
	RESOLVE(shutdown);
	int r = real_shutdown(fd, how);
	/* ENOTCONN: Linux shuts an unconnected UDP socket down all the same,
	 * and wakes its waiters (inet_shutdown), which then read 0; without
	 * the shim knowing, a thread blocked in recv slept on. */
	if ((r == 0 || errno == ENOTCONN) && kind(fd) == FD_ACCEL && ready())
		GO_DO(go.shutdown(fd, how));
	return r;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	RESOLVE(ioctl);
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIOASYNC) {
		int r = real_ioctl(fd, req, arg);
		if (r == 0 && arg && *(int *)arg)
			note_async(fd);
		return r;
	}
	if (kind(fd) == FD_ACCEL && ready()) {
		if (req == FIONREAD) {
			long long n = GO_CALL(go.inq(fd));
			if (n >= 0) {
				if (!arg) {
					errno = EFAULT;
					return -1;
				}
				*(int *)arg = (int)n;
				return 0;
			}
			if (n == ACCEL_FORGET)
				forget(fd);
		} else if (req == SIOCOUTQ) {
			/* Sends leave at once: nothing waits in a send queue. */
			int r = real_ioctl(fd, req, arg);
			if (r == 0 && arg)
				*(int *)arg = 0;
			return r;
		} else if (req == FIONBIO) {
			int r = real_ioctl(fd, req, arg);
			if (r == 0 && arg)
				GO_DO(go.nonblock(fd, *(int *)arg != 0));
			return r;
		}
	}
	return real_ioctl(fd, req, arg);
}

/* note_async: O_ASYNC went on (fcntl F_SETFL, ioctl FIOASYNC). Linux then
 * signals data coming to the kernel's socket, which frames through the VI
 * never reach: an accelerated socket goes back to the kernel, and a
 * candidate loses its fresh bit, so that its decision reads the flag. */
static void note_async(int fd)
{
	int k = kind(fd);
	if (k == FD_ACCEL && ready())
		GO_DO(go.async(fd));
	else if (k == FD_CAND)
		set_pristine(fd, 0);
}

static void note_dup(int oldfd, int newfd)
{
	if (newfd < 0 || oldfd == newfd)
		return;
	/* Either fd may now set the one socket's options. */
	set_pristine(oldfd, 0);
	set_pristine(newfd, 0);
	int was = kind(newfd);
	int was_epoll = (unsigned)newfd < FD_TABLE && (fdtab[newfd] & FD_EPOLLFD);
	if (was != FD_KERNEL)
		fd_gone(newfd);
	if ((was == FD_ACCEL || was_epoll) && ready())
		GO_DO(go.close(newfd));
	if ((unsigned)newfd < FD_TABLE) {
		group_forget(newfd);
		fdtab[newfd] = 0;
	}
	int k = kind(oldfd);
	if (k == FD_ACCEL) {
		if (ready()) {
			set_kind(newfd, FD_ACCEL);
			GO_DO(go.dup(oldfd, newfd, 0));
		} else {
			set_kind(newfd, FD_KERNEL);
		}
	} else {
		set_kind(newfd, k);
		if (k == FD_CAND && (unsigned)oldfd < FD_TABLE && (unsigned)newfd < FD_TABLE)
			group_note(oldfd, newfd);
	}
	if ((unsigned)oldfd < FD_TABLE && (unsigned)newfd < FD_TABLE && (fdtab[oldfd] & FD_EPOLLFD)) {
		/* A duplicate of an epoll fd is the same epoll instance: it
		 * shares the shadow of the accelerated members, and either fd
		 * may change them. */
		fdtab[oldfd] |= FD_EPALIAS;
		fdtab[newfd] |= fdtab[oldfd] & (FD_EPOLLFD | FD_SHADOW | FD_EPALIAS);
		if (ready())
			GO_DO(go.dup(oldfd, newfd, 1));
		else
			group_note(oldfd, newfd);
	}
}

static long fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *);
	int r = real(fd, cmd, arg);
	if (r < 0)
		return r;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		note_dup(fd, r);
		break;
	case F_SETFL:
		if (kind(fd) == FD_ACCEL && ready())
			GO_DO(go.nonblock(fd, ((long)arg & O_NONBLOCK) != 0));
		if ((long)arg & O_ASYNC)
			note_async(fd);
		break;
	}
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	RESOLVE(fcntl);
	va_list ap;
	va_start(ap, cmd);
	long r = fcntl_common(real_fcntl, fd, cmd, ap);
	va_end(ap);
	return (int)r;
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	RESOLVE(fcntl64);
	RESOLVE(fcntl);
	va_list ap;
	va_start(ap, cmd);
	long r = fcntl_common(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, ap);
	va_end(ap);
	return (int)r;
}

EXPORT int dup(int fd)
{
	RESOLVE(dup);
	int r = real_dup(fd);
	note_dup(fd, r);
	return r;
}

EXPORT int dup2(int fd, int newfd)
{
	RESOLVE(dup2);
	int r = real_dup2(fd, newfd);
	note_dup(fd, r);
	return r;
}

EXPORT int dup3(int fd, int newfd, int flags)
{
	RESOLVE(dup3);
	int r = real_dup3(fd, newfd, flags);
	note_dup(fd, r);
	return r;
}

/* ours reports whether fd is still one of the Go part's own fds. A
 * program that closes every fd it did not open (a daemon's start-up
 * loop) must not close the VI under the stack: to it, the fd is not
 * open (EBADF), as it would not be without accel. */
static int ours(int fd)
{
	if ((unsigned)fd >= FD_TABLE || !(fdtab[fd] & FD_GO) || go_state != GO_READY)
		return 0;
	struct stat st;
	for (int i = 0; i < ngo_fds; i++)
		if (go_fds[i].fd == fd)
			return fstat(fd, &st) == 0 && st.st_dev == go_fds[i].dev && st.st_ino == go_fds[i].ino;
	return 0;
}

static void note_close(int fd)
{
	if ((unsigned)fd >= FD_TABLE)
		return;
	/* First out of its group: a duplicate's close decides nothing for
	 * the others. */
	group_forget(fd);
	if ((fdtab[fd] & ~FD_APP) && ready())
		GO_DO(go.close(fd));
	if (kind(fd) == FD_CAND)
		forget(fd);
	fdtab[fd] = 0;
	set_pristine(fd, 0);
}

EXPORT int close(int fd)
{
	RESOLVE(close);
	/* Every close, not only of fds the table marks: a socket handed back
	 * to the kernel while a thread waited on it may have no mark left. */
	fd_gone(fd);
	if ((unsigned)fd < FD_TABLE && fdtab[fd]) {
		if (ours(fd)) {
			errno = EBADF; /* not the program's: as if never opened */
			return -1;
		}
		note_close(fd);
	}
	return real_close(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	RESOLVE(close_range);
	if (!real_close_range) {
		errno = ENOSYS;
		return -1;
	}
	/* The range is closed around the Go part's fds. */
	unsigned from = first;
	for (unsigned fd = first; fd <= last && fd < FD_TABLE; fd++) {
		if (!fdtab[fd])
			continue;
		if (ours((int)fd)) {
			if (fd > from && real_close_range(from, fd - 1, flags) != 0)
				return -1;
			from = fd + 1;
			continue;
		}
		if (!(flags & CLOSE_RANGE_CLOEXEC)) {
			fd_gone((int)fd);
			note_close((int)fd);
		}
	}
	if (from > last)
		return 0;
	return real_close_range(from, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	close_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, 0);
}

/* ---- poll, select, epoll ---- */

/* any_accel reports whether a pollfd array has an accelerated fd, or an
 * epoll fd with accelerated members. */
static int any_accel(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (kind(fds[i].fd) == FD_ACCEL || shadowed(fds[i].fd))
			return 1;
	return 0;
}

/* handed_back reports whether an fd that a poll_impl took as accelerated
 * (k[i].fd == -1) is the kernel's now: another thread, or the Go part's
 * progress engine, handed its socket back while this one waited. */
static int handed_back(const struct pollfd *fds, const struct pollfd *k, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && k[i].fd < 0 && kind(fds[i].fd) != FD_ACCEL)
			return 1;
	return 0;
}

/* poll_compat is the kernel's ppoll with a timeout in ns (< 0: none). */
static int poll_compat(struct pollfd *fds, nfds_t n, int64_t tmo_ns, const sigset_t *mask)
{
	RESOLVE(ppoll);
	struct timespec ts = ts_of(tmo_ns > 0 ? tmo_ns : 0);
	return real_ppoll(fds, n, tmo_ns < 0 ? NULL : &ts, mask);
}

/* poll_impl is poll(2) over a mix of accelerated and kernel fds; tmo_ns
 * < 0 waits for ever. */
static int poll_impl(struct pollfd *fds, nfds_t n, int64_t tmo_ns, const sigset_t *mask)
{
	RESOLVE(poll);
	struct pollfd local[64];
	int afds_local[64];
	struct pollfd *k = local;
	int *afds = afds_local;
	if (n > 64) {
		k = malloc(sizeof *k * n);
		afds = malloc(sizeof *afds * n);
		if (!k || !afds) {
			free(k == local ? NULL : k);
			free(afds == afds_local ? NULL : afds);
			errno = ENOMEM;
			return -1;
		}
	}
	int nk = 0, na = 0;
	for (nfds_t i = 0; i < n; i++) {
		k[i] = fds[i];
		k[i].revents = 0;
		if (fds[i].fd >= 0 && kind(fds[i].fd) == FD_ACCEL) {
			k[i].fd = -1;
			afds[na++] = fds[i].fd;
		} else if (fds[i].fd >= 0) {
			/* An epoll fd with accelerated members: the kernel for
			 * its kernel members, the shim for the others. */
			if (shadowed(fds[i].fd))
				afds[na++] = fds[i].fd;
			nk++;
		}
	}
	struct wait w = {0};
	int64_t now = now_ns();
	w.start = now;
	w.spin_end = now + spin_ns;
	w.deadline = tmo_ns >= 0 ? now + tmo_ns : 0;
	int result;
	sig_seen = 0;
	for (;;) {
		int a = (int)GO_CALL(go.poll(fds, n));
		if (a < 0 || handed_back(fds, k, n)) {
			/* A socket went back to the kernel: start again with it
			 * among the kernel's fds. */
			if (k != local)
				free(k);
			if (afds != afds_local)
				free(afds);
			int64_t left = tmo_ns;
			if (tmo_ns > 0) {
				left = w.deadline - now_ns();
				if (left < 0)
					left = 0;
			}
			return any_accel(fds, n) ? poll_impl(fds, n, left, mask) : poll_compat(fds, n, left, mask);
		}
		int kr = nk ? real_poll(k, n, 0) : 0;
		/* Even a zero timeout ends with EINTR when a signal is pending
		 * (do_poll): only an application handler's counts. */
		if (kr < 0 && errno == EINTR && !sig_seen)
			kr = 0;
		if (kr < 0) {
			result = -1;
			goto out;
		}
		if (a > 0 || kr > 0 || tmo_ns == 0)
			break;
		now = wait_now(&w);
		if (w.deadline && now >= w.deadline)
			break;
		if (interrupted(0)) {
			errno = EINTR;
			result = -1;
			goto out;
		}
		if (now < w.spin_end)
			continue;
		struct armed ar;
		waiting = 1;
		arm_result(&ar, GO_CALL(go.arm(afds, na, ar.fds, ACCEL_MAX_WAIT)));
		if (GO_CALL(go.poll(fds, n)) != 0) {
			end_wait(ar.fds, ar.n);
			continue;
		}
		int s = sleep_on(ar.fds, ar.n, k, (int)n, &w, ar.cap_ns, mask);
		int e = errno;
		end_wait(ar.fds, ar.n);
		/* EINTR only when an application handler ran: the Go part's
		 * runtime signals (its preemption, SIGURG) may land on this
		 * thread and must not show. */
		if (s < 0 && (e != EINTR || interrupted(0))) {
			errno = e;
			result = -1;
			goto out;
		}
	}
	result = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (fds[i].fd >= 0 && shadowed(fds[i].fd))
			fds[i].revents |= k[i].revents;
		else if (k[i].fd >= 0 || fds[i].fd < 0)
			fds[i].revents = k[i].revents;
		if (fds[i].revents)
			result++;
	}
out:
	if (k != local)
		free(k);
	if (afds != afds_local)
		free(afds);
	return result;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	RESOLVE(poll);
	if (!ready() || !any_accel(fds, n))
		return real_poll(fds, n, timeout);
	return poll_impl(fds, n, timeout < 0 ? -1 : (int64_t)timeout * 1000000, NULL);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	RESOLVE(ppoll);
	if (!ready() || !any_accel(fds, n))
		return real_ppoll(fds, n, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return poll_impl(fds, n, tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1, mask);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, tmo, mask);
}

/* select_impl is select(2) through poll_impl, with Linux's mapping of
 * poll events to the three sets (fs/select.c). */
static int select_impl(int nfds, fd_set *r, fd_set *w, fd_set *x, int64_t tmo_ns, const sigset_t *mask)
{
	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	struct pollfd p[FD_SETSIZE];
	int n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (x && FD_ISSET(fd, x))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	int k = poll_impl(p, (nfds_t)n, tmo_ns, mask);
	if (k < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (p[i].revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
	}
	if (r)
		FD_ZERO(r);
	if (w)
		FD_ZERO(w);
	if (x)
		FD_ZERO(x);
	int count = 0;
	for (int i = 0; i < n; i++) {
		short re = p[i].revents, ev = p[i].events;
		if ((ev & POLLIN) && (re & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR))) {
			FD_SET(p[i].fd, r);
			count++;
		}
		if ((ev & POLLOUT) && (re & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR))) {
			FD_SET(p[i].fd, w);
			count++;
		}
		if ((ev & POLLPRI) && (re & POLLPRI)) {
			FD_SET(p[i].fd, x);
			count++;
		}
	}
	return count;
}

static int sets_accel(int nfds, fd_set *r, fd_set *w, fd_set *x)
{
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (kind(fd) == FD_ACCEL && ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x))))
			return 1;
	return 0;
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	RESOLVE(select);
	if (!ready() || !sets_accel(nfds, r, w, x))
		return real_select(nfds, r, w, x, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
		errno = EINVAL;
		return -1;
	}
	int64_t tmo = tv ? (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000 : -1;
	int64_t start = now_ns();
	int k = select_impl(nfds, r, w, x, tmo, NULL);
	if (tv) {
		/* Linux writes back the time not slept. */
		int64_t left = tmo - (now_ns() - start);
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000000;
		tv->tv_usec = (left % 1000000000) / 1000;
	}
	return k;
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *tmo, const sigset_t *mask)
{
	RESOLVE(pselect);
	if (!ready() || !sets_accel(nfds, r, w, x))
		return real_pselect(nfds, r, w, x, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return select_impl(nfds, r, w, x, tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1, mask);
}

/* masked_ctl registers an accelerated fd in the kernel's epoll asking for
 * no events: the kernel still reports its errors and hang-ups, and gives
 * epoll_ctl its exact errors; the shadow reports the rest. */
static int masked_ctl(int epfd, int op, int fd, const struct epoll_event *ev)
{
	RESOLVE(epoll_ctl);
	if (op == EPOLL_CTL_DEL || !ev)
		return real_epoll_ctl(epfd, op, fd, (struct epoll_event *)ev);
	struct epoll_event m = *ev;
	m.events &= EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP;
	return real_epoll_ctl(epfd, op, fd, &m);
}

EXPORT int epoll_create(int size)
{
	DECLARE(int, epoll_create, int);
	RESOLVE(epoll_create);
	int fd = real_epoll_create(size);
	if ((unsigned)fd < FD_TABLE)
		fdtab[fd] = FD_EPOLLFD;
	return fd;
}

EXPORT int epoll_create1(int flags)
{
	DECLARE(int, epoll_create1, int);
	RESOLVE(epoll_create1);
	int fd = real_epoll_create1(flags);
	if ((unsigned)fd < FD_TABLE)
		fdtab[fd] = FD_EPOLLFD;
	return fd;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	RESOLVE(epoll_ctl);
	if ((unsigned)fd < FD_TABLE && (fdtab[fd] & FD_EPOLLFD)) {
		/* An epoll fd inside another: the parent must see the child's
		 * accelerated members too. */
		int r = real_epoll_ctl(epfd, op, fd, ev);
		if (r != 0)
			return r;
		if (ready()) {
			if (GO_CALL(go.epoll_ctl(epfd, op, fd, ev ? ev->events : 0, ev ? ev->data.u64 : 0, 1)) > 0 &&
				(unsigned)epfd < FD_TABLE)
				fdtab[epfd] |= FD_SHADOW;
		} else if (go_state == GO_UNLOADED) {
			nest_note(epfd, op, fd, ev);
		}
		return 0;
	}
	int k = kind(fd);
	if (k == FD_CAND) {
		int r = real_epoll_ctl(epfd, op, fd, ev);
		if (r == 0)
			pending_note(epfd, op, fd, ev);
		return r;
	}
	if (k != FD_ACCEL || !ready())
		return real_epoll_ctl(epfd, op, fd, ev);
	int r = masked_ctl(epfd, op, fd, ev);
	if (r == 0) {
		long long s = GO_CALL(go.epoll_ctl(epfd, op, fd, ev ? ev->events : 0, ev ? ev->data.u64 : 0, 0));
		if ((unsigned)epfd < FD_TABLE) {
			if (s > 0)
				fdtab[epfd] |= FD_SHADOW;
			else
				fdtab[epfd] &= ~FD_SHADOW;
		}
	}
	return r;
}

static int epoll_impl(int epfd, struct epoll_event *evs, int max, int64_t tmo_ns, const sigset_t *mask)
{
	RESOLVE(epoll_wait);
	if (max <= 0) {
		errno = EINVAL;
		return -1;
	}
	struct wait w = {0};
	int64_t now = now_ns();
	w.start = now;
	w.spin_end = now + spin_ns;
	w.deadline = tmo_ns >= 0 ? now + tmo_ns : 0;
	sig_seen = 0;
	for (;;) {
		int n = (int)GO_CALL(go.epoll_scan(epfd, evs, max));
		if (n < max) {
			int k = real_epoll_wait(epfd, evs + n, max - n, 0);
			if (k < 0 && errno == EINTR && !sig_seen)
				k = 0; /* a runtime signal, not the application's */
			if (k < 0)
				return n > 0 ? n : -1;
			n += k;
		}
		if (n > 0 || tmo_ns == 0)
			return n;
		now = wait_now(&w);
		if (w.deadline && now >= w.deadline)
			return 0;
		if (interrupted(0)) {
			errno = EINTR;
			return -1;
		}
		if (now < w.spin_end)
			continue;
		struct armed ar;
		waiting = 1;
		arm_result(&ar, GO_CALL(go.arm_epoll(epfd, ar.fds, ACCEL_MAX_WAIT)));
		n = (int)GO_CALL(go.epoll_scan(epfd, evs, max));
		if (n > 0) {
			end_wait(ar.fds, ar.n);
			return n;
		}
		struct pollfd self = {.fd = epfd, .events = POLLIN};
		int s = sleep_on(ar.fds, ar.n, &self, 1, &w, ar.cap_ns, mask);
		int e = errno;
		end_wait(ar.fds, ar.n);
		/* EINTR only when an application handler ran (see poll). */
		if (s < 0 && (e != EINTR || interrupted(0))) {
			errno = e;
			return -1;
		}
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	RESOLVE(epoll_wait);
	if (!shadowed(epfd) || !ready())
		return real_epoll_wait(epfd, evs, max, timeout);
	return epoll_impl(epfd, evs, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	RESOLVE(epoll_pwait);
	if (!shadowed(epfd) || !ready())
		return real_epoll_pwait(epfd, evs, max, timeout, mask);
	return epoll_impl(epfd, evs, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *tmo, const sigset_t *mask)
{
	RESOLVE(epoll_pwait2);
	if (!real_epoll_pwait2) {
		errno = ENOSYS;
		return -1;
	}
	if (!shadowed(epfd) || !ready())
		return real_epoll_pwait2(epfd, evs, max, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return epoll_impl(epfd, evs, max, tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1, mask);
}

/* ---- processes ---- */

/* Before a fork every accelerated socket goes back to its kernel socket,
 * which parent and child then share as they would without accel (§7). */
static void before_fork(int all)
{
	if (ready_slow())
		GO_DO(go.handover(all));
}

EXPORT pid_t fork(void)
{
	RESOLVE(fork);
	before_fork(1);
	return real_fork();
}

/* _Fork (glibc 2.34) runs no atfork handler: do the child's part here. */
EXPORT pid_t _Fork(void)
{
	DECLARE(pid_t, _Fork, void);
	RESOLVE(_Fork);
	if (!real__Fork) {
		errno = ENOSYS;
		return -1;
	}
	before_fork(1);
	pid_t pid = real__Fork();
	if (pid == 0)
		atfork_child();
	return pid;
}

/* vfork's child shares our memory and stack frame; a wrapper cannot
 * return into it safely. fork gives the same result to every program
 * that follows vfork's rules (exec or _exit at once); and since such a
 * child only execs, only the sockets an exec inherits are handed back. */
EXPORT pid_t vfork(void)
{
	RESOLVE(fork);
	before_fork(0);
	return real_fork();
}

/* Before an exec, sockets the new image inherits (not close-on-exec) go
 * back to the kernel: the new image starts accel afresh. */
static void before_exec(void)
{
	before_fork(0);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	RESOLVE(execve);
	before_exec();
	return real_execve(path, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	RESOLVE(execveat);
	if (!real_execveat) {
		errno = ENOSYS;
		return -1;
	}
	before_exec();
	return real_execveat(dirfd, path, argv, envp, flags);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	RESOLVE(fexecve);
	before_exec();
	return real_fexecve(fd, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	RESOLVE(execv);
	before_exec();
	return real_execv(path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	RESOLVE(execvp);
	before_exec();
	return real_execvp(file, argv);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	RESOLVE(execvpe);
	before_exec();
	return real_execvpe(file, argv, envp);
}

/* The execl family: gather the variadic arguments into an argv. */
#define GATHER_ARGS(arg0, ap, argv)                                          \
	size_t argc_ = 1;                                                        \
	va_list cnt_;                                                            \
	va_copy(cnt_, ap);                                                       \
	while (va_arg(cnt_, char *))                                             \
		argc_++;                                                             \
	va_end(cnt_);                                                            \
	char **argv = alloca((argc_ + 1) * sizeof(char *));                      \
	argv[0] = (char *)arg0;                                                  \
	for (size_t i_ = 1; i_ <= argc_; i_++)                                   \
		argv[i_] = va_arg(ap, char *);

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	GATHER_ARGS(arg, ap, argv);
	va_end(ap);
	return execv(path, argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	GATHER_ARGS(arg, ap, argv);
	va_end(ap);
	return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	GATHER_ARGS(arg, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	RESOLVE(posix_spawn);
	before_exec();
	return real_posix_spawn(pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	RESOLVE(posix_spawnp);
	before_exec();
	return real_posix_spawnp(pid, file, fa, attr, argv, envp);
}

/* popen spawns its shell inside libc (no interposable call). */
EXPORT FILE *popen(const char *cmd, const char *mode)
{
	DECLARE(FILE *, popen, const char *, const char *);
	RESOLVE(popen);
	before_exec();
	return real_popen(cmd, mode);
}

EXPORT int system(const char *cmd)
{
	RESOLVE(system);
	before_exec();
	return real_system(cmd);
}
