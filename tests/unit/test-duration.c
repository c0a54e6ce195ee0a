/* SPDX-License-Identifier: MIT */
/* segctl's --timeout durations and heartbeat ages (cli/duration.c): pure, no segd. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "duration.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define DAY (86400 * SEC)

static uint64_t parse_ok(const char *s)
{
	const char *why = NULL;
	uint64_t ns = 0;

	if (duration_parse(s, DAY, &ns, &why) < 0)
		fail_msg("'%s' refused: %s", s, why);
	return ns;
}

static void expect_refused(const char *s, const char *reason)
{
	const char *why = NULL;
	uint64_t ns = 12345;

	if (duration_parse(s, DAY, &ns, &why) != -EINVAL)
		fail_msg("'%s' accepted as %llu ns", s ? s : "(null)", (unsigned long long)ns);
	assert_non_null(why);
	if (reason && !strstr(why, reason))
		fail_msg("'%s': reason '%s', expected '%s'", s ? s : "(null)", why, reason);
	assert_int_equal(ns, 12345); /* untouched */
}

static void test_units(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("30"), 30 * SEC);
	assert_int_equal(parse_ok("30s"), 30 * SEC);
	assert_int_equal(parse_ok("500ms"), 500 * MS);
	assert_int_equal(parse_ok("2m"), 120 * SEC);
	assert_int_equal(parse_ok("1h"), 3600 * SEC);
	assert_int_equal(parse_ok("24h"), DAY);
	assert_int_equal(parse_ok("1440m"), DAY);
	assert_int_equal(parse_ok("86400"), DAY);
	assert_int_equal(parse_ok("86400000ms"), DAY);
	assert_int_equal(parse_ok("1ms"), MS);
	assert_int_equal(parse_ok("007s"), 7 * SEC);
}

static void test_fractions(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0.5"), 500 * MS);
	assert_int_equal(parse_ok("0.5s"), 500 * MS);
	assert_int_equal(parse_ok("1.5m"), 90 * SEC);
	assert_int_equal(parse_ok("0.25h"), 900 * SEC);
	assert_int_equal(parse_ok("1.5ms"), 1500000);
	assert_int_equal(parse_ok("0.000000001"), 1);
	/* digits past the nanosecond are dropped, however many */
	assert_int_equal(parse_ok("0.0000000019999999999999999999"), 1);
	assert_int_equal(parse_ok("2.000000000000000000000000000000000000000001"), 2 * SEC);
	assert_int_equal(parse_ok("0.123456789123ms"), 123456);
	assert_int_equal(parse_ok("23.999999999h"), DAY - 3600); /* 3.6 us short of a day */
}

static void test_bounds(void **state)
{
	(void)state;
	expect_refused("0", "not more than 0");
	expect_refused("0s", "not more than 0");
	expect_refused("0.0000000001", "not more than 0"); /* under a nanosecond */
	expect_refused("0.0000009ms", "not more than 0");
	expect_refused("86401", "too long");
	expect_refused("24.0000001h", "too long");
	expect_refused("86400.000000001", "too long");
	expect_refused("1441m", "too long");
	expect_refused("25h", "too long");
	/* overflow of every intermediate: the integer part saturates, products are checked */
	expect_refused("18446744073709551615", "too long");
	expect_refused("18446744073709551616", "too long");
	expect_refused("99999999999999999999999999999999999999999999h", "too long");
	expect_refused("5124095576030431h", "too long"); /* * 3.6e12 wraps to a small number */
	expect_refused("18446744073709551616ms", "too long");
}

static void test_garbage(void **state)
{
	(void)state;
	expect_refused(NULL, "empty");
	expect_refused("", "empty");
	expect_refused("-1", "not a number");
	expect_refused("-1s", "not a number");
	expect_refused("+1", "not a number");
	expect_refused(" 1", "not a number");
	expect_refused("1 ", "unknown unit");
	expect_refused("1 s", "unknown unit");
	expect_refused("s", "not a number");
	expect_refused("ms", "not a number");
	expect_refused(".5", "not a number");
	expect_refused("1.", "no digits after");
	expect_refused("1.s", "no digits after");
	expect_refused("1..5", "no digits after");
	expect_refused("1.5.5", "unknown unit");
	expect_refused("1e3", "unknown unit");
	expect_refused("0x10", "unknown unit");
	expect_refused("inf", "not a number");
	expect_refused("nan", "not a number");
	expect_refused("1us", "unknown unit");
	expect_refused("1d", "unknown unit");
	expect_refused("1S", "unknown unit");
	expect_refused("1MS", "unknown unit");
	expect_refused("1sec", "unknown unit");
	expect_refused("1m30s", "unknown unit");
	expect_refused("1s\n", "unknown unit");
	expect_refused("5\xc2\xb5s", "unknown unit");
	expect_refused("\xef\xbc\x95", "not a number"); /* a fullwidth digit */
}

