/* SPDX-License-Identifier: MIT */
/*
 * engine-parse: the Docker Engine API's answers as hostile input. Container lists (bad ids
 * skipped and counted, shape and size), event lines (types, both id fields, malformed), and
 * inspections (states, pid bounds, names, namespaces, and labels: a bad one quarantines the
 * container instead of dropping it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "containers.h"
#include "engine-parse.h"
#include "unit.h"

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"

static void test_list(void **state)
{
	static const char text[] =
		"[{\"Id\": \"" ID1 "\", \"Names\": [\"/a\"]}, {\"Id\": \"short\"}, {\"Id\": 5},"
		" {}, \"" ID2 "\", null, {\"Id\": \"ABCDEF0123456789\"},"
		" {\"Id\": \"0123456789ab\\u0000cdef\"}, {\"Id\": \"0123456789ab\"},"
		" {\"id\": \"" ID2 "\"}]";
	const char *why = NULL;
	char **ids = NULL;
	size_t n = 99, skipped = 99;

	assert_int_equal(engine_parse_list(text, strlen(text), &ids, &n, &skipped, &why), 0);
	assert_null(why);
	assert_int_equal(n, 2);
	assert_int_equal(skipped, 8);
	assert_string_equal(ids[0], ID1);
	assert_string_equal(ids[1], "0123456789ab");
	assert_null(ids[2]);
	engine_strv_free(ids);

	assert_int_equal(engine_parse_list("[]", 2, &ids, &n, &skipped, &why), 0);
	assert_int_equal(n, 0);
	assert_int_equal(skipped, 0);
	assert_non_null(ids);
	assert_null(ids[0]);
	engine_strv_free(ids);
	engine_strv_free(NULL);

	/* only len bytes count */
	assert_int_equal(engine_parse_list("[] trailing", 2, &ids, &n, &skipped, &why), 0);
	engine_strv_free(ids);
}

static void expect_list_err(const char *text, size_t len, const char *want)
{
	const char *why = NULL;
	char **ids = (char **)0x1;
	size_t n = 99, skipped = 99;

	assert_int_equal(engine_parse_list(text, len, &ids, &n, &skipped, &why), -EBADMSG);
	assert_non_null(why);
	assert_string_equal(why, want);
	assert_ptr_equal(ids, (char **)0x1);
	assert_int_equal(n, 99);
	assert_int_equal(skipped, 99);
}

static void expect_list_err_s(const char *text, const char *want)
{
	expect_list_err(text, strlen(text), want);
}

static void test_list_invalid(void **state)
{
	char *big, *p;

	expect_list_err_s("{}", "not an array of at most 65536 containers");
	expect_list_err_s("{\"Id\": \"" ID1 "\"}", "not an array of at most 65536 containers");
	expect_list_err_s("nope", "not JSON");
	expect_list_err_s("", "not JSON");
	expect_list_err_s("[", "not JSON");
	expect_list_err_s("[{\"Id\": \"a\", \"Id\": \"b\"}]", "not JSON"); /* duplicate key */
	expect_list_err_s("[] []", "not JSON");

	/* 65536 entries are read; one more is refused */
	big = malloc(2 * 65537 + 8);
	assert_non_null(big);
	p = big;
	*p++ = '[';
	for (int i = 0; i < 65536; i++) {
		*p++ = '0';
		*p++ = ',';
	}
	p[-1] = ']';
	{
		char **ids = NULL;
		size_t n, skipped;
		const char *why;

		assert_int_equal(engine_parse_list(big, (size_t)(p - big), &ids, &n, &skipped,
						   &why),
				 0);
		assert_int_equal(n, 0);
		assert_int_equal(skipped, 65536);
		engine_strv_free(ids);
	}
	p[-1] = ',';
	*p++ = '0';
	*p++ = ']';
	expect_list_err(big, (size_t)(p - big), "not an array of at most 65536 containers");
	free(big);
}

static void expect_event(const char *line, int want_r, const char *want_id)
{
	char *id = (char *)"untouched";
	const char *why = NULL;
	int r = engine_parse_event(line, strlen(line), &id, &why);

	if (r != want_r)
		fail_msg("engine_parse_event(%s) = %d (%s), want %d", line, r, why ? why : "",
			 want_r);
	if (r == 1) {
		assert_string_equal(id, want_id);
		free(id);
		return;
	}
	assert_string_equal(id, "untouched");
	if (r < 0) {
		assert_non_null(why);
		assert_string_equal(why, want_id);
	}
}

