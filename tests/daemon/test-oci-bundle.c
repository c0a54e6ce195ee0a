/* SPDX-License-Identifier: MIT */
/*
 * segd's hooks added to an OCI config.json (oci-bundle.c): existing hooks and every other field
 * kept, in order; idempotent; integers beyond int64 carried through; hostile configs refused.
 * argv[1]: a config.json as Docker 20.10 wrote it (tests/daemon/data/).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "macro.h"
#include "oci-bundle.h"

static const char *docker_config_path;

static const struct oci_segd_hook hook = {
	.path = "/usr/local/libexec/segd/segd-oci-hook",
	.socket = "/run/segd/segd.sock",
};

static char *out, *err;
static size_t out_len;
static bool changed;

static int add(const char *text, size_t len, const struct oci_segd_hook *h)
{
	int r;

	free(out);
	free(err);
	out = err = NULL;
	r = oci_bundle_add_hooks(text, len, h, &out, &out_len, &changed, &err);
	if (r < 0) {
		assert_null(out);
		if (r != -ENOMEM)
			assert_non_null(err);
	} else {
		assert_non_null(out);
		assert_int_equal(strlen(out), out_len);
		assert_null(err);
	}
	return r;
}

static int add_s(const char *text)
{
	return add(text, strlen(text), &hook);
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	if (!o)
		print_error("%s: %s\n", text, e.text);
	assert_non_null(o);
	return o;
}

/* The stage's entries' args, last argument (the stage) and path checked, as JSON text. */
static void assert_stage(json_t *root, const char *stage, const char *expected)
{
	json_t *a = json_object_get(json_object_get(root, "hooks"), stage);
	_cleanup_free_ char *s = json_dumps(a, JSON_COMPACT);

	assert_non_null(s);
	assert_string_equal(s, expected);
}

#define OURS(stage)                                                                        \
	"{\"path\":\"/usr/local/libexec/segd/segd-oci-hook\",\"args\":[\"segd-oci-hook\"," \
	"\"--socket\",\"/run/segd/segd.sock\",\"" stage "\"],\"timeout\":30}"

static void test_add(void **state)
{
	json_auto_t *o = NULL;

	assert_int_equal(add_s("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},"
			       "\"root\":{\"path\":\"rootfs\"}}"),
			 0);
	assert_true(changed);
	/* key order kept; hooks added at the end */
	assert_string_equal(out,
			    "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},"
			    "\"root\":{\"path\":\"rootfs\"},\"hooks\":{\"createRuntime\":"
			    "[" OURS("createRuntime") "],\"poststop\":[" OURS("poststop") "]}}");
	o = load(out);
	assert_stage(o, "createRuntime", "[" OURS("createRuntime") "]");
	assert_stage(o, "poststop", "[" OURS("poststop") "]");
	/* again: unchanged, the same text */
	{
		_cleanup_free_ char *first = strdup(out);

		assert_int_equal(add(first, strlen(first), &hook), 0);
		assert_false(changed);
		assert_string_equal(out, first);
	}
}

