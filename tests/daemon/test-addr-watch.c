/* SPDX-License-Identifier: MIT */
/*
 * One socket for the address changes of every namespace (NETLINK_LISTEN_ALL_NSID): a change in
 * one namespace reports its key and no other, removals too; namespaces not followed (never
 * added, or removed) and our own are ignored; when the kernel drops events every key is
 * reported. Rootless private kernel (fixture.h); the ordering of one socket's datagrams is
 * what tells "everything before this has been read".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr-watch.h"
#include "fixture.h"
#include "time-util.h"

#define KEYS 3
static int keys[KEYS]; /* the keys are &keys[i] */
static unsigned reported[KEYS];

static void on_changed(void *key, void *userdata)
{
	int *k = key;

	assert_true(k >= keys && k < keys + KEYS);
	reported[k - keys]++;
}

static void reset(void)
{
	memset(reported, 0, sizeof(reported));
}

static int ip(int nsfd, const char *verb, const char *addr, const char *dev)
{
	return fixture_run_in(nsfd,
			      (const char *const[]){ "ip", "addr", verb, addr, "dev", dev, NULL });
}

/* Reads from w until key i has been reported (or 5 s), then whatever else is queued (the
 * change was made by a command that has exited: all its events are queued). */
static void wait_for(struct loop *l, struct addr_watch *w, int i)
{
	int64_t deadline = now_msec() + 5000;

	while (reported[i] == 0 && now_msec() < deadline)
		assert_int_equal(loop_iterate(l, 50), 0);
	assert_true(reported[i] > 0);
	assert_int_equal(addr_watch_dispatch(w), 0);
}

static void test_reports_the_right_namespace(void **state)
{
	struct loop *l = NULL;
	struct addr_watch *w = NULL;
	int a = -1, b = -1, c = -1;
	int32_t na = -1, nb = -1, nc = -1;

	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(addr_watch_new(l, on_changed, NULL, &w), 0);
	assert_int_equal(fixture_netns("aw-a", &a), 0);
	assert_int_equal(fixture_netns("aw-b", &b), 0);
	assert_int_equal(fixture_netns("aw-c", &c), 0);
	assert_int_equal(addr_watch_add(w, a, &keys[0], &na), 0);
	assert_int_equal(addr_watch_add(w, b, &keys[1], &nb), 0);
	assert_int_equal(addr_watch_add(w, c, &keys[2], &nc), 0);
	assert_true(na >= 0 && nb >= 0 && nc >= 0);
	assert_true(na != nb && nb != nc && na != nc);
	assert_int_equal(addr_watch_size(w), 3);
	/* One namespace, one entry. */
	{
		int32_t again = -1;

		assert_int_equal(addr_watch_add(w, a, &keys[1], &again), -EEXIST);
	}

	/* Added in a: a, not b (nor c). */
	reset();
	assert_int_equal(ip(a, "add", "10.30.0.1/32", "lo"), 0);
	wait_for(l, w, 0);
	assert_int_equal(reported[1], 0);
	assert_int_equal(reported[2], 0);

	/* Added in b: b only. */
	reset();
	assert_int_equal(ip(b, "add", "10.30.0.2/32", "lo"), 0);
	wait_for(l, w, 1);
	assert_int_equal(reported[0], 0);
	assert_int_equal(reported[2], 0);

	/* Removed in a: a only. */
	reset();
	assert_int_equal(ip(a, "del", "10.30.0.1/32", "lo"), 0);
	wait_for(l, w, 0);
	assert_int_equal(reported[1], 0);
	assert_int_equal(reported[2], 0);

	/* c no longer followed: its change (which keeps its id) is ignored; b's, queued after
	 * it, proves it has been read. Our own namespace's changes carry no id: ignored. */
	addr_watch_remove(w, nc);
	addr_watch_remove(w, nc); /* unknown: nothing */
	assert_int_equal(addr_watch_size(w), 2);
	reset();
	assert_int_equal(ip(c, "add", "10.30.0.3/32", "lo"), 0);
	assert_int_equal(ip(-1, "add", "10.30.0.4/32", "lo"), 0);
	assert_int_equal(ip(b, "del", "10.30.0.2/32", "lo"), 0);
	wait_for(l, w, 1);
	assert_int_equal(reported[0], 0);
	assert_int_equal(reported[2], 0);
	assert_int_equal(addr_watch_overruns(w), 0);

	/* Followed again: the same id (the namespace kept it). */
	{
		int32_t again = -1;

		assert_int_equal(addr_watch_add(w, c, &keys[2], &again), 0);
		assert_int_equal(again, nc);
	}
	reset();
	assert_int_equal(ip(c, "del", "10.30.0.3/32", "lo"), 0);
	wait_for(l, w, 2);
	assert_int_equal(reported[0], 0);
	assert_int_equal(reported[1], 0);

	addr_watch_free(w);
	loop_free(l);
	close(a);
	close(b);
	close(c);
	fixture_netns_delete("aw-a");
	fixture_netns_delete("aw-b");
	fixture_netns_delete("aw-c");
}

