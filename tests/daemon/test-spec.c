/* SPDX-License-Identifier: MIT */
/*
 * spec: the JSON bodies of endpoint, label and hook requests. Valid bodies decode to the
 * typed spec; each field made invalid in turn fails with the field named in the message and
 * the output left alone; limits (labels, ports) and duplicates; the segd.io/labels annotation
 * in both grammars, a bad one quarantining rather than failing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "containers.h"
#include "spec.h"
#include "unit.h"

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MSG_DNS_LABEL                                                                       \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or " \
	"'-', and must start and end with an alphanumeric character"

static void test_endpoint_valid(void **state)
{
	json_auto_t *o = json_parse("{\"name\": \"web\", \"netns\": \"red\"}");
	struct endpoint_spec s = { 0 };
	struct op_error err = { 0 };

	assert_int_equal(endpoint_spec_from_json(o, &s, &err), 0);
	assert_null(err.message);
	assert_string_equal(s.name, "web");
	assert_string_equal(s.netns, "red");
	assert_string_equal(s.namespace, "default");
	assert_int_equal(s.labels.n, 0);
	assert_int_equal(s.n_ports, 0);
	endpoint_spec_done(&s);
	assert_null(s.name);

	json_decref(o);
	o = json_parse("{\"name\": \"db-1\", \"netns\": \"db.ns\", \"namespace\": \"shop\","
		       " \"labels\": {\"tier\": \"db\", \"app\": \"pg\", \"example.com/x\": \"\"},"
		       " \"ports\": [{\"name\": \"pg\", \"port\": 5432},"
		       "            {\"name\": \"metrics\", \"port\": 9187, \"protocol\": \"UDP\"},"
		       "            {\"name\": \"s\", \"port\": 65535, \"protocol\": \"SCTP\"}]}");
	assert_int_equal(endpoint_spec_from_json(o, &s, &err), 0);
	assert_string_equal(s.namespace, "shop");
	assert_int_equal(s.labels.n, 3);
	assert_string_equal(policy_labels_get(&s.labels, "app"), "pg");
	assert_string_equal(policy_labels_get(&s.labels, "example.com/x"), "");
	assert_string_equal(s.labels.items[0].key, "app"); /* sorted */
	assert_int_equal(s.n_ports, 3);
	assert_string_equal(s.ports[0].name, "pg");
	assert_int_equal(s.ports[0].port, 5432);
	assert_int_equal(s.ports[0].proto, POLICY_PROTO_TCP);
	assert_string_equal(s.ports[1].name, "metrics");
	assert_int_equal(s.ports[1].proto, POLICY_PROTO_UDP);
	assert_int_equal(s.ports[2].port, 65535);
	assert_int_equal(s.ports[2].proto, POLICY_PROTO_SCTP);
	endpoint_spec_done(&s);
}

static void expect_endpoint_err(const char *text, int want_r, const char *want_msg)
{
	json_auto_t *o = json_parse(text);
	struct endpoint_spec s = { .name = (char *)"untouched" };
	struct op_error err = { 0 };
	int r = endpoint_spec_from_json(o, &s, &err);

	if (r != want_r)
		fail_msg("endpoint_spec_from_json(%s) = %d (%s), want %d", text, r,
			 err.message ? err.message : "no message", want_r);
	assert_non_null(err.message);
	if (strcmp(err.message, want_msg) != 0)
		fail_msg("%s:\n  got:  %s\n  want: %s", text, err.message, want_msg);
	assert_string_equal(s.name, "untouched");
	assert_null(s.netns);
	op_error_done(&err);
}