static void test_existing_hooks(void **state)
{
	static const char text[] =
		"{\"hooks\":{\"prestart\":[{\"path\":\"/proc/1/exe\",\"args\":[\"libnetwork-setkey\","
		"\"-exec-root=/var/run/docker\",\"abc\",\"def\"]}],\"createRuntime\":[{\"path\":"
		"\"/other\"}],\"poststop\":[{\"path\":\"/p\",\"env\":[\"A=1\"],\"timeout\":5}],"
		"\"startContainer\":[{\"path\":\"/s\"}]},\"ociVersion\":\"1.0.2\"}";
	json_auto_t *o = NULL;

	assert_int_equal(add_s(text), 0);
	assert_true(changed);
	assert_string_equal(
		out,
		"{\"hooks\":{\"prestart\":[{\"path\":\"/proc/1/exe\",\"args\":[\"libnetwork-setkey\","
		"\"-exec-root=/var/run/docker\",\"abc\",\"def\"]}],\"createRuntime\":[{\"path\":"
		"\"/other\"}," OURS(
			"createRuntime") "],\"poststop\":[{\"path\":\"/p\",\"env\":"
					 "[\"A=1\"],\"timeout\":5}," OURS(
						 "poststop") "],\"startContainer\":[{\"path\":"
							     "\"/s\"}]},\"ociVersion\":\"1.0.2\"}");
	/* one stage has ours already: only the other is added */
	assert_int_equal(add_s("{\"hooks\":{\"poststop\":[" OURS("poststop") "]}}"), 0);
	assert_true(changed);
	o = load(out);
	assert_stage(o, "createRuntime", "[" OURS("createRuntime") "]");
	assert_stage(o, "poststop", "[" OURS("poststop") "]");
	/* null hooks or stages are absent ones; the key keeps its place */
	assert_int_equal(add_s("{\"hooks\":null,\"x\":1}"), 0);
	assert_string_equal(out, "{\"hooks\":{\"createRuntime\":[" OURS(
					 "createRuntime") "],"
							  "\"poststop\":[" OURS(
								  "poststop") "]},\"x\":1}");
	assert_int_equal(add_s("{\"hooks\":{\"createRuntime\":null,\"poststop\":[]}}"), 0);
	assert_string_equal(out, "{\"hooks\":{\"createRuntime\":[" OURS(
					 "createRuntime") "],"
							  "\"poststop\":[" OURS("poststop") "]}}");
	/* an entry like ours with other args (another socket) is not ours: ours is added too */
	assert_int_equal(add_s("{\"hooks\":{\"createRuntime\":[{\"path\":\"/usr/local/libexec/segd/"
			       "segd-oci-hook\",\"args\":[\"segd-oci-hook\",\"--socket\",\"/x\","
			       "\"createRuntime\"]}]}}"),
			 0);
	json_decref(o);
	o = load(out);
	assert_int_equal(json_array_size(
				 json_object_get(json_object_get(o, "hooks"), "createRuntime")),
			 2);
	/* a look-alike in another path cannot stand in for ours */
	assert_int_equal(add_s("{\"hooks\":{\"createRuntime\":[{\"path\":\"/tmp/segd-oci-hook\","
			       "\"args\":[\"segd-oci-hook\",\"--socket\",\"/run/segd/segd.sock\","
			       "\"createRuntime\"]}],\"poststop\":[" OURS("poststop") "]}}"),
			 0);
	assert_true(changed);
	/* entries that are not objects are kept as they are */
	assert_int_equal(add_s("{\"hooks\":{\"createRuntime\":[1,\"x\",null]}}"), 0);
	assert_non_null(strstr(out, "\"createRuntime\":[1,\"x\",null,{"));
}

static void test_options(void **state)
{
	struct oci_segd_hook h = hook;
	json_auto_t *o = NULL;

	h.config = "/etc/segd/segd.conf";
	h.timeout_ms = 1500;
	assert_int_equal(add_s("{}"), 0);
	assert_int_equal(add("{}", 2, &h), 0);
	o = load(out);
	assert_stage(
		o, "createRuntime",
		"[{\"path\":\"/usr/local/libexec/segd/segd-oci-hook\",\"args\":[\"segd-oci-hook\","
		"\"--socket\",\"/run/segd/segd.sock\",\"--config\",\"/etc/segd/segd.conf\","
		"\"--timeout-ms\",\"1500\",\"createRuntime\"],\"timeout\":30}]");
	/* runc's timeout leaves the hook the time to wait for segd and then fail closed */
	assert_int_equal(oci_bundle_hook_timeout_s(0), 30);
	assert_int_equal(oci_bundle_hook_timeout_s(20999), 30);
	assert_int_equal(oci_bundle_hook_timeout_s(25000), 35);
	assert_int_equal(oci_bundle_hook_timeout_s(60000), 70);
	h.timeout_ms = 60000;
	assert_int_equal(add("{}", 2, &h), 0);
	assert_non_null(strstr(out, "\"--timeout-ms\",\"60000\",\"poststop\"],\"timeout\":70}"));
	/* a value that is no UTF-8 cannot be written as JSON */
	h.socket = "/run/\xff.sock";
	assert_int_equal(add("{}", 2, &h), -EINVAL);
	h.socket = hook.socket;
	h.path = "/x\xc3";
	assert_int_equal(add("{}", 2, &h), -EINVAL);
}

