/* SPDX-License-Identifier: MIT */
/*
 * NETLINK_NETFILTER socket per namespace, nfnetlink batches (one sendmsg, every reply read back
 * and mapped to its message), and the read-back of table inet segd with its expressions decoded
 * into nft-like text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <jansson.h>

#include "nft.h"
#include "macro.h"
#include "netns.h"
#include "nft-internal.h"

/*
 * Batch pages: nftnl_batch_update() moves a message that overruns a page to a new page, and
 * silently loses one larger than a whole page; libnftnl writes messages without bounds checks,
 * so the overrun area must hold the largest message we build (a NEWSETELEM of at most
 * NFT_TXN_MAX_ELEMS elements is < 40 KiB; a rule < 2 KiB).
 */
#define BATCH_PAGE_SIZE (256u * 1024)
#define BATCH_PAGE_OVERRUN (128u * 1024)
#define RECV_BUF_SIZE (128u * 1024)

/* One receive buffer for every socket: users are single-threaded and read each socket's replies
 * to the end before the next request, so no two sockets need it at once. A buffer per socket
 * cost every endpoint 128 KiB. */
static char recv_buf[RECV_BUF_SIZE];
#define RCVBUF_SIZE (8 * 1024 * 1024)
#define REPLY_TIMEOUT_MS 5000
#define DUMP_RETRIES 5

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close);
DEFINE_CLEANUP(struct nftnl_batch *, nftnl_batch_free);
DEFINE_CLEANUP(struct nftnl_table *, nftnl_table_free);
DEFINE_CLEANUP(struct nftnl_chain *, nftnl_chain_free);
DEFINE_CLEANUP(struct nftnl_set *, nftnl_set_free);
DEFINE_CLEANUP(struct nftnl_rule *, nftnl_rule_free);
DEFINE_CLEANUP(struct nftnl_gen *, nftnl_gen_free);
DEFINE_CLEANUP(struct nftnl_expr_iter *, nftnl_expr_iter_destroy);

/* ---- socket ------------------------------------------------------------------------------- */

