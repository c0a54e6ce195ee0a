/* SPDX-License-Identifier: MIT */
/*
 * segd's own small grammars (grammar.c): port names, container ids, netns names, "PORT[/PROTO]",
 * "NAME=PORT[/PROTO]", the segd.io/ports label and the segd.io/labels annotation. Each at its
 * boundaries, with the exact messages users see, and with outputs left alone on failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "policy/policy.h"

#define MSG_ALNUM "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
#define MSG_KEY_NAME                                                                              \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character"
#define MSG_VALUE                                                                                \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character"

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

static void test_port_name(void **state)
{
	_cleanup_free_ char *p15 = repeat('a', 15), *p16 = repeat('a', 16);

	assert_null(policy_port_name_invalid("http"));
	assert_null(policy_port_name_invalid("a"));
	assert_null(policy_port_name_invalid("h2"));
	assert_null(policy_port_name_invalid("web-api-2"));
	assert_null(policy_port_name_invalid("1a"));
	assert_null(policy_port_name_invalid(p15));
	assert_string_equal(policy_port_name_invalid(p16), "must be no more than 15 characters");
	assert_string_equal(policy_port_name_invalid(""), "must be non-empty");
	assert_string_equal(policy_port_name_invalid(NULL), "must be non-empty");
	assert_string_equal(policy_port_name_invalid("HTTP"), MSG_ALNUM);
	assert_string_equal(policy_port_name_invalid("a_b"), MSG_ALNUM);
	assert_string_equal(policy_port_name_invalid("a b"), MSG_ALNUM);
	assert_string_equal(policy_port_name_invalid("a.b"), MSG_ALNUM);
	assert_string_equal(policy_port_name_invalid("h\xc3\xa9"), MSG_ALNUM);
	assert_string_equal(policy_port_name_invalid("a--b"),
			    "must not contain consecutive hyphens");
	assert_string_equal(policy_port_name_invalid("8080"),
			    "must contain at least one letter (a-z)");
	assert_string_equal(policy_port_name_invalid("-"),
			    "must contain at least one letter (a-z)");
	assert_string_equal(policy_port_name_invalid("-http"),
			    "must not begin or end with a hyphen");
	assert_string_equal(policy_port_name_invalid("http-"),
			    "must not begin or end with a hyphen");
}

static void test_container_id(void **state)
{
	_cleanup_free_ char *id11 = repeat('a', 11), *id12 = repeat('0', 12);
	_cleanup_free_ char *id128 = repeat('f', 128), *id129 = repeat('f', 129);

	assert_null(policy_container_id_invalid(id12));
	assert_null(policy_container_id_invalid(id128));
	assert_null(policy_container_id_invalid("0123456789abcdef"));
	assert_string_equal(policy_container_id_invalid(id11),
			    "must be 12 to 128 hexadecimal digits");
	assert_string_equal(policy_container_id_invalid(id129),
			    "must be 12 to 128 hexadecimal digits");
	assert_string_equal(policy_container_id_invalid(""),
			    "must be 12 to 128 hexadecimal digits");
	assert_string_equal(policy_container_id_invalid(NULL),
			    "must be 12 to 128 hexadecimal digits");
	assert_string_equal(policy_container_id_invalid("0123456789ABCDEF"),
			    "must contain only lowercase hexadecimal digits");
	assert_string_equal(policy_container_id_invalid("0123456789abcdeg"),
			    "must contain only lowercase hexadecimal digits");
	assert_string_equal(policy_container_id_invalid("0123456789ab cd"),
			    "must contain only lowercase hexadecimal digits");
}

static void test_netns_name(void **state)
{
	_cleanup_free_ char *n255 = repeat('n', 255), *n256 = repeat('n', 256);

	assert_null(policy_netns_name_invalid("red"));
	assert_null(policy_netns_name_invalid("a"));
	assert_null(policy_netns_name_invalid("..."));
	assert_null(policy_netns_name_invalid(".hidden"));
	assert_null(policy_netns_name_invalid(n255));
	assert_string_equal(policy_netns_name_invalid(n256), "must be 1 to 255 bytes");
	assert_string_equal(policy_netns_name_invalid(""), "must be 1 to 255 bytes");
	assert_string_equal(policy_netns_name_invalid(NULL), "must be 1 to 255 bytes");
	assert_string_equal(policy_netns_name_invalid("a/b"), "must not contain '/'");
	assert_string_equal(policy_netns_name_invalid("/"), "must not contain '/'");
	assert_string_equal(policy_netns_name_invalid("."), "must not be '.' or '..'");
	assert_string_equal(policy_netns_name_invalid(".."), "must not be '.' or '..'");
}

static void expect_spec(const char *s, int want_r, uint16_t want_port, enum policy_proto want_p)
{
	uint16_t port = 4242;
	enum policy_proto proto = _POLICY_PROTO_MAX;
	int r = policy_port_spec_parse(s, &port, &proto);

	if (r != want_r)
		fail_msg("policy_port_spec_parse(\"%s\") = %d, want %d", s ? s : "(null)", r,
			 want_r);
	if (r < 0) {
		/* nothing is touched on failure */
		assert_int_equal(port, 4242);
		assert_int_equal(proto, _POLICY_PROTO_MAX);
		return;
	}
	assert_int_equal(port, want_port);
	assert_int_equal(proto, want_p);
}

