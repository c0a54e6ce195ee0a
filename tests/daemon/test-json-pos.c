/* SPDX-License-Identifier: MIT */
/*
 * json-pos: the offset of a value by path in JSON text (keys, indices, nesting, strings that
 * hold brackets, quotes and commas), its end, and offsets as line and column; a path that is
 * not there, and text cut short, give JSON_POS_NONE without reading past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json-pos.h"

static const char text[] = "{\"a\": \"x}],\\\"{\",\n \"list\": [1, {\"k\": [true]},\n"
			   "   {\"name\": \"n\", \"labels\": {\"a b\": \"c\"}}], \"z\": null}";

static size_t find(const char *t, const struct json_step *p, size_t n)
{
	return json_pos_find(t, strlen(t), 0, p, n);
}

static void test_find(void **state)
{
	size_t off;
	unsigned line, col;

	off = find(text, (struct json_step[]){ { .key = "a" } }, 1);
	assert_int_equal(off, 6);
	assert_int_equal(json_pos_value_end(text, strlen(text), off), 15);
	off = find(text,
		   (struct json_step[]){ { .key = "list" }, { .index = 2 }, { .key = "labels" } },
		   3);
	assert_true(off != JSON_POS_NONE);
	json_pos_line_col(text, strlen(text), off, &line, &col);
	assert_int_equal(line, 3);
	assert_int_equal(col, 28);
	assert_int_equal(text[off], '{');
	off = find(text,
		   (struct json_step[]){ { .key = "list" },
					 { .index = 1 },
					 { .key = "k" },
					 { .index = 0 } },
		   4);
	assert_int_equal(strncmp(text + off, "true", 4), 0);
	assert_int_equal(json_pos_value_end(text, strlen(text), off), off + 4);
	off = find(text, (struct json_step[]){ { .key = "z" } }, 1);
	assert_int_equal(strncmp(text + off, "null}", 5), 0);
	/* the start itself */
	assert_int_equal(find(text, NULL, 0), 0);
	json_pos_line_col(text, strlen(text), 0, &line, &col);
	assert_int_equal(line, 1);
	assert_int_equal(col, 1);
}

static void test_absent(void **state)
{
	static const char cut[] = "{\"a\": [1, 2";

	assert_int_equal(find(text, (struct json_step[]){ { .key = "b" } }, 1), JSON_POS_NONE);
	assert_int_equal(find(text, (struct json_step[]){ { .key = "list" }, { .index = 3 } }, 2),
			 JSON_POS_NONE);
	/* a key inside a string is no key */
	assert_int_equal(find(text, (struct json_step[]){ { .key = "x}]," } }, 1), JSON_POS_NONE);
	/* an index into an object, a key into an array, anything into a scalar */
	assert_int_equal(find(text, (struct json_step[]){ { .index = 0 } }, 1), JSON_POS_NONE);
	assert_int_equal(find(text, (struct json_step[]){ { .key = "list" }, { .key = "a" } }, 2),
			 JSON_POS_NONE);
	assert_int_equal(find(text, (struct json_step[]){ { .key = "z" }, { .index = 0 } }, 2),
			 JSON_POS_NONE);
	assert_int_equal(find("[]", (struct json_step[]){ { .index = 0 } }, 1), JSON_POS_NONE);
	/* cut short: never past the end */
	assert_int_equal(find(cut, (struct json_step[]){ { .key = "a" }, { .index = 2 } }, 2),
			 JSON_POS_NONE);
	assert_int_equal(json_pos_value_end(cut, strlen(cut), 6), strlen(cut));
	assert_int_equal(json_pos_value_end("\"abc", 4, 0), 4);
	assert_int_equal(json_pos_value_end("", 0, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
