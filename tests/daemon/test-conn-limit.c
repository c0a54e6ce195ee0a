/* SPDX-License-Identifier: MIT */
/*
 * conn-limit: the API's connection bookkeeping. A caller's role from its credentials (capped by
 * the socket), per-user and total limits, the slots read-only callers cannot take, and that
 * every admission is given back exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn-limit.h"

static const struct conn_groups groups = {
	.gid = 100, .audit_gid = 200, .have_gid = true, .have_audit_gid = true
};

static void test_roles(void **state)
{
	const gid_t audit[] = { 5, 200 }, write[] = { 100 }, none[] = { 5, 6 };
	struct conn_groups missing = { .gid = 100, .audit_gid = 200 };

	(void)state;
	/* root, whatever its groups */
	assert_int_equal(conn_role_of(&groups, 0, 0, NULL, 0, CONN_ROLE_WRITE), CONN_ROLE_WRITE);
	/* the write group as primary or supplementary group */
	assert_int_equal(conn_role_of(&groups, 1000, 100, NULL, 0, CONN_ROLE_WRITE),
			 CONN_ROLE_WRITE);
	assert_int_equal(conn_role_of(&groups, 1000, 1000, write, 1, CONN_ROLE_WRITE),
			 CONN_ROLE_WRITE);
	/* in both groups: the stronger role */
	assert_int_equal(conn_role_of(&groups, 1000, 200, write, 1, CONN_ROLE_WRITE),
			 CONN_ROLE_WRITE);
	assert_int_equal(conn_role_of(&groups, 1000, 1000, audit, 2, CONN_ROLE_WRITE),
			 CONN_ROLE_READ);
	assert_int_equal(conn_role_of(&groups, 1000, 200, none, 2, CONN_ROLE_WRITE),
			 CONN_ROLE_READ);
	assert_int_equal(conn_role_of(&groups, 1000, 1000, none, 2, CONN_ROLE_WRITE),
			 CONN_ROLE_NONE);
	/* the read-only socket caps every role */
	assert_int_equal(conn_role_of(&groups, 0, 0, NULL, 0, CONN_ROLE_READ), CONN_ROLE_READ);
	assert_int_equal(conn_role_of(&groups, 1000, 100, NULL, 0, CONN_ROLE_READ), CONN_ROLE_READ);
	assert_int_equal(conn_role_of(&groups, 1000, 1000, none, 2, CONN_ROLE_READ),
			 CONN_ROLE_NONE);
	/* groups that do not exist give nothing, even to a gid that happens to match */
	assert_int_equal(conn_role_of(&missing, 1000, 100, audit, 2, CONN_ROLE_WRITE),
			 CONN_ROLE_NONE);
	assert_int_equal(conn_role_of(&missing, 0, 0, NULL, 0, CONN_ROLE_WRITE), CONN_ROLE_WRITE);
}

static void test_bad_limits(void **state)
{
	struct conn_limit l;

	(void)state;
	assert_int_equal(conn_limit_init(&l, 0, 1, 0), -EINVAL);
	assert_int_equal(conn_limit_init(&l, 4, 0, 0), -EINVAL);
	assert_int_equal(conn_limit_init(&l, 4, 1, 4), -EINVAL);
	assert_int_equal(conn_limit_init(&l, CONN_LIMIT_MAX_TOTAL + 1, 1, 0), -EINVAL);
}

static void test_no_role(void **state)
{
	struct conn_limit l;

	(void)state;
	assert_int_equal(conn_limit_init(&l, 4, 2, 1), 0);
	assert_int_equal(conn_limit_take(&l, 1000, CONN_ROLE_NONE), CONN_REFUSED_NO_ROLE);
	assert_int_equal(conn_limit_take(&l, 0, CONN_ROLE_NONE), CONN_REFUSED_NO_ROLE);
	assert_int_equal(l.n_total, 0);
	assert_int_equal(l.refused[CONN_REFUSED_NO_ROLE], 2);
	assert_int_equal(l.refused[CONN_ACCEPTED], 0);
	conn_limit_done(&l);
}

