/* SPDX-License-Identifier: MIT */
/*
 * segd-probe: traffic probe for the real-network tests.
 *
 *   segd-probe serve [--tcp PORT[,PORT]...] [--udp PORT[,PORT]...] [--pidfile FILE]
 *       Listens on every address of the namespace (one dual-stack [::] socket per port,
 *       IPV6_V6ONLY=0; plain IPv4 when IPv6 is disabled). TCP: accept, write a short reply,
 *       close. UDP: echo each datagram back from the address it was sent to. Prints "ready"
 *       on stdout once every socket listens; runs until killed.
 *
 *   segd-probe connect [--timeout-ms N] [--sport-base P] [-v] TARGET...
 *       TARGET is tcp:ADDR:PORT or udp:ADDR:PORT, IPv6 as tcp:[fd00::1]:80. All targets run
 *       concurrently (non-blocking sockets, one poll loop), each from a fresh socket and so a
 *       fresh source port. With --sport-base, target i is sent from source port P+i (falling
 *       back to an ephemeral port if that one is busy): a caller that hands out disjoint ranges
 *       guarantees that no probe reuses the 5-tuple of an earlier one, so a stale conntrack
 *       entry can never make a denied flow look allowed. --bind ADDR (at most one IPv4 and
 *       one IPv6) sends the targets of that family from ADDR. TCP ok = the handshake completes. UDP ok = an echo arrives; the
 *       datagram is sent three times spread over the timeout. Prints "TARGET ok|fail" per
 *       target in input order (-v appends the reason and the time taken), exits 0.
 *
 *   segd-probe hammer [--duration-ms N] [--interval-us N] [--concurrency N] [--timeout-ms N]
 *                     [--stop-on-eof] tcp:ADDR:PORT
 *       Zero-window measurement: starts a non-blocking TCP connect to the target every
 *       interval-us microseconds (default 1000; 0 = as fast as the concurrency allows), at most
 *       concurrency (default 64) in flight, each abandoned after timeout-ms (default 200), for
 *       duration-ms (default 1000) or until stdin reaches EOF (--stop-on-eof). Every completed
 *       handshake prints "ok T0 T1" and every reset "refused T0 T1" as it happens
 *       (CLOCK_MONOTONIC microseconds at the attempt's start and end); at the end, after the
 *       attempts still in flight are decided, one line
 *       "attempts N ok N refused N unreach N timeout N other N".
 *
 * Exit status: 0 success, 2 usage error, 1 other error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 4096
#define MAX_PORTS 64
#define DEFAULT_TIMEOUT_MS 500
#define UDP_SENDS 3

static const char reply_text[] = "segd-probe\n";

static void usage(FILE *f)
{
	fputs("usage: segd-probe serve [--tcp PORT[,PORT]] [--udp PORT[,PORT]] [--pidfile FILE]\n"
	      "       segd-probe connect [--timeout-ms N] [--sport-base P] [--bind ADDR]... [-v] TARGET...\n"
	      "       segd-probe hammer [--duration-ms N] [--interval-us N] [--concurrency N]\n"
	      "                         [--timeout-ms N] [--stop-on-eof] tcp:ADDR:PORT\n"
	      "TARGET: tcp:ADDR:PORT | udp:ADDR:PORT (IPv6: tcp:[ADDR]:PORT), at most 4096\n",
	      f);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_port(const char *s, size_t len)
{
	char buf[8];
	char *end;
	long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

/* "80,81" -> ports[]; returns the count or -1. */
static int parse_port_list(const char *s, int *ports, int have)
{
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		int p = parse_port(s, len);

		if (p < 0 || have >= MAX_PORTS)
			return -1;
		ports[have++] = p;
		s += len;
		if (*s == ',')
			s++;
	}
	return have;
}

/* ---------------------------------------------------------------- serve */

struct listener {
	int fd;
	bool tcp;
	int family;
};