static void test_endpoint_invalid(void **state)
{
	expect_endpoint_err("[]", -EINVAL, "invalid endpoint: Expected object, got array");
	expect_endpoint_err("{\"netns\": \"red\"}", -EINVAL,
			    "invalid endpoint: Object item not found: name");
	expect_endpoint_err("{\"name\": \"web\"}", -EINVAL,
			    "invalid endpoint: Object item not found: netns");
	expect_endpoint_err("{\"name\": 1, \"netns\": \"red\"}", -EINVAL,
			    "invalid endpoint: Expected string, got integer");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"extra\": 1}", -EINVAL,
			    "invalid endpoint: 1 object item(s) left unpacked: extra");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"namespace\": null}", -EINVAL,
			    "invalid endpoint: Expected string, got null");

	expect_endpoint_err("{\"name\": \"Web\", \"netns\": \"red\"}", -EINVAL,
			    "name: invalid endpoint name \"Web\": " MSG_DNS_LABEL);
	expect_endpoint_err("{\"name\": \"\", \"netns\": \"red\"}", -EINVAL,
			    "name: invalid endpoint name \"\": must be non-empty");
	expect_endpoint_err(
		"{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		" \"netns\": \"red\"}",
		-EINVAL,
		"name: invalid endpoint name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaa\": must be no more than 63 characters");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"namespace\": \"Shop\"}",
			    -EINVAL, "namespace: invalid namespace \"Shop\": " MSG_DNS_LABEL);
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"a/b\"}", -EINVAL,
			    "netns: invalid network namespace name \"a/b\": must not contain '/'");
	expect_endpoint_err(
		"{\"name\": \"web\", \"netns\": \"..\"}", -EINVAL,
		"netns: invalid network namespace name \"..\": must not be '.' or '..'");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"\"}", -EINVAL,
			    "netns: invalid network namespace name \"\": must be 1 to 255 bytes");

	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"labels\": [\"a\"]}", -EINVAL,
			    "labels: must be an object of strings");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"labels\": {\"app\": 1}}",
			    -EINVAL, "labels.app: must be a string");
	expect_endpoint_err(
		"{\"name\": \"web\", \"netns\": \"red\", \"labels\": {\"a b\": \"x\"}}", -EINVAL,
		"labels: invalid label key \"a b\": name part must consist of "
		"alphanumeric characters, '-', '_' or '.', and must start and end with an "
		"alphanumeric character");
	expect_endpoint_err(
		"{\"name\": \"web\", \"netns\": \"red\", \"labels\": {\"app\": \"-x\"}}", -EINVAL,
		"labels: label \"app\": invalid value \"-x\": a valid label must be an "
		"empty string or consist of alphanumeric characters, '-', '_' or '.', and "
		"must start and end with an alphanumeric character");

	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": {}}", -EINVAL,
			    "ports: must be an array");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": [{\"port\": 80}]}",
			    -EINVAL, "ports[0]: Object item not found: name");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": 80, \"x\": 1}]}",
			    -EINVAL, "ports[0]: 1 object item(s) left unpacked: x");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": \"80\"}]}",
			    -EINVAL, "ports[0]: Expected integer, got string");
	expect_endpoint_err(
		"{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
		"[{\"name\": \"a\", \"port\": 80}, {\"name\": \"HTTP\", \"port\": 80}]}",
		-EINVAL,
		"ports[1].name: invalid port name \"HTTP\": must contain only "
		"alpha-numeric characters (a-z, 0-9), and hyphens (-)");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": 0}]}",
			    -ERANGE, "ports[0].port: 0 out of 1-65535");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": 65536}]}",
			    -ERANGE, "ports[0].port: 65536 out of 1-65535");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": -1}]}",
			    -ERANGE, "ports[0].port: -1 out of 1-65535");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": 80, \"protocol\": \"tcp\"}]}",
			    -EINVAL,
			    "ports[0].protocol: unsupported protocol \"tcp\" (TCP, UDP or SCTP)");
	expect_endpoint_err("{\"name\": \"web\", \"netns\": \"red\", \"ports\": "
			    "[{\"name\": \"a\", \"port\": 80}, {\"name\": \"a\", \"port\": 81, "
			    "\"protocol\": \"UDP\"}]}",
			    -EEXIST, "ports[1]: port name \"a\" given twice");
}

static void test_endpoint_limits(void **state)
{
	json_auto_t *o = json_parse("{\"name\": \"web\", \"netns\": \"red\"}");
	json_t *labels = json_object(), *ports = json_array();
	struct endpoint_spec s = { 0 };
	struct op_error err = { 0 };

	assert_non_null(labels);
	assert_non_null(ports);
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "ports", ports);
	for (int i = 0; i < POLICY_MAX_LABELS; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(labels, k, json_string("v"));
	}
	for (int i = 0; i < POLICY_MAX_ENDPOINT_PORTS; i++) {
		char n[16];

		snprintf(n, sizeof(n), "p%d", i);
		json_array_append_new(ports, json_pack("{s:s, s:i}", "name", n, "port", i + 1));
	}
	assert_int_equal(endpoint_spec_from_json(o, &s, &err), 0);
	assert_int_equal(s.labels.n, 256);
	assert_int_equal(s.n_ports, 64);
	endpoint_spec_done(&s);

	json_array_append_new(ports, json_pack("{s:s, s:i}", "name", "p64", "port", 65));
	assert_int_equal(endpoint_spec_from_json(o, &s, &err), -E2BIG);
	assert_string_equal(err.message, "ports: more than 64 entries");
	json_object_set_new(labels, "k256", json_string("v"));
	assert_int_equal(endpoint_spec_from_json(o, &s, &err), -E2BIG);
	assert_string_equal(err.message, "labels: more than 256 labels");
	assert_null(s.name);
	op_error_done(&err);
}