/* The kernel drops what does not fit the receive buffer: b's change, queued last after a
 * burst in a, is lost, and b is reported all the same. */
static void test_overrun_reports_everyone(void **state)
{
	struct addr_watch *w = NULL;
	int a = -1, b = -1, size = 1; /* the kernel's minimum */
	int32_t na = -1, nb = -1;
	char batch[256];
	FILE *f;

	/* No loop: nothing reads until addr_watch_dispatch(). */
	assert_int_equal(addr_watch_new(NULL, on_changed, NULL, &w), 0);
	assert_int_equal(setsockopt(addr_watch_fd(w), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)),
			 0);
	assert_int_equal(fixture_netns("aw-burst-a", &a), 0);
	assert_int_equal(fixture_netns("aw-burst-b", &b), 0);
	assert_int_equal(addr_watch_add(w, a, &keys[0], &na), 0);
	assert_int_equal(addr_watch_add(w, b, &keys[1], &nb), 0);

	snprintf(batch, sizeof(batch), "%s/burst", fixture_tmpdir());
	f = fopen(batch, "w");
	assert_non_null(f);
	for (int i = 0; i < 64; i++)
		fprintf(f, "addr add 10.31.%d.1/32 dev lo\n", i);
	fclose(f);
	assert_int_equal(fixture_run_in(a, (const char *const[]){ "ip", "-batch", batch, NULL }),
			 0);
	assert_int_equal(ip(b, "add", "10.31.200.1/32", "lo"), 0);

	reset();
	assert_int_equal(addr_watch_dispatch(w), 0);
	assert_true(addr_watch_overruns(w) > 0);
	assert_true(reported[0] > 0);
	assert_true(reported[1] > 0);

	addr_watch_free(w);
	close(a);
	close(b);
}

static void test_remove_keeps_the_others(void **state)
{
	struct addr_watch *w = NULL;
	int fds[40];
	int32_t ids[40];

	/* Enough entries to grow the table and make probes collide; removal in any order keeps
	 * every other entry reachable (a second add of each is -EEXIST: still found). */
	assert_int_equal(addr_watch_new(NULL, on_changed, NULL, &w), 0);
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof(name), "aw-many-%d", i);
		assert_int_equal(fixture_netns(name, &fds[i]), 0);
		assert_int_equal(addr_watch_add(w, fds[i], &keys[i % KEYS], &ids[i]), 0);
	}
	assert_int_equal(addr_watch_size(w), 40);
	for (int i = 0; i < 40; i += 3)
		addr_watch_remove(w, ids[i]);
	for (int i = 0; i < 40; i++) {
		int32_t again;
		int r = addr_watch_add(w, fds[i], &keys[0], &again);

		if (i % 3 == 0) {
			assert_int_equal(r, 0);
			assert_int_equal(again, ids[i]);
		} else
			assert_int_equal(r, -EEXIST);
	}
	assert_int_equal(addr_watch_size(w), 40);
	addr_watch_free(w);
	for (int i = 0; i < 40; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reports_the_right_namespace),
		cmocka_unit_test(test_overrun_reports_everyone),
		cmocka_unit_test(test_remove_keeps_the_others),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