static void test_port_spec(void **state)
{
	expect_spec("80", 0, 80, POLICY_PROTO_TCP);
	expect_spec("1", 0, 1, POLICY_PROTO_TCP);
	expect_spec("65535", 0, 65535, POLICY_PROTO_TCP);
	expect_spec("080", 0, 80, POLICY_PROTO_TCP);
	expect_spec("53/udp", 0, 53, POLICY_PROTO_UDP);
	expect_spec("53/UDP", 0, 53, POLICY_PROTO_UDP);
	expect_spec("53/uDp", 0, 53, POLICY_PROTO_UDP);
	expect_spec("80/tcp", 0, 80, POLICY_PROTO_TCP);
	expect_spec("80/TCP", 0, 80, POLICY_PROTO_TCP);
	expect_spec("9/Sctp", 0, 9, POLICY_PROTO_SCTP);

	expect_spec("0", -ERANGE, 0, 0);
	expect_spec("65536", -ERANGE, 0, 0);
	expect_spec("99999999999999999999999", -ERANGE, 0, 0);
	expect_spec("00000", -ERANGE, 0, 0);
	expect_spec("0/udp", -ERANGE, 0, 0);

	expect_spec(NULL, -EINVAL, 0, 0);
	expect_spec("", -EINVAL, 0, 0);
	expect_spec("http", -EINVAL, 0, 0);
	expect_spec("/tcp", -EINVAL, 0, 0);
	expect_spec("80/", -EINVAL, 0, 0);
	expect_spec("80x", -EINVAL, 0, 0);
	expect_spec("80 ", -EINVAL, 0, 0);
	expect_spec(" 80", -EINVAL, 0, 0);
	expect_spec("+80", -EINVAL, 0, 0);
	expect_spec("-80", -EINVAL, 0, 0);
	expect_spec("8x50", -EINVAL, 0, 0);
	expect_spec("80//tcp", -EPROTONOSUPPORT, 0, 0);
	expect_spec("80/tcp/udp", -EPROTONOSUPPORT, 0, 0);

	expect_spec("80/icmp", -EPROTONOSUPPORT, 0, 0);
	expect_spec("80/tcp ", -EPROTONOSUPPORT, 0, 0);
	expect_spec("80/tc", -EPROTONOSUPPORT, 0, 0);
}

