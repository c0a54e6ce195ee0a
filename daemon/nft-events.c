/* SPDX-License-Identifier: MIT */
/*
 * nf_tables change events (multicast group NFNLGRP_NFTABLES) of one network namespace. Every
 * committed transaction is announced as the objects it changed followed by NFT_MSG_NEWGEN,
 * which names the committing process (NFTA_GEN_PROC_PID, NFTA_GEN_PROC_NAME). Each object
 * message carries its table's name as attribute 1 (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE,
 * NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, ... all share the number).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>

#include "macro.h"
#include "netlink.h"
#include "netns.h"
#include "nft-events.h"
#include "policy/policy.h"

#define EVENTS_RCVBUF (1 << 20)

int nft_events_open(int netns_fd, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int group = NFNLGRP_NFTABLES, size = EVENTS_RCVBUF;
	int r;

	r = netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_NETFILTER, &fd);
	if (r < 0)
		return r;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

struct gen_attrs {
	const struct nlattr *tb[NFTA_GEN_MAX + 1];
};

static int gen_attr_cb(const struct nlattr *attr, void *data)
{
	struct gen_attrs *g = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, NFTA_GEN_MAX) < 0)
		return MNL_CB_OK;
	if ((type == NFTA_GEN_ID || type == NFTA_GEN_PROC_PID) &&
	    mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	if (type == NFTA_GEN_PROC_NAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	g->tb[type] = attr;
	return MNL_CB_OK;
}

static int table_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **name = data;

	if (mnl_attr_get_type(attr) == 1 && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*name = attr;
	return MNL_CB_OK;
}

struct read_ctx {
	struct nft_events *ev;
	int (*cb)(const struct nft_gen_event *g, void *data);
	void *data;
};

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *c = data;
	const struct nfgenmsg *nfg;
	uint16_t type;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)))
		return MNL_CB_OK;
	nfg = mnl_nlmsg_get_payload(nlh);
	type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (type == NFT_MSG_NEWGEN) {
		struct gen_attrs g = { 0 };
		struct nft_gen_event e = { .touched = c->ev->touched };

		(void)mnl_attr_parse(nlh, sizeof(*nfg), gen_attr_cb, &g);
		if (g.tb[NFTA_GEN_ID])
			e.genid = ntohl(mnl_attr_get_u32(g.tb[NFTA_GEN_ID]));
		if (g.tb[NFTA_GEN_PROC_PID])
			e.pid = (pid_t)ntohl(mnl_attr_get_u32(g.tb[NFTA_GEN_PROC_PID]));
		if (g.tb[NFTA_GEN_PROC_NAME])
			snprintf(e.comm, sizeof(e.comm), "%s",
				 mnl_attr_get_str(g.tb[NFTA_GEN_PROC_NAME]));
		c->ev->touched = false;
		return c->cb(&e, c->data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
	}
	if (nfg->nfgen_family == NFPROTO_INET) {
		const struct nlattr *name = NULL;

		(void)mnl_attr_parse(nlh, sizeof(*nfg), table_attr_cb, &name);
		if (name && streq(mnl_attr_get_str(name), POLICY_NFT_TABLE))
			c->ev->touched = true;
	}
	return MNL_CB_OK;
}

int nft_events_read(struct nft_events *ev, struct nft_rx *ctx,
		    int (*cb)(const struct nft_gen_event *g, void *data), void *data)
{
	struct read_ctx c = { .ev = ev, .cb = cb, .data = data };
	bool lost = false;
	size_t size;
	char *buf = nft_rx_buffer(ctx, &size);

	for (;;) {
		ssize_t n = netlink_recv(ev->fd, buf, size, 0);

		if (n == -ENOBUFS) {
			/* The queue overflowed: what was lost may have touched us. */
			lost = true;
			ev->touched = false;
			continue;
		}
		if (n == -EAGAIN || n == 0)
			return lost ? -ENOBUFS : 0;
		if (n < 0)
			return (int)n;
		/* seq 0 and portid 0: accept notifications from anyone */
		if (mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, &c) < 0 && errno != ENOENT)
			return -errno ? -errno : -EIO;
	}
}