int nft_sock_open(int netns_fd, struct nft_sock **ret)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_free_ struct nft_sock *s = NULL;
	_cleanup_close_ int fd = -1;
	int one = 1, rcvbuf = RCVBUF_SIZE;
	int r;

	if (netns_fd >= 0) {
		r = netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_NETFILTER,
				 &fd);
		if (r < 0)
			return r;
	} else {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
		if (fd < 0)
			return -errno;
	}
	nl = mnl_socket_fdopen(fd);
	if (!nl)
		return -errno;
	TAKE_FD(fd); /* owned by nl now */
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	/* Extended ACKs name the offending attribute; CAP_ACK keeps an error from echoing the
	 * whole (possibly huge) request back into our receive buffer. */
	if (mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		return -errno;
	/* FORCE needs CAP_NET_ADMIN in the initial namespace; fall back to the rmem_max cap. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->buf = recv_buf;
	s->portid = mnl_socket_get_portid(nl);
	s->seq = (uint32_t)time(NULL);
	s->nl = TAKE_PTR(nl);
	*ret = TAKE_PTR(s);
	return 0;
}

struct nft_sock *nft_sock_free(struct nft_sock *s)
{
	if (!s)
		return NULL;
	mnl_socket_close(s->nl);
	free(s);
	return NULL;
}

int nft_sock_fd(const struct nft_sock *s)
{
	return mnl_socket_get_fd(s->nl);
}

void nft_sock_stats(const struct nft_sock *s, struct nft_stats *ret)
{
	*ret = s ? s->stats : (struct nft_stats){ 0 };
}

uint32_t nft_sock_portid(const struct nft_sock *s)
{
	return s->portid;
}

uint32_t sock_next_seq(struct nft_sock *s)
{
	if (++s->seq == 0)
		s->seq = 1;
	return s->seq;
}

/* Throws away replies left over from an earlier request that gave up (timeout). */
static void sock_drain(struct nft_sock *s)
{
	for (int i = 0; i < 1024; i++)
		if (recv(nft_sock_fd(s), s->buf, RECV_BUF_SIZE, MSG_DONTWAIT) < 0 && errno != ENOBUFS)
			return;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for input until deadline. 0 when readable, -ETIMEDOUT, or -errno. */
static int sock_wait(struct nft_sock *s, int64_t deadline)
{
	struct pollfd p = { .fd = nft_sock_fd(s), .events = POLLIN };

	for (;;) {
		int64_t left = deadline - now_ms();
		int n;

		if (left < 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

/*
 * One non-batch request (GET*), replies run through cb until the ACK or the end of the dump.
 * A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) gives -EINTR.
 */
int sock_request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	sock_drain(s);
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nft_sock_fd(s), s->buf, RECV_BUF_SIZE, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = sock_wait(s, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		r = mnl_cb_run(s->buf, (size_t)n, seq, s->portid, cb, data);
		if (r < 0)
			return errno > 0 ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* ---- transactions ------------------------------------------------------------------------- */

struct txn_msg {
	uint32_t seq;
	char *what;
};

struct nft_txn {
	struct nft_sock *s;
	struct nftnl_batch *batch;
	uint32_t seq_begin;
	uint32_t seq_last;	/* last command message */
	struct nlmsghdr *last;	/* it, inside its batch page */
	struct txn_msg *msgs;
	size_t n_msgs, cap_msgs;
	unsigned n_rules[2];	/* per chain, for naming rules in errors */
	bool committed;
};

int nft_txn_new(struct nft_sock *s, struct nft_txn **ret)
{
	_cleanup_(nftnl_batch_freep) struct nftnl_batch *b = NULL;
	struct nft_txn *t;

	b = nftnl_batch_alloc(BATCH_PAGE_SIZE, BATCH_PAGE_OVERRUN);
	if (!b)
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->s = s;
	t->seq_begin = sock_next_seq(s);
	nftnl_batch_begin(nftnl_batch_buffer(b), t->seq_begin);
	if (nftnl_batch_update(b) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->batch = TAKE_PTR(b);
	*ret = t;
	return 0;
}

struct nft_txn *nft_txn_free(struct nft_txn *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_msgs; i++)
		free(t->msgs[i].what);
	free(t->msgs);
	if (t->batch)
		nftnl_batch_free(t->batch);
	free(t);
	return NULL;
}

size_t nft_txn_messages(const struct nft_txn *t)
{
	return t->n_msgs;
}

uint32_t nft_txn_last_seq(const struct nft_txn *t)
{
	return t->seq_last;
}

static struct nlmsghdr *txn_msg_start(struct nft_txn *t, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(t->batch), type, NFPROTO_INET, flags,
				     sock_next_seq(t->s));
}

/* Closes the message just built: records what it carries and moves the batch on. */
static int txn_msg_end(struct nft_txn *t, struct nlmsghdr *nlh, const char *what)
{
	uint32_t len = nlh->nlmsg_len;
	char *w;

	if (len > BATCH_PAGE_SIZE)
		return -EMSGSIZE;
	if (t->n_msgs == t->cap_msgs) {
		size_t cap = t->cap_msgs ? t->cap_msgs * 2 : 64;
		struct txn_msg *m = reallocarray(t->msgs, cap, sizeof(*m));

		if (!m)
			return -ENOMEM;
		t->msgs = m;
		t->cap_msgs = cap;
	}
	w = strdup(what ? what : "");
	if (!w)
		return -ENOMEM;
	t->seq_last = nlh->nlmsg_seq;
	t->msgs[t->n_msgs++] = (struct txn_msg){ .seq = nlh->nlmsg_seq, .what = w };
	if (nftnl_batch_update(t->batch) < 0)
		return -ENOMEM;
	/* The message stays where it was, or was copied to the start of a new page; either way
	 * it ends where the batch now continues (libmnl keeps nlmsg_len aligned). */
	t->last = (struct nlmsghdr *)((char *)nftnl_batch_buffer(t->batch) - len);
	return 0;
}

static const char *txn_msg_what(const struct nft_txn *t, uint32_t seq)
{
	size_t lo = 0, hi = t->n_msgs;

	if (seq == t->seq_begin)
		return "batch";
	while (lo < hi) { /* seqs are increasing */
		size_t mid = lo + (hi - lo) / 2;

		if (t->msgs[mid].seq == seq)
			return t->msgs[mid].what;
		if ((int32_t)(t->msgs[mid].seq - seq) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return "?";
}

static int txn_table_msg(struct nft_txn *t, uint16_t type, const char *name, bool has_flags,
			 uint32_t flags, const char *what)
{
	struct nlmsghdr *nlh;

	nlh = txn_msg_start(t, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, name);
	if (has_flags)
		mnl_attr_put_u32(nlh, NFTA_TABLE_FLAGS, htonl(flags));
	return txn_msg_end(t, nlh, what);
}

int nft_txn_add_table_ensure(struct nft_txn *t, uint32_t flags)
{
	return txn_table_msg(t, NFT_MSG_NEWTABLE, POLICY_NFT_TABLE, true, flags,
			     "table inet segd (ensure)");
}

int nft_txn_add_table_delete(struct nft_txn *t)
{
	return txn_table_msg(t, NFT_MSG_DELTABLE, POLICY_NFT_TABLE, false, 0,
			     "table inet segd (delete)");
}

struct elems_ctx {
	struct nft_txn *t;
	const struct nftnl_set *set;
	uint16_t type;		/* NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM */
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	unsigned n;
	size_t total;
	char what[128];
};

static void elems_msg_start(struct elems_ctx *c)
{
	const struct nftnl_set *set = c->set;

	c->nlh = txn_msg_start(c->t, c->type ? c->type : NFT_MSG_NEWSETELEM,
			       c->type == NFT_MSG_DELSETELEM ? 0 : NLM_F_CREATE);
	mnl_attr_put_strz(c->nlh, NFTA_SET_ELEM_LIST_TABLE, nftnl_set_get_str(set, NFTNL_SET_TABLE));
	mnl_attr_put_strz(c->nlh, NFTA_SET_ELEM_LIST_SET, nftnl_set_get_str(set, NFTNL_SET_NAME));
	if (nftnl_set_is_set(set, NFTNL_SET_ID))
		mnl_attr_put_u32(c->nlh, NFTA_SET_ELEM_LIST_SET_ID,
				 htonl(nftnl_set_get_u32(set, NFTNL_SET_ID)));
	c->nest = mnl_attr_nest_start(c->nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	c->n = 0;
}

static int elems_msg_end(struct elems_ctx *c)
{
	struct nlmsghdr *nlh = c->nlh;
	char what[192];

	mnl_attr_nest_end(nlh, c->nest);
	snprintf(what, sizeof(what), "%s, elements %zu-%zu", c->what, c->total - c->n,
		 c->total - 1);
	c->nlh = NULL;
	return txn_msg_end(c->t, nlh, what);
}

static int elems_add_one(struct nftnl_set_elem *e, void *data)
{
	struct elems_ctx *c = data;
	struct nlattr *el;
	int r;

	if (!c->nlh)
		elems_msg_start(c);
	el = mnl_attr_nest_start(c->nlh, ++c->n);
	nftnl_set_elem_nlmsg_build_payload(c->nlh, e);
	mnl_attr_nest_end(c->nlh, el);
	c->total++;
	if (c->n < NFT_TXN_MAX_ELEMS)
		return 0;
	r = elems_msg_end(c);
	return r < 0 ? r : 0;
}

/* The rule's comment (NFTNL_UDATA_RULE_COMMENT), or NULL. Caller frees. */
static int udata_comment_cb(const struct nftnl_udata *attr, void *data)
{
	const struct nftnl_udata **tb = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*tb = attr;
	return 0;
}

char *rule_comment(const struct nftnl_rule *rule)
{
	const struct nftnl_udata *c = NULL;
	const void *data;
	uint32_t len = 0;

	if (!nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA))
		return NULL;
	data = nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len);
	if (!data || nftnl_udata_parse(data, len, udata_comment_cb, &c) < 0 || !c)
		return NULL;
	return strndup(nftnl_udata_get(c), nftnl_udata_len(c));
}

int nft_txn_add(struct nft_txn *t, enum policy_emit_kind kind, void *obj, const char *what)
{
	char buf[256] = {};
	struct nlmsghdr *nlh;
	int r = 0;

	switch (kind) {
	case POLICY_EMIT_TABLE: {
		_cleanup_(nftnl_table_freep) struct nftnl_table *tb = obj;

		nlh = txn_msg_start(t, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftnl_table_nlmsg_build_payload(nlh, tb);
		snprintf(buf, sizeof(buf), "table inet %s", nftnl_table_get_str(tb, NFTNL_TABLE_NAME));
		return txn_msg_end(t, nlh, what ? what : buf);
	}
	case POLICY_EMIT_CHAIN: {
		_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = obj;

		nlh = txn_msg_start(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		snprintf(buf, sizeof(buf), "chain %s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
		return txn_msg_end(t, nlh, what ? what : buf);
	}
	case POLICY_EMIT_SET: {
		_cleanup_(nftnl_set_freep) struct nftnl_set *set = obj;
		struct elems_ctx c = { .t = t, .set = set };

		nlh = txn_msg_start(t, NFT_MSG_NEWSET, NLM_F_CREATE);
		nftnl_set_nlmsg_build_payload(nlh, set);
		snprintf(c.what, sizeof(c.what), "set %s", nftnl_set_get_str(set, NFTNL_SET_NAME));
		r = txn_msg_end(t, nlh, what ? what : c.what);
		if (r < 0)
			return r;
		r = nftnl_set_elem_foreach(set, elems_add_one, &c);
		if (r < 0)
			return r;
		if (c.nlh)
			r = elems_msg_end(&c);
		return r;
	}
	case POLICY_EMIT_RULE: {
		_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = obj;
		_cleanup_free_ char *comment = rule_comment(rule);
		const char *chain = nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);
		unsigned idx = t->n_rules[chain && streq(chain, POLICY_NFT_CHAIN_OUTPUT)]++;

		nlh = txn_msg_start(t, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
		nftnl_rule_nlmsg_build_payload(nlh, rule);
		snprintf(buf, sizeof(buf), "rule %s[%u] \"%s\"", chain ? chain : "?", idx,
			 comment ? comment : "");
		return txn_msg_end(t, nlh, what ? what : buf);
	}
	case _POLICY_EMIT_MAX:
		break;
	}
	return -EINVAL;
}

struct txn_reply {
	const struct nft_txn *t;
	bool done;		/* the reply that ends the batch arrived */
	bool lost;		/* ENOBUFS: some replies were dropped */
	int n_errors;
	struct nft_error err;	/* the first error */
};

static int extack_cb(const struct nlattr *a, void *data)
{
	struct nft_error *e = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			snprintf(e->message, sizeof(e->message), "%s", mnl_attr_get_str(a));
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			e->offset = mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

static void txn_reply_parse(struct txn_reply *rp, const void *buf, size_t len)
{
	const struct nft_txn *t = rp->t;
	int rem = (int)len;

	for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		const struct nlmsgerr *e;
		uint32_t seq = nlh->nlmsg_seq;

		/* replies to an earlier, abandoned request */
		if ((uint32_t)(seq - t->seq_begin) > (uint32_t)(t->seq_last - t->seq_begin))
			continue;
		if (nlh->nlmsg_type != NLMSG_ERROR)
			continue;
		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			continue;
		e = mnl_nlmsg_get_payload(nlh);
		if (seq == t->seq_last || seq == t->seq_begin)
			rp->done = true;
		if (e->error == 0)
			continue;
		if (rp->n_errors++ > 0)
			continue;
		rp->err = (struct nft_error){ .error = e->error < 0 ? e->error : -e->error, .seq = seq };
		snprintf(rp->err.object, sizeof(rp->err.object), "%s", txn_msg_what(t, seq));
		if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
			size_t off = sizeof(*e);

			if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
				off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
			if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
				(void)mnl_attr_parse(nlh, (unsigned)off, extack_cb, &rp->err);
		}
	}
}

static int sock_grow_sndbuf(struct nft_sock *s, size_t need)
{
	int v;

	if (need > INT32_MAX / 2)
		return -EMSGSIZE;
	if ((size_t)s->sndbuf >= need)
		return 0;
	v = (int)need;
	if (setsockopt(nft_sock_fd(s), SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0 &&
	    setsockopt(nft_sock_fd(s), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
		return -errno;
	s->sndbuf = v;
	return 0;
}

int nft_txn_commit(struct nft_txn *t, struct nft_error *reterr)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct txn_reply rp = { .t = t };
	_cleanup_free_ struct iovec *iov = NULL;
	struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa) };
	int64_t deadline;
	size_t total = 0;
	ssize_t n;
	int niov;
	int r;

	if (t->committed)
		return -EALREADY;
	t->committed = true;
	if (t->n_msgs == 0)
		return 0;

	/* Only the last command asks for an ACK: errors are reported for every failing message
	 * anyway, and this ACK (or an error on the batch itself) tells us the kernel is done. */
	t->last->nlmsg_flags |= NLM_F_ACK;
	nftnl_batch_end(nftnl_batch_buffer(t->batch), sock_next_seq(t->s));
	if (nftnl_batch_update(t->batch) < 0)
		return -ENOMEM;

	niov = nftnl_batch_iovec_len(t->batch);
	iov = calloc((size_t)niov, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(t->batch, iov, (uint32_t)niov);
	for (int i = 0; i < niov; i++)
		total += iov[i].iov_len;
	t->s->stats.batches++;
	t->s->stats.messages += t->n_msgs + 2;
	t->s->stats.bytes += total;
	/* the whole batch is one datagram: it must fit in the send buffer */
	r = sock_grow_sndbuf(t->s, total + 64 * 1024);
	if (r < 0)
		return r;

	sock_drain(t->s);
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
	n = sendmsg(nft_sock_fd(t->s), &msg, 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != total)
		return -EIO;

	/* nf_tables processes the batch inside sendmsg(): every reply is queued by now. The poll
	 * bound is only a safety net. Read everything, never stop at the first error. */
	deadline = now_ms() + REPLY_TIMEOUT_MS;
	for (;;) {
		n = recv(nft_sock_fd(t->s), t->s->buf, RECV_BUF_SIZE, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			rp.lost = true;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			if (rp.done)
				break;
			r = sock_wait(t->s, deadline);
			if (r < 0) {
				if (rp.n_errors > 0 || rp.lost)
					break;
				return r;
			}
			continue;
		}
		if (n < 0)
			return -errno;
		txn_reply_parse(&rp, t->s->buf, (size_t)n);
	}

	if (rp.n_errors > 0) {
		if (reterr)
			*reterr = rp.err;
		return rp.err.error;
	}
	if (rp.lost) {
		/* replies were dropped: we cannot tell whether the batch committed */
		if (reterr)
			*reterr = (struct nft_error){ .error = -ENOBUFS, .object = "replies lost" };
		return -ENOBUFS;
	}
	return 0;
}

/* ---- whole-table operations --------------------------------------------------------------- */

struct emit_ctx {
	struct nft_txn *t;
};

static int emit_to_txn(enum policy_emit_kind kind, void *obj,
		       const struct policy_plan_rule *plan_rule, void *userdata)
{
	struct emit_ctx *c = userdata;

	return nft_txn_add(c->t, kind, obj, NULL);
}

/* What every table this process writes logs (flow logs are off unless segd sets them). */
static struct policy_emit_options emit_defaults;

void nft_set_flow_log(enum policy_flow_log mode, uint16_t group, uint32_t rate)
{
	emit_defaults.flow_log = mode;
	emit_defaults.log_group = group;
	emit_defaults.log_rate = rate;
}

struct policy_emit_options nft_emit_options(uint32_t table_flags)
{
	struct policy_emit_options o = emit_defaults;

	o.table_flags = table_flags;
	return o;
}

static int replace_once(struct nft_sock *s, const struct policy_plan *plan, uint32_t flags,
			uint32_t ensure_flags, uint32_t *ret_ensure_seq, struct nft_error *reterr)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	struct policy_emit_options opts = nft_emit_options(flags);
	struct emit_ctx c;
	int r;

	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	/* add table (create if absent, so the delete cannot fail; adopts an orphan), delete
	 * table, then the new table: one transaction, the old table stays until it commits */
	r = nft_txn_add_table_ensure(t, ensure_flags);
	if (r < 0)
		return r;
	*ret_ensure_seq = t->seq_last;
	r = nft_txn_add_table_delete(t);
	if (r < 0)
		return r;
	c.t = t;
	r = policy_emit(plan, &opts, emit_to_txn, &c);
	if (r < 0)
		return r;
	return nft_txn_commit(t, reterr);
}

int nft_replace_table(struct nft_sock *s, const struct policy_plan *plan, uint32_t table_flags,
		      struct nft_error *reterr)
{
	struct nft_error err = {};
	uint32_t ensure_seq = 0, cur_flags = 0, owner = 0;
	int r, k;

	r = replace_once(s, plan, table_flags, table_flags, &ensure_seq, &err);
	if (r >= 0)
		return r;
	/*
	 * The kernel refuses a flags change on an existing table when it would take ownership of a
	 * table that is not PERSIST (EPERM), or add/drop PERSIST (EOPNOTSUPP). If nobody else owns
	 * it, ensure it with its current flags instead (a no-op), and the delete + create in the
	 * same batch gives it the flags we want.
	 */
	if ((r == -EPERM || r == -EOPNOTSUPP) && err.seq == ensure_seq) {
		k = nft_table_get(s, &cur_flags, &owner);
		if (k > 0 && (owner == 0 || owner == s->portid)) {
			err = (struct nft_error){};
			r = replace_once(s, plan, table_flags, cur_flags, &ensure_seq, &err);
			if (r >= 0)
				return r;
		}
	}
	if (reterr) {
		if (err.error == 0)
			err.error = r;
		*reterr = err;
	}
	return r;
}

/* A set of `ps`'s name and key carrying the given elements, for NEW/DELSETELEM. */
static int elems_set(const struct policy_set *ps, const struct policy_set_elem *const *elems,
		     size_t n, struct nftnl_set **ret)
{
	uint32_t len = ps->family == AF_INET ? 4 : 16;
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		return -ENOMEM;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, POLICY_NFT_TABLE);
	nftnl_set_set_str(set, NFTNL_SET_NAME, ps->name);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		if (!e) {
			nftnl_set_free(set);
			return -ENOMEM;
		}
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elems[i]->start, len);
		nftnl_set_elem_add(set, e);
	}
	*ret = set;
	return 0;
}

static int txn_add_elems(struct nft_txn *t, const struct policy_set *ps,
			 const struct policy_set_elem *const *elems, size_t n, uint16_t type)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *set = NULL;
	struct elems_ctx c = { .t = t, .type = type };
	int r;

	if (n == 0)
		return 0;
	r = elems_set(ps, elems, n, &set);
	if (r < 0)
		return r;
	c.set = set;
	snprintf(c.what, sizeof(c.what), "%s set %s", type == NFT_MSG_DELSETELEM ? "delete from"
										    : "add to", ps->name);
	r = nftnl_set_elem_foreach(set, elems_add_one, &c);
	if (r >= 0 && c.nlh)
		r = elems_msg_end(&c);
	return r;
}

static int cmp_elem16(const struct policy_set_elem *a, const struct policy_set_elem *b)
{
	return memcmp(a->start, b->start, 16);
}

int nft_update_elements(struct nft_sock *s, const struct policy_plan *old,
			const struct policy_plan *new, struct nft_error *reterr)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	_cleanup_free_ const struct policy_set_elem **add = NULL, **del = NULL;
	size_t max = 0;
	int r;

	if (!old || !new || !policy_plan_same_shape(old, new))
		return -ESTALE;
	for (size_t i = 0; i < new->n_sets; i++)
		max = new->sets[i].n_elems + old->sets[i].n_elems > max
			      ? new->sets[i].n_elems + old->sets[i].n_elems : max;
	add = calloc(max + 1, sizeof(*add));
	del = calloc(max + 1, sizeof(*del));
	if (!add || !del)
		return -ENOMEM;
	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;

	/* Deletions first: an address that moved between sets of one table never sits in
	 * both for a moment. Both element lists are sorted: one merge walk per set. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < new->n_sets; i++) {
			const struct policy_set *a = &old->sets[i], *b = &new->sets[i];
			size_t x = 0, y = 0, n_add = 0, n_del = 0;

			if (a->interval)
				continue;	/* same_shape: interval sets are equal */
			while (x < a->n_elems || y < b->n_elems) {
				int c = x == a->n_elems ? 1 : y == b->n_elems ? -1
						: cmp_elem16(&a->elems[x], &b->elems[y]);

				if (c < 0)
					del[n_del++] = &a->elems[x++];
				else if (c > 0)
					add[n_add++] = &b->elems[y++];
				else
					x++, y++;
			}
			r = pass == 0 ? txn_add_elems(t, b, del, n_del, NFT_MSG_DELSETELEM)
				      : txn_add_elems(t, b, add, n_add, NFT_MSG_NEWSETELEM);
			if (r < 0)
				return r;
		}
	if (nft_txn_messages(t) == 0)
		return 0;
	return nft_txn_commit(t, reterr);
}

int nft_delete_table(struct nft_sock *s)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	int r;

	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	r = nft_txn_add_table_delete(t);
	if (r < 0)
		return r;
	r = nft_txn_commit(t, NULL);
	return r == -ENOENT ? 0 : r;
}

struct table_get_ctx {
	uint32_t flags, owner;
	bool found;
};

static int table_get_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *tb = nftnl_table_alloc();
	struct table_get_ctx *c = data;

	if (!tb)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, tb) < 0)
		return MNL_CB_ERROR;
	c->found = true;
	c->flags = nftnl_table_get_u32(tb, NFTNL_TABLE_FLAGS);
	c->owner = nftnl_table_is_set(tb, NFTNL_TABLE_OWNER) ?
			   nftnl_table_get_u32(tb, NFTNL_TABLE_OWNER) : 0;
	return MNL_CB_OK;
}

