/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "conntrack.h"
#include "log.h"
#include "netns.h"
#include "nft-sock.h"

/* Dumps again after a full batch, this many times at most: with CONNTRACK_CUT_BATCH, far more
 * than any conntrack table holds (nf_conntrack_max), so only entries appearing faster than
 * they can be deleted end it. */
#define CUT_MAX_DUMPS 1024
#define MSG_BUF_SIZE 1024

DEFINE_CLEANUP(struct nft_sock *, nft_sock_free);
DEFINE_CLEANUP(struct nf_conntrack *, nfct_destroy);

/* ---- entries ---------------------------------------------------------------------------------
 *
 * The entries of a dump are read with libmnl, not nfct_nlmsg_parse(): libnetfilter_conntrack
 * calls exit() on an attribute of an unexpected size anywhere in the message ("ctnetlink
 * kernel ABI is broken"), and segd must skip such an entry instead. Only the original tuple,
 * the zone and the id are read; every attribute used is checked for its size first.
 */

struct attrs {
	const struct nlattr **tb;
	uint16_t max;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

/* The attributes nested in `nest` by type, up to max (tb has max + 1 slots). */
static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, uint16_t max)
{
	struct attrs t = { tb, max };

	memset(tb, 0, (max + 1u) * sizeof(*tb));
	if (!nest || mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0 ||
	    mnl_attr_parse_nested(nest, attr_cb, &t) < 0)
		return -EBADMSG;
	return 0;
}

/* An attribute of exactly len bytes, copied to dst. */
static int get_exact(const struct nlattr *a, void *dst, size_t len)
{
	if (!a || mnl_attr_validate2(a, MNL_TYPE_UNSPEC, len) < 0)
		return -EBADMSG;
	memcpy(dst, mnl_attr_get_payload(a), len);
	return 0;
}

static int get_u16(const struct nlattr *a, uint16_t *ret)
{
	uint16_t v;
	int r = get_exact(a, &v, sizeof(v));

	if (r >= 0)
		*ret = ntohs(v);
	return r;
}

static bool proto_has_ports(uint8_t p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP || p == IPPROTO_DCCP ||
	       p == IPPROTO_UDPLITE || p == IPPROTO_GRE;
}

/* CTA_TUPLE_PROTO: the protocol, and what its tuple holds (the delete must name all of it). */
static int parse_proto(const struct nlattr *nest, struct conntrack_flow *f)
{
	const struct nlattr *tb[CTA_PROTO_MAX + 1];
	bool v4 = f->family == AF_INET;
	int r;

	r = parse_nested(nest, tb, CTA_PROTO_MAX);
	if (r >= 0)
		r = get_exact(tb[CTA_PROTO_NUM], &f->proto, 1);
	if (r < 0)
		return r;
	if (proto_has_ports(f->proto)) {
		f->has_ports = true;
		r = get_u16(tb[CTA_PROTO_SRC_PORT], &f->sport);
		if (r >= 0)
			r = get_u16(tb[CTA_PROTO_DST_PORT], &f->dport);
	} else if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6) {
		if ((f->proto == IPPROTO_ICMP) != v4)
			return -EBADMSG;
		f->has_icmp = true;
		r = get_exact(tb[v4 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE], &f->icmp_type,
			      1);
		if (r >= 0)
			r = get_exact(tb[v4 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE],
				      &f->icmp_code, 1);
		if (r >= 0)
			r = get_u16(tb[v4 ? CTA_PROTO_ICMP_ID : CTA_PROTO_ICMPV6_ID], &f->icmp_id);
	}
	return r;
}