static void test_label_change(void **state)
{
	json_auto_t *o = json_parse("{}");
	struct label_change c = { 0 };
	struct op_error err = { 0 };
	json_t *remove;

	assert_int_equal(label_change_from_json(o, &c, &err), 0);
	assert_int_equal(c.set.n, 0);
	assert_int_equal(c.n_remove, 0);
	label_change_done(&c);

	json_decref(o);
	o = json_parse(
		"{\"set\": {\"b\": \"2\", \"a\": \"1\"}, \"remove\": [\"c\", \"d\", \"c\"]}");
	assert_int_equal(label_change_from_json(o, &c, &err), 0);
	assert_int_equal(c.set.n, 2);
	assert_string_equal(c.set.items[0].key, "a");
	assert_string_equal(policy_labels_get(&c.set, "b"), "2");
	assert_int_equal(c.n_remove, 3);
	assert_string_equal(c.remove[0], "c");
	assert_string_equal(c.remove[2], "c");
	label_change_done(&c);
	assert_int_equal(c.n_remove, 0);

	/* 256 keys to remove, and one more */
	json_decref(o);
	o = json_parse("{\"remove\": []}");
	remove = json_object_get(o, "remove");
	for (int i = 0; i < POLICY_MAX_LABELS; i++)
		json_array_append_new(remove, json_sprintf("k%d", i));
	assert_int_equal(label_change_from_json(o, &c, &err), 0);
	assert_int_equal(c.n_remove, 256);
	assert_string_equal(c.remove[255], "k255");
	label_change_done(&c);
	json_array_append_new(remove, json_string("k256"));
	c.n_remove = 77;
	assert_int_equal(label_change_from_json(o, &c, &err), -E2BIG);
	assert_string_equal(err.message, "remove: more than 256 keys");
	assert_int_equal(c.n_remove, 77); /* untouched */
	op_error_done(&err);
}

static void expect_change_err(const char *text, int want_r, const char *want_msg)
{
	json_auto_t *o = json_parse(text);
	struct label_change c = { .n_remove = 77 };
	struct op_error err = { 0 };
	int r = label_change_from_json(o, &c, &err);

	if (r != want_r)
		fail_msg("label_change_from_json(%s) = %d, want %d", text, r, want_r);
	assert_non_null(err.message);
	assert_string_equal(err.message, want_msg);
	assert_int_equal(c.n_remove, 77);
	op_error_done(&err);
}

static void test_label_change_invalid(void **state)
{
	expect_change_err("{\"add\": {}}", -EINVAL,
			  "invalid label change: 1 object item(s) left unpacked: add");
	expect_change_err("\"x\"", -EINVAL, "invalid label change: Expected object, got string");
	expect_change_err("{\"set\": [\"a\"]}", -EINVAL, "set: must be an object of strings");
	expect_change_err("{\"set\": {\"a\": true}}", -EINVAL, "set.a: must be a string");
	expect_change_err(
		"{\"set\": {\"-a\": \"x\"}}", -EINVAL,
		"set: invalid label key \"-a\": name part must consist of alphanumeric "
		"characters, '-', '_' or '.', and must start and end with an alphanumeric "
		"character");
	expect_change_err("{\"remove\": \"a\"}", -EINVAL, "remove: must be an array of keys");
	expect_change_err("{\"remove\": [\"a\", 1]}", -EINVAL, "remove[1]: must be a string");
	expect_change_err("{\"set\": {\"a\": \"b\"}, \"remove\": [null]}", -EINVAL,
			  "remove[0]: must be a string");
	expect_change_err(
		"{\"remove\": [\"a\", \"-b\"]}", -EINVAL,
		"remove[1]: invalid label key \"-b\": name part must consist of alphanumeric "
		"characters, '-', '_' or '.', and must start and end with an alphanumeric "
		"character");
}

