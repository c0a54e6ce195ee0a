/* SPDX-License-Identifier: MIT */
/*
 * Table inet segd as a whole: replaced atomically, updated by set elements alone when only
 * they differ (counters survive), deleted, owned, and the flags probe. Real nf_tables in a
 * private kernel (fixture.h), no root.
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
#include "nft.h"
#include "nftplans.h"

static const struct policy_emit_options owned = {
	.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST,
};

static void test_probe_flags(void **state)
{
	struct nft_sock *s = NULL;
	uint32_t flags = 0;

	assert_int_equal(nft_sock_open(NULL, -1, &s), 0);
	assert_int_equal(nft_probe_table_flags(s, &flags), 0);
	/* Linux >= 6.9 has both; the probe leaves nothing behind. */
	assert_int_equal(flags, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	assert_int_equal(nft_table_exists(s), 0);
	nft_sock_free(s);
}

static void test_replace_update_delete(void **state)
{
	struct policy_plan *one = nft_test_plan(1), *two = nft_test_plan(2),
			   *none = nft_test_plan(0);
	struct nft_error err = { 0 };
	struct nft_stats before, after;
	struct nft_sock *s = NULL;
	struct nft_dump *d = NULL;
	uint32_t flags = 0, owner = 0, gen1 = 0, gen2 = 0;
	int ns = -1;

	assert_int_equal(fixture_netns("table", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_table_exists(s), 0);
	assert_int_equal(nft_delete_table(s), 0); /* absent is success */

	assert_int_equal(nft_replace_table(s, one, &owned, &err), 0);
	assert_int_equal(nft_table_get(s, &flags, &owner), 1);
	assert_int_equal(flags, owned.table_flags);
	assert_int_equal(owner, nft_sock_portid(s));
	assert_int_equal(nft_genid(s, &gen1), 0);

	/* Only the peer set differs: set elements alone, one batch, no table rewrite. */
	assert_true(policy_plan_same_shape(one, two));
	nft_sock_stats(s, &before);
	assert_int_equal(nft_update_elements(s, one, two, &err), 0);
	nft_sock_stats(s, &after);
	assert_int_equal(after.batches - before.batches, 1);
	assert_int_equal(nft_dump(s, &d), 0);
	for (size_t i = 0; i < d->n_sets; i++)
		if (!d->sets[i].anonymous && strncmp(d->sets[i].name, "peers", 5) != 0)
			assert_int_equal(d->sets[i].n_elements, 2);
	d = nft_dump_free(d);
	assert_int_equal(nft_genid(s, &gen2), 0);
	assert_int_not_equal(gen1, gen2);

	/* Nothing to change: no batch at all. */
	nft_sock_stats(s, &before);
	assert_int_equal(nft_update_elements(s, two, two, &err), 0);
	nft_sock_stats(s, &after);
	assert_int_equal(after.batches, before.batches);

	/* The last peer goes: its set empties, the rule stays. */
	assert_int_equal(nft_update_elements(s, two, none, &err), 0);
	/* A different shape (an endpoint no policy selects: no rules, no sets): the caller must
	 * replace the table. */
	{
		const struct test_endpoint eps[] = { { "web1", "shop", "app=web", "10.0.0.11",
						       NULL } };
		struct policy_plan *open = test_plan(nft_test_policy, eps, 1, 0);

		assert_false(policy_plan_same_shape(none, open));
		assert_int_equal(nft_update_elements(s, none, open, &err), -ESTALE);
		assert_int_equal(nft_replace_table(s, open, &owned, &err), 0);
		policy_plan_free(open);
	}
	assert_int_equal(nft_delete_table(s), 0);
	assert_int_equal(nft_table_exists(s), 0);
	nft_sock_free(s);
	policy_plan_free(one);
	policy_plan_free(two);
	policy_plan_free(none);
	close(ns);
}

static void test_owned_table_refuses_others(void **state)
{
	struct policy_plan *one = nft_test_plan(1);
	struct nft_sock *s = NULL, *other = NULL;
	struct nft_error err = { 0 };
	int ns = -1;

	assert_int_equal(fixture_netns("owned", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &other), 0);
	assert_int_equal(nft_replace_table(s, one, &owned, &err), 0);
	assert_int_equal(nft_replace_table(other, one, &owned, &err), -EPERM);
	assert_int_equal(nft_delete_table(other), -EPERM);
	/* The owner goes: PERSIST keeps the table, and another socket adopts it. */
	s = nft_sock_free(s);
	assert_int_equal(nft_table_exists(other), 1);
	assert_int_equal(nft_replace_table(other, one, &owned, &err), 0);
	{
		uint32_t owner = 0;

		assert_int_equal(nft_table_get(other, NULL, &owner), 1);
		assert_int_equal(owner, nft_sock_portid(other));
	}
	nft_sock_free(other);
	policy_plan_free(one);
	close(ns);
}

static void test_flags_change_on_existing_table(void **state)
{
	struct policy_plan *one = nft_test_plan(1);
	struct policy_emit_options plain = { 0 };
	struct nft_error err = { 0 };
	struct nft_sock *s = NULL;
	uint32_t flags = 0;
	int ns = -1;

	assert_int_equal(fixture_netns("flags", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	/* Unowned first (--no-table-owner), then owned: the table is recreated with them. */
	assert_int_equal(nft_replace_table(s, one, &plain, &err), 0);
	assert_int_equal(nft_table_get(s, &flags, NULL), 1);
	assert_int_equal(flags, 0);
	assert_int_equal(nft_replace_table(s, one, &owned, &err), 0);
	assert_int_equal(nft_table_get(s, &flags, NULL), 1);
	assert_int_equal(flags, owned.table_flags);
	assert_int_equal(nft_replace_table(s, one, &plain, &err), 0);
	assert_int_equal(nft_table_get(s, &flags, NULL), 1);
	assert_int_equal(flags, 0);
	nft_sock_free(s);
	policy_plan_free(one);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_flags),
		cmocka_unit_test(test_replace_update_delete),
		cmocka_unit_test(test_owned_table_refuses_others),
		cmocka_unit_test(test_flags_change_on_existing_table),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