static int open_listener(int port, bool tcp, struct listener *ret)
{
	int one = 1, zero = 0;
	int fd;

	fd = socket(AF_INET6, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
					    .sin6_addr = IN6ADDR_ANY_INIT };

		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
		    (!tcp && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&sa6, sizeof(sa6)) < 0) {
			fprintf(stderr, "segd-probe: [::]:%d/%s: %s\n", port, tcp ? "tcp" : "udp",
				strerror(errno));
			close(fd);
			return -1;
		}
		ret->family = AF_INET6;
	} else if (errno == EAFNOSUPPORT) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr = { htonl(INADDR_ANY) } };

		fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if ((!tcp && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "segd-probe: 0.0.0.0:%d/%s: %s\n", port, tcp ? "tcp" : "udp",
				strerror(errno));
			close(fd);
			return -1;
		}
		ret->family = AF_INET;
	} else {
		fprintf(stderr, "segd-probe: socket: %s\n", strerror(errno));
		return -1;
	}
	if (tcp && listen(fd, 512) < 0) {
		fprintf(stderr, "segd-probe: listen %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	ret->fd = fd;
	ret->tcp = tcp;
	return 0;
}

static void serve_tcp(int lfd)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0)
			return;
		/* Best effort: the client may already be gone. */
		(void)send(c, reply_text, sizeof(reply_text) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(c);
	}
}

/* Echo one datagram back, from the local address it was sent to (pods may have several). */
static void serve_udp(const struct listener *l)
{
	for (;;) {
		char buf[2048];
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				 CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} ctl_in, ctl_out;
		struct sockaddr_storage peer;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl_in.buf,
				     .msg_controllen = sizeof(ctl_in.buf) };
		struct msghdr out = { 0 };
		struct cmsghdr *cm;
		ssize_t n;

		n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		iov.iov_len = (size_t)n;
		out.msg_name = &peer;
		out.msg_namelen = mh.msg_namelen;
		out.msg_iov = &iov;
		out.msg_iovlen = 1;
		memset(&ctl_out, 0, sizeof(ctl_out));
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			struct cmsghdr *o;

			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				out.msg_control = ctl_out.buf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				o = CMSG_FIRSTHDR(&out);
				o->cmsg_level = IPPROTO_IPV6;
				o->cmsg_type = IPV6_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(pi));
				pi.ipi6_ifindex = 0;
				memcpy(CMSG_DATA(o), &pi, sizeof(pi));
				break;
			}
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				out.msg_control = ctl_out.buf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				o = CMSG_FIRSTHDR(&out);
				o->cmsg_level = IPPROTO_IP;
				o->cmsg_type = IP_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(pi));
				pi.ipi_ifindex = 0;
				pi.ipi_spec_dst = pi.ipi_addr;
				memcpy(CMSG_DATA(o), &pi, sizeof(pi));
				break;
			}
		}
		if (sendmsg(l->fd, &out, MSG_DONTWAIT) < 0 && out.msg_control) {
			/* Fall back to letting the kernel choose the source address. */
			out.msg_control = NULL;
			out.msg_controllen = 0;
			(void)sendmsg(l->fd, &out, MSG_DONTWAIT);
		}
	}
}

static int cmd_serve(int argc, char **argv)
{
	int tcp_ports[MAX_PORTS], udp_ports[MAX_PORTS];
	int ntcp = 0, nudp = 0, nl = 0;
	const char *pidfile = NULL;
	struct listener ls[2 * MAX_PORTS];
	struct pollfd pfd[2 * MAX_PORTS];
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "--tcp") || !strcmp(a, "--udp") || !strcmp(a, "--pidfile")) &&
		    i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--tcp")) {
			ntcp = parse_port_list(argv[++i], tcp_ports, ntcp);
			if (ntcp < 0)
				goto bad;
		} else if (!strcmp(a, "--udp")) {
			nudp = parse_port_list(argv[++i], udp_ports, nudp);
			if (nudp < 0)
				goto bad;
		} else if (!strcmp(a, "--pidfile")) {
			pidfile = argv[++i];
		} else {
			goto bad;
		}
	}
	if (ntcp + nudp == 0)
		goto bad;

	for (i = 0; i < ntcp; i++)
		if (open_listener(tcp_ports[i], true, &ls[nl++]) < 0)
			return 1;
	for (i = 0; i < nudp; i++)
		if (open_listener(udp_ports[i], false, &ls[nl++]) < 0)
			return 1;

	if (pidfile) {
		FILE *f = fopen(pidfile, "we");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "segd-probe: %s: %s\n", pidfile, strerror(errno));
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);

	for (i = 0; i < nl; i++) {
		pfd[i].fd = ls[i].fd;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		int r = poll(pfd, (nfds_t)nl, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "segd-probe: poll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < nl; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (ls[i].tcp)
				serve_tcp(ls[i].fd);
			else
				serve_udp(&ls[i]);
		}
	}
