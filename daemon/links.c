/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <net/if_arp.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "addr.h"
#include "links.h"
#include "macro.h"
#include "netns.h"

DEFINE_CLEANUP(struct nl_sock *, nl_socket_free);
DEFINE_CLEANUP(struct nl_cache *, nl_cache_free);
DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close);

struct collect {
	struct link_info *links;
	size_t n;
	int error;
};

static void collect_one(struct nl_object *obj, void *userdata)
{
	struct rtnl_link *l = (struct rtnl_link *)obj;
	struct collect *c = userdata;
	struct nl_addr *hw = rtnl_link_get_addr(l);
	const char *name = rtnl_link_get_name(l);
	const char *kind = rtnl_link_get_type(l);
	struct link_info *li;
	int32_t nsid;

	if (c->error)
		return;
	if (c->n >= LINKS_MAX) {
		c->error = -E2BIG;
		return;
	}
	li = &c->links[c->n++];
	*li = (struct link_info){
		.ifindex = rtnl_link_get_ifindex(l),
		.peer_ifindex = rtnl_link_get_link(l),
		.peer_nsid = -1,
		.loopback = (rtnl_link_get_flags(l) & IFF_LOOPBACK) != 0,
	};
	if (name)
		snprintf(li->name, sizeof(li->name), "%s", name);
	if (kind)
		snprintf(li->kind, sizeof(li->kind), "%s", kind);
	if (hw && rtnl_link_get_arptype(l) == ARPHRD_ETHER && nl_addr_get_len(hw) == 6) {
		memcpy(li->mac, nl_addr_get_binary_addr(hw), 6);
		li->has_mac = true;
	}
	if (rtnl_link_get_link_netnsid(l, &nsid) == 0)
		li->peer_nsid = nsid;
}

static int cmp_ifindex(const void *a, const void *b)
{
	const struct link_info *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

int links_read(int nsfd, struct link_info **ret, size_t *ret_n)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct collect c = { 0 };
	int r;

	r = addr_nl_socket(nsfd, &sk);
	if (r < 0)
		return r;
	if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache) < 0)
		return -EIO;
	c.links = calloc(LINKS_MAX, sizeof(*c.links));
	if (!c.links)
		return -ENOMEM;
	nl_cache_foreach(cache, collect_one, &c);
	if (c.error < 0) {
		free(c.links);
		return c.error;
	}
	qsort_safe(c.links, c.n, sizeof(*c.links), cmp_ifindex);
	*ret = c.links;
	*ret_n = c.n;
	return 0;
}

static int nsid_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NETNSA_NSID && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*(int32_t *)data = (int32_t)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int nsid_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWNSID)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct rtgenmsg), nsid_attr_cb, data) < 0 ? MNL_CB_ERROR
										    : MNL_CB_OK;
}

int links_rtnl_open(int nsfd, struct mnl_socket **ret)
{
	struct mnl_socket *nl;
	int fd, r;

	r = netns_socket(nsfd, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, &fd);
	if (r < 0)
		return r;
	nl = mnl_socket_fdopen(fd);
	if (!nl) {
		close(fd);
		return -ENOMEM;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	*ret = nl;
	return 0;
}

int links_nsid_of(struct mnl_socket *nl, int target_fd, int32_t *ret_nsid)
{
	static uint32_t seq;
	char buf[8192];
	struct nlmsghdr *nlh;
	struct rtgenmsg *g;
	int32_t nsid = NETNSA_NSID_NOT_ASSIGNED - 1; /* nothing received */
	ssize_t n;
	int r;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)target_fd);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* One reply (RTM_NEWNSID) or an error. */
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	r = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), nsid_cb, &nsid);
	if (r < 0)
		return -errno;
	if (nsid == NETNSA_NSID_NOT_ASSIGNED - 1)
		return -EIO;
	if (nsid < 0)
		return -ENOENT;
	*ret_nsid = nsid;
	return 0;
}

int links_name(int nsfd, int ifindex, char ret_name[IF_NAMESIZE])
{
	struct ifreq ifr = { .ifr_ifindex = ifindex };
	_cleanup_close_ int fd = -1;
	int r;

	r = netns_socket(nsfd, AF_INET, SOCK_DGRAM, 0, &fd);
	if (r < 0)
		return r;
	if (ioctl(fd, SIOCGIFNAME, &ifr) < 0)
		return errno == ENODEV ? -ENODEV : -errno;
	ifr.ifr_name[IF_NAMESIZE - 1] = '\0';
	memcpy(ret_name, ifr.ifr_name, IF_NAMESIZE);
	return 0;
}
