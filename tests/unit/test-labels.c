/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

static void set_labels(struct policy_labels *l, const char *spec)
{
	/* "k=v,k2=v2" */
	char *copy = strdup(spec), *save = NULL;

	assert_non_null(copy);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(policy_labels_set(l, t, eq + 1), 0);
	}
	free(copy);
}

static void test_labels_sorted(void **state)
{
	struct policy_labels l = { 0 }, c = { 0 };

	set_labels(&l, "b=2,a=1,c=3,a=9");
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].key, "a");
	assert_string_equal(l.items[0].value, "9");
	assert_string_equal(l.items[1].key, "b");
	assert_string_equal(l.items[2].key, "c");
	assert_string_equal(policy_labels_get(&l, "c"), "3");
	assert_null(policy_labels_get(&l, "d"));
	assert_int_equal(policy_labels_copy(&c, &l), 0);
	assert_true(policy_labels_equal(&c, &l));
	assert_int_equal(policy_labels_unset(&l, "b"), 0);
	assert_int_equal(policy_labels_unset(&l, "b"), -ENOENT);
	assert_false(policy_labels_equal(&c, &l));
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[1].key, "c");
	policy_labels_done(&l);
	policy_labels_done(&c);
	policy_labels_done(NULL);
}

struct sel_case {
	const char *labels; /* "k=v,..." or "" */
	bool want;
};

static void check_selector(const struct policy_selector *s, const struct sel_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct policy_labels l = { 0 };

		if (cases[i].labels[0])
			set_labels(&l, cases[i].labels);
		if (policy_selector_matches(s, &l) != cases[i].want)
			fail_msg("selector on {%s}: want %d", cases[i].labels, cases[i].want);
		policy_labels_done(&l);
	}
}

