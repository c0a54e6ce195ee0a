/* SPDX-License-Identifier: MIT */
/*
 * The kernel's table compared with the plan: in sync right after a commit, out of sync when
 * someone else changed it (a rule, a set element) or when the plan is another one. Real
 * nf_tables in a private kernel (fixture.h), no root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "nft.h"
#include "nftplans.h"

static bool in_sync(struct nft_sock *s, const struct policy_plan *plan,
		    const struct policy_emit_options *opts)
{
	json_t *o = NULL;
	bool ok = false;

	assert_int_equal(nft_rules_json(s, plan, opts, &o, &ok), 0);
	assert_non_null(json_object_get(o, "chains"));
	json_decref(o);
	return ok;
}

static void test_in_sync_until_someone_changes_it(void **state)
{
	struct policy_plan *one = nft_test_plan(1), *two = nft_test_plan(2);
	/* Unowned, so that `nft` may change it: what --no-table-owner allows. */
	struct policy_emit_options opts = { .flow_log = POLICY_FLOW_LOG_DENIED, .log_group = 5379 };
	struct nft_sock *s = NULL;
	json_t *o = NULL;
	bool ok = true;
	int ns = -1;

	assert_int_equal(fixture_netns("verify", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_rules_json(s, one, &opts, &o, &ok), -ENOENT);
	assert_int_equal(nft_replace_table(s, one, &opts, NULL), 0);
	assert_true(in_sync(s, one, &opts));
	assert_false(in_sync(s, two, &opts));  /* another plan: another set */
	assert_false(in_sync(s, NULL, &opts)); /* nothing committed, as far as segd knows */
	/* Flow logging is part of the rules: a plan emitted without it differs. */
	{
		struct policy_emit_options quiet = { 0 };

		assert_false(in_sync(s, one, &quiet));
	}

	/* A foreign rule, then a foreign set element. */
	assert_int_equal(fixture_run_in(ns,
					(const char *const[]){ "nft", "add", "rule", "inet", "segd",
							       "input", "accept", NULL }),
			 0);
	assert_false(in_sync(s, one, &opts));
	assert_int_equal(nft_replace_table(s, one, &opts, NULL), 0);
	assert_true(in_sync(s, one, &opts));
	{
		char elem[64];

		for (size_t i = 0; i < one->n_sets; i++)
			if (one->sets[i].family == AF_INET)
				snprintf(elem, sizeof(elem), "%s", one->sets[i].name);
		assert_int_equal(fixture_run_in(ns, (const char *const[]){ "nft", "add", "element",
									   "inet", "segd", elem,
									   "{ 10.9.9.9 }", NULL }),
				 0);
	}
	assert_false(in_sync(s, one, &opts));
	nft_sock_free(s);
	policy_plan_free(one);
	policy_plan_free(two);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_sync_until_someone_changes_it),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