static void test_events(void **state)
{
	/* the current format */
	expect_event("{\"Type\": \"container\", \"Action\": \"start\", \"Actor\": {\"ID\": \"" ID1
		     "\", \"Attributes\": {\"name\": \"web\"}}, \"time\": 1}",
		     1, ID1);
	/* the old one, and Podman's lowercase type */
	expect_event("{\"status\": \"die\", \"id\": \"" ID2 "\", \"from\": \"img\"}", 1, ID2);
	expect_event("{\"type\": \"container\", \"id\": \"" ID2 "\"}", 1, ID2);
	/* "id" wins over Actor.ID */
	expect_event("{\"Type\": \"container\", \"id\": \"" ID1 "\", \"Actor\": {\"ID\": \"" ID2
		     "\"}}",
		     1, ID1);
	/* an invalid "id" does not fall back to Actor.ID */
	expect_event("{\"Type\": \"container\", \"id\": \"x\", \"Actor\": {\"ID\": \"" ID2 "\"}}",
		     -EBADMSG, "no valid container id");
	/* other types: not ours, whatever else they hold */
	expect_event("{\"Type\": \"network\", \"Actor\": {\"ID\": \"" ID1 "\"}}", 0, NULL);
	expect_event("{\"Type\": \"image\"}", 0, NULL);
	expect_event("{\"type\": \"volume\", \"id\": 5}", 0, NULL);
	expect_event("{\"Type\": \"Container\", \"id\": \"" ID1 "\"}", 0, NULL);

	expect_event("not json", -EBADMSG, "not JSON");
	expect_event("", -EBADMSG, "not JSON");
	expect_event("[\"" ID1 "\"]", -EBADMSG, "not an object");
	expect_event("{\"Type\": \"container\"}", -EBADMSG, "no valid container id");
	expect_event("{\"Type\": \"container\", \"Actor\": \"" ID1 "\"}", -EBADMSG,
		     "no valid container id");
	expect_event("{\"Type\": \"container\", \"Actor\": {\"ID\": 1}}", -EBADMSG,
		     "no valid container id");
	expect_event("{\"Type\": \"container\", \"id\": \"" ID1 "\\u0000\"}", -EBADMSG,
		     "no valid container id");
	expect_event("{\"Type\": \"container\", \"id\": \"GGGGGGGGGGGGGGGG\"}", -EBADMSG,
		     "no valid container id");
	expect_event("{\"id\": \"" ID1 "\", \"id\": \"" ID2 "\"}", -EBADMSG, "not JSON");
}

/* A running container as Docker describes it; tests change what they look at. */
static json_t *inspect_base(void)
{
	return json_parse(
		"{\"Id\": \"" ID1 "\", \"Name\": \"/web\","
		" \"State\": {\"Status\": \"running\", \"Running\": true, \"Paused\": false,"
		"           \"Pid\": 1234},"
		" \"Config\": {\"Labels\": {\"app\": \"web\", \"segd.io/namespace\": \"shop\"}},"
		" \"HostConfig\": {\"NetworkMode\": \"bridge\"},"
		" \"NetworkSettings\": {\"SandboxKey\": \"/var/run/docker/netns/1a2b\"}}");
}

static int inspect(json_t *o, const char *id, struct container_info *ci)
{
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(text);
	return engine_parse_inspect(text, strlen(text), id, ci);
}

static void test_inspect_running(void **state)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_string_equal(ci.id, ID1);
	assert_string_equal(ci.name, "web");
	assert_true(ci.running);
	assert_false(ci.finished);
	assert_int_equal(ci.pid, 1234);
	assert_string_equal(ci.netns_path, "/var/run/docker/netns/1a2b");
	assert_string_equal(ci.network_mode, "bridge");
	assert_true(ci.labels_known);
	assert_null(ci.invalid);
	assert_int_equal(ci.labels.n, 2);
	assert_string_equal(policy_labels_get(&ci.labels, "app"), "web");
	assert_string_equal(policy_labels_get(&ci.labels, "segd.io/namespace"), "shop");
	container_info_done(&ci);
}

