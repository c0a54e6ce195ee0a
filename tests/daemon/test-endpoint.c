/* SPDX-License-Identifier: MIT */
/*
 * An endpoint's sockets in its namespace: attached, its addresses read, address changes
 * reported to the environment's callback from the loop, closed (the table stays), and freed
 * only after the loop round that may still hold its events. Private kernel, no root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint.h"
#include "fixture.h"
#include "time-util.h"

static int changed;

static void on_addresses(struct endpoint *e, void *userdata)
{
	changed++;
}

static void test_attach_watch_release(void **state)
{
	struct loop *l = NULL;
	struct endpoint_env env = { .addresses_changed = on_addresses,
				    .flow_logs = true,
				    .nft_events = true };
	struct endpoint *e = NULL;
	int ns = -1, peer = -1, pin = -1;
	int64_t deadline;

	assert_int_equal(loop_new(&l), 0);
	env.loop = l;
	assert_int_equal(fixture_netns("ep", &ns), 0);
	assert_int_equal(fixture_netns("ep-peer", &peer), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "ep", "ep", "shop", &e), 0);
	assert_false(endpoint_live(e));
	assert_int_equal(e->state, ENDPOINT_PENDING);
	pin = dup(ns);
	assert_int_equal(endpoint_attach(e, pin), 0);
	assert_true(endpoint_live(e));
	assert_true(e->mon_fd >= 0);
	assert_true(e->ev.fd >= 0);
	assert_true(e->log_fd >= 0);
	assert_int_equal(e->pe.n_addrs, 0);

	/* An address appears: the monitor fires, the callback runs from the loop, and reading
	 * gives the new address (1: changed), then nothing more (0). */
	/* (On loopback: a veth would bring a link-local address too, at a time of its own.) */
	assert_int_equal(fixture_run_in(ns,
					(const char *const[]){ "ip", "addr", "add", "10.5.0.2/32",
							       "dev", "lo", NULL }),
			 0);
	deadline = now_msec() + 5000;
	while (changed == 0 && now_msec() < deadline)
		assert_int_equal(loop_iterate(l, 50), 0);
	assert_true(changed > 0);
	assert_true(e->addrs_dirty);
	assert_int_equal(endpoint_read_addresses(e), 1);
	assert_int_equal(e->pe.n_addrs, 1);
	assert_int_equal(endpoint_read_addresses(e), 0);

	endpoint_set_error(e, ENDPOINT_ERROR, "broken %d", 42);
	assert_string_equal(e->error, "broken 42");
	assert_string_equal(endpoint_state_to_string(e->state), "error");
	endpoint_clear_error(e, ENDPOINT_ENFORCED);
	assert_null(e->error);
	assert_string_equal(endpoint_state_to_string(_ENDPOINT_STATE_MAX), "unknown");

	/* Released: its sockets close at once, its memory goes after the round (ASan would
	 * catch a use after free in the flush). */
	endpoint_release(e);
	loop_flush(l);
	close(ns);
	close(peer);
	loop_free(l);
}

static void test_attach_failure_leaves_nothing_open(void **state)
{
	struct endpoint_env env = { 0 };
	struct endpoint *e = NULL;
	int fd;

	assert_int_equal(loop_new(&env.loop), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "bad", "bad", "shop", &e), 0);
	/* Not a namespace: a pipe end. */
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		close(p[1]);
		fd = p[0];
	}
	assert_true(endpoint_attach(e, fd) < 0);
	assert_false(endpoint_live(e));
	assert_int_equal(e->nsfd, -1);
	assert_int_equal(e->mon_fd, -1);
	/* fd was taken and closed */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	endpoint_free(e);
	loop_free(env.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_watch_release),
		cmocka_unit_test(test_attach_failure_leaves_nothing_open),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