static void test_numbers(void **state)
{
	static const char text[] =
		"{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_MEMLOCK\",\"hard\":18446744073709551615,"
		"\"soft\": 18446744073709551615 }]},\"a\":[-9223372036854775809,\n99999999999999999999999"
		"\t,9223372036854775807,-9223372036854775808,0,-0,0.5,1e300,-2.5e-7],\"b\":1.0}";

	assert_int_equal(add_s(text), 0);
	assert_true(changed);
	assert_string_equal(
		out,
		"{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_MEMLOCK\",\"hard\":18446744073709551615,"
		"\"soft\":18446744073709551615}]},\"a\":[-9223372036854775809,99999999999999999999999,"
		"9223372036854775807,-9223372036854775808,0,0,0.5,1.0000000000000001e300,"
		"-2.4999999999999999e-7],\"b\":1.0,"
		"\"hooks\":{\"createRuntime\":[" OURS("createRuntime") "],\"poststop\":[" OURS(
			"poststop") "]}}");
	/* as a key's only value, at the end */
	assert_int_equal(add_s("{\"x\":18446744073709551616}"), 0);
	assert_true(strncmp(out, "{\"x\":18446744073709551616,", 26) == 0);
	/* a string that looks like the mark we use is refused, not confused with a number */
	assert_int_equal(add_s("{\"x\":18446744073709551616,\"y\":\"\\u001Fsegd-int:5\"}"),
			 -EBADMSG);
	assert_int_equal(add_s("{\"y\":\"\\u001fsegd-int:5\"}"), -EBADMSG);
	assert_int_equal(add_s("{\"\\u001fsegd-int:5\":1}"), -EBADMSG);
	/* reals are written with 17 digits (jansson): the same doubles. A real beyond double is
	 * no integer of ours */
	assert_int_equal(add_s("{\"x\":1e999}"), -EBADMSG);
	assert_int_equal(add_s("{\"x\":-1e999}"), -EBADMSG);
	assert_int_equal(add_s("{\"x\":18446744073709551616.5}"), 0);
	assert_true(strncmp(out, "{\"x\":1.8446744073709552e19,", 27) == 0);
}

static void test_many_big_numbers(void **state)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	fputs("{\"a\":[", f);
	for (int i = 0; i < OCI_BUNDLE_MAX_BIG_INTEGERS; i++)
		fprintf(f, "%s1844674407370955161%d", i ? "," : "", i % 10);
	fputs("]}", f);
	fclose(f);
	assert_int_equal(add(text, len, &hook), 0);
	assert_true(strncmp(out, text, len - 1) == 0);
	/* one more is too many */
	text[len - 2] = ',';
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	fputs("{\"a\":[", f);
	for (int i = 0; i <= OCI_BUNDLE_MAX_BIG_INTEGERS; i++)
		fprintf(f, "%s18446744073709551615", i ? "," : "");
	fputs("]}", f);
	fclose(f);
	assert_int_equal(add(text, len, &hook), -EBADMSG);
	assert_non_null(strstr(err, "too many"));
}

static void test_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"\"x\"",
		"1",
		"null",
		"{",
		"{} {}",
		"{\"a\":1,\"a\":2}",
		"{\"hooks\":[]}",
		"{\"hooks\":\"x\"}",
		"{\"hooks\":1}",
		"{\"hooks\":{\"createRuntime\":{}}}",
		"{\"hooks\":{\"createRuntime\":\"x\"}}",
		"{\"hooks\":{\"poststop\":1}}",
		"{\"hooks\":{\"poststop\":true}}",
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\xc3\"}",
		"{\"a\":\"\\u0000\"}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":01}",
		"{\"a\":-}",
		"{\"a\":1-1}",
		"{\"a\":18446744073709551615x}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_error("%s\n", bad[i]);
		assert_int_equal(add_s(bad[i]), -EBADMSG);
		assert_non_null(strstr(err, "config.json"));
	}
	/* a NUL byte, even before valid JSON ends */
	assert_int_equal(add("{}\0", 3, &hook), -EBADMSG);
	assert_int_equal(add("{\"a\":\"\0\"}", 8, &hook), -EBADMSG);
}

