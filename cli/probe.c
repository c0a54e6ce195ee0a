/* SPDX-License-Identifier: MIT */
/*
 * segctl matrix --probe: real packets. For each port, a listener in every destination's
 * namespace (or the service already listening there), then from inside every source's
 * namespace a connection (TCP) or a datagram the listener echoes (UDP) to every destination
 * address of each family both have. A pair is reachable when every family got through before
 * the deadline, as the plan-based matrix counts it. Sockets keep the namespace they were
 * created in, so one thread switches namespaces with setns() and back, then polls them all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "print.h"
#include "probe.h"
#include "time-util.h"

#define PROBE_MAX_SOCKETS 16384
#define PROBE_PAYLOAD "segd-probe"

enum { TRY_PENDING, TRY_OK, TRY_FAILED };

struct ep {
	const char *name;
	int nsfd;
	struct sockaddr_storage addr[2]; /* [0] IPv4, [1] IPv6; ss_family 0 when absent */
	bool busy_udp[2];		 /* a UDP service of its own holds the port */
};

struct
try {
	size_t src, dst;
	int fam; /* 0 IPv4, 1 IPv6 */
	int fd;
	int state;
};

struct sock_list {
	int *fds;
	size_t n;
};

static int ns_enter(int nsfd)
{
	return setns(nsfd, CLONE_NEWNET) < 0 ? -errno : 0;
}

