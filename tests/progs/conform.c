/*
 * conform: a differential conformance test of the UDP socket API.
 *
 *   conform peer PORT ADDR        the far end (ADDR: its own address)
 *   conform test PEER PORT LOCAL  the checks (LOCAL: this host's address);
 *                                 run it on the kernel and under
 *                              the preload: the outputs must be identical
 *
 * Every check prints what the call returned and errno (by name), and what
 * it produced, and nothing that differs between two correct runs (no
 * ephemeral port numbers, no timings beyond "within bounds").
 *
 * The peer answers commands sent to PORT:
 *   E<payload>   echo the datagram back
 *   B<n>,<size>  send n datagrams of size bytes back ('A'+i repeated)
 *   A<payload>   send the payload back from PORT+1 (another source port)
 *   D<payload>   echo the datagram back after 300 ms
 *   M<port>      send "group" to 239.1.2.3:<port> from its own address
 *   Q            quit
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

static const char *ename(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "?";
}

static int line;

#define T(name, expr)                                                                   \
	({                                                                                  \
		errno = 0;                                                                      \
		long r_ = (long)(expr);                                                         \
		int e_ = errno;                                                                 \
		printf("%03d %-44s ret=%ld errno=%s\n", ++line, name, r_, r_ < 0 ? ename(e_) : "-"); \
		fflush(stdout);                                                                 \
		r_;                                                                             \
	})

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%03d   ", ++line);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct sockaddr_in sin_of(const char *a, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, a, &sa.sin_addr);
	return sa;
}

static const char *str(const struct sockaddr_in *sa)
{
	static char buf[64];
	char a[32];
	inet_ntop(AF_INET, &sa->sin_addr, a, sizeof a);
	snprintf(buf, sizeof buf, "%s:%d", a, ntohs(sa->sin_port));
	return buf;
}

/* readable waits up to 2 s for fd to be readable (through poll). */
static int readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 2000) == 1;
}

static const char *peer_addr;

static int peer(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), alt = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in sb = {.sin_family = AF_INET, .sin_port = htons(port + 1)};
	if (bind(fd, (void *)&sa, sizeof sa) || bind(alt, (void *)&sb, sizeof sb)) {
		perror("peer: bind");
		return 1;
	}
	static char buf[70000];
	long long end = now_ms() + 120000;
	while (now_ms() < end) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 1000) != 1)
			continue;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (void *)&from, &fl);
		if (n <= 0)
			continue;
		switch (buf[0]) {
		case 'E':
			sendto(fd, buf, n, 0, (void *)&from, fl);
			break;
		case 'A':
			sendto(alt, buf, n, 0, (void *)&from, fl);
			break;
		case 'D':
			usleep(300000);
			sendto(fd, buf, n, 0, (void *)&from, fl);
			break;
		case 'M': {
			buf[n] = 0;
			struct sockaddr_in g = {.sin_family = AF_INET, .sin_port = htons(atoi(buf + 1))};
			inet_pton(AF_INET, "239.1.2.3", &g.sin_addr);
			struct sockaddr_in me;
			socklen_t ml = sizeof me;
			/* Our address: the one the datagram came to. */
			getsockname(alt, (void *)&me, &ml);
			struct in_addr ifa;
			inet_pton(AF_INET, peer_addr, &ifa);
			setsockopt(alt, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa);
			sendto(alt, "group", 5, 0, (void *)&g, sizeof g);
			break;
		}
		case 'B': {
			buf[n] = 0;
			int k = 0, size = 0;
			sscanf(buf + 1, "%d,%d", &k, &size);
			static char out[70000];
			for (int i = 0; i < k && size <= (int)sizeof out; i++) {
				memset(out, 'A' + i, size);
				sendto(fd, out, size, 0, (void *)&from, fl);
			}
			break;
		}
		case 'Q':
			return 0;
		}
	}
	return 0;
}

static const char *local_addr;

static void onalarm(int sig)
{
	(void)sig;
}

/* show_cmsgs receives one datagram with a control buffer of size bytes
 * and prints the control messages: levels, types, lengths, the pktinfo
 * addresses, whether a timestamp is within 5 s of now, MSG_CTRUNC. */
static void show_cmsgs(int fd, size_t size, const char *what)
{
	char data[64];
	union {
		char b[512];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {data, sizeof data};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = size};
	int n = T(what, recvmsg(fd, &m, 0));
	say("%s: got %d controllen %zu flags %#x", what, n, (size_t)m.msg_controllen, m.msg_flags);
	if (n < 0 || m.msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		say("  cmsg level %d type %d len %zu", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len);
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			char a[32], b[32];
			inet_ntop(AF_INET, &pi.ipi_spec_dst, a, sizeof a);
			inet_ntop(AF_INET, &pi.ipi_addr, b, sizeof b);
			say("  pktinfo ifindex>0 %d spec_dst %s addr %s", pi.ipi_ifindex > 0, a, b);
		}
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_len >= CMSG_LEN(16) &&
			(c->cmsg_type == SCM_TIMESTAMPNS || c->cmsg_type == SCM_TIMESTAMP)) {
			long long t[2];
			memcpy(t, CMSG_DATA(c), sizeof t);
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			long long ns = t[0] * 1000000000LL + (c->cmsg_type == SCM_TIMESTAMPNS ? t[1] : t[1] * 1000);
			long long d = (long long)now.tv_sec * 1000000000LL + now.tv_nsec - ns;
			say("  timestamp within 5 s: %d", d >= 0 && d < 5000000000LL);
		}
	}
}

/* caught reports whether the process has a handler for sig (SigCgt in
 * /proc/self/status). */
static int caught(int sig)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long mask = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	if (f)
		fclose(f);
	return (int)((mask >> (sig - 1)) & 1);
}

/* urg_storm sends SIGURG to the waiting thread every 20 ms for 200 ms. */
static pthread_t urg_target;
static void *urg_storm(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		usleep(20000);
		pthread_kill(urg_target, SIGURG);
	}
	return NULL;
}

static void cmd(int fd, const struct sockaddr_in *to, const char *c)
{
	sendto(fd, c, strlen(c), 0, (const void *)to, sizeof *to);
}

