/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/socket.h>

#include "addr.h"
#include "macro.h"
#include "netns.h"

DEFINE_CLEANUP(struct nl_sock *, nl_socket_free);
DEFINE_CLEANUP(struct nl_cache *, nl_cache_free);

struct collect {
	struct policy_addr *addrs;
	size_t n;
	int error;
};

static void collect_one(struct nl_object *obj, void *userdata)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct collect *c = userdata;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int family = rtnl_addr_get_family(a);
	unsigned len;

	int scope = rtnl_addr_get_scope(a);
	unsigned flags = rtnl_addr_get_flags(a);
	const uint8_t *bytes;

	if (c->error || !local)
		return;
	if (family != AF_INET && family != AF_INET6)
		return;
	len = nl_addr_get_len(local);
	if (len != (family == AF_INET ? 4u : 16u))
		return;
	bytes = nl_addr_get_binary_addr(local);
	if (family == AF_INET && scope != RT_SCOPE_UNIVERSE)
		return;
	if (family == AF_INET6) {
		bool link_local = bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;

		/* Autoconfigured and temporary addresses come from router advertisements,
		 * which anyone on the link can send. */
		if (!(flags & IFA_F_PERMANENT) || (flags & IFA_F_DADFAILED))
			return;
		if (scope != RT_SCOPE_UNIVERSE && !(scope == RT_SCOPE_LINK && link_local))
			return;
	}
	if (c->n >= POLICY_MAX_ENDPOINT_ADDRS) {
		c->error = -E2BIG;
		return;
	}
	c->addrs[c->n] = (struct policy_addr){ .family = family };
	memcpy(c->addrs[c->n].addr, nl_addr_get_binary_addr(local), len);
	c->n++;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct policy_addr *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, 16);
}

int addr_nl_socket(int nsfd, struct nl_sock **ret)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nl_sock *sk;
	int fd, r;

	r = netns_socket(nsfd, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, &fd);
	if (r < 0)
		return r;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	sk = nl_socket_alloc();
	if (!sk) {
		close(fd);
		return -ENOMEM;
	}
	/* libnl owns fd from here on and closes it with the socket. */
	if (nl_socket_set_fd(sk, NETLINK_ROUTE, fd) < 0) {
		close(fd);
		nl_socket_free(sk);
		return -EIO;
	}
	*ret = sk;
	return 0;
}

int addr_read(int nsfd, struct policy_addr **ret, size_t *ret_n)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct collect c = { 0 };
	int r;

	r = addr_nl_socket(nsfd, &sk);
	if (r < 0)
		return r;
	r = rtnl_addr_alloc_cache(sk, &cache);
	if (r < 0)
		return -EIO;

	c.addrs = calloc(POLICY_MAX_ENDPOINT_ADDRS, sizeof(*c.addrs));
	if (!c.addrs)
		return -ENOMEM;
	nl_cache_foreach(cache, collect_one, &c);
	if (c.error < 0) {
		free(c.addrs);
		return c.error;
	}
	qsort_safe(c.addrs, c.n, sizeof(*c.addrs), cmp_addr);
	*ret = c.addrs;
	*ret_n = c.n;
	return 0;
}