static int open_ns(const char *netns, int *ret)
{
	char path[4096];
	int fd;

	if (netns[0] == '/')
		snprintf(path, sizeof(path), "%s", netns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = fd;
	return 0;
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return 1;
	}
	return -EINVAL;
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static int list_add(struct sock_list *l, int fd)
{
	int *p;

	if (l->n >= PROBE_MAX_SOCKETS)
		return -E2BIG;
	p = realloc(l->fds, (l->n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->fds = p;
	l->fds[l->n++] = fd;
	return 0;
}

/* Listeners for port/type in e's namespace (the caller is in it). */
static int listen_in(struct ep *e, uint16_t port, int type, struct sock_list *l)
{
	for (int f = 0; f < 2; f++) {
		struct sockaddr_storage any = { .ss_family = f ? AF_INET6 : AF_INET };
		int one = 1, fd;

		if (!e->addr[f].ss_family)
			continue;
		if (f)
			((struct sockaddr_in6 *)&any)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&any)->sin_port = htons(port);
		fd = socket(any.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (f)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&any, ss_len(&any)) < 0 ||
		    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
			int r = -errno;

			close(fd);
			if (r != -EADDRINUSE)
				return r;
			/* A service of the endpoint's own listens there: TCP is answered by it;
			 * UDP cannot be told (it may not echo). */
			e->busy_udp[f] = type == SOCK_DGRAM;
			continue;
		}
		if (list_add(l, fd) < 0) {
			close(fd);
			return -E2BIG;
		}
	}
	return 0;
}

static void close_all(struct sock_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		close(l->fds[i]);
	free(l->fds);
	*l = (struct sock_list){ 0 };
}

/* One port of one protocol across every pair; results into out (pairs) */
static int probe_port(struct ep *eps, size_t n, int self, uint16_t port, bool udp, int timeout_ms,
		      const char *port_name, json_t *out)
{
	int type = udp ? SOCK_DGRAM : SOCK_STREAM;
	struct sock_list listeners = { 0 };
	_cleanup_free_ struct try *tries = NULL;
	_cleanup_free_ struct pollfd *pfd = NULL;
	size_t n_tries = 0, cap = 0;
	int64_t deadline;
	int r = 0;

	for (size_t d = 0; d < n && r >= 0; d++) {
		eps[d].busy_udp[0] = eps[d].busy_udp[1] = false;
		r = ns_enter(eps[d].nsfd);
		if (r >= 0)
			r = listen_in(&eps[d], port, type, &listeners);
		if (ns_enter(self) < 0)
			abort(); /* stuck in another namespace: nothing sane to do */
	}
	for (size_t s = 0; s < n && r >= 0; s++) {
		r = ns_enter(eps[s].nsfd);
		for (size_t d = 0; d < n && r >= 0; d++)
			for (int f = 0; f < 2 && r >= 0; f++) {
				struct try t = { .src = s, .dst = d, .fam = f, .fd = -1 };
				struct try *p;

				if (s == d || !eps[s].addr[f].ss_family ||
				    !eps[d].addr[f].ss_family)
					continue;
				if (n_tries == cap) {
					cap = cap ? cap * 2 : 64;
					p = realloc(tries, cap * sizeof(*p));
					if (!p) {
						r = -ENOMEM;
						break;
					}
					tries = p;
				}
				if (n_tries >= PROBE_MAX_SOCKETS) {
					r = -E2BIG;
					break;
				}
				t.fd = socket(eps[d].addr[f].ss_family,
					      type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
				if (t.fd < 0) {
					r = -errno;
					break;
				}
				if (connect(t.fd, (struct sockaddr *)&eps[d].addr[f],
					    ss_len(&eps[d].addr[f])) < 0 &&
				    errno != EINPROGRESS)
					t.state = TRY_FAILED;
				else if (udp &&
					 send(t.fd, PROBE_PAYLOAD, sizeof(PROBE_PAYLOAD), 0) < 0)
					t.state = TRY_FAILED;
				tries[n_tries++] = t;
			}
		if (ns_enter(self) < 0)
			abort();
	}
	if (r < 0)
		goto out;

	pfd = calloc(n_tries + listeners.n + 1, sizeof(*pfd));
	if (!pfd) {
		r = -ENOMEM;
		goto out;
	}
	deadline = now_msec() + timeout_ms;
	for (;;) {
		size_t k = 0, pending = 0;
		int left = (int)(deadline - now_msec());

		for (size_t i = 0; i < n_tries; i++) {
			pfd[i] = (struct pollfd){ .fd = -1 };
			if (tries[i].state != TRY_PENDING)
				continue;
			pending++;
			pfd[i] = (struct pollfd){ .fd = tries[i].fd,
						  .events = udp ? POLLIN : POLLOUT };
		}
		for (k = 0; k < listeners.n; k++)
			pfd[n_tries + k] =
				(struct pollfd){ .fd = listeners.fds[k], .events = POLLIN };
		if (pending == 0 || left <= 0)
			break;
		if (poll(pfd, n_tries + listeners.n, left) < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		for (size_t i = 0; i < n_tries; i++) {
			int err = 0;
			socklen_t el = sizeof(err);
			char buf[64];

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (udp) {
				ssize_t m = recv(tries[i].fd, buf, sizeof(buf), 0);

				tries[i].state = m > 0		   ? TRY_OK
						 : errno == EAGAIN ? TRY_PENDING
								   : TRY_FAILED;
			} else {
				(void)getsockopt(tries[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				tries[i].state = err == 0 ? TRY_OK : TRY_FAILED;
			}
		}
		for (k = 0; k < listeners.n; k++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			char buf[64];
			ssize_t m;

			if (!pfd[n_tries + k].revents)
				continue;
			if (!udp) {
				int c;

				while ((c = accept4(listeners.fds[k], NULL, NULL, SOCK_CLOEXEC)) >=
				       0)
					close(c);
				continue;
			}
			while ((m = recvfrom(listeners.fds[k], buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl)) > 0) {
				(void)sendto(listeners.fds[k], buf, (size_t)m, 0,
					     (struct sockaddr *)&from, fl);
				fl = sizeof(from);
			}
		}
	}

	/* a pair is reachable when each family it has got through */
	for (size_t s = 0; s < n; s++)
		for (size_t d = 0; d < n; d++) {
			bool any = false, ok = true, unknown = false;

			if (s == d)
				continue;
			for (size_t i = 0; i < n_tries; i++)
				if (tries[i].src == s && tries[i].dst == d) {
					any = true;
					ok = ok && tries[i].state == TRY_OK;
					unknown =
						unknown || (udp && eps[d].busy_udp[tries[i].fam] &&
							    tries[i].state != TRY_OK);
				}
			if (!any)
				continue;
			json_array_append_new(out,
					      json_pack("{s:s, s:s, s:s, s:o}", "from", eps[s].name,
							"to", eps[d].name, "port", port_name,
							"allowed",
							unknown ? json_null() : json_boolean(ok)));
		}
out:
	for (size_t i = 0; i < n_tries; i++)
		if (tries[i].fd >= 0)
			close(tries[i].fd);
	close_all(&listeners);
	return r;
}

int matrix_probe(json_t *matrix, json_t *endpoints, int timeout_ms, json_t **ret)
{
	json_t *names = json_object_get(matrix, "endpoints"),
	       *ports = json_object_get(matrix, "ports");
	json_auto_t *out = json_pack("{s:[], s:[], s:[]}", "pairs", "disagreements", "skipped");
	_cleanup_free_ struct ep *eps = NULL;
	json_t *v, *pairs, *dis;
	size_t n = json_array_size(names), i, k;
	int self = -1, r = 0;

	if (!out)
		return -ENOMEM;
	pairs = json_object_get(out, "pairs");
	dis = json_object_get(out, "disagreements");
	eps = calloc(n + 1, sizeof(*eps));
	if (!eps)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		eps[i].nsfd = -1;
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;

	json_array_foreach(names, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		json_t *item = NULL, *it, *a;
		size_t j;

		eps[i].name = name;
		json_array_foreach(json_object_get(endpoints, "items"), j, it)
			if (name && streq(json_str(it, "name", ""), name))
				item = it;
		if (!item || open_ns(json_str(item, "netns", ""), &eps[i].nsfd) < 0) {
			fprintf(stderr, "segctl: cannot open the network namespace of %s: %s\n",
				name ? name : "?", item ? strerror(errno) : "not listed");
			r = -ENOENT;
			goto out;
		}
		json_array_foreach(json_object_get(item, "addresses"), j, a) {
			struct sockaddr_storage ss;
			int f = json_is_string(a) ? parse_addr(json_string_value(a), 0, &ss) : -1;

			if (f >= 0 && !eps[i].addr[f].ss_family)
				eps[i].addr[f] = ss;
		}
	}

	json_array_foreach(ports, k, v) {
		const char *spec = json_string_value(v);
		unsigned port = 0;
		char proto[8] = "";

		if (!spec || sscanf(spec, "%u/%7s", &port, proto) != 2 || port == 0 || port > 65535)
			continue;
		if (!streq(proto, "TCP") && !streq(proto, "UDP")) {
			json_array_append_new(json_object_get(out, "skipped"),
					      json_pack("{s:s, s:s}", "port", spec, "reason",
							"only TCP and UDP are probed"));
			continue;
		}
		for (i = 0; i < n; i++)
			for (int f = 0; f < 2; f++)
				if (eps[i].addr[f].ss_family == AF_INET)
					((struct sockaddr_in *)&eps[i].addr[f])->sin_port =
						htons((uint16_t)port);
				else if (eps[i].addr[f].ss_family == AF_INET6)
					((struct sockaddr_in6 *)&eps[i].addr[f])->sin6_port =
						htons((uint16_t)port);
		r = probe_port(eps, n, self, (uint16_t)port, streq(proto, "UDP"), timeout_ms, spec,
			       pairs);
		if (r < 0)
			goto out;
	}

	/* plan vs reality */
	json_array_foreach(pairs, i, v) {
		json_t *p;
		size_t j;

		json_array_foreach(json_object_get(matrix, "pairs"), j, p)
			if (streq(json_str(p, "from", ""), json_str(v, "from", "")) &&
			    streq(json_str(p, "to", ""), json_str(v, "to", "")) &&
			    streq(json_str(p, "port", ""), json_str(v, "port", "")) &&
			    json_is_boolean(json_object_get(v, "allowed")) &&
			    json_is_true(json_object_get(p, "allowed")) !=
				    json_is_true(json_object_get(v, "allowed")))
				json_array_append_new(dis,
						      json_pack("{s:O, s:O, s:O, s:O, s:O}", "from",
								json_object_get(v, "from"), "to",
								json_object_get(v, "to"), "port",
								json_object_get(v, "port"), "plan",
								json_object_get(p, "allowed"),
								"probe",
								json_object_get(v, "allowed")));
	}
	*ret = TAKE_PTR(out);
out:
	for (i = 0; i < n; i++)
		if (eps[i].nsfd >= 0)
			close(eps[i].nsfd);
	close(self);
	return r;
}