static void test_hook_request(void **state)
{
	json_auto_t *o = json_parse("{\"id\": \"" ID64 "\"}");
	struct hook_request h = { 0 };
	struct op_error err = { 0 };

	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_string_equal(h.id, ID64);
	assert_int_equal(h.pid, 0);
	assert_null(h.netns);
	assert_false(h.labels_known);
	assert_null(h.labels_invalid);
	hook_request_done(&h);

	json_decref(o);
	o = json_parse("{\"id\": \"0123456789ab\", \"pid\": 4242, \"netns\": \"/proc/4242/ns/net\","
		       " \"annotations\": {\"other\": \"x\"}}");
	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_string_equal(h.id, "0123456789ab");
	assert_int_equal(h.pid, 4242);
	assert_string_equal(h.netns, "/proc/4242/ns/net");
	assert_false(h.labels_known); /* no segd.io/labels annotation */
	hook_request_done(&h);

	json_decref(o);
	o = json_parse("{\"id\": \"0123456789ab\", \"netns\": null, \"pid\": 4194303}");
	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_null(h.netns);
	assert_int_equal(h.pid, 4194303); /* the highest pid there can be */
	hook_request_done(&h);

	/* What segd-oci-hook sends when neither the OCI state nor the bundle's config has
	 * annotations (found by fuzz-hook): none, not a refusal. */
	json_decref(o);
	o = json_parse("{\"id\": \"" ID64 "\", \"pid\": 7, \"netns\": null, "
		       "\"annotations\": null}");
	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_int_equal(h.pid, 7);
	assert_false(h.labels_known);
	assert_null(h.labels_invalid);
	hook_request_done(&h);
	assert_null(err.message);
}

static void expect_annotation(const char *value, const char *const *kv, const char *invalid)
{
	json_auto_t *o = json_pack("{s:s, s:{s:s}}", "id", ID64, "annotations",
				   CONTAINER_ANNOTATION_LABELS, value);
	struct hook_request h = { 0 };
	struct op_error err = { 0 };
	size_t n = 0;

	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_null(err.message);
	assert_true(h.labels_known);
	if (invalid) {
		assert_non_null(h.labels_invalid);
		assert_string_equal(h.labels_invalid, invalid);
		assert_int_equal(h.labels.n, 0);
	} else {
		assert_null(h.labels_invalid);
	}
	for (; kv && kv[2 * n]; n++)
		assert_string_equal(policy_labels_get(&h.labels, kv[2 * n]), kv[2 * n + 1]);
	assert_int_equal(h.labels.n, n);
	hook_request_done(&h);
}

static void test_hook_annotation(void **state)
{
	expect_annotation("app=web;tier=front",
			  (const char *const[]){ "app", "web", "tier", "front", NULL }, NULL);
	expect_annotation("{\"app\": \"web\", \"example.com/team\": \"a\"}",
			  (const char *const[]){ "app", "web", "example.com/team", "a", NULL },
			  NULL);
	/* known, and no labels at all */
	expect_annotation("", NULL, NULL);
	expect_annotation("{}", NULL, NULL);
	/* bad: the request stands, the labels are unusable and say why */
	expect_annotation("app", NULL, "annotation segd.io/labels: \"app\" is not KEY=VALUE");
	expect_annotation("app=web;app=db", NULL,
			  "annotation segd.io/labels: label \"app\" given twice");
	expect_annotation("{\"app\": 5}", NULL,
			  "annotation segd.io/labels: label \"app\": not a string");
	expect_annotation("{\"app\": ", NULL,
			  "annotation segd.io/labels: not a JSON object of strings: unexpected "
			  "token near end of file");
}

static void test_hook_annotation_not_a_string(void **state)
{
	json_auto_t *o = json_pack("{s:s, s:{s:i}}", "id", ID64, "annotations",
				   CONTAINER_ANNOTATION_LABELS, 5);
	struct hook_request h = { 0 };
	struct op_error err = { 0 };

	/* OCI annotations are strings. One that is not makes the labels unusable, with the
	 * reason: the container stays quarantined (fail closed) and says why until the engine
	 * reports its labels, and the request itself stands. */
	assert_int_equal(hook_request_from_json(o, &h, &err), 0);
	assert_true(h.labels_known);
	assert_string_equal(h.labels_invalid, "annotation segd.io/labels: not a string");
	assert_int_equal(h.labels.n, 0);
	hook_request_done(&h);
}

static void expect_hook_err(const char *text, int want_r, const char *want_msg)
{
	json_auto_t *o = json_parse(text);
	struct hook_request h = { .pid = 77 };
	struct op_error err = { 0 };
	int r = hook_request_from_json(o, &h, &err);

	if (r != want_r)
		fail_msg("hook_request_from_json(%s) = %d, want %d", text, r, want_r);
	assert_non_null(err.message);
	if (strcmp(err.message, want_msg) != 0)
		fail_msg("%s:\n  got:  %s\n  want: %s", text, err.message, want_msg);
	assert_int_equal(h.pid, 77);
	assert_null(h.id);
	op_error_done(&err);
}