/* A protocol name of 8 characters or more is an unknown protocol too, not a malformed port. */
static void test_port_spec_long_protocol(void **state)
{
	uint16_t port;
	enum policy_proto proto;
	struct policy_named_port np = { 0 };
	char *err = NULL;

	/* An unknown protocol is an unknown protocol, however long its name. */
	assert_int_equal(policy_port_spec_parse("80/tcpudp", &port, &proto), -EPROTONOSUPPORT);
	assert_int_equal(policy_port_spec_parse("80/tcpudpsctp", &port, &proto), -EPROTONOSUPPORT);
	assert_int_equal(policy_named_port_parse("http=80/tcpudpsctp", &np, &err), -EINVAL);
	assert_string_equal(err, "unsupported protocol \"tcpudpsctp\" in \"http=80/tcpudpsctp\" "
				 "(TCP, UDP or SCTP)");
	free(err);
}

static void expect_np(const char *s, const char *name, uint16_t port, enum policy_proto proto)
{
	struct policy_named_port p = { 0 };
	char *err = NULL;
	int r = policy_named_port_parse(s, &p, &err);

	if (r != 0)
		fail_msg("policy_named_port_parse(\"%s\") = %d: %s", s, r, err ? err : "?");
	assert_null(err);
	assert_string_equal(p.name, name);
	assert_int_equal(p.port, port);
	assert_int_equal(p.proto, proto);
	free(p.name);
}

static void expect_np_err(const char *s, int want_r, const char *want_msg)
{
	struct policy_named_port p = { .name = (char *)"untouched",
				       .proto = POLICY_PROTO_SCTP,
				       .port = 7 };
	char *err = NULL;
	int r = policy_named_port_parse(s, &p, &err);

	if (r != want_r)
		fail_msg("policy_named_port_parse(\"%s\") = %d, want %d", s ? s : "(null)", r,
			 want_r);
	assert_non_null(err);
	assert_string_equal(err, want_msg);
	free(err);
	assert_string_equal(p.name, "untouched");
	assert_int_equal(p.port, 7);
	assert_int_equal(p.proto, POLICY_PROTO_SCTP);

	/* without reterr: the same answer, no message */
	assert_int_equal(policy_named_port_parse(s, &p, NULL), want_r);
	assert_string_equal(p.name, "untouched");
}

static void test_named_port(void **state)
{
	expect_np("http=80", "http", 80, POLICY_PROTO_TCP);
	expect_np("dns=53/udp", "dns", 53, POLICY_PROTO_UDP);
	expect_np("dns=53/UDP", "dns", 53, POLICY_PROTO_UDP);
	expect_np("x=65535/sctp", "x", 65535, POLICY_PROTO_SCTP);
	expect_np("abcdefghijklmno=1", "abcdefghijklmno", 1, POLICY_PROTO_TCP);

	expect_np_err(NULL, -EINVAL, "no port given");
	expect_np_err("http", -EINVAL, "\"http\" is not NAME=PORT[/PROTOCOL]");
	expect_np_err("", -EINVAL, "\"\" is not NAME=PORT[/PROTOCOL]");
	expect_np_err("=80", -EINVAL, "invalid port name \"\": must be 1 to 15 characters");
	expect_np_err("abcdefghijklmnop=80", -EINVAL,
		      "invalid port name \"abcdefghijklmnop\": must be 1 to 15 characters");
	expect_np_err("HTTP=80", -EINVAL, "invalid port name \"HTTP\": " MSG_ALNUM);
	expect_np_err(" http=80", -EINVAL, "invalid port name \" http\": " MSG_ALNUM);
	expect_np_err("a--b=80", -EINVAL,
		      "invalid port name \"a--b\": must not contain consecutive hyphens");
	expect_np_err("8080=80", -EINVAL,
		      "invalid port name \"8080\": must contain at least one letter (a-z)");
	expect_np_err("http=", -EINVAL, "invalid port number \"\" in \"http=\" (1-65535)");
	expect_np_err("http=0", -EINVAL, "invalid port number \"0\" in \"http=0\" (1-65535)");
	expect_np_err("http=65536", -EINVAL,
		      "invalid port number \"65536\" in \"http=65536\" (1-65535)");
	expect_np_err("http=x/tcp", -EINVAL,
		      "invalid port number \"x\" in \"http=x/tcp\" (1-65535)");
	expect_np_err("http=80 ", -EINVAL, "invalid port number \"80 \" in \"http=80 \" (1-65535)");
	expect_np_err("http=80=81", -EINVAL,
		      "invalid port number \"80=81\" in \"http=80=81\" (1-65535)");
	expect_np_err("http=80/", -EINVAL, "invalid port number \"80\" in \"http=80/\" (1-65535)");
	expect_np_err("http=80/icmp", -EINVAL,
		      "unsupported protocol \"icmp\" in \"http=80/icmp\" (TCP, UDP or SCTP)");
}