/* CTA_TUPLE_ORIG: addresses of the message's family, the protocol, the zone of the tuple. */
static int parse_tuple(const struct nlattr *nest, struct conntrack_flow *f)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1];
	bool v4 = f->family == AF_INET;
	size_t len = v4 ? 4 : 16;
	int r;

	r = parse_nested(nest, tb, CTA_TUPLE_MAX);
	if (r >= 0)
		r = parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX);
	if (r >= 0)
		r = get_exact(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], f->src, len);
	if (r >= 0)
		r = get_exact(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], f->dst, len);
	if (r >= 0)
		r = parse_proto(tb[CTA_TUPLE_PROTO], f);
	if (r >= 0 && tb[CTA_TUPLE_ZONE]) {
		f->has_orig_zone = true;
		r = get_u16(tb[CTA_TUPLE_ZONE], &f->orig_zone);
	}
	return r;
}

int conntrack_flow_parse(const struct nlmsghdr *nlh, struct conntrack_flow *ret)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	struct attrs t = { tb, CTA_MAX };
	struct conntrack_flow f = { 0 };
	const struct nfgenmsg *nfg;
	int r;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != IPCTNL_MSG_CT_NEW ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*nfg))
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);
	f.family = nfg->nfgen_family;
	if (f.family != AF_INET && f.family != AF_INET6)
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, &t) < 0)
		return -EBADMSG;
	r = parse_tuple(tb[CTA_TUPLE_ORIG], &f);
	if (r >= 0 && tb[CTA_ZONE]) {
		f.has_zone = true;
		r = get_u16(tb[CTA_ZONE], &f.zone);
	}
	if (r >= 0 && tb[CTA_ID]) {
		f.has_id = true;
		r = get_exact(tb[CTA_ID], &f.id, sizeof(f.id));
		f.id = ntohl(f.id);
	}
	if (r < 0)
		return r;
	*ret = f;
	return 0;
}

static bool addrs_have(const struct policy_addr *addrs, size_t n, int family, const uint8_t *a)
{
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family == family &&
		    memcmp(addrs[i].addr, a, family == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

int conntrack_flow_denied(const struct conntrack_flow *f, const struct policy_plan *plan,
			  const struct policy_addr *addrs, size_t n_addrs)
{
	bool from = addrs_have(addrs, n_addrs, f->family, f->src);
	bool to = addrs_have(addrs, n_addrs, f->family, f->dst);
	struct policy_addr peer = { .family = f->family };
	int r;

	/* Not the endpoint's, or between two of its own addresses (over lo, always accepted). */
	if (from == to)
		return 0;
	memcpy(peer.addr, from ? f->dst : f->src, sizeof(peer.addr));
	r = policy_plan_allows(plan, from ? POLICY_DIR_EGRESS : POLICY_DIR_INGRESS, &peer, f->proto,
			       f->has_ports ? f->dport : 0);
	return r < 0 ? r : !r;
}

/* ---- requests ------------------------------------------------------------------------------- */

static uint64_t dumps; /* whole-table dumps made, for the tests */

static struct nlmsghdr *put_header(struct nft_sock *s, void *buf, uint16_t type, uint16_t flags,
				   int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = nft_sock_next_seq(s);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

/* Both families, every zone: the namespace's whole table, each entry through cb. */
static int dump(struct nft_sock *s, mnl_cb_t cb, void *data)
{
	char buf[MSG_BUF_SIZE] = { 0 }; /* attribute padding included: nothing unset is sent */
	struct nlmsghdr *nlh = put_header(s, buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC);

	dumps++;
	return nft_sock_request(s, nlh, cb, data);
}

uint64_t conntrack_dumps(void)
{
	return dumps;
}

static int stats_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_ENTRIES &&
	    mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*(int64_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

static int stats_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), stats_attr_cb, data) < 0 ? MNL_CB_ERROR
										     : MNL_CB_OK;
}

/* How many entries the namespace's table holds, as the kernel counts them (one message, not a
 * dump: a dump walks the buckets of every namespace's entries, milliseconds on a host with a
 * large table); -1 if the kernel did not say. */
static int64_t entries(struct nft_sock *s)
{
	char buf[MSG_BUF_SIZE] = { 0 };
	struct nlmsghdr *nlh = put_header(s, buf, IPCTNL_MSG_CT_GET_STATS, NLM_F_ACK, AF_UNSPEC);
	int64_t n = -1;

	return nft_sock_request(s, nlh, stats_cb, &n) < 0 ? -1 : n;
}

static bool has_orig_tuple(const struct nlmsghdr *nlh)
{
	const struct nlattr *a = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg));
	const char *end = mnl_nlmsg_get_payload_tail(nlh);

	for (; mnl_attr_ok(a, (int)(end - (const char *)a)); a = mnl_attr_next(a))
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			return true;
	return false;
}