static void test_selector_empty(void **state)
{
	struct policy_selector s = { 0 };
	const struct sel_case cases[] = { { "", true }, { "a=1", true }, { "x=y,z=w", true } };

	check_selector(&s, cases, sizeof(cases) / sizeof(cases[0]));
	check_selector(NULL, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_selector_match_labels(void **state)
{
	struct policy_selector s = { 0 };
	const struct sel_case cases[] = {
		{ "", false },
		{ "app=web", false },
		{ "app=web,tier=fe", true },
		{ "app=web,tier=be", false },
		{ "app=web,tier=fe,x=y", true },
		{ "tier=fe", false },
	};

	set_labels(&s.match_labels, "app=web,tier=fe");
	check_selector(&s, cases, sizeof(cases) / sizeof(cases[0]));
	policy_labels_done(&s.match_labels);
}

static void test_selector_exprs(void **state)
{
	static char a[] = "a", b[] = "b", k[] = "k";
	static char *vals[] = { a, b };
	static const struct {
		enum policy_op op;
		struct sel_case cases[4];
	} table[] = {
		{ POLICY_OP_IN,
		  { { "k=a", true }, { "k=b", true }, { "k=c", false }, { "", false } } },
		/* NotIn matches when the key is absent */
		{ POLICY_OP_NOT_IN,
		  { { "k=a", false }, { "k=c", true }, { "", true }, { "x=a", true } } },
		{ POLICY_OP_EXISTS,
		  { { "k=a", true }, { "k=", true }, { "", false }, { "x=a", false } } },
		{ POLICY_OP_DOES_NOT_EXIST,
		  { { "k=a", false }, { "k=", false }, { "", true }, { "x=a", true } } },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct policy_expr e = { .key = k, .op = table[i].op };
		struct policy_selector s = { .exprs = &e, .n_exprs = 1 };

		if (e.op == POLICY_OP_IN || e.op == POLICY_OP_NOT_IN) {
			e.values = vals;
			e.n_values = 2;
		}
		check_selector(&s, table[i].cases, 4);
	}
}

static void test_selector_and(void **state)
{
	static char prod[] = "prod", env[] = "env", debug[] = "debug";
	static char *vals[] = { prod };
	struct policy_expr e[] = {
		{ .key = env, .op = POLICY_OP_IN, .values = vals, .n_values = 1 },
		{ .key = debug, .op = POLICY_OP_DOES_NOT_EXIST },
	};
	struct policy_selector s = { .exprs = e, .n_exprs = 2 };
	const struct sel_case cases[] = {
		{ "app=web,env=prod", true },
		{ "app=web,env=prod,debug=1", false },
		{ "app=db,env=prod", false },
		{ "app=web,env=dev", false },
	};

	set_labels(&s.match_labels, "app=web");
	check_selector(&s, cases, sizeof(cases) / sizeof(cases[0]));
	policy_labels_done(&s.match_labels);
}

static void test_label_keys(void **state)
{
	static const char *const valid[] = {
		"a",
		"app",
		"App_1.x-y",
		"example.com/app",
		"a.b-c.d/Name",
		"k8s.io/a",
		"kubernetes.io/metadata.name",
		"0",
		"a/b",
		/* 63 characters */
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
	};
	static const char *const invalid[] = {
		"",
		"-a",
		"a-",
		"_a",
		"a b",
		"a/",
		"/a",
		"a/b/c",
		"Example.com/a",
		"ex_ample.com/a",
		"-ex.com/a",
		"ex..com/a",
		"a/-b",
		"é",
		/* 64 characters */
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234",
	};
	char prefix[300];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (policy_label_key_invalid(valid[i]))
			fail_msg("key \"%s\" should be valid: %s", valid[i],
				 policy_label_key_invalid(valid[i]));
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (!policy_label_key_invalid(invalid[i]))
			fail_msg("key \"%s\" should be invalid", invalid[i]);

	/* prefix: up to 253 characters */
	memset(prefix, 'a', 253);
	for (size_t i = 63; i < 253; i += 64)
		prefix[i] = '.';
	strcpy(prefix + 253, "/n");
	assert_null(policy_label_key_invalid(prefix));
	memset(prefix, 'a', 254);
	for (size_t i = 63; i < 254; i += 64)
		prefix[i] = '.';
	strcpy(prefix + 254, "/n");
	assert_string_equal(policy_label_key_invalid(prefix),
			    "prefix part must be no more than 253 characters");
	assert_string_equal(policy_label_key_invalid("a/"), "name part must be non-empty");
	assert_string_equal(policy_label_key_invalid("/a"), "prefix part must be non-empty");
}

static void test_label_values(void **state)
{
	static const char *const valid[] = {
		"",	   "a", "A",
		"a.b_c-d", "1", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
	};
	static const char *const invalid[] = {
		"-a",
		"a-",
		".a",
		"a b",
		"a/b",
		"é",
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234",
	};

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (policy_label_value_invalid(valid[i]))
			fail_msg("value \"%s\" should be valid", valid[i]);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (!policy_label_value_invalid(invalid[i]))
			fail_msg("value \"%s\" should be invalid", invalid[i]);
	assert_string_equal(policy_label_value_invalid(invalid[6]),
			    "must be no more than 63 characters");
}

static void test_dns_names(void **state)
{
	char name[300];

	assert_null(policy_dns_label_invalid("default"));
	assert_null(policy_dns_label_invalid("a-1"));
	assert_non_null(policy_dns_label_invalid(""));
	assert_non_null(policy_dns_label_invalid("a.b"));
	assert_non_null(policy_dns_label_invalid("A"));
	assert_non_null(policy_dns_label_invalid("-a"));
	memset(name, 'a', 63);
	name[63] = '\0';
	assert_null(policy_dns_label_invalid(name));
	name[63] = 'a';
	name[64] = '\0';
	assert_non_null(policy_dns_label_invalid(name));

	assert_null(policy_dns_subdomain_invalid("a.b-c.d"));
	assert_null(policy_dns_subdomain_invalid(name)); /* 64: a subdomain label may be longer */
	assert_non_null(policy_dns_subdomain_invalid("a..b"));
	assert_non_null(policy_dns_subdomain_invalid("a_b"));
	assert_non_null(policy_dns_subdomain_invalid(".a"));
	memset(name, 'a', 253);
	name[253] = '\0';
	assert_null(policy_dns_subdomain_invalid(name));
	name[253] = 'a';
	name[254] = '\0';
	assert_non_null(policy_dns_subdomain_invalid(name));
}

static void test_enums(void **state)
{
	assert_string_equal(policy_proto_to_string(POLICY_PROTO_SCTP), "SCTP");
	assert_int_equal(policy_proto_from_string("UDP"), POLICY_PROTO_UDP);
	assert_int_equal(policy_proto_from_string("udp"), -EINVAL);
	assert_int_equal(policy_proto_ipproto(POLICY_PROTO_TCP), 6);
	assert_int_equal(policy_proto_ipproto(POLICY_PROTO_UDP), 17);
	assert_int_equal(policy_proto_ipproto(POLICY_PROTO_SCTP), 132);
	assert_string_equal(policy_dir_to_string(POLICY_DIR_EGRESS), "egress");
}

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
		size_t bad;
	} cases[] = {
		{ "", 0, true, 0 },
		{ "plain ascii", 11, true, 0 },
		{ "caf\xc3\xa9", 5, true, 0 },
		{ "\xe2\x82\xac \xf0\x9f\x98\x80", 8, true, 0 },
		{ "nul\0inside", 11, true, 0 },
		{ "\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7, true, 0 }, /* U+FFFF, U+10FFFF */
		{ "ab\xff", 3, false, 2 },
		{ "a\x80", 2, false, 1 },	     /* a lone continuation byte */
		{ "\xc0\xaf", 2, false, 0 },	     /* overlong '/' */
		{ "\xc1\xbf", 2, false, 0 },	     /* overlong */
		{ "\xe0\x80\xaf", 3, false, 0 },     /* overlong, 3 bytes */
		{ "\xf0\x80\x80\xaf", 4, false, 0 }, /* overlong, 4 bytes */
		{ "x\xed\xa0\x80", 4, false, 1 },    /* a surrogate, U+D800 */
		{ "\xf4\x90\x80\x80", 4, false, 0 }, /* over U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, false, 0 },
		{ "ok\xc3", 3, false, 2 },	     /* cut short at the end */
		{ "\xe2\x82", 2, false, 0 },	     /* cut short */
		{ "\xe2\x28\xa1", 3, false, 0 },     /* a bad second byte */
		{ "\xf0\x9f\x98\x28", 4, false, 0 }, /* a bad last byte */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = 999;
		bool ok = policy_utf8_valid(cases[i].s, cases[i].len, &off);

		if (ok != cases[i].ok)
			fail_msg("case %zu: want %d", i, cases[i].ok);
		if (!ok && off != cases[i].bad)
			fail_msg("case %zu: bad at %zu, want %zu", i, off, cases[i].bad);
	}
	assert_false(policy_utf8_valid("\xff", 1, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_sorted),
		cmocka_unit_test(test_selector_empty),
		cmocka_unit_test(test_selector_match_labels),
		cmocka_unit_test(test_selector_exprs),
		cmocka_unit_test(test_selector_and),
		cmocka_unit_test(test_label_keys),
		cmocka_unit_test(test_label_values),
		cmocka_unit_test(test_dns_names),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