static void test_per_user(void **state)
{
	struct conn_limit l;

	(void)state;
	assert_int_equal(conn_limit_init(&l, 64, 8, 16), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(conn_limit_take(&l, 1000, CONN_ROLE_READ), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 1000, CONN_ROLE_READ), CONN_REFUSED_PER_USER);
	assert_int_equal(conn_limit_held(&l, 1000), 8);
	/* another user is served; so is a writer, and root past any per-user count */
	assert_int_equal(conn_limit_take(&l, 1001, CONN_ROLE_READ), CONN_ACCEPTED);
	for (int i = 0; i < 8; i++)
		assert_int_equal(conn_limit_take(&l, 1002, CONN_ROLE_WRITE), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 1002, CONN_ROLE_WRITE), CONN_REFUSED_PER_USER);
	for (int i = 0; i < 20; i++)
		assert_int_equal(conn_limit_take(&l, 0, CONN_ROLE_WRITE), CONN_ACCEPTED);
	assert_int_equal(l.refused[CONN_REFUSED_PER_USER], 2);
	/* one given back: one more for that user, not two */
	conn_limit_release(&l, 1000, CONN_ROLE_READ);
	assert_int_equal(conn_limit_held(&l, 1000), 7);
	assert_int_equal(conn_limit_take(&l, 1000, CONN_ROLE_READ), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 1000, CONN_ROLE_READ), CONN_REFUSED_PER_USER);
	conn_limit_done(&l);
}

/* Read-only users holding all they may leave the reserved slots to root and the writers. */
static void test_reserved(void **state)
{
	struct conn_limit l;
	uid_t uid = 2000;

	(void)state;
	assert_int_equal(conn_limit_init(&l, 64, 8, 16), 0);
	while (conn_limit_take(&l, uid, CONN_ROLE_READ) == CONN_ACCEPTED)
		if (conn_limit_held(&l, uid) == 8)
			uid++;
	assert_int_equal(l.n_read, 48);
	assert_int_equal(l.n_total, 48);
	assert_int_equal(conn_limit_take(&l, 9999, CONN_ROLE_READ), CONN_REFUSED_TOTAL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(conn_limit_take(&l, 3000, CONN_ROLE_WRITE), CONN_ACCEPTED);
	for (int i = 0; i < 8; i++)
		assert_int_equal(conn_limit_take(&l, 0, CONN_ROLE_WRITE), CONN_ACCEPTED);
	/* now everything is taken, root included */
	assert_int_equal(l.n_total, 64);
	assert_int_equal(conn_limit_take(&l, 0, CONN_ROLE_WRITE), CONN_REFUSED_TOTAL);
	assert_int_equal(conn_limit_take(&l, 3001, CONN_ROLE_WRITE), CONN_REFUSED_TOTAL);
	/* a read-only slot given back is for read-only callers again */
	conn_limit_release(&l, 2000, CONN_ROLE_READ);
	assert_int_equal(conn_limit_take(&l, 9999, CONN_ROLE_READ), CONN_ACCEPTED);
	conn_limit_done(&l);
}

static void test_release(void **state)
{
	struct conn_limit l;

	(void)state;
	assert_int_equal(conn_limit_init(&l, 4, 4, 1), 0);
	assert_int_equal(conn_limit_take(&l, 1, CONN_ROLE_READ), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 2, CONN_ROLE_WRITE), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 3, CONN_ROLE_READ), CONN_ACCEPTED);
	assert_int_equal(l.n_users, 3);
	conn_limit_release(&l, 1, CONN_ROLE_READ);
	assert_int_equal(l.n_users, 2);
	assert_int_equal(conn_limit_held(&l, 1), 0);
	assert_int_equal(conn_limit_held(&l, 2), 1);
	assert_int_equal(conn_limit_held(&l, 3), 1);
	/* a user that holds nothing: no effect, no underflow */
	conn_limit_release(&l, 77, CONN_ROLE_READ);
	assert_int_equal(l.n_total, 2);
	conn_limit_release(&l, 2, CONN_ROLE_WRITE);
	conn_limit_release(&l, 3, CONN_ROLE_READ);
	assert_int_equal(l.n_total, 0);
	assert_int_equal(l.n_read, 0);
	assert_int_equal(l.n_users, 0);
	conn_limit_release(&l, 3, CONN_ROLE_READ);
	assert_int_equal(l.n_total, 0);
	/* every slot usable again */
	for (uid_t u = 10; u < 14; u++)
		assert_int_equal(conn_limit_take(&l, u, CONN_ROLE_WRITE), CONN_ACCEPTED);
	assert_int_equal(conn_limit_take(&l, 20, CONN_ROLE_WRITE), CONN_REFUSED_TOTAL);
	assert_int_equal(l.refused[CONN_ACCEPTED], 7);
	conn_limit_done(&l);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(conn_verdict_to_string(CONN_REFUSED_NO_ROLE), "no-role");
	assert_string_equal(conn_verdict_to_string(CONN_REFUSED_PER_USER), "per-user");
	assert_string_equal(conn_verdict_to_string(CONN_REFUSED_TOTAL), "total");
	assert_string_equal(conn_verdict_to_string(_CONN_VERDICT_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),	 cmocka_unit_test(test_bad_limits),
		cmocka_unit_test(test_no_role),	 cmocka_unit_test(test_per_user),
		cmocka_unit_test(test_reserved), cmocka_unit_test(test_release),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
