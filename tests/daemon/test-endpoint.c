/* SPDX-License-Identifier: MIT */
/*
 * An endpoint's sockets in its namespace: attached, its addresses read, address changes
 * reported to the environment's callback from the loop, closed (the table stays), and freed
 * only after the loop round that may still hold its events. Private kernel, no root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint.h"
#include "fixture.h"
#include "netns.h"
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
	int ns = -1, peer = -1, pin = -1, back = -1;
	dev_t dev;
	ino_t ino;
	int64_t deadline;

	assert_int_equal(loop_new(&l), 0);
	env.loop = l;
	assert_int_equal(addr_watch_new(l, endpoint_addr_event, NULL, &env.addr_watch), 0);
	assert_int_equal(fixture_netns("ep", &ns), 0);
	assert_int_equal(fixture_netns("ep-peer", &peer), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "ep", "ep", "shop", &e), 0);
	assert_false(endpoint_live(e));
	assert_int_equal(e->state, ENDPOINT_PENDING);
	pin = dup(ns);
	assert_int_equal(endpoint_attach(e, pin), 0);
	assert_true(endpoint_live(e));
	assert_true(e->nsid >= 0);
	assert_int_equal(addr_watch_size(env.addr_watch), 1);
	/* No pin of its own: the namespace comes back from its nf_tables socket. */
	assert_int_equal(fcntl(pin, F_GETFD), -1);
	assert_int_equal(endpoint_netns(e, &back), 0);
	assert_int_equal(netns_ident(back, &dev, &ino), 0);
	assert_true(dev == e->ns_dev && ino == e->ns_ino);
	close(back);
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
	assert_int_equal(addr_watch_size(env.addr_watch), 0);
	loop_flush(l);
	close(ns);
	close(peer);
	addr_watch_free(env.addr_watch);
	loop_free(l);
}

static void test_attach_failure_leaves_nothing_open(void **state)
{
	struct endpoint_env env = { 0 };
	struct endpoint *e = NULL;
	int fd, p0;

	assert_int_equal(loop_new(&env.loop), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "bad", "bad", "shop", &e), 0);
	/* Not a namespace: a pipe end. */
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		close(p[1]);
		fd = p0 = p[0];
	}
	assert_true(endpoint_attach(e, fd) < 0);
	assert_false(endpoint_live(e));
	assert_int_equal(e->nsid, -1);
	assert_int_equal(endpoint_netns(e, &fd), -ENOTCONN);
	/* fd was taken and closed */
	assert_int_equal(fcntl(p0, F_GETFD), -1);
	endpoint_free(e);
	loop_free(env.loop);
}

/* Open descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

#define K 12

/* K endpoints: K descriptors with flow logs off (the nf_tables socket, which also keeps the
 * namespace), 2K with them on (NFLOG cannot be shared across namespaces); addresses come from
 * the watch's one socket. All of them go with the endpoints. */
static void attach_k(bool flow_logs, int per_endpoint)
{
	struct endpoint_env env = { .flow_logs = flow_logs };
	struct endpoint *e[K];
	int ns[K], before;

	assert_int_equal(loop_new(&env.loop), 0);
	assert_int_equal(addr_watch_new(env.loop, endpoint_addr_event, NULL, &env.addr_watch), 0);
	for (int i = 0; i < K; i++) {
		char name[32];

		snprintf(name, sizeof(name), "fds-%d-%d", flow_logs, i);
		assert_int_equal(fixture_netns(name, &ns[i]), 0);
		assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, name, name, "shop", &e[i]),
				 0);
	}
	before = count_fds();
	for (int i = 0; i < K; i++)
		assert_int_equal(endpoint_attach(e[i], dup(ns[i])), 0);
	assert_int_equal(count_fds() - before, per_endpoint * K);
	for (int i = 0; i < K; i++) {
		assert_true(flow_logs == (e[i]->log_fd >= 0));
		endpoint_release(e[i]);
	}
	loop_flush(env.loop);
	assert_int_equal(count_fds(), before);
	for (int i = 0; i < K; i++)
		close(ns[i]);
	addr_watch_free(env.addr_watch);
	loop_free(env.loop);
}

static void test_descriptors_per_endpoint(void **state)
{
	attach_k(false, 1);
	attach_k(true, 2);
}

