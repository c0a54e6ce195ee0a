/* SPDX-License-Identifier: MIT */
/*
 * segd-oci-hook's command line, the hook-fail-open names it reads in segd's config file, and
 * the container names it reads in containers/storage: what decides, on the host's side only,
 * whether a container may start unisolated while segd is down.
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

#include "hook-config.h"
#include "macro.h"
#include "policy/policy.h"

#define ID "abcdef0123450000000000000000000000000000000000000000000000000001"

static int parse(struct hook_args *a, ...)
{
	char self[] = "segd-oci-hook", *argv[16] = { self };
	int argc = 1;
	va_list ap;

	va_start(ap, a);
	for (char *s; (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	return hook_args_parse(argc, argv, a);
}

static void test_args(void **state)
{
	struct hook_args a;

	assert_int_equal(parse(&a, "createRuntime", NULL), 1);
	assert_string_equal(a.socket, "/run/segd/segd.sock");
	assert_int_equal(a.timeout_ms, 2000);
	assert_false(a.refuse_unenforceable);
	assert_null(a.config);
	assert_string_equal(a.stage, "createRuntime");

	assert_int_equal(parse(&a, "--socket", "/s.sock", "--timeout-ms", "500",
			       "--refuse-unenforceable", "--config", "/etc/segd/segd.conf",
			       "poststop", NULL),
			 1);
	assert_string_equal(a.socket, "/s.sock");
	assert_int_equal(a.timeout_ms, 500);
	assert_true(a.refuse_unenforceable);
	assert_string_equal(a.config, "/etc/segd/segd.conf");
	assert_string_equal(a.stage, "poststop");
	/* options after the stage, as hooks.d files may write them */
	assert_int_equal(parse(&a, "createRuntime", "--config", "/c", NULL), 1);
	assert_string_equal(a.config, "/c");

	/* the container cannot be named on the command line: only the config file names */
	assert_int_equal(parse(&a, "--fail-open", "db", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--config", "segd.conf", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "createRuntime", "--config", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--socket", "rel.sock", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--timeout-ms", "0", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--timeout-ms", "60001", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--timeout-ms", " 5", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, "--timeout-ms", "5s", "createRuntime", NULL), -EINVAL);
	assert_int_equal(parse(&a, NULL), -EINVAL);
	assert_int_equal(parse(&a, "prestart", NULL), -EINVAL);
	assert_int_equal(parse(&a, "createRuntime", "poststop", NULL), -EINVAL);
}

static void expect_names(const char *text, const char *const *want)
{
	char **names = NULL, *err = NULL;
	size_t n = 0, k = 0;

	assert_int_equal(hook_fail_open_names("/c", text, strlen(text), &names, &n, &err), 0);
	assert_null(err);
	for (; want[k]; k++) {
		assert_true(k < n);
		assert_string_equal(names[k], want[k]);
	}
	assert_int_equal(n, k);
	hook_names_free(names, n);
}

static void expect_bad(const char *text, const char *message)
{
	char **names = (char **)0x1, *err = NULL;
	size_t n = 7;

	assert_int_equal(hook_fail_open_names("/c", text, strlen(text), &names, &n, &err), -EINVAL);
	assert_string_equal(err, message);
	assert_ptr_equal(names, (char **)0x1); /* untouched */
	assert_int_equal(n, 7);
	free(err);
}

static void test_config(void **state)
{
	char big[POLICY_MAX_FAIL_OPEN * 32 + 64] = "";

	/* segd's own options are skipped; CRLF, comments and blanks as segd reads them */
	expect_names("socket = /run/segd/segd.sock\r\n# hook-fail-open = no\r\n\r\n"
		     "hook-fail-open = db   # the database\r\n  hook-fail-open=Web_1.x-y\n"
		     "log-level = debug\n",
		     (const char *const[]){ "db", "Web_1.x-y", NULL });
	expect_names("", (const char *const[]){ NULL });
	expect_names("matrix-budget = 5\n", (const char *const[]){ NULL });

	/* anything wrong: nobody fails open */
	expect_bad("hook-fail-open = db\nnonsense\n", "/c:2: expected NAME = VALUE");
	expect_bad("hook-fail-open =\n", "/c:1: hook-fail-open: container name '' must be 1 to "
					 "253 bytes");
	expect_bad("hook-fail-open = -db\n", "/c:1: hook-fail-open: container name '-db' must "
					     "start with a letter or a digit");
	expect_bad("hook-fail-open = a/b\n",
		   "/c:1: hook-fail-open: container name 'a/b' must contain only letters, digits, "
		   "'_', '.' and '-'");
	for (int i = 0; i <= POLICY_MAX_FAIL_OPEN; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "hook-fail-open = c%d\n", i);
	expect_bad(big, "/c:65: hook-fail-open: at most 64 names");
	{
		char **names = NULL, *err = NULL;
		size_t n = 0;

		assert_int_equal(hook_fail_open_names("/c", "a = 1\n\0", 7, &names, &n, &err),
				 -EINVAL);
		assert_string_equal(err, "/c: holds a NUL byte");
		free(err);
	}
}

static void test_storage(void **state)
{
	static const char records[] =
		"[{\"id\": \"" ID "\", \"names\": [\"db\", \"db-alias\", \"bad/name\", 7],"
		"  \"image\": \"x\", \"metadata\": \"{\\\"name\\\": \\\"ignored\\\"}\"},"
		" {\"id\": \"ffff\", \"names\": [\"web\"]}]";
	char **names = NULL, *path = NULL;
	size_t n = 0;

	assert_int_equal(hook_storage_names(records, strlen(records), ID, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "db");
	assert_string_equal(names[1], "db-alias");
	hook_names_free(names, n);
	assert_int_equal(hook_storage_names(records, strlen(records), "ffff0000ffff", &names, &n),
			 -ENOENT);
	assert_int_equal(hook_storage_names("{}", 2, ID, &names, &n), -EBADMSG);
	assert_int_equal(hook_storage_names("[", 1, ID, &names, &n), -EBADMSG);

	/* the bundle Podman and CRI-O give: GRAPHROOT/overlay-containers/ID/userdata */
	assert_int_equal(hook_storage_file("/var/lib/containers/storage/overlay-containers/" ID
					   "/userdata",
					   ID, &path),
			 0);
	assert_string_equal(path, "/var/lib/containers/storage/overlay-containers/containers.json");
	free(path);
	assert_int_equal(hook_storage_file("/s/overlay-containers/" ID "/userdata//", ID, &path),
			 0);
	assert_string_equal(path, "/s/overlay-containers/containers.json");
	free(path);
	/* another layout (Docker, a bundle elsewhere), or another container's: not known */
	assert_int_equal(hook_storage_file("/run/containerd/io.containerd.runtime.v2.task/moby/" ID,
					   ID, &path),
			 -ENOENT);
	assert_int_equal(hook_storage_file("/s/ffff/userdata", ID, &path), -ENOENT);
	assert_int_equal(hook_storage_file("/" ID "/userdata", ID, &path), -ENOENT);
	assert_int_equal(hook_storage_file("rel/" ID "/userdata", ID, &path), -ENOENT);
	assert_int_equal(hook_storage_file(NULL, ID, &path), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_storage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