/* Deletes the entry with f's original tuple, zone and id: -ENOENT if it is gone (or is another
 * entry with the same tuple now). */
static int delete_flow(struct nft_sock *s, const struct conntrack_flow *f)
{
	_cleanup_(nfct_destroyp) struct nf_conntrack *ct = nfct_new();
	char buf[MSG_BUF_SIZE] = { 0 }; /* attribute padding included: nothing unset is sent */
	struct nlmsghdr *nlh;
	bool v4 = f->family == AF_INET;

	if (!ct)
		return -ENOMEM;
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)f->family);
	nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC, f->src);
	nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST, f->dst);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, f->proto);
	if (f->has_ports) {
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(f->sport));
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(f->dport));
	}
	if (f->has_icmp) {
		nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, f->icmp_type);
		nfct_set_attr_u8(ct, ATTR_ICMP_CODE, f->icmp_code);
		nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(f->icmp_id));
	}
	if (f->has_zone)
		nfct_set_attr_u16(ct, ATTR_ZONE, f->zone);
	if (f->has_orig_zone)
		nfct_set_attr_u16(ct, ATTR_ORIG_ZONE, f->orig_zone);

	nlh = put_header(s, buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, f->family);
	if (nfct_nlmsg_build(nlh, ct) < 0)
		return -EINVAL;
	/* The kernel deletes this very entry or nothing (-ENOENT): not a newer one that took
	 * the tuple after the dump. */
	if (f->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(f->id));
	/* A delete without a tuple is a flush of the namespace's whole table. */
	if (!has_orig_tuple(nlh))
		return -EINVAL;
	return nft_sock_request(s, nlh, NULL, NULL);
}

/* ---- cutting -------------------------------------------------------------------------------- */

struct cut {
	const struct policy_plan *plan;
	const struct policy_addr *addrs;
	size_t n_addrs;
	struct conntrack_flow *flows; /* the denied ones of this dump */
	size_t n, cap, max;
	bool full;	  /* denied entries past max: dump again after deleting */
	unsigned skipped; /* entries not understood */
	int error;
};