static void wait_dirty(struct loop *l, struct endpoint *e)
{
	int64_t deadline = now_msec() + 5000;

	while (!e->addrs_dirty && now_msec() < deadline)
		assert_int_equal(loop_iterate(l, 50), 0);
	assert_true(e->addrs_dirty);
}

/* Two endpoints on one watch: a change in a marks a, not b; when the shared socket overruns
 * (a burst in a, then one change in b the kernel drops), both are marked and both read what
 * their namespaces hold. */
static void test_shared_watch(void **state)
{
	struct endpoint_env env = { .addresses_changed = on_addresses };
	struct endpoint *a = NULL, *b = NULL;
	int na = -1, nb = -1, size = 1;
	char batch[256];
	FILE *f;

	assert_int_equal(loop_new(&env.loop), 0);
	assert_int_equal(addr_watch_new(env.loop, endpoint_addr_event, NULL, &env.addr_watch), 0);
	assert_int_equal(fixture_netns("sw-a", &na), 0);
	assert_int_equal(fixture_netns("sw-b", &nb), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "a", "sw-a", "shop", &a), 0);
	assert_int_equal(endpoint_new(&env, ENDPOINT_KIND_NETNS, "b", "sw-b", "shop", &b), 0);
	assert_int_equal(endpoint_attach(a, dup(na)), 0);
	assert_int_equal(endpoint_attach(b, dup(nb)), 0);

	assert_int_equal(fixture_run_in(na,
					(const char *const[]){ "ip", "addr", "add", "10.40.0.1/32",
							       "dev", "lo", NULL }),
			 0);
	wait_dirty(env.loop, a);
	assert_int_equal(addr_watch_dispatch(env.addr_watch), 0); /* the rest of a's */
	assert_false(b->addrs_dirty);
	assert_int_equal(endpoint_read_addresses(a), 1);
	assert_int_equal(a->pe.n_addrs, 1);
	a->addrs_dirty = false;

	/* Removed: a again. */
	assert_int_equal(fixture_run_in(na,
					(const char *const[]){ "ip", "addr", "del", "10.40.0.1/32",
							       "dev", "lo", NULL }),
			 0);
	wait_dirty(env.loop, a);
	assert_int_equal(addr_watch_dispatch(env.addr_watch), 0);
	assert_false(b->addrs_dirty);
	assert_int_equal(endpoint_read_addresses(a), 1);
	assert_int_equal(a->pe.n_addrs, 0);
	a->addrs_dirty = false;

	/* The overrun: 40 added and 10 removed in a, then one added in b, nothing read in
	 * between through a receive buffer of the kernel's minimum. */
	assert_int_equal(setsockopt(addr_watch_fd(env.addr_watch), SOL_SOCKET, SO_RCVBUF, &size,
				    sizeof(size)),
			 0);
	snprintf(batch, sizeof(batch), "%s/sw-burst", fixture_tmpdir());
	f = fopen(batch, "w");
	assert_non_null(f);
	for (int i = 0; i < 40; i++)
		fprintf(f, "addr add 10.41.%d.1/32 dev lo\n", i);
	for (int i = 0; i < 10; i++)
		fprintf(f, "addr del 10.41.%d.1/32 dev lo\n", i);
	fclose(f);
	assert_int_equal(fixture_run_in(na, (const char *const[]){ "ip", "-batch", batch, NULL }),
			 0);
	assert_int_equal(fixture_run_in(nb,
					(const char *const[]){ "ip", "addr", "add", "10.42.0.1/32",
							       "dev", "lo", NULL }),
			 0);
	wait_dirty(env.loop, b);
	wait_dirty(env.loop, a);
	assert_true(addr_watch_overruns(env.addr_watch) > 0);
	assert_int_equal(endpoint_read_addresses(a), 1);
	assert_int_equal(a->pe.n_addrs, 30);
	assert_int_equal(endpoint_read_addresses(b), 1);
	assert_int_equal(b->pe.n_addrs, 1);

	endpoint_release(a);
	endpoint_release(b);
	loop_flush(env.loop);
	close(na);
	close(nb);
	addr_watch_free(env.addr_watch);
	loop_free(env.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_watch_release),
		cmocka_unit_test(test_attach_failure_leaves_nothing_open),
		cmocka_unit_test(test_descriptors_per_endpoint),
		cmocka_unit_test(test_shared_watch),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