static void expect_state(const char *status, bool running, bool paused, bool want_running,
			 bool want_finished)
{
	json_auto_t *o = inspect_base();
	json_t *st = json_object_get(o, "State");
	struct container_info ci = { 0 };

	if (status)
		json_object_set_new(st, "Status", json_string(status));
	else
		json_object_del(st, "Status");
	json_object_set_new(st, "Running", json_boolean(running));
	json_object_set_new(st, "Paused", json_boolean(paused));
	assert_int_equal(inspect(o, ID1, &ci), 0);
	if (ci.running != want_running || ci.finished != want_finished)
		fail_msg("status %s running %d paused %d: running %d finished %d, want %d %d",
			 status ? status : "(none)", running, paused, ci.running, ci.finished,
			 want_running, want_finished);
	container_info_done(&ci);
}

static void test_inspect_states(void **state)
{
	expect_state("running", true, false, true, false);
	expect_state("paused", true, true, true, false);
	expect_state("paused", false, true, true, false); /* Podman: Running false */
	expect_state("restarting", true, false, true, false);
	expect_state("created", false, false, false, false);
	expect_state("exited", false, false, false, true);
	expect_state("stopped", false, false, false, true);
	expect_state("dead", false, false, false, true);
	expect_state("removing", false, false, false, true);
	expect_state("removing", true, false, true, true);
	/* no status: finished is "not running" */
	expect_state(NULL, false, false, false, true);
	expect_state(NULL, true, false, true, false);
	expect_state("EXITED", false, false, false, false);
}

static void expect_pid(json_t *pid, int want)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	json_object_set_new(json_object_get(o, "State"), "Pid", pid);
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_int_equal(ci.pid, want);
	container_info_done(&ci);
}

static void test_inspect_pid(void **state)
{
	expect_pid(json_integer(1), 1);
	expect_pid(json_integer(4194303), 4194303);
	expect_pid(json_integer(4194304), 0);
	expect_pid(json_integer(0), 0);
	expect_pid(json_integer(-7), 0);
	expect_pid(json_integer(1LL << 40), 0);
	expect_pid(json_string("1234"), 0);
	expect_pid(json_real(12.0), 0);
	expect_pid(json_null(), 0);
}

static void expect_name(json_t *name, const char *want)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	json_object_set_new(o, "Name", name);
	assert_int_equal(inspect(o, ID1, &ci), 0);
	if (want)
		assert_string_equal(ci.name, want);
	else
		assert_null(ci.name);
	container_info_done(&ci);
}

static void test_inspect_names(void **state)
{
	char n128[130] = "/", n129[131] = "/";

	memset(n128 + 1, 'n', 128);
	memset(n129 + 1, 'n', 129);
	expect_name(json_string("/a.b-c_D9"), "a.b-c_D9");
	expect_name(json_string("web"), "web"); /* Podman: no slash */
	expect_name(json_string(n128), n128 + 1);
	expect_name(json_string(n129), NULL);
	expect_name(json_string("/"), NULL);
	expect_name(json_string(""), NULL);
	expect_name(json_string("//web"), NULL);
	expect_name(json_string("/_web"), NULL);
	expect_name(json_string("/.web"), NULL);
	expect_name(json_string("/we b"), NULL);
	expect_name(json_string("/web/x"), NULL);
	expect_name(json_string("/w\xc3\xa9"), NULL);
	expect_name(json_stringn("/web\0x", 6), NULL);
	expect_name(json_integer(1), NULL);

	assert_true(engine_container_name_valid("a"));
	assert_true(engine_container_name_valid("0-_."));
	assert_false(engine_container_name_valid("-a"));
	assert_false(engine_container_name_valid(""));
}

static void test_inspect_network(void **state)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	json_object_set_new(json_object_get(o, "HostConfig"), "NetworkMode",
			    json_string("container:" ID2));
	json_object_set_new(json_object_get(o, "NetworkSettings"), "SandboxKey", json_string(""));
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_string_equal(ci.network_mode, "container:" ID2);
	assert_string_equal(ci.netns_path, "");
	container_info_done(&ci);

	/* absent, null, the wrong type, or holding a NUL: none */
	json_object_set_new(json_object_get(o, "HostConfig"), "NetworkMode", json_integer(1));
	json_object_set_new(json_object_get(o, "NetworkSettings"), "SandboxKey",
			    json_stringn("/run/netns/a\0b", 14));
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_null(ci.network_mode);
	assert_null(ci.netns_path);
	container_info_done(&ci);

	json_object_set_new(o, "HostConfig", json_string("host"));
	json_object_del(o, "NetworkSettings");
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_null(ci.network_mode);
	assert_null(ci.netns_path);
	assert_true(ci.running);
	container_info_done(&ci);
}

