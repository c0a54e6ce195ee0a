/* SPDX-License-Identifier: MIT */
/*
 * Table inet segd as a whole: the replace-versus-update strategy (set elements alone when the
 * plans have the same shape, else one transaction that ensures, deletes and recreates the
 * table), deletion, flags and owner, the flags probe and the generation id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include "nft-table.h"
#include "nftnl-util.h"

/* What goes into a table after it is (re)created: a plan's objects, or a guard's. */
struct table_def {
	uint16_t family;
	const char *name;
	int (*emit)(const struct table_def *d, policy_emit_fn fn, void *userdata);
	const struct policy_plan *plan;
	const struct policy_emit_options *opts;
	const struct policy_guard *guard;
};

static int emit_to_txn(enum policy_emit_kind kind, void *obj,
		       const struct policy_plan_rule *plan_rule, void *userdata)
{
	return nft_txn_add(userdata, kind, obj, NULL);
}

static int emit_plan(const struct table_def *d, policy_emit_fn fn, void *userdata)
{
	return policy_emit(d->plan, d->opts, fn, userdata);
}

static int emit_guard(const struct table_def *d, policy_emit_fn fn, void *userdata)
{
	return policy_emit_guard(d->guard, fn, userdata);
}

static int replace_once(struct nft_sock *s, const struct table_def *d, uint32_t ensure_flags,
			uint32_t *ret_ensure_seq, struct nft_error *reterr)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	int r;

	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	/* add table (create if absent, so the delete cannot fail; adopts an orphan), delete
	 * table, then the new table: one transaction, the old table stays until it commits */
	r = nft_txn_add_table_named(t, d->family, d->name, ensure_flags, "table (ensure)");
	if (r < 0)
		return r;
	*ret_ensure_seq = nft_txn_last_seq(t);
	r = nft_txn_delete_table_named(t, d->family, d->name, "table (delete)");
	if (r < 0)
		return r;
	r = d->emit(d, emit_to_txn, t);
	if (r < 0)
		return r;
	return nft_txn_commit(t, reterr);
}

static int replace_table(struct nft_sock *s, const struct table_def *d, uint32_t flags,
			 struct nft_error *reterr)
{
	struct nft_error err = {};
	uint32_t ensure_seq = 0, cur_flags = 0, owner = 0;
	int r, k;

	r = replace_once(s, d, flags, &ensure_seq, &err);
	if (r >= 0)
		return r;
	/*
	 * The kernel refuses a flags change on an existing table when it would take ownership of a
	 * table that is not PERSIST (EPERM), or add/drop PERSIST (EOPNOTSUPP). If nobody else owns
	 * it, ensure it with its current flags instead (a no-op), and the delete + create in the
	 * same batch gives it the flags we want.
	 */
	if ((r == -EPERM || r == -EOPNOTSUPP) && err.seq == ensure_seq) {
		k = nft_table_get_named(s, d->family, d->name, &cur_flags, &owner);
		if (k > 0 && (owner == 0 || owner == nft_sock_portid(s))) {
			err = (struct nft_error){};
			r = replace_once(s, d, cur_flags, &ensure_seq, &err);
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

int nft_replace_table(struct nft_sock *s, const struct policy_plan *plan,
		      const struct policy_emit_options *opts, struct nft_error *reterr)
{
	struct table_def d = {
		.family = NFPROTO_INET,
		.name = opts->table ? opts->table : POLICY_NFT_TABLE,
		.emit = emit_plan,
		.plan = plan,
		.opts = opts,
	};

	return replace_table(s, &d, opts->table_flags, reterr);
}

int nft_replace_guard(struct nft_sock *s, const struct policy_guard *g, struct nft_error *reterr)
{
	struct table_def d = {
		.family = NFPROTO_NETDEV,
		.name = g->table,
		.emit = emit_guard,
		.guard = g,
	};

	return replace_table(s, &d, g->table_flags, reterr);
}

int nft_update_elements_in(struct nft_sock *s, uint16_t family, const char *table,
			   const struct policy_plan *old, const struct policy_plan *new,
			   struct nft_error *reterr)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	_cleanup_free_ const struct policy_set_elem **elems = NULL;
	size_t max = 0;
	int r;

	if (!old || !new || !policy_plan_same_shape(old, new))
		return -ESTALE;
	for (size_t i = 0; i < new->n_sets; i++) {
		max = new->sets[i].n_elems > max ? new->sets[i].n_elems : max;
		max = old->sets[i].n_elems > max ? old->sets[i].n_elems : max;
	}
	elems = calloc(max + 1, sizeof(*elems));
	if (!elems)
		return -ENOMEM;
	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;

	/* Deletions first: an address that moved between sets of one table never sits in
	 * both for a moment. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < new->n_sets; i++) {
			const struct policy_set *a = &old->sets[i], *b = &new->sets[i];
			size_t n;

			if (a->interval)
				continue; /* same_shape: interval sets are equal */
			n = pass == 0 ? policy_set_elems_minus(a, b, elems)
				      : policy_set_elems_minus(b, a, elems);
			r = nft_txn_add_elems_in(t, family, table, b, elems, n, pass == 0);
			if (r < 0)
				return r;
		}
	if (nft_txn_messages(t) == 0)
		return 0;
	return nft_txn_commit(t, reterr);
}

int nft_update_elements(struct nft_sock *s, const struct policy_plan *old,
			const struct policy_plan *new, struct nft_error *reterr)
{
	return nft_update_elements_in(s, NFPROTO_INET, POLICY_NFT_TABLE, old, new, reterr);
}

int nft_delete_table_named(struct nft_sock *s, uint16_t family, const char *name)
{
	_cleanup_(nft_txn_freep) struct nft_txn *t = NULL;
	int r;

	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	r = nft_txn_delete_table_named(t, family, name, "table (delete)");
	if (r < 0)
		return r;
	r = nft_txn_commit(t, NULL);
	return r == -ENOENT ? 0 : r;
}

int nft_delete_table(struct nft_sock *s)
{
	return nft_delete_table_named(s, NFPROTO_INET, POLICY_NFT_TABLE);
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
	c->owner = nftnl_table_is_set(tb, NFTNL_TABLE_OWNER)
			   ? nftnl_table_get_u32(tb, NFTNL_TABLE_OWNER)
			   : 0;
	return MNL_CB_OK;
}

int nft_table_get_named(struct nft_sock *s, uint16_t family, const char *name, uint32_t *ret_flags,
			uint32_t *ret_owner)
{
	struct table_get_ctx c = {};
	char buf[512] = {};
	struct nlmsghdr *nlh;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_ACK, nft_sock_next_seq(s));
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, name);
	r = nft_sock_request(s, nlh, table_get_cb, &c);
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

int nft_table_get(struct nft_sock *s, uint32_t *ret_flags, uint32_t *ret_owner)
{
	return nft_table_get_named(s, NFPROTO_INET, POLICY_NFT_TABLE, ret_flags, ret_owner);
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

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
				    nft_sock_next_seq(s));
	r = nft_sock_request(s, nlh, genid_cb, &id);
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

	snprintf(name, sizeof(name), "segd-probe-%" PRIu32, nft_sock_portid(s));
	snprintf(absent, sizeof(absent), "segd-probe-absent-%" PRIu32, nft_sock_portid(s));
	r = nft_txn_new(s, &t);
	if (r < 0)
		return r;
	r = nft_txn_add_table_named(t, NFPROTO_INET, name, flags, "probe table");
	if (r < 0)
		return r;
	seq = nft_txn_last_seq(t);
	r = nft_txn_delete_table_named(t, NFPROTO_INET, absent, "probe abort");
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
