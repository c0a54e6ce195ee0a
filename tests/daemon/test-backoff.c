/* SPDX-License-Identifier: MIT */
/*
 * backoff: the retry schedule of an endpoint whose commit failed. 100 ms, doubling, capped at
 * 30 s; due times from the given clock; reset forgets everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_schedule(void **state)
{
	static const uint64_t want[] = { 0,    100,   200,   400,   800,   1600, 3200,
					 6400, 12800, 25600, 30000, 30000, 30000 };

	for (unsigned n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		assert_int_equal(backoff_delay_ms(n), want[n]);
	/* never past the cap, however long it keeps failing */
	assert_int_equal(backoff_delay_ms(64), BACKOFF_CAP_MS);
	assert_int_equal(backoff_delay_ms(UINT32_MAX), BACKOFF_CAP_MS);
}

static void test_fail_and_due(void **state)
{
	struct backoff b = { 0 };
	uint64_t now = 5000000;

	assert_false(backoff_waiting(&b, now));
	assert_int_equal(backoff_fail(&b, now), 100);
	assert_int_equal(b.failures, 1);
	assert_int_equal(b.due_usec, now + 100000);
	assert_true(backoff_waiting(&b, now));
	assert_true(backoff_waiting(&b, now + 99999));
	assert_false(backoff_waiting(&b, now + 100000));

	/* the retry at its due time fails again: twice the delay, from then */
	now += 100000;
	assert_int_equal(backoff_fail(&b, now), 200);
	assert_int_equal(b.due_usec, now + 200000);
	for (int i = 0; i < 20; i++)
		(void)backoff_fail(&b, now);
	assert_int_equal(b.due_usec, now + 30000000);

	/* success: not failing, nothing due, and the next failure starts over at 100 ms */
	backoff_reset(&b);
	assert_int_equal(b.failures, 0);
	assert_false(backoff_waiting(&b, 0));
	assert_int_equal(backoff_fail(&b, now), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_fail_and_due),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
