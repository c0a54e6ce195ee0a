/* SPDX-License-Identifier: MIT */
/*
 * The kernel's table compared with the plan segd committed: what `segctl rules` shows as
 * in_sync, what `segctl check` reports as kernel_mismatch, and what drift checks after lost
 * events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "macro.h"
#include "nft-dump.h"
#include "nft-verify.h"

/* The chains policy_emit() makes, and the next rule index in each. */
static const char *const chain_names[] = {
	POLICY_NFT_CHAIN_INPUT,		 POLICY_NFT_CHAIN_OUTPUT,
	POLICY_NFT_CHAIN_INPUT_ACCEPTED, POLICY_NFT_CHAIN_OUTPUT_ACCEPTED,
	POLICY_NFT_CHAIN_INPUT_ADMIN,	 POLICY_NFT_CHAIN_OUTPUT_ADMIN,
	POLICY_NFT_CHAIN_INPUT_BASELINE, POLICY_NFT_CHAIN_OUTPUT_BASELINE,
};

struct expected {
	const struct nft_dump *dump;
	size_t pos[ARRAY_SIZE(chain_names)];
	bool ok;
};

/* Where the next rule of `chain` goes; NULL for a chain policy_emit() does not make. */
static size_t *chain_pos(struct expected *x, const char *chain)
{
	for (size_t i = 0; chain && i < ARRAY_SIZE(chain_names); i++)
		if (streq(chain, chain_names[i]))
			return &x->pos[i];
	return NULL;
}

static const struct nft_dump_chain *find_chain(const struct nft_dump *d, const char *name)
{
	for (size_t i = 0; i < d->n_chains; i++)
		if (streq(d->chains[i].name, name))
			return &d->chains[i];
	return NULL;
}

/* Walks what the plan emits, in order, against what the kernel returned. */
static int check_one(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		     void *userdata)
{
	struct expected *x = userdata;

	if (kind == POLICY_EMIT_RULE) {
		struct nftnl_rule *r = obj;
		const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		const struct nft_dump_chain *c = chain ? find_chain(x->dump, chain) : NULL;
		size_t *pos = chain_pos(x, chain);

		if (!c || !pos || *pos >= c->n_rules)
			x->ok = false;
		else if (pr &&
			 (!c->rules[*pos].comment || !streq(c->rules[*pos].comment, pr->comment)))
			x->ok = false;
		if (pos)
			(*pos)++;
	}
	policy_emit_free(kind, obj);
	return 0;
}

static bool sets_match(const struct nft_dump *d, const struct policy_plan *plan)
{
	for (size_t i = 0; i < plan->n_sets; i++) {
		const struct policy_set *ps = &plan->sets[i];
		const struct nft_dump_set *ds = NULL;

		for (size_t j = 0; j < d->n_sets; j++)
			if (!d->sets[j].anonymous && streq(d->sets[j].name, ps->name))
				ds = &d->sets[j];
		if (!ds || ds->n_elements != ps->n_elems)
			return false;
	}
	return true;
}

int nft_rules_json(struct nft_sock *s, const struct policy_plan *plan,
		   const struct policy_emit_options *opts, json_t **ret, bool *ret_in_sync)
{
	struct nft_dump *d = NULL;
	struct expected x = { .ok = true };
	json_t *o;
	int r;

	r = nft_dump_table(s, opts->table ? opts->table : POLICY_NFT_TABLE, &d);
	if (r < 0)
		return r;
	x.dump = d;
	if (!plan) {
		x.ok = false;
	} else {
		struct policy_emit_options eo = *opts;

		eo.table_flags = d->table_flags;
		r = policy_emit(plan, &eo, check_one, &x);
		if (r < 0) {
			nft_dump_free(d);
			return r;
		}
		/* nothing extra in the kernel either */
		for (size_t i = 0; i < d->n_chains; i++) {
			size_t *want = chain_pos(&x, d->chains[i].name);

			if (d->chains[i].n_rules != (want ? *want : 0))
				x.ok = false;
		}
		if (!sets_match(d, plan))
			x.ok = false;
	}

	o = nft_dump_to_json(d);
	nft_dump_free(d);
	if (!o)
		return -ENOMEM;
	*ret = o;
	*ret_in_sync = x.ok;
	return 0;
}
