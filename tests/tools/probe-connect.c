/* SPDX-License-Identifier: MIT */
/*
 * segd-probe connect: runs every target at once from non-blocking sockets in one poll loop, in
 * waves no larger than the open-file limit allows, and prints one "ok" or "fail" line per
 * target. TCP succeeds when the handshake completes, UDP when an echo comes back (the datagram
 * is sent UDP_SENDS times spread over the timeout).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define DEFAULT_TIMEOUT_MS 500
#define UDP_SENDS 3

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
	fd = socket(t->sa.ss_family,
		    (t->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
				else if (errno != EAGAIN &&
					 errno != EINTR)	  /* EWOULDBLOCK == EAGAIN */
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

int cmd_connect(int argc, char **argv)
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
