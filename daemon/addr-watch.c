/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "addr-watch.h"
#include "links.h"
#include "log.h"
#include "macro.h"
#include "netlink.h"

#ifndef NETLINK_LISTEN_ALL_NSID
#define NETLINK_LISTEN_ALL_NSID 8
#endif

/* Datagrams read per wake-up: a flood cannot hold the loop (epoll wakes us again). */
#define DISPATCH_MAX 1024
/* Bursts of every namespace share it (the kernel caps it at net.core.rmem_max unless we may
 * force it). */
#define RCVBUF (8 * 1024 * 1024)

struct slot {
	int32_t nsid; /* -1: free */
	void *key;
};

struct addr_watch {
	struct loop *loop;
	int fd; /* listens to every namespace with an id */
	struct watch watch;
	struct mnl_socket *req; /* RTM_GETNSID / RTM_NEWNSID in our namespace */
	uint32_t seq;
	addr_watch_fn changed;
	void *userdata;
	/* nsid -> key: open addressing, linear probing, capacity a power of two, at most half
	 * full */
	struct slot *slots;
	size_t cap, n;
	uint64_t overruns;
	char buf[32768];
};

static size_t slot_of(const struct addr_watch *w, int32_t nsid)
{
	return ((uint32_t)nsid * 2654435761u) & (w->cap - 1);
}

static struct slot *find(const struct addr_watch *w, int32_t nsid)
{
	if (nsid < 0 || w->cap == 0)
		return NULL;
	for (size_t i = slot_of(w, nsid);; i = (i + 1) & (w->cap - 1)) {
		if (w->slots[i].nsid == nsid)
			return &w->slots[i];
		if (w->slots[i].nsid < 0)
			return NULL;
	}
}

static void insert(struct addr_watch *w, int32_t nsid, void *key)
{
	size_t i = slot_of(w, nsid);

	while (w->slots[i].nsid >= 0)
		i = (i + 1) & (w->cap - 1);
	w->slots[i] = (struct slot){ .nsid = nsid, .key = key };
	w->n++;
}

static int grow(struct addr_watch *w)
{
	size_t cap = w->cap ? w->cap * 2 : 64;
	struct slot *old = w->slots, *s;
	size_t old_cap = w->cap;

	if ((w->n + 1) * 2 <= w->cap)
		return 0;
	s = malloc(cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		s[i] = (struct slot){ .nsid = -1 };
	w->slots = s;
	w->cap = cap;
	w->n = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].nsid >= 0)
			insert(w, old[i].nsid, old[i].key);
	free(old);
	return 0;
}

void addr_watch_remove(struct addr_watch *w, int32_t nsid)
{
	struct slot *s = w ? find(w, nsid) : NULL;
	size_t i, j;

	if (!s)
		return;
	/* Backward-shift deletion: every entry after the hole that probed past it moves up. */
	i = (size_t)(s - w->slots);
	w->slots[i].nsid = -1;
	w->n--;
	for (j = (i + 1) & (w->cap - 1); w->slots[j].nsid >= 0; j = (j + 1) & (w->cap - 1)) {
		size_t home = slot_of(w, w->slots[j].nsid);

		/* It stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		w->slots[i] = w->slots[j];
		w->slots[j].nsid = -1;
		i = j;
	}
}

static void report_all(struct addr_watch *w)
{
	for (size_t i = 0; i < w->cap; i++)
		if (w->slots[i].nsid >= 0)
			w->changed(w->slots[i].key, w->userdata);
}

int addr_watch_dispatch(struct addr_watch *w)
{
	for (unsigned k = 0; k < DISPATCH_MAX; k++) {
		int32_t nsid = -1;
		ssize_t n = netlink_recv_nsid(w->fd, w->buf, sizeof(w->buf), MSG_DONTWAIT, &nsid);
		struct slot *s;

		if (n == -EAGAIN)
			return 0;
		if (n == -ENOBUFS) {
			/* Lost: which namespaces' changes is unknown, so everyone's. */
			w->overruns++;
			report_all(w);
			continue;
		}
		if (n < 0 && n != -EMSGSIZE) /* a datagram too large still says "changed" */
			return (int)n;
		s = find(w, nsid);
		if (s)
			w->changed(s->key, w->userdata);
	}
	return 0;
}

static int on_readable(struct watch *wt, uint32_t events)
{
	struct addr_watch *w = container_of(wt, struct addr_watch, watch);
	int r = addr_watch_dispatch(w);

	if (r < 0)
		log_warning_errno(r, "Failed to read address events, ignoring: %m");
	return 0;
}

int addr_watch_new(struct loop *loop, addr_watch_fn changed, void *userdata,
		   struct addr_watch **ret)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR };
	struct addr_watch *w = calloc(1, sizeof(*w));
	int one = 1, size = RCVBUF, r;

	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->changed = changed;
	w->userdata = userdata;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail_errno;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (setsockopt(w->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])) < 0)
			goto fail_errno;
	if (setsockopt(w->fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0)
		goto fail_errno;
	if (setsockopt(w->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	w->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!w->req || mnl_socket_bind(w->req, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail_errno;
	r = loop ? loop_add(loop, &w->watch, w->fd, EPOLLIN, on_readable) : 0;
	if (r < 0) {
		addr_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;

fail_errno:
	r = -errno;
	addr_watch_free(w);
	return r;
}

struct addr_watch *addr_watch_free(struct addr_watch *w)
{
	if (!w)
		return NULL;
	loop_remove(&w->watch);
	safe_close(w->fd);
	if (w->req)
		mnl_socket_close(w->req);
	free(w->slots);
	free(w);
	return NULL;
}

/* RTM_NEWNSID: nsfd gets an id of the kernel's choosing in our namespace. -EEXIST: it has one
 * (someone gave it one since we asked). */
static int assign_nsid(struct addr_watch *w, int nsfd)
{
	char buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;
	ssize_t n;

	nlh->nlmsg_type = RTM_NEWNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++w->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)nsfd);
	mnl_attr_put_u32(nlh, NETNSA_NSID, (uint32_t)-1);
	if (mnl_socket_sendto(w->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(w->req, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)n, w->seq, mnl_socket_get_portid(w->req), NULL, NULL) < 0)
		return -errno;
	return 0;
}

int addr_watch_add(struct addr_watch *w, int nsfd, void *key, int32_t *ret_nsid)
{
	int32_t nsid = -1;
	int r;

	r = links_nsid_of(w->req, nsfd, &nsid);
	if (r == -ENOENT) {
		r = assign_nsid(w, nsfd);
		if (r >= 0 || r == -EEXIST)
			r = links_nsid_of(w->req, nsfd, &nsid);
	}
	if (r < 0)
		return r;
	if (find(w, nsid))
		return -EEXIST;
	r = grow(w);
	if (r < 0)
		return r;
	insert(w, nsid, key);
	*ret_nsid = nsid;
	return 0;
}

int addr_watch_fd(const struct addr_watch *w)
{
	return w->fd;
}

size_t addr_watch_size(const struct addr_watch *w)
{
	return w->n;
}

uint64_t addr_watch_overruns(const struct addr_watch *w)
{
	return w->overruns;
}