static int cut_collect(struct cut *c, const struct conntrack_flow *f)
{
	struct conntrack_flow *p;
	size_t cap;

	if (c->n == c->max) {
		c->full = true;
		return 0;
	}
	if (c->n == c->cap) {
		cap = c->cap ? c->cap * 2 : 64;
		cap = cap > c->max ? c->max : cap;
		p = reallocarray(c->flows, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->flows = p;
		c->cap = cap;
	}
	c->flows[c->n++] = *f;
	return 0;
}

static int cut_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cut *c = data;
	struct conntrack_flow f;
	int r;

	r = conntrack_flow_parse(nlh, &f);
	if (r == -EBADMSG) {
		c->skipped++;
		return MNL_CB_OK;
	}
	if (r >= 0)
		r = conntrack_flow_denied(&f, c->plan, c->addrs, c->n_addrs);
	if (r > 0)
		r = cut_collect(c, &f);
	if (r < 0) {
		c->error = r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static unsigned long ns_inode(int nsfd)
{
	ino_t ino = 0;

	(void)netns_inode(nsfd, &ino);
	return (unsigned long)ino;
}

static int cut_pass(struct nft_sock *s, struct cut *c, int nsfd, unsigned *deleted)
{
	int r;

	c->n = 0;
	c->full = false;
	c->error = 0;
	r = dump(s, cut_cb, c);
	if (c->error < 0)
		r = c->error;
	if (r < 0)
		return log_error_errno(r, "Failed to dump the conntrack table of netns %lu: %m",
				       ns_inode(nsfd));
	for (size_t i = 0; i < c->n; i++) {
		r = delete_flow(s, &c->flows[i]);
		if (r == -ENOENT) /* it went away by itself since the dump */
			continue;
		if (r < 0)
			return log_error_errno(r,
					       "Failed to delete a conntrack entry in netns %lu "
					       "(%u deleted before): %m",
					       ns_inode(nsfd), *deleted);
		(*deleted)++;
	}
	return 0;
}

int conntrack_cut_batched(int nsfd, struct nft_sock *sock, const struct policy_plan *plan,
			  const struct policy_addr *addrs, size_t n_addrs, size_t batch,
			  unsigned *ret_deleted)
{
	_cleanup_(nft_sock_freep) struct nft_sock *s = NULL;
	struct cut c = { .plan = plan, .addrs = addrs, .n_addrs = n_addrs, .max = batch };
	unsigned deleted = 0;
	int r;

	if (nsfd < 0)
		return log_error_errno(-EBADF, "Cannot cut conntrack entries: no namespace");
	if (!plan || (n_addrs > 0 && !addrs) || batch == 0)
		return log_error_errno(-EINVAL,
				       "Cannot cut conntrack entries: no plan or addresses");
	/* Nothing is denied where nothing is isolated and no Deny rule is. */
	if (!policy_plan_restricts(plan, POLICY_DIR_INGRESS) &&
	    !policy_plan_restricts(plan, POLICY_DIR_EGRESS)) {
		*ret_deleted = 0;
		return 0;
	}
	if (!sock) {
		r = nft_sock_open(NULL, nsfd, &s);
		if (r < 0)
			return log_error_errno(r,
					       "Failed to open a conntrack socket in netns %lu: %m",
					       ns_inode(nsfd));
		sock = s;
	}
	/* An empty table (a namespace just made, say) has nothing to cut. The count is read after
	 * the tighter ruleset is in, so an entry made since is already under it. */
	if (entries(sock) == 0) {
		*ret_deleted = 0;
		return 0;
	}
	for (unsigned i = 0;; i++) {
		if (i == CUT_MAX_DUMPS) {
			r = log_error_errno(
				-EAGAIN,
				"Conntrack entries of netns %lu to cut keep coming after "
				"%u dumps (%u deleted): %m",
				ns_inode(nsfd), i, deleted);
			break;
		}
		r = cut_pass(sock, &c, nsfd, &deleted);
		if (r < 0 || !c.full)
			break;
	}
	free(c.flows);
	if (c.skipped > 0)
		log_debug("Skipped %u conntrack entries of netns %lu not understood", c.skipped,
			  ns_inode(nsfd));
	if (r < 0)
		return r;
	log_debug("Cut %u conntrack entries in netns %lu", deleted, ns_inode(nsfd));
	*ret_deleted = deleted;
	return 0;
}

int conntrack_cut(int nsfd, struct nft_sock *sock, const struct policy_plan *plan,
		  const struct policy_addr *addrs, size_t n_addrs, unsigned *ret_deleted)
{
	return conntrack_cut_batched(nsfd, sock, plan, addrs, n_addrs, CONNTRACK_CUT_BATCH,
				     ret_deleted);
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(*(unsigned *)data)++;
	return MNL_CB_OK;
}

int conntrack_count(int nsfd, unsigned *ret)
{
	_cleanup_(nft_sock_freep) struct nft_sock *s = NULL;
	unsigned n = 0;
	int r;

	if (nsfd < 0)
		return log_error_errno(-EBADF, "Cannot count conntrack entries: no namespace");
	r = nft_sock_open(NULL, nsfd, &s);
	if (r < 0)
		return log_error_errno(r, "Failed to open a conntrack socket in netns %lu: %m",
				       ns_inode(nsfd));
	r = dump(s, count_cb, &n);
	if (r < 0)
		return log_error_errno(r, "Failed to dump the conntrack table of netns %lu: %m",
				       ns_inode(nsfd));
	*ret = n;
	return 0;
}
