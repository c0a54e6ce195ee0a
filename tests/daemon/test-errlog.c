/* SPDX-License-Identifier: MIT */
/*
 * errlog: a ring of the last ERRLOG_SIZE problems, shown newest first as
 * [{"time": "YYYY-MM-DDTHH:MM:SSZ", "message": ...}].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "errlog.h"
#include "unit.h"

static void test_empty(void **state)
{
	struct errlog l = { 0 };
	json_auto_t *a = errlog_json(&l);

	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), 0);
	errlog_done(&l);
}

static void test_newest_first(void **state)
{
	struct errlog l = { 0 };
	json_auto_t *a = NULL;
	time_t before = time(NULL), t;
	struct tm tm = { 0 };
	json_t *item;

	errlog_add(&l, "first %d", 1);
	errlog_add(&l, "%s", "second: 100%");
	errlog_add(&l, "third");
	assert_int_equal(l.total, 3);
	a = errlog_json(&l);
	assert_int_equal(json_array_size(a), 3);
	assert_json_string(json_array_get(a, 0), "message", "third");
	assert_json_string(json_array_get(a, 1), "message", "second: 100%");
	assert_json_string(json_array_get(a, 2), "message", "first 1");

	/* exactly two keys, and the time is now, in UTC */
	item = json_array_get(a, 0);
	assert_int_equal(json_object_size(item), 2);
	assert_non_null(strptime(json_string_value(json_object_get(item, "time")),
				 "%Y-%m-%dT%H:%M:%SZ", &tm));
	assert_int_equal(strlen(json_string_value(json_object_get(item, "time"))), 20);
	t = timegm(&tm);
	assert_true(t >= before && t <= time(NULL));
	errlog_done(&l);
	assert_int_equal(l.total, 0);
	assert_null(l.items[0].message);
}

static void test_time_format(void **state)
{
	struct errlog l = { 0 };
	json_auto_t *a = NULL;

	errlog_add(&l, "epoch");
	errlog_add(&l, "later");
	l.items[0].time = 0;
	l.items[1].time = 1795000000;
	a = errlog_json(&l);
	assert_json_string(json_array_get(a, 1), "time", "1970-01-01T00:00:00Z");
	assert_json_string(json_array_get(a, 0), "time", "2026-11-18T11:06:40Z");
	errlog_done(&l);
}

static void test_ring(void **state)
{
	struct errlog l = { 0 };
	json_auto_t *a = NULL;
	char want[16];

	for (int i = 0; i < ERRLOG_SIZE; i++)
		errlog_add(&l, "m%d", i);
	a = errlog_json(&l);
	assert_int_equal(json_array_size(a), ERRLOG_SIZE);
	assert_json_string(json_array_get(a, 0), "message", "m15");
	assert_json_string(json_array_get(a, 15), "message", "m0");
	json_decref(a);

	/* past the ring: the oldest go, the newest stay first (ASan: the old texts are freed) */
	for (int i = ERRLOG_SIZE; i < 3 * ERRLOG_SIZE + 5; i++)
		errlog_add(&l, "m%d", i);
	assert_int_equal(l.total, 3 * ERRLOG_SIZE + 5);
	a = errlog_json(&l);
	assert_int_equal(json_array_size(a), ERRLOG_SIZE);
	for (int i = 0; i < ERRLOG_SIZE; i++) {
		snprintf(want, sizeof(want), "m%d", 3 * ERRLOG_SIZE + 4 - i);
		assert_json_string(json_array_get(a, (size_t)i), "message", want);
	}
	errlog_done(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_newest_first),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
