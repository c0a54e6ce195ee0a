/* SPDX-License-Identifier: MIT */
/*
 * segd-probe hammer: the zero-window measurement. Starts TCP connects to one target at a
 * steady interval with a bounded number in flight, prints each completed handshake and each
 * reset with its start and end time as it happens, and a summary of every outcome at the end.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define HAMMER_MAX 1024

struct hslot {
	int fd;
	int64_t t0; /* CLOCK_MONOTONIC, microseconds */
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

int cmd_hammer(int argc, char **argv)
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
			fd = socket(tgt.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
				    0);
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
	printf("attempts %ld ok %ld refused %ld unreach %ld timeout %ld other %ld\n", c.attempts,
	       c.ok, c.refused, c.unreach, c.timeout, c.other);
	return fflush(stdout) == 0 ? 0 : 1;
bad:
	usage(stderr);
	return 2;
}