/* Every byte after a valid number: only the units and digits are taken. */
static void test_every_suffix_byte(void **state)
{
	(void)state;
	for (int b = 1; b < 256; b++) {
		char s[4] = { '7', (char)b, 0, 0 };
		const char *why = NULL;
		uint64_t ns = 0;
		int r = duration_parse(s, DAY, &ns, &why);

		if ((b >= '0' && b <= '9') || b == 's' || b == 'm' || b == 'h')
			assert_int_equal(r, 0);
		else
			assert_int_equal(r, -EINVAL);
	}
}

static void test_small_max(void **state)
{
	const char *why = NULL;
	uint64_t ns = 0;

	(void)state;
	assert_int_equal(duration_parse("1s", SEC, &ns, &why), 0);
	assert_int_equal(ns, SEC);
	assert_int_equal(duration_parse("1001ms", SEC, &ns, &why), -EINVAL);
	assert_int_equal(duration_parse("1m", SEC, &ns, &why), -EINVAL);
	/* the largest bound: nothing wraps */
	assert_int_equal(duration_parse("18446744073", UINT64_MAX, &ns, &why), 0);
	assert_int_equal(ns, 18446744073 * SEC);
	assert_int_equal(duration_parse("18446744074", UINT64_MAX, &ns, &why), -EINVAL);
	assert_int_equal(duration_parse("5124095576030431h", UINT64_MAX, &ns, &why), -EINVAL);
	assert_int_equal(duration_parse("18446744073709551615.999999999ms", UINT64_MAX, &ns, &why),
			 -EINVAL);
	/* the fraction is what goes over */
	assert_int_equal(duration_parse("18446744073709.551615999ms", UINT64_MAX, &ns, &why), 0);
	assert_int_equal(ns, UINT64_MAX);
	assert_int_equal(duration_parse("18446744073709.551616ms", UINT64_MAX, &ns, &why), -EINVAL);
	assert_string_equal(why, "too long");
}

static void expect_age(int64_t then, int64_t now, const char *want)
{
	char buf[DURATION_AGE_MAX];

	assert_string_equal(duration_age(then, now, buf), want);
}

static void test_ages(void **state)
{
	const int64_t now = 1764950000;

	(void)state;
	expect_age(0, now, "-");
	expect_age(-5, now, "-");
	expect_age(now, now, "0s");
	expect_age(now - 3, now, "3s");
	expect_age(now - 119, now, "119s");
	expect_age(now - 120, now, "2m");
	expect_age(now - 150, now, "2m30s");
	expect_age(now - 599, now, "9m59s");
	expect_age(now - 600, now, "10m");
	expect_age(now - 659, now, "10m");
	expect_age(now - 179 * 60 - 59, now, "179m");
	expect_age(now - 3 * 3600, now, "3h");
	expect_age(now - 3 * 3600 - 20 * 60, now, "3h20m");
	expect_age(now - 8 * 3600 - 20 * 60, now, "8h");
	expect_age(now - 47 * 3600, now, "47h");
	expect_age(now - 48 * 3600, now, "2d");
	expect_age(now - 53 * 3600, now, "2d5h");
	expect_age(now - 8 * 86400 - 3600, now, "8d");
	expect_age(now - 729 * 86400, now, "729d");
	expect_age(now - 733 * 86400, now, "2y3d");
	expect_age(now - 730 * 86400, now, "2y");
	expect_age(now - 9 * 365 * 86400 - 86400, now, "9y");
	/* clock skew: a second ahead is now, more is a negative age */
	expect_age(now + 1, now, "0s");
	expect_age(now + 5, now, "-5s");
	expect_age(now + 150, now, "-2m30s");
	/* the extremes: no overflow */
	expect_age(1, INT64_MAX, "292471208677y");
	expect_age(INT64_MAX, 1, "-292471208677y");
	expect_age(INT64_MAX, INT64_MIN, "-584942417355y");
	expect_age(1, INT64_MIN, "-292471208677y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_every_suffix_byte),
		cmocka_unit_test(test_small_max),
		cmocka_unit_test(test_ages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
