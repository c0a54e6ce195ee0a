/* SPDX-License-Identifier: MIT */
/*
 * nf_tables change events of one namespace: a committed transaction is announced with the
 * committing process, and whether it touched table inet segd. Real nf_tables in a private
 * kernel (fixture.h), no root.
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

#include "fixture.h"
#include "nft.h"
#include "nftplans.h"

struct seen {
	struct nft_gen_event last;
	int n;
};

static int on_gen(const struct nft_gen_event *g, void *data)
{
	struct seen *s = data;

	s->last = *g;
	s->n++;
	return 0;
}

static struct seen read_events(struct nft_events *ev, struct nft_rx *rx)
{
	struct pollfd p = { .fd = ev->fd, .events = POLLIN };
	struct seen s = { 0 };

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(nft_events_read(ev, rx, on_gen, &s), 0);
	return s;
}

static void test_who_touched_what(void **state)
{
	struct policy_plan *plan = nft_test_plan(1);
	struct policy_emit_options opts = { 0 };
	struct nft_events ev = { .fd = -1 };
	struct nft_sock *s = NULL;
	struct nft_rx *rx = NULL;
	struct seen seen;
	int ns = -1;

	assert_int_equal(nft_rx_new(&rx), 0);
	assert_int_equal(fixture_netns("events", &ns), 0);
	assert_int_equal(nft_events_open(ns, &ev.fd), 0);
	assert_int_equal(nft_sock_open(rx, ns, &s), 0);

	/* Ours: touched, our pid. */
	assert_int_equal(nft_replace_table(s, plan, &opts, NULL), 0);
	seen = read_events(&ev, rx);
	assert_int_equal(seen.n, 1);
	assert_true(seen.last.touched);
	assert_int_equal(seen.last.pid, getpid());

	/* Another process, another table: not touched. */
	assert_int_equal(fixture_run_in(ns, (const char *const[]){ "nft", "add", "table", "inet",
								   "other", NULL }),
			 0);
	seen = read_events(&ev, rx);
	assert_int_equal(seen.n, 1);
	assert_false(seen.last.touched);
	assert_int_not_equal(seen.last.pid, getpid());

	/* Another process, our table: touched, and its command named. */
	assert_int_equal(fixture_run_in(ns,
					(const char *const[]){ "nft", "add", "rule", "inet", "segd",
							       "input", "accept", NULL }),
			 0);
	seen = read_events(&ev, rx);
	assert_int_equal(seen.n, 1);
	assert_true(seen.last.touched);
	assert_string_equal(seen.last.comm, "nft");
	assert_int_not_equal(seen.last.genid, 0);

	/* Nothing more. */
	seen = (struct seen){ 0 };
	assert_int_equal(nft_events_read(&ev, rx, on_gen, &seen), 0);
	assert_int_equal(seen.n, 0);
	close(ev.fd);
	nft_sock_free(s);
	nft_rx_free(rx);
	policy_plan_free(plan);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_who_touched_what),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