bad:
	usage(stderr);
	return 2;
}

/*
 * A numeric IPv4 or IPv6 address (IPv6 with an optional %SCOPE, an interface name or index)
 * and a port into *sa. No resolver: the probe is also linked statically (segd-probe-static,
 * the binary inside the podman test image), where glibc's getaddrinfo is unusable.
 */
static int parse_addr(const char *host, int port, struct sockaddr_storage *sa, socklen_t *salen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *scope;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
		return 0;
	}
	if (strlen(host) >= sizeof(buf))
		return -1;
	strcpy(buf, host);
	scope = strchr(buf, '%');
	if (scope)
		*scope++ = '\0';
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return -1;
	if (scope) {
		char *end;
		unsigned long idx;

		errno = 0;
		idx = strtoul(scope, &end, 10);
		if (*scope == '\0' || errno || *end || idx > UINT32_MAX)
			idx = if_nametoindex(scope);
		if (idx == 0)
			return -1;
		s6->sin6_scope_id = (uint32_t)idx;
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	*salen = sizeof(*s6);
	return 0;
}

/* -------------------------------------------------------------- connect */

enum tstate { T_NEW, T_RUNNING, T_OK, T_FAIL };

struct target {
	const char *text;
	bool tcp;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	int sport;           /* 0 = ephemeral */
	const struct sockaddr_storage *src; /* NULL = routing chooses */
	enum tstate state;
	int sends;           /* UDP datagrams sent so far */
	int err;             /* errno of the failure, 0 = timeout */
	int64_t t_start, t_end;
};

static int parse_target(const char *text, struct target *t)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *rest, *colon;
	size_t hlen;
	int port;

	memset(t, 0, sizeof(*t));
	t->text = text;
	t->fd = -1;
	if (!strncmp(text, "tcp:", 4))
		t->tcp = true;
	else if (strncmp(text, "udp:", 4) != 0)
		return -1;
	rest = text + 4;
	if (*rest == '[') {
		const char *close_br = strchr(rest, ']');

		if (!close_br || close_br[1] != ':')
			return -1;
		hlen = (size_t)(close_br - rest - 1);
		rest++;
		colon = close_br + 1;
	} else {
		colon = strrchr(rest, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - rest);
		if (memchr(rest, ':', hlen)) /* unbracketed IPv6 */
			return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, rest, hlen);
	host[hlen] = '\0';
	port = parse_port(colon + 1, strlen(colon + 1));
	if (port < 0)
		return -1;
	return parse_addr(host, port, &t->sa, &t->salen);
}