/* Inspects with Config.Labels = labels; checks the label count and the quarantine reason. */
static void expect_labels(json_t *labels, size_t want_n, const char *want_invalid)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	if (labels)
		json_object_set_new(json_object_get(o, "Config"), "Labels", labels);
	else
		json_object_del(json_object_get(o, "Config"), "Labels");
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_true(ci.labels_known);
	if (want_invalid) {
		if (!ci.invalid || strcmp(ci.invalid, want_invalid) != 0)
			fail_msg("invalid: got %s, want %s", ci.invalid ? ci.invalid : "NULL",
				 want_invalid);
	} else if (ci.invalid) {
		fail_msg("unexpected quarantine: %s", ci.invalid);
	}
	assert_int_equal(ci.labels.n, want_n);
	/* the rest of the container is still read */
	assert_string_equal(ci.id, ID1);
	assert_int_equal(ci.pid, 1234);
	container_info_done(&ci);
}

static void test_inspect_labels(void **state)
{
	char value[5000];
	json_t *many;

	expect_labels(NULL, 0, NULL);
	expect_labels(json_null(), 0, NULL);
	expect_labels(json_object(), 0, NULL);
	expect_labels(json_pack("{s:s, s:s}", "app", "web", "example.com/tier", ""), 2, NULL);
	expect_labels(json_pack("[s]", "app=web"), 0, "engine labels are not an object");
	expect_labels(json_string("app=web"), 0, "engine labels are not an object");

	many = json_object();
	for (int i = 0; i < POLICY_MAX_LABELS; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(many, k, json_string("v"));
	}
	expect_labels(json_incref(many), 256, NULL);
	json_object_set_new(many, "k256", json_string("v"));
	expect_labels(many, 0, "more than 256 labels");

	/* Labels no selector can name (engines allow any string: image labels, Compose's paths)
	 * neither drop nor quarantine the container: a bad key is left out, a bad value is kept
	 * unmatchable (its key still counts for Exists and NotIn). */
	expect_labels(json_pack("{s:s, s:s}", "app", "web", "bad key", "x"), 1, NULL);
	expect_labels(json_pack("{s:s, s:s}", "app", "web", "x", "-x"), 2, NULL);
	expect_labels(json_pack("{s:s, s:i}", "app", "web", "n", 1), 2, NULL);
	expect_labels(json_pack("{s:s, s:o}", "app", "web", "x", json_stringn("a\0b", 3)), 2, NULL);
	{
		json_auto_t *o = inspect_base();
		struct container_info ci = { 0 };

		json_object_set_new(
			json_object_get(o, "Config"), "Labels",
			json_pack(
				"{s:s, s:s, s:s, s:s}", "app", "web", "maintainer", "A <a@b.c>",
				"com.docker.compose.project.working_dir", "/srv/shop",
				"com.docker.compose.config-hash",
				"19f1d25dc1b769fb97bc820aae931dba500a5f42c4f394efe0e096e9853fb93e"));
		assert_int_equal(inspect(o, ID1, &ci), 0);
		assert_null(ci.invalid);
		assert_int_equal(ci.labels.n, 4);
		assert_int_equal(ci.labels_ignored, 3);
		assert_string_equal(policy_labels_get(&ci.labels, "app"), "web");
		assert_string_equal(policy_labels_get(&ci.labels, "maintainer"),
				    ENGINE_LABEL_UNMATCHABLE);
		assert_string_equal(policy_labels_get(&ci.labels,
						      "com.docker.compose.project.working_dir"),
				    ENGINE_LABEL_UNMATCHABLE);
		/* no valid selector value can equal it */
		assert_non_null(policy_label_value_invalid(ENGINE_LABEL_UNMATCHABLE));
		container_info_done(&ci);
	}

	/* segd.io/ values have their own syntax, up to 4096 bytes; other values over 63 bytes
	 * are no label values */
	memset(value, 'v', sizeof(value));
	value[64] = 0;
	expect_labels(json_pack("{s:s}", "app", value), 1, NULL);
	expect_labels(json_pack("{s:s, s:s}", "segd.io/ports", "http=80/TCP, dns=53/UDP",
				"segd.io/x", value),
		      2, NULL);
	value[64] = 'v';
	value[4096] = 0;
	expect_labels(json_pack("{s:s}", "segd.io/x", value), 1, NULL);
	value[4096] = 'v';
	value[4097] = 0;
	expect_labels(json_pack("{s:s}", "segd.io/x", value), 0,
		      "label \"segd.io/x\": value over 4096 bytes");
	expect_labels(json_pack("{s:s}", "big", value), 1, NULL);
	expect_labels(json_pack("{s:i}", "segd.io/namespace", 7), 0,
		      "label \"segd.io/namespace\": not a string without NULs");
	/* ... but their keys are keys */
	expect_labels(json_pack("{s:s}", "segd.io/", "x"), 0,
		      "label \"segd.io/\": name part must be non-empty");

	/* keys are cut to 64 characters in the reason */
	memset(value, 'k', 100);
	value[100] = 0;
	{
		char want[200];

		snprintf(want, sizeof(want),
			 "label \"segd.io/%.56s\": name part must be no more than 63 "
			 "characters",
			 value);
		memcpy(value, "segd.io/", 8);
		expect_labels(json_pack("{s:s}", value, "v"), 0, want);
	}
}