int nft_table_get(struct nft_sock *s, uint32_t *ret_flags, uint32_t *ret_owner)
{
	struct table_get_ctx c = {};
	char buf[512] = {};
	struct nlmsghdr *nlh;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK,
				    sock_next_seq(s));
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, POLICY_NFT_TABLE);
	r = sock_request(s, nlh, table_get_cb, &c);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!c.found)
		return -EIO;
	if (ret_flags)
		*ret_flags = c.flags;
	if (ret_owner)
		*ret_owner = c.owner;
	return 1;
}

int nft_table_exists(struct nft_sock *s)
{
	return nft_table_get(s, NULL, NULL);
}

static int genid_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_gen_freep) struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g || nftnl_gen_nlmsg_parse(nlh, g) < 0)
		return MNL_CB_ERROR;
	*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	return MNL_CB_OK;
}

int nft_genid(struct nft_sock *s, uint32_t *ret)
{
	char buf[256] = {};
	struct nlmsghdr *nlh;
	uint32_t id = 0;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, sock_next_seq(s));
	r = sock_request(s, nlh, genid_cb, &id);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

/* Does the kernel accept these table flags? The batch is made to fail on its second message,
 * so it aborts and leaves nothing behind; only which message failed matters. */
static int probe_flags(struct nft_sock *s, uint32_t flags, bool *ret)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	struct nft_error err = {};
	char name[64], absent[64];
	uint32_t seq;
	int r;

	snprintf(name, sizeof(name), "segd-probe-%" PRIu32, s->portid);
	snprintf(absent, sizeof(absent), "segd-probe-absent-%" PRIu32, s->portid);
	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	r = txn_table_msg(t, NFT_MSG_NEWTABLE, name, true, flags, "probe table");
	if (r < 0)
		return r;
	seq = t->seq_last;
	r = txn_table_msg(t, NFT_MSG_DELTABLE, absent, false, 0, "probe abort");
	if (r < 0)
		return r;
	r = nft_txn_commit(t, &err);
	if (r >= 0)
		return -EIO; /* the absent table exists? */
	if (err.seq == seq) {
		if (r != -EOPNOTSUPP && r != -EINVAL)
			return r;
		*ret = false;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	*ret = true;
	return 0;
}

int nft_probe_table_flags(struct nft_sock *s, uint32_t *ret_flags)
{
	bool ok;
	int r;

	r = probe_flags(s, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST, &ok);
	if (r < 0)
		return r;
	if (ok) {
		*ret_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
		return 0;
	}
	r = probe_flags(s, NFT_TABLE_F_OWNER, &ok);
	if (r < 0)
		return r;
	*ret_flags = ok ? NFT_TABLE_F_OWNER : 0;
	return 0;
}