static void test_named_ports_add(void **state)
{
	struct policy_named_port *ports = NULL, p;
	size_t n = 0;
	char *err = NULL;

	for (int i = 0; i < POLICY_MAX_ENDPOINT_PORTS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		p = (struct policy_named_port){ .name = strdup(name), .port = (uint16_t)(i + 1) };
		assert_int_equal(policy_named_ports_add(&ports, &n, &p, &err), 0);
		assert_null(p.name); /* taken */
	}
	assert_int_equal(n, 64);
	assert_string_equal(ports[63].name, "p63");
	assert_int_equal(ports[63].port, 64);

	/* a duplicate is refused before the limit is */
	p = (struct policy_named_port){ .name = strdup("p5"), .port = 9 };
	assert_int_equal(policy_named_ports_add(&ports, &n, &p, &err), -EEXIST);
	assert_string_equal(err, "port name \"p5\" given twice");
	assert_string_equal(p.name, "p5"); /* still the caller's */
	free(err);
	free(p.name);

	p = (struct policy_named_port){ .name = strdup("extra"), .port = 9 };
	assert_int_equal(policy_named_ports_add(&ports, &n, &p, &err), -E2BIG);
	assert_string_equal(err, "more than 64 named ports");
	assert_string_equal(p.name, "extra");
	assert_int_equal(n, 64);
	free(err);
	assert_int_equal(policy_named_ports_add(&ports, &n, &p, NULL), -E2BIG);
	free(p.name);

	policy_named_ports_free(ports, n);
	policy_named_ports_free(NULL, 3); /* NULL-safe */
}

static void expect_label_ports_err(const char *s, int want_r, const char *want_msg)
{
	struct policy_named_port *ports = (struct policy_named_port *)0x1;
	size_t n = 4242;
	char *err = NULL;
	int r = policy_ports_label_parse(s, &ports, &n, &err);

	if (r != want_r)
		fail_msg("policy_ports_label_parse(\"%.80s\") = %d, want %d (%s)", s ? s : "(null)",
			 r, want_r, err ? err : "no message");
	assert_non_null(err);
	assert_string_equal(err, want_msg);
	free(err);
	assert_ptr_equal(ports, (struct policy_named_port *)0x1);
	assert_int_equal(n, 4242);
}