static void finish(struct target *t, enum tstate st, int err)
{
	t->state = st;
	t->err = err;
	t->t_end = now_ms();
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static void udp_send(struct target *t)
{
	static const char payload[] = "segd-probe udp\n";

	t->sends++;
	if (send(t->fd, payload, sizeof(payload) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN && errno != ECONNREFUSED)
		finish(t, T_FAIL, errno);
}

static void start_target(struct target *t, int64_t now)
{
	int fd;

	t->t_start = now;
	t->state = T_RUNNING;
	fd = socket(t->sa.ss_family, (t->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		finish(t, T_FAIL, errno);
		return;
	}
	t->fd = fd;
	if (t->sport > 0 || t->src) {
		struct sockaddr_storage src;
		socklen_t slen;
		int one = 1;

		if (t->src)
			src = *t->src;
		else
			memset(&src, 0, sizeof(src));
		src.ss_family = t->sa.ss_family;
		if (t->sa.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&src)->sin6_port = htons((uint16_t)t->sport);
			slen = sizeof(struct sockaddr_in6);
		} else {
			((struct sockaddr_in *)&src)->sin_port = htons((uint16_t)t->sport);
			slen = sizeof(struct sockaddr_in);
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, slen) < 0) {
			if (!t->src) {
				/* Port busy: connect picks an ephemeral one. */
			} else if (t->sport > 0 && errno == EADDRINUSE) {
				if (src.ss_family == AF_INET6)
					((struct sockaddr_in6 *)&src)->sin6_port = 0;
				else
					((struct sockaddr_in *)&src)->sin_port = 0;
				if (bind(fd, (struct sockaddr *)&src, slen) < 0) {
					finish(t, T_FAIL, errno);
					return;
				}
			} else {
				finish(t, T_FAIL, errno);
				return;
			}
		}
	}
	if (connect(fd, (struct sockaddr *)&t->sa, t->salen) < 0 && errno != EINPROGRESS) {
		finish(t, T_FAIL, errno);
		return;
	}
	if (!t->tcp)
		udp_send(t);
}

/* Run targets[0..n) concurrently until all are decided or the timeout passes. */
static void run_wave(struct target *ts, size_t n, int timeout_ms)
{
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	size_t *idx = calloc(n, sizeof(*idx));
	int64_t t0 = now_ms(), deadline = t0 + timeout_ms;
	size_t i;

	if (!pfd || !idx) {
		fprintf(stderr, "segd-probe: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++)
		start_target(&ts[i], t0);

	for (;;) {
		int64_t now = now_ms(), next = deadline;
		size_t np = 0;
		int r;

		for (i = 0; i < n; i++) {
			struct target *t = &ts[i];

			if (t->state != T_RUNNING)
				continue;
			if (!t->tcp && t->sends < UDP_SENDS) {
				int64_t due = t0 + (int64_t)timeout_ms * t->sends / UDP_SENDS;

				if (now >= due)
					udp_send(t);
				if (t->state != T_RUNNING)
					continue;
				due = t0 + (int64_t)timeout_ms * t->sends / UDP_SENDS;
				if (t->sends < UDP_SENDS && due < next)
					next = due;
			}
			pfd[np].fd = t->fd;
			pfd[np].events = t->tcp ? POLLOUT : POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (np == 0 || now >= deadline)
			break;
		r = poll(pfd, (nfds_t)np, (int)(next - now > 0 ? next - now : 0));
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "segd-probe: poll: %s\n", strerror(errno));
			exit(1);
		}
		for (i = 0; r > 0 && i < np; i++) {
			struct target *t = &ts[idx[i]];
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (!pfd[i].revents)
				continue;
			if (t->tcp) {
				if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
					soerr = errno;
				if (soerr == 0 && !(pfd[i].revents & (POLLERR | POLLHUP)))
					finish(t, T_OK, 0);
				else if (soerr != 0)
					finish(t, T_FAIL, soerr);
				else
					finish(t, T_FAIL, ECONNRESET);
			} else {
				char buf[256];
				ssize_t got = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (got >= 0)
					finish(t, T_OK, 0);
				else if (errno != EAGAIN && errno != EINTR) /* EWOULDBLOCK == EAGAIN */
					finish(t, T_FAIL, errno); /* ICMP error: rejected */
			}
		}
	}
	for (i = 0; i < n; i++)
		if (ts[i].state == T_RUNNING)
			finish(&ts[i], T_FAIL, 0);
	free(pfd);
	free(idx);
}

static size_t max_open_sockets(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < MAX_TARGETS + 32)
			return rl.rlim_cur > 64 ? (size_t)rl.rlim_cur - 32 : 16;
	}
	return MAX_TARGETS;
}

