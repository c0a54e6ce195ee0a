/* SPDX-License-Identifier: MIT */
/*
 * Read-back of table inet segd: chains with their hooks, rules decoded with comments,
 * provenance and counters, sets with their elements, and the JSON `segctl rules` shows.
 * Real nf_tables in a private kernel (fixture.h), no root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "macro.h"
#include "nft.h"
#include "nftplans.h"

static const struct nft_dump_chain *chain(const struct nft_dump *d, const char *name)
{
	for (size_t i = 0; i < d->n_chains; i++)
		if (streq(d->chains[i].name, name))
			return &d->chains[i];
	fail_msg("no chain %s", name);
	return NULL;
}

static void test_dump_reads_back_the_plan(void **state)
{
	struct policy_plan *plan = nft_test_plan(2);
	struct policy_emit_options opts = { .table_flags =
						    NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST };
	const struct nft_dump_rule *r;
	const struct nft_dump_chain *in;
	struct nft_sock *s = NULL;
	struct nft_dump *d = NULL;
	json_t *o, *flags;
	int ns = -1;

	assert_int_equal(fixture_netns("dump", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_dump(s, &d), -ENOENT);
	assert_int_equal(nft_replace_table(s, plan, &opts, NULL), 0);
	assert_int_equal(nft_dump(s, &d), 0);
	assert_true(d->owned_by_us);
	assert_int_equal(d->table_flags, opts.table_flags);

	in = chain(d, POLICY_NFT_CHAIN_INPUT);
	assert_string_equal(in->hook, "input");
	assert_string_equal(in->policy, "accept");
	assert_string_equal(chain(d, POLICY_NFT_CHAIN_OUTPUT)->hook, "output");
	r = nft_dump_find_rule(d, POLICY_NFT_CHAIN_INPUT, "shop/allow-web ingress[0]");
	assert_non_null(r);
	assert_non_null(strstr(r->expr, "ip saddr @"));
	assert_non_null(strstr(r->expr, "th dport 5432"));
	assert_non_null(strstr(r->expr, "counter accept"));
	assert_true(r->has_counter);
	assert_int_equal(r->packets, 0);
	r = nft_dump_find_rule(d, POLICY_NFT_CHAIN_INPUT, POLICY_COMMENT_DEFAULT_DENY);
	assert_non_null(r);
	assert_non_null(strstr(r->expr, "drop"));
	assert_null(nft_dump_find_rule(d, POLICY_NFT_CHAIN_INPUT, "no such comment"));

	/* Named sets hold the peers. */
	{
		bool v4 = false, v6 = false;

		for (size_t i = 0; i < d->n_sets; i++) {
			const struct nft_dump_set *set = &d->sets[i];

			/* the plan's sets (not the anonymous ND ones, not the dynamic
			 * peers sets, empty here) */
			if (set->anonymous || strncmp(set->name, "peers", 5) == 0)
				continue;
			assert_int_equal(set->n_elements, 2);
			if (set->key_type == 7) {
				v4 = true;
				assert_string_equal(set->elements[0], "10.0.0.11");
				assert_string_equal(set->elements[1], "10.0.0.12");
			} else {
				v6 = true;
				assert_string_equal(set->elements[0], "fd00::11");
			}
		}
		assert_true(v4 && v6);
	}

	o = nft_dump_to_json(d);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "table")), "inet segd");
	flags = json_object_get(o, "flags");
	assert_int_equal(json_array_size(flags), 2);
	assert_string_equal(json_string_value(json_array_get(flags, 0)), "owner");
	{
		json_t *rules =
			json_object_get(json_array_get(json_object_get(o, "chains"), 0), "rules");
		bool found = false;
		size_t i;
		json_t *x;

		json_array_foreach(rules, i, x)
			if (json_object_get(x, "policy")) {
				found = true;
				assert_string_equal(json_string_value(json_object_get(x, "policy")),
						    "shop/allow-web");
				assert_string_equal(json_string_value(
							    json_object_get(x, "direction")),
						    "ingress");
				assert_int_equal(json_integer_value(json_object_get(x, "rule")), 0);
			}
		assert_true(found);
	}
	json_decref(o);
	nft_dump_free(d);
	nft_sock_free(s);
	policy_plan_free(plan);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_reads_back_the_plan),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
