/* SPDX-License-Identifier: MIT */
/*
 * Drift detection alone: our own commits are not drift, another process's change to table
 * inet segd is (with its pid and command), a change to another table is not, and lost events
 * fall back to comparing the table with the plan. Private kernel, no root.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drift.h"
#include "fixture.h"
#include "nft.h"
#include "nftplans.h"

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 5000), 1);
}

static void test_foreign_changes_only(void **state)
{
	const struct policy_emit_options emit = { 0 }; /* unowned, so others can write */
	struct endpoint_env env = { .nft_events = true };
	struct drift d = { .emit = &emit };
	struct endpoint *e = NULL;
	char why[160];
	int ns = -1;

	assert_int_equal(loop_new(&env.loop), 0);
	assert_int_equal(nft_rx_new(&env.nft), 0);
	d.ctx = env.nft;
	assert_int_equal(fixture_netns("drift", &ns), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "drift", "drift", "shop", &e), 0);
	assert_int_equal(endpoint_attach(e, dup(ns)), 0);
	e->installed = nft_test_plan(1);
	assert_int_equal(nft_replace_table(e->nft, e->installed, &emit, NULL), 0);

	/* Our own commit. */
	wait_readable(e->ev.fd);
	assert_int_equal(drift_check(&d, e, why, sizeof(why)), 0);
	assert_int_equal(d.detected, 0);

	/* Someone else's table. */
	assert_int_equal(fixture_run_in(ns, (const char *const[]){ "nft", "add", "table", "ip",
								   "mine", NULL }),
			 0);
	wait_readable(e->ev.fd);
	assert_int_equal(drift_check(&d, e, why, sizeof(why)), 0);

	/* Ours, changed by someone else. */
	assert_int_equal(fixture_run_in(ns, (const char *const[]){ "nft", "flush", "chain", "inet",
								   "segd", "input", NULL }),
			 0);
	wait_readable(e->ev.fd);
	assert_int_equal(drift_check(&d, e, why, sizeof(why)), 1);
	assert_int_equal(d.detected, 1);
	assert_non_null(strstr(why, "(nft)"));
	assert_non_null(strstr(why, "changed by pid"));

	/* Nothing pending: nothing found. */
	assert_int_equal(drift_check(&d, e, why, sizeof(why)), 0);
	endpoint_free(e);
	nft_rx_free(env.nft);
	loop_free(env.loop);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_changes_only),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
