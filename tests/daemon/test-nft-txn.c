/* SPDX-License-Identifier: MIT */
/*
 * One nf_tables transaction: all or nothing, the kernel's error mapped back to the message
 * that caused it, large sets split over several messages, committed at most once. Real
 * nf_tables in a private kernel (fixture.h), no root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/netfilter.h>

#include <libnftnl/rule.h>
#include <libnftnl/expr.h>

#include "fixture.h"
#include "nft.h"
#include "macro.h"
#include "nftplans.h"

static int emit_to_txn(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		       void *userdata)
{
	return nft_txn_add(userdata, kind, obj, NULL);
}

static void test_error_names_the_failing_message(void **state)
{
	struct policy_plan *plan = nft_test_plan(1);
	struct policy_emit_options opts = { 0 };
	struct nft_sock *s = NULL;
	struct nft_txn *t = NULL;
	struct nft_error err = { 0 };
	struct nftnl_rule *bad;
	uint32_t seq;
	int ns = -1;

	assert_int_equal(fixture_netns("txn", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_txn_new(s, &t), 0);
	assert_int_equal(nft_txn_add_table_ensure(t, 0), 0);
	assert_int_equal(policy_emit(plan, &opts, emit_to_txn, t), 0);
	/* A rule in a chain that does not exist: the whole batch must fail on it. */
	bad = nftnl_rule_alloc();
	nftnl_rule_set_u32(bad, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(bad, NFTNL_RULE_TABLE, POLICY_NFT_TABLE);
	nftnl_rule_set_str(bad, NFTNL_RULE_CHAIN, "no-such-chain");
	assert_int_equal(nft_txn_add(t, POLICY_EMIT_RULE, bad, "the bad rule"), 0);
	seq = nft_txn_last_seq(t);
	assert_int_equal(nft_txn_commit(t, &err), -ENOENT);
	assert_int_equal(err.error, -ENOENT);
	assert_int_equal(err.seq, seq);
	assert_string_equal(err.object, "the bad rule");
	assert_int_equal(nft_txn_commit(t, &err), -EALREADY);
	t = nft_txn_free(t);
	/* All or nothing: not even the table was created. */
	assert_int_equal(nft_table_exists(s), 0);
	nft_sock_free(s);
	policy_plan_free(plan);
	close(ns);
}

static void test_empty_and_large_sets(void **state)
{
	const size_t n = 3 * NFT_TXN_MAX_ELEMS + 7;
	struct policy_plan *plan = nft_test_plan(1);
	struct policy_set big = { .name = (char *)"big", .family = AF_INET };
	const struct policy_set_elem **ptrs = calloc(n, sizeof(*ptrs));
	struct nft_error err = { 0 };
	struct nft_sock *s = NULL;
	struct nft_txn *t = NULL;
	struct nft_dump *d = NULL;
	int ns = -1;

	assert_non_null(ptrs);
	assert_int_equal(fixture_netns("large", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	/* Nothing added: nothing sent. */
	assert_int_equal(nft_txn_new(s, &t), 0);
	assert_int_equal(nft_txn_messages(t), 0);
	assert_int_equal(nft_txn_commit(t, &err), 0);
	t = nft_txn_free(t);

	/* The plan's set i0_p4 gets n more elements in one transaction: several messages. */
	{
		struct policy_emit_options opts = { 0 };

		assert_int_equal(nft_replace_table(s, plan, &opts, &err), 0);
	}
	big.elems = calloc(n, sizeof(*big.elems));
	assert_non_null(big.elems);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = htonl(0x0a100000u + (uint32_t)i);

		memcpy(big.elems[i].start, &a, 4);
		memcpy(big.elems[i].end, &a, 4);
		ptrs[i] = &big.elems[i];
	}
	for (size_t i = 0; i < plan->n_sets; i++)
		if (plan->sets[i].family == AF_INET)
			big.name = plan->sets[i].name;
	assert_int_equal(nft_txn_new(s, &t), 0);
	assert_int_equal(nft_txn_add_elems(t, &big, ptrs, n, false), 0);
	assert_int_equal(nft_txn_messages(t), (n + NFT_TXN_MAX_ELEMS - 1) / NFT_TXN_MAX_ELEMS);
	assert_int_equal(nft_txn_commit(t, &err), 0);
	t = nft_txn_free(t);
	assert_int_equal(nft_dump(s, &d), 0);
	for (size_t i = 0; i < d->n_sets; i++)
		if (!d->sets[i].anonymous && streq(d->sets[i].name, big.name))
			assert_int_equal(d->sets[i].n_elements, n + 1);
	d = nft_dump_free(d);
	/* And out again. */
	assert_int_equal(nft_txn_new(s, &t), 0);
	assert_int_equal(nft_txn_add_elems(t, &big, ptrs, n, true), 0);
	assert_int_equal(nft_txn_commit(t, &err), 0);
	t = nft_txn_free(t);
	assert_int_equal(nft_dump(s, &d), 0);
	for (size_t i = 0; i < d->n_sets; i++)
		if (!d->sets[i].anonymous && streq(d->sets[i].name, big.name))
			assert_int_equal(d->sets[i].n_elements, 1);
	nft_dump_free(d);
	free(big.elems);
	free(ptrs);
	nft_sock_free(s);
	policy_plan_free(plan);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names_the_failing_message),
		cmocka_unit_test(test_empty_and_large_sets),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