static void test_hook_invalid(void **state)
{
	expect_hook_err("{}", -EINVAL, "invalid hook request: Object item not found: id");
	expect_hook_err("{\"id\": \"" ID64 "\", \"x\": 1}", -EINVAL,
			"invalid hook request: 1 object item(s) left unpacked: x");
	expect_hook_err("{\"id\": \"" ID64 "\", \"pid\": \"1\"}", -EINVAL,
			"invalid hook request: Expected integer, got string");
	expect_hook_err("{\"id\": \"abc\"}", -EINVAL,
			"id: invalid container id: must be 12 to 128 hexadecimal digits");
	expect_hook_err("{\"id\": \"0123456789AB\"}", -EINVAL,
			"id: invalid container id: must contain only lowercase hexadecimal digits");
	expect_hook_err("{\"id\": \"" ID64 "\", \"pid\": -1}", -EINVAL, "pid: invalid pid -1");
	expect_hook_err("{\"id\": \"" ID64 "\", \"pid\": 4194304}", -EINVAL,
			"pid: invalid pid 4194304");
	expect_hook_err("{\"id\": \"" ID64 "\", \"netns\": 3}", -EINVAL,
			"netns: must be a path or null");
	expect_hook_err("{\"id\": \"" ID64 "\", \"netns\": {}}", -EINVAL,
			"netns: must be a path or null");
	expect_hook_err("{\"id\": \"" ID64 "\", \"annotations\": [\"a\"]}", -EINVAL,
			"annotations: must be an object");
	expect_hook_err("{\"id\": \"" ID64 "\", \"annotations\": \"a=b\"}", -EINVAL,
			"annotations: must be an object");
}

static void test_hook_id(void **state)
{
	json_auto_t *o = json_parse("{\"id\": \"" ID64 "\", \"status\": \"stopped\", \"pid\": 0}");
	struct op_error err = { 0 };
	char *id = (char *)"untouched";

	/* poststop bodies carry the whole OCI state: other fields are fine */
	assert_int_equal(hook_id_from_json(o, &id, &err), 0);
	assert_string_equal(id, ID64);
	free(id);

	id = (char *)"untouched";
	json_decref(o);
	o = json_parse("{\"id\": \"0123\"}");
	assert_int_equal(hook_id_from_json(o, &id, &err), -EINVAL);
	assert_string_equal(err.message,
			    "id: invalid container id: must be 12 to 128 hexadecimal digits");
	json_decref(o);
	o = json_parse("{\"pid\": 1}");
	assert_int_equal(hook_id_from_json(o, &id, &err), -EINVAL);
	assert_string_equal(err.message, "invalid hook request: Object item not found: id");
	json_decref(o);
	o = json_parse("[\"" ID64 "\"]");
	assert_int_equal(hook_id_from_json(o, &id, &err), -EINVAL);
	assert_string_equal(err.message, "invalid hook request: Expected object, got array");
	json_decref(o);
	o = json_parse("{\"id\": 12}");
	assert_int_equal(hook_id_from_json(o, &id, &err), -EINVAL);
	assert_string_equal(err.message, "invalid hook request: Expected string, got integer");
	assert_string_equal(id, "untouched");
	op_error_done(&err);
}

static void test_op_error(void **state)
{
	struct op_error e = { 0 };

	assert_int_equal(op_error_set(&e, -ENOENT, "%s: %d", "x", 7), -ENOENT);
	assert_string_equal(e.message, "x: 7");
	/* a second message replaces the first */
	assert_int_equal(op_error_set(&e, -EINVAL, "second"), -EINVAL);
	assert_string_equal(e.message, "second");
	assert_int_equal(policy_diags_add(&e.diags, "f", 1, 2, "p", "m"), 0);
	op_error_done(&e);
	assert_null(e.message);
	assert_int_equal(e.diags.n, 0);
	op_error_done(&e); /* twice is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_valid),
		cmocka_unit_test(test_endpoint_invalid),
		cmocka_unit_test(test_endpoint_limits),
		cmocka_unit_test(test_label_change),
		cmocka_unit_test(test_label_change_invalid),
		cmocka_unit_test(test_hook_request),
		cmocka_unit_test(test_hook_annotation),
		cmocka_unit_test(test_hook_annotation_not_a_string),
		cmocka_unit_test(test_hook_invalid),
		cmocka_unit_test(test_hook_id),
		cmocka_unit_test(test_op_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