/* new_edge has the peer send one datagram and shows an edge-triggered
 * wait on epfd reporting it once: the wait, then a wait that finds nothing
 * new. */
static void new_edge(int s, const struct sockaddr_in *pa, int epfd, const char *what)
{
	struct epoll_event out[4];
	char again[64];
	snprintf(again, sizeof again, "%s, again", what);
	cmd(s, pa, "B1,10");
	T(what, epoll_wait(epfd, out, 4, 2000));
	T(again, epoll_wait(epfd, out, 4, 0));
}

/* opt_bound makes a socket with the SOL_SOCKET option opt on, bound to
 * *:port (what names the steps). */
static int opt_bound(int opt, int port, const char *what)
{
	char l[64];
	int v = 1;
	snprintf(l, sizeof l, "socket, %s", what);
	int s = T(l, socket(AF_INET, SOCK_DGRAM, 0));
	snprintf(l, sizeof l, "option on, %s", what);
	T(l, setsockopt(s, SOL_SOCKET, opt, &v, sizeof v));
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port)};
	snprintf(l, sizeof l, "bind *:%d, %s", port, what);
	T(l, bind(s, (void *)&any, sizeof any));
	return s;
}

/* member_through adds s to an epoll instance through the fd add and
 * waits for a datagram through wait, another fd of the instance; then it
 * closes both. */
static void member_through(int add, int wait, int s, const struct sockaddr_in *pa, unsigned long long data,
	const char *what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data}, out[4];
	char buf[64], l[64];
	snprintf(l, sizeof l, "epoll_ctl ADD socket, %s", what);
	T(l, epoll_ctl(add, EPOLL_CTL_ADD, s, &ev));
	cmd(s, pa, "B1,10");
	snprintf(l, sizeof l, "epoll_wait through the other fd, %s", what);
	int n = T(l, epoll_wait(wait, out, 4, 2000));
	say("%s data=%llx", what, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("recv it", recv(s, buf, sizeof buf, 0));
	T("close one", close(add));
	T("close the other", close(wait));
}