static int cmd_connect(int argc, char **argv)
{
	static struct target ts[MAX_TARGETS];
	int timeout_ms = DEFAULT_TIMEOUT_MS;
	bool verbose = false;
	long sport_base = 0;
	static struct sockaddr_storage bind4, bind6;
	bool have4 = false, have6 = false;
	size_t n = 0, wave, i;
	int a;

	for (a = 0; a < argc; a++) {
		if (!strcmp(argv[a], "--timeout-ms")) {
			char *end;
			long v;

			if (a + 1 >= argc)
				goto bad;
			errno = 0;
			v = strtol(argv[++a], &end, 10);
			if (errno || *end || v < 1 || v > 600000)
				goto bad;
			timeout_ms = (int)v;
		} else if (!strcmp(argv[a], "--sport-base")) {
			char *end;

			if (a + 1 >= argc)
				goto bad;
			errno = 0;
			sport_base = strtol(argv[++a], &end, 10);
			if (errno || *end || sport_base < 1024 || sport_base > 65535)
				goto bad;
		} else if (!strcmp(argv[a], "--bind")) {
			struct sockaddr_storage sa;
			socklen_t salen;

			if (a + 1 >= argc || parse_addr(argv[a + 1], 0, &sa, &salen) < 0)
				goto bad;
			a++;
			if (sa.ss_family == AF_INET6 && !have6) {
				bind6 = sa;
				have6 = true;
			} else if (sa.ss_family == AF_INET && !have4) {
				bind4 = sa;
				have4 = true;
			} else {
				goto bad;
			}
		} else if (!strcmp(argv[a], "-v")) {
			verbose = true;
		} else if (!strcmp(argv[a], "--")) {
			a++;
			break;
		} else if (argv[a][0] == '-') {
			goto bad;
		} else {
			break;
		}
	}
	for (; a < argc; a++) {
		if (n >= MAX_TARGETS) {
			fprintf(stderr, "segd-probe: more than %d targets\n", MAX_TARGETS);
			return 2;
		}
		if (parse_target(argv[a], &ts[n]) < 0) {
			fprintf(stderr, "segd-probe: bad target '%s'\n", argv[a]);
			return 2;
		}
		if (ts[n].sa.ss_family == AF_INET && have4)
			ts[n].src = &bind4;
		else if (ts[n].sa.ss_family == AF_INET6 && have6)
			ts[n].src = &bind6;
		if (sport_base > 0 && sport_base + (long)n <= 65535)
			ts[n].sport = (int)(sport_base + (long)n);
		n++;
	}
	if (n == 0)
		goto bad;

	wave = max_open_sockets();
	for (i = 0; i < n; i += wave)
		run_wave(&ts[i], n - i < wave ? n - i : wave, timeout_ms);

	for (i = 0; i < n; i++) {
		const struct target *t = &ts[i];

		if (verbose)
			printf("%s %s %s %lldms\n", t->text, t->state == T_OK ? "ok" : "fail",
			       t->state == T_OK ? "-" : (t->err ? strerror(t->err) : "timeout"),
			       (long long)(t->t_end - t->t_start));
		else
			printf("%s %s\n", t->text, t->state == T_OK ? "ok" : "fail");
	}
	return fflush(stdout) == 0 ? 0 : 1;
bad:
	usage(stderr);
	return 2;
}

/* --------------------------------------------------------------- hammer */

#define HAMMER_MAX 1024

struct hslot {
	int fd;
	int64_t t0;		/* CLOCK_MONOTONIC, microseconds */
};

