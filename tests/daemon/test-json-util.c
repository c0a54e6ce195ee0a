/* SPDX-License-Identifier: MIT */
/* json-util: libpolicy's objects as JSON values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json-util.h"
#include "unit.h"

static void assert_json_text(json_t *o, const char *want)
{
	_cleanup_free_ char *s = json_text(o);

	assert_string_equal(s, want);
}

static void test_take_text(void **state)
{
	json_auto_t *o = NULL;

	assert_null(json_take_text(NULL));
	o = json_take_text(strdup("{\"a\": [1, \"x\"]}"));
	assert_json_text(o, "{\"a\":[1,\"x\"]}");
	/* bad text is freed all the same (ASan) */
	assert_null(json_take_text(strdup("{\"a\": ")));
	assert_null(json_take_text(strdup("")));
	assert_null(json_take_text(strdup("1")));
}

static void test_labels(void **state)
{
	struct policy_labels l = { 0 };
	json_auto_t *o = json_labels(&l);

	assert_json_text(o, "{}");
	json_decref(o);
	assert_int_equal(policy_labels_set(&l, "b", "2"), 0);
	assert_int_equal(policy_labels_set(&l, "a", ""), 0);
	assert_int_equal(policy_labels_set(&l, "example.com/x", "y"), 0);
	o = json_labels(&l);
	assert_json_text(o, "{\"a\":\"\",\"b\":\"2\",\"example.com/x\":\"y\"}");
	policy_labels_done(&l);
}

static void test_addrs(void **state)
{
	struct policy_addr a[3] = { { .family = AF_INET, .addr = { 10, 0, 0, 1 } },
				    { .family = AF_INET6, .addr = { 0xfd, [15] = 1 } },
				    { .family = AF_UNSPEC } };
	json_auto_t *o = json_addr(&a[0]);

	assert_string_equal(json_string_value(o), "10.0.0.1");
	json_decref(o);
	o = json_addr(&a[1]);
	assert_string_equal(json_string_value(o), "fd00::1");
	json_decref(o);
	o = json_addr(&a[2]);
	assert_true(json_is_null(o));
	json_decref(o);
	o = json_addrs(a, 3);
	assert_json_text(o, "[\"10.0.0.1\",\"fd00::1\",null]");
	json_decref(o);
	o = json_addrs(NULL, 0);
	assert_json_text(o, "[]");
}

static void test_ports(void **state)
{
	struct policy_named_port p[3] = { { (char *)"http", POLICY_PROTO_TCP, 80 },
					  { (char *)"dns", POLICY_PROTO_UDP, 53 },
					  { (char *)"s", POLICY_PROTO_SCTP, 65535 } };
	struct policy_l4 l4 = { 65535, POLICY_PROTO_SCTP };
	json_auto_t *o = json_named_ports(p, 3);

	assert_json_text(o, "[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"},"
			    "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},"
			    "{\"name\":\"s\",\"port\":65535,\"protocol\":\"SCTP\"}]");
	json_decref(o);
	o = json_named_ports(NULL, 0);
	assert_json_text(o, "[]");
	json_decref(o);
	o = json_l4(&l4);
	assert_string_equal(json_string_value(o), "65535/SCTP");
	json_decref(o);
	l4 = (struct policy_l4){ 80, POLICY_PROTO_TCP };
	o = json_l4(&l4);
	assert_string_equal(json_string_value(o), "80/TCP");
	json_decref(o);
	l4 = (struct policy_l4){ 53, POLICY_PROTO_UDP };
	o = json_l4(&l4);
	assert_string_equal(json_string_value(o), "53/UDP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_text),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