static void test_ports_label(void **state)
{
	struct policy_named_port *ports = NULL;
	size_t n = 99;
	char *err = NULL, *big;

	assert_int_equal(policy_ports_label_parse("", &ports, &n, &err), 0);
	assert_int_equal(n, 0);
	policy_named_ports_free(ports, n);

	assert_int_equal(policy_ports_label_parse("http=80,dns=53/udp,m=9/SCTP", &ports, &n, &err),
			 0);
	assert_null(err);
	assert_int_equal(n, 3);
	assert_string_equal(ports[0].name, "http");
	assert_int_equal(ports[0].port, 80);
	assert_int_equal(ports[0].proto, POLICY_PROTO_TCP);
	assert_string_equal(ports[1].name, "dns");
	assert_int_equal(ports[1].proto, POLICY_PROTO_UDP);
	assert_string_equal(ports[2].name, "m");
	assert_int_equal(ports[2].proto, POLICY_PROTO_SCTP);
	policy_named_ports_free(ports, n);

	expect_label_ports_err(NULL, -EINVAL, "no ports given");
	expect_label_ports_err("http=80,", -EINVAL, "a trailing ',' names no port");
	expect_label_ports_err(",", -EINVAL, "\"\" is not NAME=PORT[/PROTOCOL]");
	expect_label_ports_err(",http=80", -EINVAL, "\"\" is not NAME=PORT[/PROTOCOL]");
	expect_label_ports_err("http=80,,dns=53", -EINVAL, "\"\" is not NAME=PORT[/PROTOCOL]");
	expect_label_ports_err("http=80, dns=53", -EINVAL,
			       "invalid port name \" dns\": " MSG_ALNUM);
	expect_label_ports_err("http=80,http=81", -EEXIST, "port name \"http\" given twice");
	expect_label_ports_err("http=80,dns=99999", -EINVAL,
			       "invalid port number \"99999\" in \"dns=99999\" (1-65535)");
	expect_label_ports_err(
		"dns=53/icmp,http=80", -EINVAL,
		"unsupported protocol \"icmp\" in \"dns=53/icmp\" (TCP, UDP or SCTP)");

	/* 64 ports, and one more */
	big = calloc(1, 4200);
	assert_non_null(big);
	for (int i = 0; i < POLICY_MAX_ENDPOINT_PORTS; i++)
		sprintf(big + strlen(big), "%sp%d=%d", i ? "," : "", i, i + 1);
	assert_int_equal(policy_ports_label_parse(big, &ports, &n, &err), 0);
	assert_int_equal(n, 64);
	policy_named_ports_free(ports, n);
	strcat(big, ",p64=65");
	expect_label_ports_err(big, -E2BIG, "more than 64 named ports");

	/* 4096 bytes are parsed (and fail on their content), 4097 are refused unread */
	memset(big, 0, 4200);
	strcpy(big, "a=1");
	memset(big + 3, '1', 4096 - 3);
	assert_int_equal(strlen(big), 4096);
	assert_int_equal(policy_ports_label_parse(big, &ports, &n, NULL), -EINVAL);
	strcat(big, "1");
	expect_label_ports_err(big, -E2BIG, "over 4096 bytes");
	free(big);
}

static void expect_labels(const char *s, const char *const *kv)
{
	struct policy_labels l = { 0 };
	char *err = NULL;
	size_t n = 0;
	int r = policy_labels_annotation_parse(s, &l, &err);

	if (r != 0)
		fail_msg("policy_labels_annotation_parse(\"%s\") = %d: %s", s, r, err ? err : "?");
	assert_null(err);
	for (; kv[2 * n]; n++) {
		assert_true(n < l.n);
		/* sorted by key */
		assert_string_equal(l.items[n].key, kv[2 * n]);
		assert_string_equal(l.items[n].value, kv[2 * n + 1]);
	}
	assert_int_equal(l.n, n);
	policy_labels_done(&l);
}

static void expect_labels_err(const char *s, int want_r, const char *want_msg)
{
	struct policy_label item = { (char *)"k", (char *)"v" };
	struct policy_labels l = { &item, 1 };
	char *err = NULL;
	int r = policy_labels_annotation_parse(s, &l, &err);

	if (r != want_r)
		fail_msg("policy_labels_annotation_parse(\"%.80s\") = %d, want %d (%s)",
			 s ? s : "(null)", r, want_r, err ? err : "no message");
	assert_non_null(err);
	if (want_msg)
		assert_string_equal(err, want_msg);
	free(err);
	assert_ptr_equal(l.items, &item); /* untouched */
	assert_int_equal(l.n, 1);
	assert_int_equal(policy_labels_annotation_parse(s, &l, NULL), want_r);
}