struct hcount {
	long attempts, ok, refused, unreach, timeout, other;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool parse_long_arg(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* One finished attempt: count it; successes and resets are printed as they happen. */
static void hammer_result(struct hcount *c, int err, int64_t t0, int64_t t1)
{
	switch (err) {
	case 0:
		c->ok++;
		printf("ok %lld %lld\n", (long long)t0, (long long)t1);
		fflush(stdout);
		break;
	case ECONNREFUSED:
		c->refused++;
		printf("refused %lld %lld\n", (long long)t0, (long long)t1);
		fflush(stdout);
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
		c->unreach++;
		break;
	case ETIMEDOUT:
		c->timeout++;
		break;
	default:
		c->other++;
		break;
	}
}

static int cmd_hammer(int argc, char **argv)
{
	static struct hslot slots[HAMMER_MAX];
	static struct pollfd pfd[HAMMER_MAX + 1];
	static int pidx[HAMMER_MAX + 1];
	long duration_ms = 1000, interval_us = 1000, conc = 64, timeout_ms = 200;
	bool stop_on_eof = false, stopping = false;
	struct hcount c = { 0 };
	struct target tgt;
	int64_t end, next;
	int inflight = 0, a, i;

	for (a = 0; a < argc; a++) {
		long *dst = NULL, lo = 0, hi = 0;

		if (!strcmp(argv[a], "--duration-ms")) {
			dst = &duration_ms, lo = 1, hi = 86400000;
		} else if (!strcmp(argv[a], "--interval-us")) {
			dst = &interval_us, lo = 0, hi = 10000000;
		} else if (!strcmp(argv[a], "--concurrency")) {
			dst = &conc, lo = 1, hi = HAMMER_MAX;
		} else if (!strcmp(argv[a], "--timeout-ms")) {
			dst = &timeout_ms, lo = 1, hi = 600000;
		} else if (!strcmp(argv[a], "--stop-on-eof")) {
			stop_on_eof = true;
			continue;
		} else {
			break;
		}
		if (a + 1 >= argc || !parse_long_arg(argv[++a], lo, hi, dst))
			goto bad;
	}
	if (a + 1 != argc || parse_target(argv[a], &tgt) < 0 || !tgt.tcp)
		goto bad;
	if ((size_t)conc + 16 > max_open_sockets())
		conc = (long)max_open_sockets() - 16;
	for (i = 0; i < HAMMER_MAX; i++)
		slots[i].fd = -1;

	next = now_us();
	end = next + (int64_t)duration_ms * 1000;
	for (;;) {
		int64_t now = now_us(), wait_us = -1;
		struct timespec tmo;
		int np = 0, r;

		if (now >= end)
			stopping = true;
		/* New attempts at most every interval_us, never more than conc in flight. */
		while (!stopping && now >= next && inflight < conc) {
			int fd;

			for (i = 0; slots[i].fd >= 0; i++)
				;
			c.attempts++;
			fd = socket(tgt.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (fd < 0) {
				hammer_result(&c, errno, now, now);
			} else if (connect(fd, (struct sockaddr *)&tgt.sa, tgt.salen) == 0) {
				hammer_result(&c, 0, now, now);
				close(fd);
			} else if (errno != EINPROGRESS) {
				hammer_result(&c, errno, now, now_us());
				close(fd);
			} else {
				slots[i].fd = fd;
				slots[i].t0 = now;
				inflight++;
			}
			/* No bursts to catch up after a stall. */
			next = (next + interval_us > now) ? next + interval_us : now + interval_us;
			now = now_us();
		}
		for (i = 0; i < HAMMER_MAX; i++) {
			int64_t due;

			if (slots[i].fd < 0)
				continue;
			due = slots[i].t0 + (int64_t)timeout_ms * 1000;
			if (now >= due) {
				close(slots[i].fd);
				slots[i].fd = -1;
				inflight--;
				c.timeout++;
				continue;
			}
			if (wait_us < 0 || due - now < wait_us)
				wait_us = due - now;
			pfd[np].fd = slots[i].fd;
			pfd[np].events = POLLOUT;
			pfd[np].revents = 0;
			pidx[np++] = i;
		}
		if (stopping && inflight == 0)
			break;
		if (!stopping) {
			int64_t w = next > now ? next - now : 0;

			if (inflight >= conc)
				w = end - now;
			if (end - now < w)
				w = end - now;
			if (wait_us < 0 || w < wait_us)
				wait_us = w;
			if (stop_on_eof) {
				pfd[np].fd = STDIN_FILENO;
				pfd[np].events = POLLIN;
				pfd[np].revents = 0;
				pidx[np++] = -1;
			}
		}
		if (wait_us < 0)
			wait_us = 0;
		tmo.tv_sec = (time_t)(wait_us / 1000000);
		tmo.tv_nsec = (long)(wait_us % 1000000) * 1000;
		r = ppoll(pfd, (nfds_t)np, &tmo, NULL);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "segd-probe: ppoll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; r > 0 && i < np; i++) {
			struct hslot *sl;
			int soerr = 0;
			socklen_t sol = sizeof(soerr);

			if (!pfd[i].revents)
				continue;
			if (pidx[i] < 0) {
				char buf[256];

				if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
					stopping = true;
				continue;
			}
			sl = &slots[pidx[i]];
			if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &soerr, &sol) < 0)
				soerr = errno;
			if (soerr == 0 && (pfd[i].revents & (POLLERR | POLLHUP)))
				soerr = ECONNRESET;
			hammer_result(&c, soerr, sl->t0, now_us());
			close(sl->fd);
			sl->fd = -1;
			inflight--;
		}
	}
	printf("attempts %ld ok %ld refused %ld unreach %ld timeout %ld other %ld\n",
	       c.attempts, c.ok, c.refused, c.unreach, c.timeout, c.other);
	return fflush(stdout) == 0 ? 0 : 1;
bad:
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return cmd_connect(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "hammer"))
		return cmd_hammer(argc - 2, argv + 2);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