static int test(const char *peeraddr, int port)
{
	struct sockaddr_in pa = sin_of(peeraddr, port), palt = sin_of(peeraddr, port + 1);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(7400)};
	char buf[70000];
	int v;
	socklen_t vl = sizeof v;

	/* Bad fds and non-sockets. */
	T("recv bad fd", recv(-1, buf, 10, 0));
	T("sendto bad fd", sendto(999, "x", 1, 0, (void *)&pa, sizeof pa));
	int pipefd[2];
	T("pipe", pipe(pipefd));
	T("sendto on a pipe", sendto(pipefd[1], "x", 1, 0, (void *)&pa, sizeof pa));
	T("bind on a pipe", bind(pipefd[0], (void *)&any, sizeof any));
	close(pipefd[0]);
	close(pipefd[1]);

	/* An epoll fd and its duplicate made before the first socket, so
	 * before the preload has started its Go part (used further down). */
	int early = T("epoll_create1 early", epoll_create1(0));
	int early2 = T("dup early epoll fd", dup(early));

	int s = T("socket", socket(AF_INET, SOCK_DGRAM, 0));
	T("getsockopt SO_TYPE", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl));
	say("SO_TYPE=%d", v);
	vl = sizeof v;
	T("getsockopt SO_ERROR", getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &vl));
	say("SO_ERROR=%d", v);
	T("recv unbound nonblocking", recv(s, buf, 10, MSG_DONTWAIT));

	/* bind's errors. */
	struct sockaddr_in6 six = {.sin6_family = AF_INET6};
	T("bind AF_INET6 address", bind(s, (void *)&six, sizeof six));
	T("bind short length", bind(s, (void *)&any, 4));
	struct sockaddr_in foreign = sin_of("198.18.0.99", 7400);
	T("bind foreign address", bind(s, (void *)&foreign, sizeof foreign));
	T("bind *:7400", bind(s, (void *)&any, sizeof any));
	T("bind again", bind(s, (void *)&any, sizeof any));
	int s2 = T("socket 2", socket(AF_INET, SOCK_DGRAM, 0));
	T("bind same port", bind(s2, (void *)&any, sizeof any));
	close(s2);
	struct sockaddr_in got;
	socklen_t gl = sizeof got;
	T("getsockname", getsockname(s, (void *)&got, &gl));
	say("local %s", str(&got));
	gl = sizeof got;
	T("getpeername unconnected", getpeername(s, (void *)&got, &gl));

	/* Receiving with nothing there. */
	T("recv MSG_DONTWAIT empty", recv(s, buf, sizeof buf, MSG_DONTWAIT));
	T("send unconnected, no address", send(s, "x", 1, 0));
	T("sendto too long", sendto(s, buf, 65508, 0, (void *)&pa, sizeof pa));
	T("sendto bad buffer", sendto(s, (void *)8, 10, 0, (void *)&pa, sizeof pa));
	T("sendto bad address pointer", sendto(s, "x", 1, 0, (void *)8, sizeof pa));
	struct timeval tv = {0, 200000};
	T("SO_RCVTIMEO 200ms", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	long long t0 = now_ms();
	T("recv times out", recv(s, buf, sizeof buf, 0));
	long long took = now_ms() - t0;
	say("timeout honoured: %d", took >= 190 && took < 1500);

	/* Echo, peek, trunc. */
	T("sendto echo", sendto(s, "Ehello", 6, 0, (void *)&pa, sizeof pa));
	readable(s);
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	int n = T("recvfrom MSG_PEEK", recvfrom(s, buf, sizeof buf, MSG_PEEK, (void *)&from, &fl));
	say("peeked %.*s from %s fromlen=%d", n > 0 ? n : 0, buf, str(&from), fl);
	v = -1;
	T("FIONREAD", ioctl(s, FIONREAD, &v));
	say("FIONREAD=%d", v);
	n = T("recv short MSG_TRUNC", recv(s, buf, 2, MSG_TRUNC | MSG_PEEK));
	struct iovec iov = {buf, 3};
	struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
	n = T("recvmsg short", recvmsg(s, &mh, 0));
	say("got %.*s flags %#x namelen=%d", n > 0 ? n : 0, buf, mh.msg_flags, mh.msg_namelen);
	T("recv after the datagram", recv(s, buf, sizeof buf, MSG_DONTWAIT));

	/* Zero-length datagrams, fromlen short. */
	T("sendto empty echo", sendto(s, "E", 1, 0, (void *)&pa, sizeof pa));
	readable(s);
	fl = 4;
	n = T("recvfrom fromlen 4", recvfrom(s, buf, sizeof buf, 0, (void *)&from, &fl));
	say("fromlen now %d", fl);

	/* A burst, poll, select, FIONREAD. */
	cmd(s, &pa, "B3,100");
	readable(s);
	usleep(100000);
	struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT};
	T("poll in|out with data", poll(&p, 1, 0));
	say("revents %#x", p.revents);
	fd_set rs, ws;
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_SET(s, &rs);
	FD_SET(s, &ws);
	struct timeval zero = {0, 0};
	T("select r|w with data", select(s + 1, &rs, &ws, NULL, &zero));
	say("select r=%d w=%d", FD_ISSET(s, &rs), FD_ISSET(s, &ws));
	for (int i = 0; i < 3; i++) {
		n = T("recv burst", recv(s, buf, sizeof buf, 0));
		say("first byte %c", n > 0 ? buf[0] : '-');
	}
	p.revents = 0;
	T("poll in|out empty", poll(&p, 1, 0));
	say("revents %#x", p.revents);
	p.events = POLLIN;
	t0 = now_ms();
	T("poll 150ms timeout", poll(&p, 1, 150));
	took = now_ms() - t0;
	say("poll waited: %d", took >= 140 && took < 1500);
	struct timeval tv150 = {0, 150000};
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	T("select 150ms timeout", select(s + 1, &rs, NULL, NULL, &tv150));
	say("select left tv=%ld.%06ld", (long)tv150.tv_sec, (long)tv150.tv_usec);

	/* Large datagrams: the kernel fragments and reassembles them. */
	cmd(s, &pa, "B2,4000");
	readable(s);
	for (int i = 0; i < 2; i++) {
		readable(s);
		n = T("recv 4000-byte datagram", recv(s, buf, sizeof buf, 0));
		say("first byte %c last byte %c", n > 0 ? buf[0] : '-', n > 0 ? buf[n - 1] : '-');
	}
	memset(buf, 'z', 3000);
	buf[0] = 'E';
	T("sendto 3000 bytes echo", sendto(s, buf, 3000, 0, (void *)&pa, sizeof pa));
	readable(s);
	n = T("recv 3000-byte echo", recv(s, buf, sizeof buf, 0));

	/* epoll: level, edge, one-shot. */
	int ep = T("epoll_create1", epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
	T("epoll_ctl ADD", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	T("epoll_ctl ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	T("epoll_ctl MOD bad fd", epoll_ctl(ep, EPOLL_CTL_MOD, 999, &ev));
	struct epoll_event out[4];
	T("epoll_wait empty", epoll_wait(ep, out, 4, 0));
	cmd(s, &pa, "B2,10");
	readable(s);
	usleep(100000);
	n = T("epoll_wait LT", epoll_wait(ep, out, 4, 1000));
	say("events in=%d data=%llx", n > 0 && (out[0].events & EPOLLIN), n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("recv one", recv(s, buf, sizeof buf, 0));
	n = T("epoll_wait LT again", epoll_wait(ep, out, 4, 0));
	T("recv two", recv(s, buf, sizeof buf, 0));
	T("epoll_wait LT drained", epoll_wait(ep, out, 4, 0));
	ev.events = EPOLLIN | EPOLLET;
	T("epoll_ctl MOD ET", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
	cmd(s, &pa, "B2,10");
	usleep(200000);
	T("epoll_wait ET", epoll_wait(ep, out, 4, 1000));
	T("epoll_wait ET again", epoll_wait(ep, out, 4, 0));
	/* A new datagram behind the unread ones is a new edge. */
	new_edge(s, &pa, ep, "epoll_wait ET new datagram");
	T("recv one", recv(s, buf, sizeof buf, 0));
	T("epoll_wait ET after read", epoll_wait(ep, out, 4, 0));
	T("recv two", recv(s, buf, sizeof buf, 0));
	T("recv three", recv(s, buf, sizeof buf, 0));
	ev.events = EPOLLIN | EPOLLONESHOT;
	T("epoll_ctl MOD ONESHOT", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
	cmd(s, &pa, "B2,10");
	usleep(200000);
	T("epoll_wait ONESHOT", epoll_wait(ep, out, 4, 1000));
	T("epoll_wait ONESHOT again", epoll_wait(ep, out, 4, 0));
	T("epoll_ctl MOD rearm", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
	T("epoll_wait rearmed", epoll_wait(ep, out, 4, 0));
	T("recv one", recv(s, buf, sizeof buf, 0));
	T("recv two", recv(s, buf, sizeof buf, 0));
	ev.events = EPOLLOUT | EPOLLET;
	T("epoll_ctl MOD OUT|ET", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
	n = T("epoll_wait OUT|ET", epoll_wait(ep, out, 4, 0));
	say("out=%d", n > 0 && (out[0].events & EPOLLOUT));
	T("epoll_wait OUT|ET again", epoll_wait(ep, out, 4, 0));
	T("epoll_ctl DEL", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	T("epoll_ctl DEL again", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	t0 = now_ms();
	T("epoll_wait 150ms", epoll_wait(ep, out, 4, 150));
	took = now_ms() - t0;
	say("epoll waited: %d", took >= 140 && took < 1500);

	/* More members ready than a wait asks for: successive waits take
	 * turns (the kernel queues a reported level-triggered member behind
	 * the others), so two waits for 2 events report all 4, once each. */
	int ept = T("epoll_create1 turns", epoll_create1(0));
	int tm[4], nready = 0, cnt[4] = {0};
	for (int i = 0; i < 4; i++) {
		struct sockaddr_in ma = {.sin_family = AF_INET, .sin_port = htons(7410 + i)};
		struct epoll_event mev = {.events = EPOLLIN, .data.u64 = (unsigned long long)i};
		tm[i] = socket(AF_INET, SOCK_DGRAM, 0);
		bind(tm[i], (void *)&ma, sizeof ma);
		epoll_ctl(ept, EPOLL_CTL_ADD, tm[i], &mev);
		cmd(tm[i], &pa, "E");
	}
	for (int i = 0; i < 4; i++)
		nready += readable(tm[i]);
	say("turns: %d members readable", nready);
	for (int w = 0; w < 2; w++) {
		n = epoll_wait(ept, out, 2, 0);
		for (int k = 0; k < n; k++)
			cnt[out[k].data.u64 & 3]++;
	}
	say("turns: events per member %d %d %d %d", cnt[0], cnt[1], cnt[2], cnt[3]);
	for (int i = 0; i < 4; i++)
		close(tm[i]);
	T("close turns", close(ept));

	/* An epoll fd inside another, and poll on an epoll fd. */
	int ep2 = T("epoll_create1 outer", epoll_create1(0));
	struct epoll_event nev = {.events = EPOLLIN, .data.u64 = 0x99};
	T("epoll_ctl ADD inner to outer", epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &nev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234;
	T("epoll_ctl ADD socket to inner", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	T("epoll_wait outer empty", epoll_wait(ep2, out, 4, 0));
	struct pollfd pe = {.fd = ep, .events = POLLIN};
	T("poll inner empty", poll(&pe, 1, 0));
	cmd(s, &pa, "B1,10");
	n = T("epoll_wait outer", epoll_wait(ep2, out, 4, 2000));
	say("outer data=%llx", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	pe.revents = 0;
	T("poll inner", poll(&pe, 1, 0));
	say("inner revents %#x", pe.revents);
	n = T("epoll_wait inner", epoll_wait(ep, out, 4, 0));
	say("inner data=%llx", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("recv it", recv(s, buf, sizeof buf, 0));
	T("epoll_wait outer drained", epoll_wait(ep2, out, 4, 0));
	pe.revents = 0;
	T("poll inner drained", poll(&pe, 1, 0));
	T("epoll_ctl DEL socket", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	T("close outer", close(ep2));

	/* An epoll fd inside another, edge-triggered: the outer reports the
	 * inner once per new event in it. */
	ep2 = T("epoll_create1 outer ET", epoll_create1(0));
	nev.events = EPOLLIN | EPOLLET;
	T("epoll_ctl ADD inner to outer ET", epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &nev));
	T("epoll_ctl ADD socket to inner", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	new_edge(s, &pa, ep2, "epoll_wait outer ET");
	new_edge(s, &pa, ep2, "epoll_wait outer ET new event");
	T("recv one", recv(s, buf, sizeof buf, 0));
	T("recv two", recv(s, buf, sizeof buf, 0));
	T("epoll_wait outer ET drained", epoll_wait(ep2, out, 4, 0));
	T("epoll_ctl DEL socket", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	T("close outer ET", close(ep2));

	/* Ancillary data: IP_PKTINFO and receive timestamps, in the kernel's
	 * order and layout; cut with MSG_CTRUNC when the buffer is short. */
	v = 1;
	T("IP_PKTINFO on", setsockopt(s, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));
	T("SO_TIMESTAMPNS on", setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &v, sizeof v));
	cmd(s, &pa, "B1,10");
	readable(s);
	show_cmsgs(s, 256, "pktinfo+ns");
	T("SO_TIMESTAMP on", setsockopt(s, SOL_SOCKET, SO_TIMESTAMP, &v, sizeof v));
	vl = sizeof v;
	T("getsockopt SO_TIMESTAMPNS", getsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &v, &vl));
	say("SO_TIMESTAMPNS=%d", v);
	cmd(s, &pa, "B1,10");
	readable(s);
	show_cmsgs(s, 256, "pktinfo+us");
	cmd(s, &pa, "B1,10");
	readable(s);
	show_cmsgs(s, 40, "short buffer");
	cmd(s, &pa, "B1,10");
	readable(s);
	show_cmsgs(s, 8, "tiny buffer");
	v = 0;
	T("SO_TIMESTAMP off", setsockopt(s, SOL_SOCKET, SO_TIMESTAMP, &v, sizeof v));
	T("IP_PKTINFO off", setsockopt(s, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));
	cmd(s, &pa, "B1,10");
	readable(s);
	show_cmsgs(s, 256, "off");

	/* A socket duplicated before it was decided: bound through one fd,
	 * it is the same socket through the other. */
	int c0 = T("socket to duplicate", socket(AF_INET, SOCK_DGRAM, 0));
	int c1 = T("dup it undecided", dup(c0));
	struct sockaddr_in cl = sin_of(local_addr, 7460);
	T("bind through the original", bind(c0, (void *)&cl, sizeof cl));
	cmd(c1, &pa, "B1,10");
	struct pollfd cpf = {.fd = c1, .events = POLLIN};
	T("poll the duplicate", poll(&cpf, 1, 2000));
	T("recv through the duplicate", recv(c1, buf, sizeof buf, MSG_DONTWAIT));
	T("recv through the original, empty", recv(c0, buf, sizeof buf, MSG_DONTWAIT));
	T("close the original", close(c0));
	T("close the duplicate", close(c1));

	/* Two sockets on one port with SO_REUSEADDR: unicast goes to the one
	 * bound last. */
	int ra = opt_bound(SO_REUSEADDR, 7470, "reuseaddr 1");
	int rb = opt_bound(SO_REUSEADDR, 7470, "reuseaddr 2");
	cmd(ra, &pa, "B1,10");
	struct pollfd rpf[2] = {{.fd = ra, .events = POLLIN}, {.fd = rb, .events = POLLIN}};
	T("poll both", poll(rpf, 2, 2000));
	T("recv first bound", recv(ra, buf, sizeof buf, MSG_DONTWAIT));
	T("recv last bound", recv(rb, buf, sizeof buf, MSG_DONTWAIT));
	T("close reuseaddr 1", close(ra));
	T("close reuseaddr 2", close(rb));

	/* Port 0 is no destination (connected sockets have theirs). */
	struct sockaddr_in port0 = sin_of(peeraddr, 0);
	int z = T("socket for port 0", socket(AF_INET, SOCK_DGRAM, 0));
	T("sendto port 0", sendto(z, "x", 1, 0, (void *)&port0, sizeof port0));
	T("sendto the peer", sendto(z, "x", 1, 0, (void *)&pa, sizeof pa));
	T("sendto port 0 again", sendto(z, "x", 1, 0, (void *)&port0, sizeof port0));
	T("close it", close(z));

	/* A broadcast to the subnet comes back to the sender's own port on
	 * this host (the subnet is a /24 in the tests). */
	int bs = opt_bound(SO_BROADCAST, 7480, "broadcast");
	struct sockaddr_in bcast = sin_of(local_addr, 7480);
	bcast.sin_addr.s_addr = (bcast.sin_addr.s_addr & htonl(0xffffff00)) | htonl(0xff);
	T("sendto the subnet broadcast", sendto(bs, "bcast", 5, 0, (void *)&bcast, sizeof bcast));
	struct pollfd bpf = {.fd = bs, .events = POLLIN};
	T("poll for our own broadcast", poll(&bpf, 1, 1000));
	gl = sizeof got;
	n = T("recvfrom our own broadcast", recvfrom(bs, buf, sizeof buf, MSG_DONTWAIT, (void *)&got, &gl));
	say("from %s", n > 0 ? str(&got) : "-");
	T("close broadcast socket", close(bs));

	/* Bound to no address and naming no interface, a group's or the
	 * limited broadcast's datagram needs a route (the test hosts have
	 * none for them): ENETUNREACH. IP_MULTICAST_IF, or a bound address,
	 * names the interface. */
	int ms = opt_bound(SO_BROADCAST, 7481, "groups");
	struct sockaddr_in grp_to = sin_of("239.1.2.4", 7481), lb_to = sin_of("255.255.255.255", 7481);
	T("sendto a group, no route", sendto(ms, "g", 1, 0, (void *)&grp_to, sizeof grp_to));
	T("sendto the limited broadcast, no route", sendto(ms, "b", 1, 0, (void *)&lb_to, sizeof lb_to));
	struct in_addr mif;
	inet_pton(AF_INET, local_addr, &mif);
	T("IP_MULTICAST_IF", setsockopt(ms, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif));
	T("sendto a group through it", sendto(ms, "g", 1, 0, (void *)&grp_to, sizeof grp_to));
	T("sendto the limited broadcast still", sendto(ms, "b", 1, 0, (void *)&lb_to, sizeof lb_to));
	T("close group socket", close(ms));
	int ma = T("socket bound to an address", socket(AF_INET, SOCK_DGRAM, 0));
	T("SO_BROADCAST", setsockopt(ma, SOL_SOCKET, SO_BROADCAST, &v, sizeof v));
	struct sockaddr_in mine = sin_of(local_addr, 7482);
	T("bind our address", bind(ma, (void *)&mine, sizeof mine));
	T("sendto a group from our address", sendto(ma, "g", 1, 0, (void *)&grp_to, sizeof grp_to));
	T("sendto the limited broadcast from our address", sendto(ma, "b", 1, 0, (void *)&lb_to, sizeof lb_to));
	T("close bound socket", close(ma));
	int mp = T("socket naming its interface first", socket(AF_INET, SOCK_DGRAM, 0));
	T("IP_MULTICAST_IF before bind", setsockopt(mp, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif));
	struct sockaddr_in many2 = {.sin_family = AF_INET, .sin_port = htons(7483)};
	T("bind *:7483", bind(mp, (void *)&many2, sizeof many2));
	T("sendto a group through it", sendto(mp, "g", 1, 0, (void *)&grp_to, sizeof grp_to));
	T("close it", close(mp));

	/* Duplicates made before the instance had any member, early (before
	 * the Go part started) and late: a member added through one fd is
	 * seen through the other. */
	member_through(early, early2, s, &pa, 0x78, "early");
	int late = T("epoll_create1 late", epoll_create1(0));
	int late2 = T("dup late epoll fd", dup(late));
	member_through(late2, late, s, &pa, 0x79, "late");

	/* A duplicate of an epoll fd is the same epoll instance: it sees the
	 * members, also once the original fd is closed. */
	int epa = T("epoll_create1 for dup", epoll_create1(0));
	ev.events = EPOLLIN;
	ev.data.u64 = 0x77;
	T("epoll_ctl ADD socket", epoll_ctl(epa, EPOLL_CTL_ADD, s, &ev));
	int epb = T("dup epoll fd", dup(epa));
	T("epoll_wait dup empty", epoll_wait(epb, out, 4, 0));
	cmd(s, &pa, "B1,10");
	n = T("epoll_wait dup", epoll_wait(epb, out, 4, 2000));
	say("dup data=%llx", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("close original epoll fd", close(epa));
	n = T("epoll_wait dup after close", epoll_wait(epb, out, 4, 0));
	say("dup data=%llx", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("recv it", recv(s, buf, sizeof buf, 0));
	T("epoll_wait dup drained", epoll_wait(epb, out, 4, 0));
	int epc = T("dup2 epoll fd", dup2(epb, 900));
	cmd(s, &pa, "B1,10");
	n = T("epoll_wait dup2", epoll_wait(epc, out, 4, 2000));
	say("dup2 data=%llx", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("recv it", recv(s, buf, sizeof buf, 0));
	T("close dup2", close(epc));
	T("epoll_ctl DEL via dup", epoll_ctl(epb, EPOLL_CTL_DEL, s, NULL));
	T("close dup", close(epb));

	/* Connected: filtering, send without address, readv/writev. */
	T("connect peer", connect(s, (void *)&pa, sizeof pa));
	gl = sizeof got;
	T("getpeername", getpeername(s, (void *)&got, &gl));
	say("peer %s", str(&got));
	T("send Afrom-alt", send(s, "Afrom-alt", 9, 0));
	T("send Ehi", send(s, "Ehi", 3, 0));
	readable(s);
	n = T("recv connected", recv(s, buf, sizeof buf, 0));
	say("got %.*s (the other port's datagram is filtered)", n > 0 ? n : 0, buf);
	T("recv nothing more", recv(s, buf, sizeof buf, MSG_DONTWAIT));
	struct iovec wv[3] = {{"E", 1}, {"ab", 2}, {"cde", 3}};
	T("writev", writev(s, wv, 3));
	readable(s);
	char r1[2], r2[10];
	struct iovec rv[2] = {{r1, 2}, {r2, 10}};
	n = T("readv", readv(s, rv, 2));
	say("readv %.2s|%.*s", r1, n > 2 ? n - 2 : 0, r2);
	T("write", write(s, "Ewrite", 6));
	readable(s);
	n = T("read", read(s, buf, sizeof buf));
	say("read %.*s", n > 0 ? n : 0, buf);
	T("sendto other address while connected", sendto(s, "Eother", 6, 0, (void *)&pa, sizeof pa));
	readable(s);
	T("recv it", recv(s, buf, sizeof buf, 0));

	/* sendmmsg, recvmmsg. */
	struct mmsghdr mm[3];
	struct iovec mi[3];
	char mb[3][16];
	const char *msgs[3] = {"Em0", "Em11", "Em222"};
	for (int i = 0; i < 3; i++) {
		mi[i] = (struct iovec){(void *)msgs[i], strlen(msgs[i])};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &mi[i], .msg_iovlen = 1}};
	}
	n = T("sendmmsg 3", sendmmsg(s, mm, 3, 0));
	say("lens %u %u %u", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	readable(s);
	usleep(100000);
	for (int i = 0; i < 3; i++) {
		mi[i] = (struct iovec){mb[i], sizeof mb[i]};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &mi[i], .msg_iovlen = 1}};
	}
	n = T("recvmmsg 3 WAITFORONE", recvmmsg(s, mm, 3, MSG_WAITFORONE, NULL));
	for (int i = 0; i < n; i++)
		say("msg %d: %.*s", i, (int)mm[i].msg_len, mb[i]);
	/* recvmmsg with control buffers: each message its own cmsgs. */
	v = 1;
	T("IP_PKTINFO on for recvmmsg", setsockopt(s, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));
	cmd(s, &pa, "B2,10");
	readable(s);
	usleep(100000);
	union {
		char b[64];
		struct cmsghdr align;
	} mc[2];
	for (int i = 0; i < 2; i++) {
		mi[i] = (struct iovec){mb[i], sizeof mb[i]};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &mi[i], .msg_iovlen = 1, .msg_control = mc[i].b,
							 .msg_controllen = i == 0 ? sizeof mc[i].b : 8}};
	}
	n = T("recvmmsg 2 with control", recvmmsg(s, mm, 2, MSG_WAITFORONE, NULL));
	for (int i = 0; i < n; i++) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&mm[i].msg_hdr);
		say("msg %d: controllen %zu flags %#x first cmsg %d/%d", i, (size_t)mm[i].msg_hdr.msg_controllen,
			mm[i].msg_hdr.msg_flags, c ? c->cmsg_level : -1, c ? c->cmsg_type : -1);
	}
	v = 0;
	T("IP_PKTINFO off", setsockopt(s, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));

	/* dup: one socket, several fds. */
	int d = T("dup", dup(s));
	T("send on dup", send(d, "Edup", 4, 0));
	readable(s);
	n = T("recv on original", recv(s, buf, sizeof buf, 0));
	T("close original", close(s));
	T("send on dup after close", send(d, "Edup2", 5, 0));
	readable(d);
	n = T("recv on dup", recv(d, buf, sizeof buf, 0));
	say("got %.*s", n > 0 ? n : 0, buf);
	T("recv on closed original", recv(s, buf, sizeof buf, MSG_DONTWAIT));
	int d2 = T("fcntl F_DUPFD", fcntl(d, F_DUPFD, 50));
	say("F_DUPFD at or above 50: %d", d2 >= 50);
	T("dup2 onto 60", dup2(d2, 60));
	T("send on 60", send(60, "E60", 3, 0));
	readable(60);
	T("recv on 60", recv(60, buf, sizeof buf, 0));
	T("close 60", close(60));
	T("close F_DUPFD", close(d2));

	/* Non-blocking modes. */
	int fl0 = fcntl(d, F_GETFL);
	T("fcntl O_NONBLOCK", fcntl(d, F_SETFL, fl0 | O_NONBLOCK));
	T("recv non-blocking", recv(d, buf, sizeof buf, 0));
	T("fcntl blocking", fcntl(d, F_SETFL, fl0));
	int on = 1;
	T("FIONBIO on", ioctl(d, FIONBIO, &on));
	T("recv FIONBIO", recv(d, buf, sizeof buf, 0));
	on = 0;
	T("FIONBIO off", ioctl(d, FIONBIO, &on));
	v = -1;
	T("SIOCOUTQ", ioctl(d, SIOCOUTQ, &v));
	say("SIOCOUTQ=%d", v);

	/* Signals interrupt a blocking wait. */
	struct sigaction sa = {.sa_handler = onalarm};
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
	struct timeval none = {0, 0};
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	struct itimerval it = {.it_value = {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	T("recv interrupted", recv(d, buf, sizeof buf, 0));
	setitimer(ITIMER_REAL, &it, NULL);
	p = (struct pollfd){.fd = d, .events = POLLIN};
	T("poll interrupted", poll(&p, 1, 5000));
	setitimer(ITIMER_REAL, &it, NULL);
	T("epoll_wait interrupted", epoll_wait(ep, out, 4, 5000));

	/* SA_RESTART: a blocking receive without a timeout is restarted; with
	 * a timeout, or for poll, the signal still interrupts. */
	int restarted = 0;
	(void)restarted;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	T("send Ddelayed", send(d, "Ddelayed", 8, 0));
	setitimer(ITIMER_REAL, &it, NULL);
	n = T("recv SA_RESTART restarted", recv(d, buf, sizeof buf, 0));
	say("got %.*s", n > 0 ? n : 0, buf);
	struct timeval tv2 = {2, 0};
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv2, sizeof tv2);
	setitimer(ITIMER_REAL, &it, NULL);
	T("recv SA_RESTART with timeout", recv(d, buf, sizeof buf, 0));
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	setitimer(ITIMER_REAL, &it, NULL);
	T("poll SA_RESTART", poll(&p, 1, 5000));
	signal(SIGALRM, onalarm);
	T("send Dsignal", send(d, "Dsignal", 7, 0));
	setitimer(ITIMER_REAL, &it, NULL);
	n = T("recv signal() restarted", recv(d, buf, sizeof buf, 0));
	say("got %.*s", n > 0 ? n : 0, buf);
	struct sigaction back;
	sigaction(SIGALRM, NULL, &back);
	say("sigaction reads back the handler: %d restart: %d", back.sa_handler == onalarm, !!(back.sa_flags & SA_RESTART));

	/* A signal the program leaves at its default, ignored (SIGURG), does
	 * not interrupt a wait on Linux; under the preload the Go part's
	 * runtime has a handler for it (its preemption signal), which must
	 * not show as EINTR either. */
	urg_target = pthread_self();
	pthread_t urg;
	struct timeval tv300 = {0, 300000};
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv300, sizeof tv300);
	pthread_create(&urg, NULL, urg_storm, NULL);
	T("recv with SIGURG around", recv(d, buf, sizeof buf, 0));
	pthread_join(urg, NULL);
	pthread_create(&urg, NULL, urg_storm, NULL);
	T("poll with SIGURG around", poll(&p, 1, 300));
	pthread_join(urg, NULL);
	pthread_create(&urg, NULL, urg_storm, NULL);
	T("epoll_wait with SIGURG around", epoll_wait(ep, out, 4, 300));
	pthread_join(urg, NULL);
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	say("SIGURG caught by a handler: %d", caught(SIGURG));

	/* Options. */
	v = 4096;
	T("SO_RCVBUF 4096", setsockopt(d, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	vl = sizeof v;
	T("getsockopt SO_RCVBUF", getsockopt(d, SOL_SOCKET, SO_RCVBUF, &v, &vl));
	say("SO_RCVBUF=%d", v);
	v = 7;
	T("IP_TTL 7", setsockopt(d, IPPROTO_IP, IP_TTL, &v, sizeof v));
	vl = sizeof v;
	T("getsockopt IP_TTL", getsockopt(d, IPPROTO_IP, IP_TTL, &v, &vl));
	say("IP_TTL=%d", v);
	v = 0;
	T("IP_TTL 0", setsockopt(d, IPPROTO_IP, IP_TTL, &v, sizeof v));
	v = 0x10;
	T("IP_TOS", setsockopt(d, IPPROTO_IP, IP_TOS, &v, sizeof v));
	struct ip_mreq mr = {.imr_multiaddr.s_addr = inet_addr("10.0.0.1")};
	T("IP_ADD_MEMBERSHIP unicast", setsockopt(d, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr));
	T("setsockopt bad level", setsockopt(d, 12345, 1, &v, sizeof v));
	T("send after options", send(d, "Eopt", 4, 0));
	readable(d);
	T("recv after options", recv(d, buf, sizeof buf, 0));

	/* Disconnect, shutdown. */
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	T("connect AF_UNSPEC", connect(d, &unspec, sizeof unspec));
	gl = sizeof got;
	T("getpeername after disconnect", getpeername(d, (void *)&got, &gl));
	T("shutdown unconnected", shutdown(d, SHUT_RD));
	T("connect again", connect(d, (void *)&pa, sizeof pa));
	T("shutdown SHUT_WR", shutdown(d, SHUT_WR));
	signal(SIGPIPE, SIG_IGN);
	T("send after SHUT_WR", send(d, "Ex", 2, 0));
	T("shutdown SHUT_RD", shutdown(d, SHUT_RD));
	T("recv after SHUT_RD nonblocking", recv(d, buf, sizeof buf, MSG_DONTWAIT));
	T("recv after SHUT_RD", recv(d, buf, sizeof buf, 0));
	p = (struct pollfd){.fd = d, .events = POLLIN | POLLOUT | POLLRDHUP};
	T("poll after shutdown", poll(&p, 1, 0));
	say("revents %#x", p.revents);
	T("close dup", close(d));

	/* A refused port: ICMP port unreachable reaches a connected socket. */
	int c = T("socket 3", socket(AF_INET, SOCK_DGRAM, 0));
	struct sockaddr_in closed = sin_of(peeraddr, port + 7);
	T("connect closed port", connect(c, (void *)&closed, sizeof closed));
	T("send to closed port", send(c, "x", 1, 0));
	p = (struct pollfd){.fd = c, .events = POLLIN};
	T("poll refused", poll(&p, 1, 2000));
	say("revents %#x (POLLERR alone: an error is not data)", p.revents);
	T("recv refused", recv(c, buf, sizeof buf, 0));
	T("recv after refusal", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	T("close 3", close(c));

	/* Closed fds. */
	T("recv closed fd", recv(d, buf, sizeof buf, MSG_DONTWAIT));
	T("send closed fd", send(d, "x", 1, 0));
	p = (struct pollfd){.fd = d, .events = POLLIN};
	T("poll closed fd", poll(&p, 1, 0));
	say("revents %#x", p.revents);
	T("close closed fd", close(d));

	/* Accelerated and kernel fds together: a pipe and a socket. */
	int m = T("socket 5", socket(AF_INET, SOCK_DGRAM, 0));
	struct sockaddr_in m_any = {.sin_family = AF_INET, .sin_port = htons(7600)};
	T("bind *:7600", bind(m, (void *)&m_any, sizeof m_any));
	int pp[2];
	T("pipe 2", pipe(pp));
	T("write pipe", write(pp[1], "p", 1));
	struct pollfd mix[2] = {{.fd = m, .events = POLLIN}, {.fd = pp[0], .events = POLLIN}};
	T("poll socket+pipe, pipe ready", poll(mix, 2, 1000));
	say("revents socket=%#x pipe=%#x", mix[0].revents, mix[1].revents);
	FD_ZERO(&rs);
	FD_SET(m, &rs);
	FD_SET(pp[0], &rs);
	struct timeval tz = {1, 0};
	T("select socket+pipe", select((m > pp[0] ? m : pp[0]) + 1, &rs, NULL, NULL, &tz));
	say("select socket=%d pipe=%d", FD_ISSET(m, &rs), FD_ISSET(pp[0], &rs));
	int mep = T("epoll_create1 mixed", epoll_create1(0));
	struct epoll_event me1 = {.events = EPOLLIN, .data.u64 = 1}, me2 = {.events = EPOLLIN, .data.u64 = 2};
	T("epoll_ctl ADD socket", epoll_ctl(mep, EPOLL_CTL_ADD, m, &me1));
	T("epoll_ctl ADD pipe", epoll_ctl(mep, EPOLL_CTL_ADD, pp[0], &me2));
	n = T("epoll_wait mixed, pipe ready", epoll_wait(mep, out, 4, 1000));
	say("data=%llu", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	T("read pipe", read(pp[0], buf, 1));
	struct sockaddr_in m_to = sin_of(local_addr, 7600);
	T("sendto self through the peer? no: echo to 7600", sendto(m, "Eboth", 5, 0, (void *)&pa, sizeof pa));
	n = T("epoll_wait mixed, socket ready", epoll_wait(mep, out, 4, 2000));
	say("data=%llu", n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	mix[0].revents = mix[1].revents = 0;
	T("poll socket+pipe, socket ready", poll(mix, 2, 1000));
	say("revents socket=%#x pipe=%#x", mix[0].revents, mix[1].revents);
	T("recv it", recv(m, buf, sizeof buf, 0));
	(void)m_to;
	T("close mixed epoll", close(mep));
	close(pp[0]);
	close(pp[1]);

	/* Multicast: join a group on this host's address, hear the peer. */
	struct ip_mreq grp = {.imr_multiaddr.s_addr = inet_addr("239.1.2.3")};
	inet_pton(AF_INET, local_addr, &grp.imr_interface);
	T("IP_ADD_MEMBERSHIP 239.1.2.3", setsockopt(m, IPPROTO_IP, IP_ADD_MEMBERSHIP, &grp, sizeof grp));
	T("IP_ADD_MEMBERSHIP again", setsockopt(m, IPPROTO_IP, IP_ADD_MEMBERSHIP, &grp, sizeof grp));
	cmd(m, &pa, "M7600");
	readable(m);
	fl = sizeof from;
	n = T("recvfrom group", recvfrom(m, buf, sizeof buf, 0, (void *)&from, &fl));
	say("got %.*s from the peer's alt port: %d", n > 0 ? n : 0, buf, ntohs(from.sin_port) == port + 1);
	/* IP_PKTINFO on a group's datagram: the group is the destination,
	 * the interface's address the local one. */
	v = 1;
	T("IP_PKTINFO on multicast", setsockopt(m, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));
	cmd(m, &pa, "M7600");
	readable(m);
	show_cmsgs(m, 256, "group pktinfo");
	v = 0;
	T("IP_PKTINFO off", setsockopt(m, IPPROTO_IP, IP_PKTINFO, &v, sizeof v));
	T("IP_DROP_MEMBERSHIP", setsockopt(m, IPPROTO_IP, IP_DROP_MEMBERSHIP, &grp, sizeof grp));
	T("IP_DROP_MEMBERSHIP again", setsockopt(m, IPPROTO_IP, IP_DROP_MEMBERSHIP, &grp, sizeof grp));
	v = 0;
	T("IP_MULTICAST_LOOP 0", setsockopt(m, IPPROTO_IP, IP_MULTICAST_LOOP, &v, sizeof v));
	vl = sizeof v;
	T("getsockopt IP_MULTICAST_LOOP", getsockopt(m, IPPROTO_IP, IP_MULTICAST_LOOP, &v, &vl));
	say("IP_MULTICAST_LOOP=%d", v);

	/* close_range closes accelerated fds too. */
	T("dup2 onto 80", dup2(m, 80));
	T("dup2 onto 81", dup2(m, 81));
	T("close_range 80-81", close_range(80, 81, 0));
	T("recv on 80 after close_range", recv(80, buf, sizeof buf, MSG_DONTWAIT));
	T("send on the original", sendto(m, "Estill", 6, 0, (void *)&pa, sizeof pa));
	readable(m);
	n = T("recv on the original", recv(m, buf, sizeof buf, 0));
	T("close 5", close(m));

	/* A socket that first sends without binding. */
	int u = T("socket 4", socket(AF_INET, SOCK_DGRAM, 0));
	T("sendto unbound", sendto(u, "Eauto", 5, 0, (void *)&pa, sizeof pa));
	gl = sizeof got;
	T("getsockname after autobind", getsockname(u, (void *)&got, &gl));
	say("autobound port nonzero: %d", got.sin_port != 0);
	readable(u);
	fl = sizeof from;
	n = T("recvfrom autobound", recvfrom(u, buf, sizeof buf, 0, (void *)&from, &fl));
	say("got %.*s from %s", n > 0 ? n : 0, buf, str(&from));
	/* A daemon's start-up closes every fd it did not open: the
	 * accelerated socket it keeps must go on working. */
	int nclosed = 0;
	for (int fd = 3; fd < 1024; fd++)
		if (fd != u && close(fd) == 0)
			nclosed++;
	say("closed %d other fds", nclosed);
	T("sendto after closing the rest", sendto(u, "Elast", 5, 0, (void *)&pa, sizeof pa));
	readable(u);
	n = T("recv after closing the rest", recv(u, buf, sizeof buf, 0));
	say("got %.*s", n > 0 ? n : 0, buf);
	cmd(u, &pa, "Q");
	T("close 4", close(u));
	(void)palt;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "peer")) {
		peer_addr = argv[3];
		return peer(atoi(argv[2]));
	}
	if (argc == 5 && !strcmp(argv[1], "test")) {
		local_addr = argv[4];
		return test(argv[2], atoi(argv[3]));
	}
	fprintf(stderr, "usage: conform peer PORT ADDR | conform test PEER PORT LOCAL\n");
	return 2;
}
