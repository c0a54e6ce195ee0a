/* SPDX-License-Identifier: MIT */
/*
 * nf_tables transactions: one nfnetlink batch per transaction, built on multi-page libnftnl
 * batches, each message recorded with what it carries so that the kernel's error, tagged with
 * the message's sequence number, names the object it refused. Sent in one sendmsg(); every
 * reply is read and the first error kept, never stopping at it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "nft-txn.h"
#include "nftnl-util.h"
#include "time-util.h"

/*
 * Batch pages: nftnl_batch_update() moves a message that overruns a page to a new page, and
 * silently loses one larger than a whole page; libnftnl writes messages without bounds checks,
 * so the overrun area must hold the largest message we build (a NEWSETELEM of at most
 * NFT_TXN_MAX_ELEMS elements is < 40 KiB; a rule < 2 KiB).
 */
#define BATCH_PAGE_SIZE (256u * 1024)
#define BATCH_PAGE_OVERRUN (128u * 1024)

struct txn_msg {
	uint32_t seq;
	char *what;
};

struct nft_txn {
	struct nft_sock *s;
	struct nftnl_batch *batch;
	uint32_t seq_begin;
	uint32_t seq_last;     /* last command message */
	struct nlmsghdr *last; /* it, inside its batch page */
	struct txn_msg *msgs;
	size_t n_msgs, cap_msgs;
	unsigned n_rules[2]; /* per chain, for naming rules in errors */
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
	t->seq_begin = nft_sock_next_seq(s);
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

static struct nlmsghdr *txn_msg_start(struct nft_txn *t, uint16_t type, uint16_t family,
				      uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(t->batch), type, family, flags,
				     nft_sock_next_seq(t->s));
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

static int txn_table_msg(struct nft_txn *t, uint16_t type, uint16_t family, const char *name,
			 bool has_flags, uint32_t flags, const char *what)
{
	struct nlmsghdr *nlh;

	nlh = txn_msg_start(t, type, family, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, name);
	if (has_flags)
		mnl_attr_put_u32(nlh, NFTA_TABLE_FLAGS, htonl(flags));
	return txn_msg_end(t, nlh, what);
}

int nft_txn_add_table_named(struct nft_txn *t, uint16_t family, const char *name, uint32_t flags,
			    const char *what)
{
	return txn_table_msg(t, NFT_MSG_NEWTABLE, family, name, true, flags, what);
}

int nft_txn_delete_table_named(struct nft_txn *t, uint16_t family, const char *name,
			       const char *what)
{
	return txn_table_msg(t, NFT_MSG_DELTABLE, family, name, false, 0, what);
}

int nft_txn_add_table_ensure(struct nft_txn *t, uint32_t flags)
{
	return nft_txn_add_table_named(t, NFPROTO_INET, POLICY_NFT_TABLE, flags,
				       "table inet segd (ensure)");
}

int nft_txn_add_table_delete(struct nft_txn *t)
{
	return nft_txn_delete_table_named(t, NFPROTO_INET, POLICY_NFT_TABLE,
					  "table inet segd (delete)");
}

struct elems_ctx {
	struct nft_txn *t;
	const struct nftnl_set *set;
	uint16_t type; /* NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM */
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
			       (uint16_t)nftnl_set_get_u32(set, NFTNL_SET_FAMILY),
			       c->type == NFT_MSG_DELSETELEM ? 0 : NLM_F_CREATE);
	mnl_attr_put_strz(c->nlh, NFTA_SET_ELEM_LIST_TABLE,
			  nftnl_set_get_str(set, NFTNL_SET_TABLE));
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

int nft_txn_add(struct nft_txn *t, enum policy_emit_kind kind, void *obj, const char *what)
{
	char buf[256] = {};
	struct nlmsghdr *nlh;
	int r = 0;

	switch (kind) {
	case POLICY_EMIT_TABLE: {
		_cleanup_(nftnl_table_freep) struct nftnl_table *tb = obj;

		uint32_t family = nftnl_table_get_u32(tb, NFTNL_TABLE_FAMILY);

		nlh = txn_msg_start(t, NFT_MSG_NEWTABLE, (uint16_t)family, NLM_F_CREATE);
		nftnl_table_nlmsg_build_payload(nlh, tb);
		snprintf(buf, sizeof(buf), "table %s %s",
			 family == NFPROTO_NETDEV ? "netdev" : "inet",
			 nftnl_table_get_str(tb, NFTNL_TABLE_NAME));
		return txn_msg_end(t, nlh, what ? what : buf);
	}
	case POLICY_EMIT_CHAIN: {
		_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = obj;

		nlh = txn_msg_start(t, NFT_MSG_NEWCHAIN,
				    (uint16_t)nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY),
				    NLM_F_CREATE);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		snprintf(buf, sizeof(buf), "chain %s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
		return txn_msg_end(t, nlh, what ? what : buf);
	}
	case POLICY_EMIT_SET: {
		_cleanup_(nftnl_set_freep) struct nftnl_set *set = obj;
		struct elems_ctx c = { .t = t, .set = set };

		nlh = txn_msg_start(t, NFT_MSG_NEWSET,
				    (uint16_t)nftnl_set_get_u32(set, NFTNL_SET_FAMILY),
				    NLM_F_CREATE);
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
		_cleanup_free_ char *comment = nftnl_rule_comment(rule);
		const char *chain = nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);
		unsigned idx = t->n_rules[chain && streq(chain, POLICY_NFT_CHAIN_OUTPUT)]++;

		nlh = txn_msg_start(t, NFT_MSG_NEWRULE,
				    (uint16_t)nftnl_rule_get_u32(rule, NFTNL_RULE_FAMILY),
				    NLM_F_CREATE | NLM_F_APPEND);
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
	bool done; /* the reply that ends the batch arrived */
	bool lost; /* ENOBUFS: some replies were dropped */
	int n_errors;
	struct nft_error err; /* the first error */
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

	for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, rem);
	     nlh = mnl_nlmsg_next(nlh, &rem)) {
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
		rp->err = (struct nft_error){ .error = e->error < 0 ? e->error : -e->error,
					      .seq = seq };
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

/* A set of `ps`'s name and key carrying the given elements, for NEW/DELSETELEM. */
static int elems_set(uint16_t family, const char *table, const struct policy_set *ps,
		     const struct policy_set_elem *const *elems, size_t n, struct nftnl_set **ret)
{
	uint32_t len = ps->family == AF_INET ? 4 : 16;
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		return -ENOMEM;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(set, NFTNL_SET_NAME, ps->name);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, family);
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

int nft_txn_add_elems_in(struct nft_txn *t, uint16_t family, const char *table,
			 const struct policy_set *ps, const struct policy_set_elem *const *elems,
			 size_t n, bool delete)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *set = NULL;
	uint16_t type = delete ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
	struct elems_ctx c = { .t = t, .type = type };
	int r;

	if (n == 0)
		return 0;
	r = elems_set(family, table, ps, elems, n, &set);
	if (r < 0)
		return r;
	c.set = set;
	snprintf(c.what, sizeof(c.what), "%s set %s",
		 type == NFT_MSG_DELSETELEM ? "delete from" : "add to", ps->name);
	r = nftnl_set_elem_foreach(set, elems_add_one, &c);
	if (r >= 0 && c.nlh)
		r = elems_msg_end(&c);
	return r;
}

int nft_txn_add_elems(struct nft_txn *t, const struct policy_set *ps,
		      const struct policy_set_elem *const *elems, size_t n, bool delete)
{
	return nft_txn_add_elems_in(t, NFPROTO_INET, POLICY_NFT_TABLE, ps, elems, n, delete);
}

int nft_txn_commit(struct nft_txn *t, struct nft_error *reterr)
{
	struct txn_reply rp = { .t = t };
	_cleanup_free_ struct iovec *iov = NULL;
	int64_t deadline;
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
	nftnl_batch_end(nftnl_batch_buffer(t->batch), nft_sock_next_seq(t->s));
	if (nftnl_batch_update(t->batch) < 0)
		return -ENOMEM;

	niov = nftnl_batch_iovec_len(t->batch);
	iov = calloc((size_t)niov, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(t->batch, iov, (uint32_t)niov);
	r = nft_sock_send_batch(t->s, iov, (size_t)niov, t->n_msgs + 2);
	if (r < 0)
		return r;

	/* nf_tables processes the batch inside sendmsg(): every reply is queued by now. The poll
	 * bound is only a safety net. Read everything, never stop at the first error. */
	deadline = now_msec() + NFT_REPLY_TIMEOUT_MS;
	for (;;) {
		const void *buf;
		ssize_t n = nft_sock_recv(t->s, &buf);

		if (n == -ENOBUFS) {
			rp.lost = true;
			continue;
		}
		if (n == -EAGAIN) {
			if (rp.done)
				break;
			r = nft_sock_wait(t->s, deadline);
			if (r < 0) {
				if (rp.n_errors > 0 || rp.lost)
					break;
				return r;
			}
			continue;
		}
		if (n < 0)
			return (int)n;
		txn_reply_parse(&rp, buf, (size_t)n);
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