static void test_labels_annotation(void **state)
{
	char *big, *p;

	expect_labels("", (const char *const[]){ NULL });
	expect_labels("app=web", (const char *const[]){ "app", "web", NULL });
	expect_labels("tier=front;app=web;empty=",
		      (const char *const[]){ "app", "web", "empty", "", "tier", "front", NULL });
	expect_labels("example.com/role=db",
		      (const char *const[]){ "example.com/role", "db", NULL });
	expect_labels("{}", (const char *const[]){ NULL });
	expect_labels("{\"b\": \"2\", \"a\": \"1\"}",
		      (const char *const[]){ "a", "1", "b", "2", NULL });
	expect_labels("{ \"app\":\"web\" }  ", (const char *const[]){ "app", "web", NULL });

	expect_labels_err(NULL, -EINVAL, "no labels given");
	expect_labels_err("app", -EINVAL, "\"app\" is not KEY=VALUE");
	expect_labels_err("app=web;", -EINVAL, "\"\" is not KEY=VALUE");
	expect_labels_err(";app=web", -EINVAL, "\"\" is not KEY=VALUE");
	expect_labels_err("[\"app\"]", -EINVAL, "\"[\"app\"]\" is not KEY=VALUE");
	expect_labels_err("app=web;app=db", -EEXIST, "label \"app\" given twice");
	expect_labels_err("app=web; tier=db", -EINVAL,
			  "invalid label key \" tier\": " MSG_KEY_NAME);
	expect_labels_err("=web", -EINVAL, "invalid label key \"\": name part must be non-empty");
	expect_labels_err("app=we b", -EINVAL, "label \"app\": invalid value \"we b\": " MSG_VALUE);
	expect_labels_err("app=a=b", -EINVAL, "label \"app\": invalid value \"a=b\": " MSG_VALUE);
	expect_labels_err("{\"app\": 1}", -EINVAL, "label \"app\": not a string");
	expect_labels_err("{\"app\": null}", -EINVAL, "label \"app\": not a string");
	expect_labels_err("{\"a b\": \"x\"}", -EINVAL, "invalid label key \"a b\": " MSG_KEY_NAME);
	expect_labels_err("{\"app\": \"-x\"}", -EINVAL,
			  "label \"app\": invalid value \"-x\": " MSG_VALUE);
	expect_labels_err("{\"a\": \"1\", \"a\": \"2\"}", -EINVAL,
			  "not a JSON object of strings: duplicate object key near '\"a\"'");
	expect_labels_err("{\"a\": \"1\"", -EINVAL, NULL);
	expect_labels_err("{\"a\": \"1\"} x", -EINVAL, NULL);
	expect_labels_err("{\"a\": \"x\\u0000y\"}", -EINVAL, NULL);

	/* keys and values are cut to 64 characters in messages */
	big = calloc(1, 300);
	assert_non_null(big);
	memset(big, 'k', 100);
	strcat(big, "=v");
	p = calloc(1, 300);
	assert_non_null(p);
	snprintf(p, 300,
		 "invalid label key \"%.64s\": name part must be no more than 63 characters", big);
	expect_labels_err(big, -EINVAL, p);
	free(p);
	free(big);

	/* 256 labels, and one more, in both grammars */
	big = calloc(1, 16 * 1024);
	assert_non_null(big);
	for (int i = 0; i < POLICY_MAX_LABELS; i++)
		sprintf(big + strlen(big), "%sk%d=v", i ? ";" : "", i);
	{
		struct policy_labels l = { 0 };

		assert_int_equal(policy_labels_annotation_parse(big, &l, NULL), 0);
		assert_int_equal(l.n, 256);
		policy_labels_done(&l);
	}
	strcat(big, ";k256=v");
	expect_labels_err(big, -E2BIG, "more than 256 labels");
	strcpy(big, "{");
	for (int i = 0; i <= POLICY_MAX_LABELS; i++)
		sprintf(big + strlen(big), "%s\"k%d\": \"v\"", i ? ", " : "", i);
	strcat(big, "}");
	expect_labels_err(big, -E2BIG, "more than 256 labels");
	free(big);

	/* 65536 bytes are read, 65537 are not */
	big = calloc(1, 65538);
	assert_non_null(big);
	memset(big, 'a', 65536);
	expect_labels_err(big, -EINVAL, NULL);
	big[65536] = 'a';
	expect_labels_err(big, -E2BIG, "over 65536 bytes");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_name),
		cmocka_unit_test(test_container_id),
		cmocka_unit_test(test_netns_name),
		cmocka_unit_test(test_port_spec),
		cmocka_unit_test(test_port_spec_long_protocol),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_named_ports_add),
		cmocka_unit_test(test_ports_label),
		cmocka_unit_test(test_labels_annotation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