static void test_bounds(void **state)
{
	size_t max = OCI_BUNDLE_MAX_CONFIG_BYTES;
	_cleanup_free_ char *text = malloc(max + 2);

	assert_non_null(text);
	/* {"a":"xxx...x"}: exactly the bound is fine until the hooks make it larger */
	memcpy(text, "{\"a\":\"", 6);
	memset(text + 6, 'x', max - 8);
	memcpy(text + max - 2, "\"}", 2);
	text[max] = 0;
	assert_int_equal(add(text, max, &hook), -EFBIG);
	assert_non_null(strstr(err, "with segd's hooks"));
	assert_int_equal(add(text, max - 1024, &hook), -EBADMSG); /* cut: not JSON */
	memcpy(text + max - 1024 - 2, "\"}", 2);
	assert_int_equal(add(text, max - 1024, &hook), 0);
	/* over the bound: refused, never truncated */
	memcpy(text + max - 1, "\"}", 2);
	text[max - 2] = 'x';
	assert_int_equal(add(text, max + 1, &hook), -EFBIG);
}

static void test_docker_config(void **state)
{
	_cleanup_free_ char *text = NULL, *first = NULL;
	_cleanup_close_ int fd = open(docker_config_path, O_RDONLY | O_CLOEXEC);
	json_auto_t *after = NULL;
	size_t len = 0;
	ssize_t n;

	assert_true(fd >= 0);
	text = malloc(1 << 20);
	assert_non_null(text);
	while ((n = read(fd, text + len, (1 << 20) - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = 0;
	/* Docker's config has integers beyond int64 (--ulimit memlock=-1) */
	assert_non_null(strstr(text, "18446744073709551615"));
	assert_int_equal(add(text, len, &hook), 0);
	assert_true(changed);
	assert_non_null(strstr(out, "\"hard\":18446744073709551615"));
	assert_non_null(strstr(out, "\"poststop\":[" OURS("poststop") "]"));
	after = json_loads(out, JSON_DECODE_INT_AS_REAL, NULL);
	assert_non_null(after);
	assert_non_null(json_object_get(json_object_get(after, "hooks"), "prestart"));
	/* the same document, in the same order, but for our two entries (compared as reals:
	 * jansson reads 2^64-1 only so; the text check above is the exact one) */
	{
		json_error_t e;
		json_auto_t *b = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &e);
		json_auto_t *a = json_loadb(out, out_len, JSON_DECODE_INT_AS_REAL, &e);
		json_t *hooks = json_object_get(a, "hooks");
		const char *kb, *ka;
		void *ib, *ia;

		assert_non_null(b);
		assert_non_null(a);
		assert_int_equal(json_array_size(json_object_get(hooks, "createRuntime")), 1);
		assert_int_equal(json_array_size(json_object_get(hooks, "poststop")), 1);
		assert_int_equal(json_object_del(hooks, "createRuntime"), 0);
		assert_int_equal(json_object_del(hooks, "poststop"), 0);
		assert_true(json_equal(a, b));
		for (ib = json_object_iter(b), ia = json_object_iter(a); ib && ia;
		     ib = json_object_iter_next(b, ib), ia = json_object_iter_next(a, ia)) {
			kb = json_object_iter_key(ib);
			ka = json_object_iter_key(ia);
			assert_string_equal(ka, kb);
		}
		assert_null(ib);
		assert_null(ia);
	}
	first = strdup(out);
	assert_int_equal(add(first, strlen(first), &hook), 0);
	assert_false(changed);
}

static int teardown(void **state)
{
	free(out);
	free(err);
	out = err = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_existing_hooks),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_many_big_numbers),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_docker_config),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s DOCKER-CONFIG.JSON\n", argv[0]);
		return 2;
	}
	docker_config_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, teardown);
}
