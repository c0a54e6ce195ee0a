/* SPDX-License-Identifier: MIT */
/*
 * The table of named fds the holder and the client keep: one fd per name, replaced and removed
 * fds closed, taken fds handed out, and the hash index right after thousands of inserts and
 * removals (against a plain array).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdtable.h"

static void fdtest_pipe(int *ret_read, int *ret_write)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	*ret_read = p[0];
	*ret_write = p[1];
}

/* True once every copy of the pipe's read end is closed. */
static bool fdtest_pipe_orphaned(int write_end)
{
	struct pollfd p = { .fd = write_end, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

static void test_set_take_remove(void **state)
{
	struct fdtable *t = NULL;
	int r1, w1, r2, w2, fd = -1;
	size_t len = 0;
	char long_name[300];

	assert_int_equal(fdtable_new(&t), 0);
	fdtest_pipe(&r1, &w1);
	fdtest_pipe(&r2, &w2);
	assert_int_equal(fdtable_find(t, "a", 1), -ENOENT);
	assert_int_equal(fdtable_set(t, "a", 1, r1), 1);
	assert_int_equal(fdtable_find(t, "a", 1), 0);
	assert_int_equal(fdtable_size(t), 1);
	assert_string_equal(fdtable_name(t, 0, &len), "a");
	assert_int_equal(len, 1);
	assert_int_equal(fdtable_fd(t, 0), r1);
	/* Replacing closes what was there (and the same fd again is no replacement). */
	assert_int_equal(fdtable_set(t, "a", 1, r2), 0);
	assert_true(fdtest_pipe_orphaned(w1));
	assert_int_equal(fdtable_set(t, "a", 1, r2), 0);
	assert_false(fdtest_pipe_orphaned(w2));
	/* Taking hands the fd out; the name stays, without one. */
	assert_int_equal(fdtable_take(t, "a", 1, &fd), 0);
	assert_int_equal(fd, r2);
	assert_int_equal(fdtable_take(t, "a", 1, &fd), -ENOENT);
	assert_int_equal(fdtable_find(t, "a", 1), 0);
	assert_int_equal(fdtable_fd(t, 0), -1);
	assert_int_equal(fdtable_remove(t, "a", 1), 0);
	assert_false(fdtest_pipe_orphaned(w2)); /* it was ours, not the table's */
	assert_int_equal(fdtable_remove(t, "a", 1), -ENOENT);
	close(r2);
	assert_true(fdtest_pipe_orphaned(w2));

	/* Names: 1 to 255 bytes; lengths, not NUL, delimit them. */
	memset(long_name, 'x', sizeof(long_name));
	assert_int_equal(fdtable_set(t, long_name, 256, -1), -EINVAL);
	assert_int_equal(fdtable_set(t, long_name, 0, -1), -EINVAL);
	assert_int_equal(fdtable_set(t, long_name, 255, -1), 1);
	assert_int_equal(fdtable_set(t, "abc", 2, -1), 1);
	assert_int_equal(fdtable_find(t, "ab", 2), 1);
	assert_int_equal(fdtable_find(t, "abc", 3), -ENOENT);

	/* Freeing closes every fd. */
	fdtest_pipe(&r1, &w1);
	assert_int_equal(fdtable_set(t, "b", 1, r1), 1);
	fdtable_clear(t);
	assert_int_equal(fdtable_size(t), 0);
	assert_true(fdtest_pipe_orphaned(w1));
	fdtest_pipe(&r1, &w1);
	assert_int_equal(fdtable_set(t, "b", 1, r1), 1);
	fdtable_free(t);
	assert_true(fdtest_pipe_orphaned(w1));
	close(w1);
	close(w2);
}

/* The index against a plain array, through growth, removals and probe runs. */
static void test_index_against_model(void **state)
{
	enum { NAMES = 3000, OPS = 60000 };
	static bool present[NAMES];
	struct fdtable *t = NULL;
	uint32_t x = 2463534242u;
	size_t n = 0;
	char name[32];

	assert_int_equal(fdtable_new(&t), 0);
	for (int op = 0; op < OPS; op++) {
		unsigned k;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = x % NAMES;
		snprintf(name, sizeof(name), "ns-%u", k);
		if (x & (1u << 31)) {
			assert_int_equal(fdtable_remove(t, name, strlen(name)),
					 present[k] ? 0 : -ENOENT);
			n -= present[k];
			present[k] = false;
		} else {
			assert_int_equal(fdtable_set(t, name, strlen(name), -1),
					 present[k] ? 0 : 1);
			n += !present[k];
			present[k] = true;
		}
		assert_int_equal(fdtable_size(t), n);
	}
	for (unsigned k = 0; k < NAMES; k++) {
		int i;

		snprintf(name, sizeof(name), "ns-%u", k);
		i = fdtable_find(t, name, strlen(name));
		if (!present[k]) {
			assert_int_equal(i, -ENOENT);
			continue;
		}
		assert_true(i >= 0 && (size_t)i < n);
		assert_string_equal(fdtable_name(t, (size_t)i, NULL), name);
	}
	fdtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_take_remove),
		cmocka_unit_test(test_index_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