static void test_label_reason_whole(void **state)
{
	json_auto_t *o = inspect_base();
	struct container_info ci = { 0 };

	/* the quarantine reason is never cut short, however long the label's problem */
	json_object_set_new(json_object_get(o, "Config"), "Labels",
			    json_pack("{s:s}", "segd.io/x y", "x"));
	assert_int_equal(inspect(o, ID1, &ci), 0);
	assert_string_equal(ci.invalid,
			    "label \"segd.io/x y\": name part must consist of alphanumeric "
			    "characters, '-', '_' or '.', and must start and end with an "
			    "alphanumeric character");
	container_info_done(&ci);
}

static void expect_inspect_err(const char *text, const char *id)
{
	struct container_info ci = { .pid = 77 };

	assert_int_equal(engine_parse_inspect(text, strlen(text), id, &ci), -EBADMSG);
	assert_int_equal(ci.pid, 77);
	assert_null(ci.id);
}

static void test_inspect_invalid(void **state)
{
	json_auto_t *o = inspect_base();
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);

	/* about another container */
	expect_inspect_err(text, ID2);
	expect_inspect_err(text, "1111111111111111");
	expect_inspect_err("", ID1);
	expect_inspect_err("nope", ID1);
	expect_inspect_err("[]", ID1);
	expect_inspect_err("{\"Id\": \"" ID1 "\"}", ID1); /* no State */
	expect_inspect_err("{\"Id\": \"" ID1 "\", \"State\": \"running\"}", ID1);
	expect_inspect_err("{\"State\": {\"Running\": true}}", ID1);
	expect_inspect_err("{\"Id\": 1, \"State\": {\"Running\": true}}", ID1);
	expect_inspect_err("{\"Id\": \"" ID1 "\\u0000\", \"State\": {\"Running\": true}}", ID1);
	expect_inspect_err("{\"Id\": \"" ID1 "\", \"State\": {}, \"Id\": \"" ID1 "\"}", ID1);
	/* a NUL in a key: the JSON parser refuses the whole reply */
	expect_inspect_err("{\"Id\": \"" ID1 "\", \"State\": {}, \"Config\": {\"Labels\":"
			   " {\"a\\u0000b\": \"x\"}}}",
			   ID1);

	/* the smallest acceptable reply */
	{
		struct container_info ci = { 0 };
		const char *min = "{\"Id\": \"" ID1 "\", \"State\": {}}";

		assert_int_equal(engine_parse_inspect(min, strlen(min), ID1, &ci), 0);
		assert_false(ci.running);
		assert_true(ci.finished);
		assert_null(ci.name);
		assert_true(ci.labels_known);
		container_info_done(&ci);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_invalid),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_inspect_running),
		cmocka_unit_test(test_inspect_states),
		cmocka_unit_test(test_inspect_pid),
		cmocka_unit_test(test_inspect_names),
		cmocka_unit_test(test_inspect_network),
		cmocka_unit_test(test_inspect_labels),
		cmocka_unit_test(test_label_reason_whole),
		cmocka_unit_test(test_inspect_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
