/* SPDX-License-Identifier: MIT */
/*
 * segd-runc's reading of runc's command line (urfave/cli v1 over Go's flag package: which
 * subcommand, which bundle) and of its environment. The expectations about runc were checked
 * against runc 1.1.5 itself (e.g. `runc create -no-pivot ID -b B` is 3 operands to runc,
 * `create --pid-file --bundle ID` reads config.json in the current directory).
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
#include "runc-args.h"

static struct runc_call call;
static char *err;

/* Scans "runc" + the arguments; 0 or the error (its message in err). */
static int scan(const char *first, ...)
{
	char *argv[32] = { (char *)"segd-runc" };
	int argc = 1, r;
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	free(err);
	err = NULL;
	memset(&call, 0xaa, sizeof(call));
	r = runc_args_scan(argc, argv, &call, &err);
	if (r == 0)
		assert_null(err);
	else
		assert_non_null(err);
	return r;
}

#define assert_hooked(bundle_)                                     \
	do {                                                       \
		assert_true(call.hooked);                          \
		if (bundle_)                                       \
			assert_string_equal(call.bundle, bundle_); \
		else                                               \
			assert_null(call.bundle);                  \
	} while (0)

static void test_containerd_lines(void **state)
{
	/* what containerd-shim-runc-v2 (go-runc) runs, as seen under dockerd */
	assert_int_equal(scan("--root", "/run/containerd/runc/moby", "--log", "/b/log.json",
			      "--log-format", "json", "create", "--bundle", "/b", "--pid-file",
			      "/b/init.pid", "abc", NULL),
			 0);
	assert_string_equal(call.command, "create");
	assert_hooked("/b");
	assert_string_equal(call.log, "/b/log.json");
	assert_true(call.log_json);
	assert_int_equal(scan("--root", "/r", "--log", "/l", "--log-format", "json",
			      "--systemd-cgroup", "delete", "--force", "abc", NULL),
			 0);
	assert_string_equal(call.command, "delete");
	assert_false(call.hooked);
	assert_int_equal(scan("--root", "/r", "start", "abc", NULL), 0);
	assert_false(call.hooked);
	assert_null(call.log);
	assert_false(call.log_json);
}

static void test_bundle_forms(void **state)
{
	static const char *const forms[][2] = {
		{ "--bundle", "/b" }, { "-bundle", "/b" }, { "-b", "/b" }, { "--b", "/b" },
		{ "--bundle=/b" },    { "-bundle=/b" },	   { "-b=/b" },	   { "--b=/b" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		assert_int_equal(scan("create", forms[i][0], forms[i][1], "id", NULL), 0);
		assert_hooked("/b");
		/* urfave/cli moves flags ahead of the operands */
		assert_int_equal(scan("run", "id", forms[i][0], forms[i][1], NULL), 0);
		assert_hooked("/b");
		assert_int_equal(scan("restore", "--image-path", "/i", forms[i][0], forms[i][1],
				      "id", NULL),
				 0);
		assert_hooked("/b");
	}
	/* no bundle: the current directory */
	assert_int_equal(scan("create", "id", NULL), 0);
	assert_hooked(NULL);
	assert_int_equal(scan("run", NULL), 0);
	assert_hooked(NULL);
	/* the last one wins (Go's flag package) */
	assert_int_equal(scan("create", "--bundle", "/a", "--bundle=/c", "id", NULL), 0);
	assert_hooked("/c");
	assert_int_equal(scan("create", "--bundle=", "id", NULL), 0);
	assert_hooked("");
	/* a value-taking flag takes the next argument, whatever it looks like */
	assert_int_equal(scan("create", "--pid-file", "--bundle", "id", NULL), 0);
	assert_hooked(NULL);
	assert_int_equal(scan("create", "--console-socket", "-b", "--bundle", "/b", "id", NULL), 0);
	assert_hooked("/b");
	assert_int_equal(scan("run", "--preserve-fds", "3", "-d", "-b", "/b", "id", NULL), 0);
	assert_hooked("/b");
	/* a boolean's "value" slot: runc reads `-no-pivot id -b B` as three operands */
	assert_int_equal(scan("create", "-no-pivot", "id", "-b", "/b", NULL), 0);
	assert_hooked(NULL);
	assert_int_equal(scan("run", "-d=true", "id", "-b", "/b", NULL), 0);
	assert_hooked("/b");
	/* after "--" nothing is a flag */
	assert_int_equal(scan("create", "id", "--", "--bundle", "/b", NULL), 0);
	assert_hooked(NULL);
	assert_int_equal(scan("create", "-b", "--", "id", NULL), 0);
	assert_hooked("--");
	assert_int_equal(scan("create", "-", "-b", "/b", NULL), 0);
	assert_hooked("/b");
	/* run's and restore's own flags */
	assert_int_equal(scan("restore", "--empty-ns", "network", "--lazy-pages",
			      "--manage-cgroups-mode", "soft", "-d", "-b", "/b", "id", NULL),
			 0);
	assert_hooked("/b");
	assert_int_equal(scan("run", "--keep", "--no-subreaper", "--no-new-keyring", "-b", "/b",
			      "id", NULL),
			 0);
	assert_hooked("/b");
}

static void test_global_flags(void **state)
{
	/* every global flag that takes a value, in each spelling */
	static const char *const valued[] = { "root", "log", "log-format", "criu", "rootless" };

	for (size_t i = 0; i < ARRAY_SIZE(valued); i++) {
		_cleanup_free_ char *one = NULL, *two = NULL, *eq = NULL;

		assert_true(asprintf(&one, "-%s", valued[i]) > 0);
		assert_true(asprintf(&two, "--%s", valued[i]) > 0);
		assert_true(asprintf(&eq, "--%s=create", valued[i]) > 0);
		/* the value "create" is the flag's, not the subcommand */
		assert_int_equal(scan(one, "create", "state", "x", NULL), 0);
		assert_string_equal(call.command, "state");
		assert_false(call.hooked);
		assert_int_equal(scan(two, "create", "run", "x", NULL), 0);
		assert_string_equal(call.command, "run");
		assert_true(call.hooked);
		assert_int_equal(scan(eq, "delete", "x", NULL), 0);
		assert_string_equal(call.command, "delete");
		/* missing its value */
		assert_int_equal(scan(two, NULL), -EINVAL);
		assert_non_null(strstr(err, "flag needs an argument"));
	}
	/* the booleans take no separate value */
	assert_int_equal(scan("--debug", "create", "x", NULL), 0);
	assert_true(call.hooked);
	assert_int_equal(scan("-systemd-cgroup", "--debug=false", "-debug=1", "run", "x", NULL), 0);
	assert_true(call.hooked);
	assert_int_equal(scan("--debug", "true", NULL), 0);
	assert_string_equal(call.command, "true");
	assert_false(call.hooked);
	assert_int_equal(scan("--debug=maybe", "create", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "invalid boolean value"));
	assert_int_equal(scan("--log-format=json", "--log=/l", "create", NULL), 0);
	assert_true(call.log_json);
	assert_string_equal(call.log, "/l");
	assert_int_equal(scan("--log-format", "text", "create", NULL), 0);
	assert_false(call.log_json);
	/* "--" ends the global flags */
	assert_int_equal(scan("--root", "/r", "--", "create", "x", NULL), 0);
	assert_true(call.hooked);
	assert_int_equal(scan("--", "--root", NULL), 0);
	assert_string_equal(call.command, "--root");
	assert_false(call.hooked);
}

static void test_no_command(void **state)
{
	assert_int_equal(scan(NULL), 0);
	assert_null(call.command);
	assert_false(call.hooked);
	/* help and version run no command */
	assert_int_equal(scan("--help", "create", "x", NULL), 0);
	assert_null(call.command);
	assert_false(call.hooked);
	assert_int_equal(scan("-v", "run", NULL), 0);
	assert_null(call.command);
	assert_int_equal(scan("--version=false", "run", NULL), 0);
	assert_true(call.hooked);
	assert_int_equal(scan("restore", "-b", "/b", "--help", NULL), 0);
	assert_string_equal(call.command, "restore");
	assert_false(call.hooked);
	assert_null(call.bundle);
	assert_int_equal(scan("run", "-h=false", "-b", "/b", "x", NULL), 0);
	assert_hooked("/b");
	/* an unknown subcommand goes to runc, which says so */
	assert_int_equal(scan("creat", "--bundle", "/b", NULL), 0);
	assert_string_equal(call.command, "creat");
	assert_false(call.hooked);
	assert_int_equal(scan("-", NULL), 0);
	assert_string_equal(call.command, "-");
}

static void test_refused(void **state)
{
	/* runc refuses these too: we run nothing */
	assert_int_equal(scan("--bogus", "create", "x", NULL), -EINVAL);
	assert_string_equal(err, "flag provided but not defined: -bogus");
	assert_int_equal(scan("--root=/r", "--bundle", "/b", "create", NULL), -EINVAL);
	assert_int_equal(scan("create", "--bogus", "x", NULL), -EINVAL);
	assert_string_equal(err, "flag provided but not defined: -bogus");
	assert_int_equal(scan("create", "-d", "x", NULL), -EINVAL); /* run's, not create's */
	/* an unknown flag after the first operand is an operand to Go: runc then refuses three
	 * operands, we add the hooks to the current directory's bundle, harmlessly */
	assert_int_equal(scan("create", "x", "--image-path", "/i", NULL), 0);
	assert_hooked(NULL);
	assert_int_equal(scan("create", "--bundle", NULL), -EINVAL);
	assert_non_null(strstr(err, "flag needs an argument: -bundle"));
	assert_int_equal(scan("create", "--no-pivot=yes", "x", NULL), -EINVAL);
	assert_int_equal(scan("---root", "/r", "create", NULL), -EINVAL);
	assert_non_null(strstr(err, "bad flag syntax"));
	assert_int_equal(scan("-=x", "create", NULL), -EINVAL);
	assert_int_equal(scan("create", "--=x", NULL), -EINVAL);
	/* urfave/cli moves "---b" ahead as a flag (it strips up to three dashes); Go refuses it */
	assert_int_equal(scan("create", "id", "---b", "/x", NULL), -EINVAL);
	assert_non_null(strstr(err, "bad flag syntax: ---b"));
	/* two names of one flag (urfave/cli: "Cannot use two forms of the same flag") */
	assert_int_equal(scan("create", "--bundle", "/a", "-b", "/b", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "two forms"));
	assert_int_equal(scan("run", "-d", "--detach", "x", NULL), -EINVAL);
	assert_int_equal(scan("--help", "-h", NULL), -EINVAL);
	/* not a subcommand we read: its flags are runc's business */
	assert_int_equal(scan("delete", "--bogus", "x", NULL), 0);
	assert_false(call.hooked);
}

/* The environment the tests hand runc_env_parse. */
static const char *env[16][2];

static char *test_getenv(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(env) && env[i][0]; i++)
		if (streq(env[i][0], name))
			return (char *)env[i][1];
	return NULL;
}

static int parse_env(struct runc_env *e, ...)
{
	size_t n = 0;
	va_list ap;
	int r;

	memset(env, 0, sizeof(env));
	va_start(ap, e);
	for (const char *k; (k = va_arg(ap, const char *));) {
		env[n][0] = k;
		env[n++][1] = va_arg(ap, const char *);
	}
	va_end(ap);
	free(err);
	err = NULL;
	r = runc_env_parse(test_getenv, e, &err);
	if (r < 0)
		assert_non_null(err);
	return r;
}

static void test_env(void **state)
{
	struct runc_env e;
	const char *runc;
	char sock[128];

	assert_int_equal(parse_env(&e, NULL), 0);
	assert_string_equal(e.socket, "/run/segd/segd.sock");
	assert_null(e.hook);
	assert_null(e.config);
	assert_int_equal(e.timeout_ms, 0);
	assert_null(e.runc);
	assert_int_equal(parse_env(&e, "SEGD_SOCKET", "/s.sock", "SEGD_OCI_HOOK", "/h",
				   "SEGD_HOOK_CONFIG", "/etc/segd/segd.conf",
				   "SEGD_HOOK_TIMEOUT_MS", "1500", "SEGD_RUNC", "/usr/sbin/runc",
				   NULL),
			 0);
	assert_string_equal(e.socket, "/s.sock");
	assert_string_equal(e.hook, "/h");
	assert_string_equal(e.config, "/etc/segd/segd.conf");
	assert_int_equal(e.timeout_ms, 1500);
	assert_string_equal(e.runc, "/usr/sbin/runc");
	/* empty is unset */
	assert_int_equal(parse_env(&e, "SEGD_SOCKET", "", "SEGD_HOOK_TIMEOUT_MS", "", NULL), 0);
	assert_string_equal(e.socket, "/run/segd/segd.sock");
	assert_int_equal(e.timeout_ms, 0);
	/* the socket fits sun_path (107 bytes and the NUL) */
	memset(sock, 'a', sizeof(sock));
	sock[0] = '/';
	sock[107] = 0;
	assert_int_equal(parse_env(&e, "SEGD_SOCKET", sock, NULL), 0);
	sock[107] = 'a';
	sock[108] = 0;
	assert_int_equal(parse_env(&e, "SEGD_SOCKET", sock, NULL), -EINVAL);
	assert_non_null(strstr(err, "SEGD_SOCKET"));
	static const char *const bad_paths[] = { "rel", "./x", "/a\nb", "/a\tb", "/a\x7f" };
	static const char *const path_vars[] = { "SEGD_SOCKET", "SEGD_OCI_HOOK", "SEGD_HOOK_CONFIG",
						 "SEGD_RUNC" };
	for (size_t v = 0; v < ARRAY_SIZE(path_vars); v++)
		for (size_t i = 0; i < ARRAY_SIZE(bad_paths); i++) {
			assert_int_equal(parse_env(&e, path_vars[v], bad_paths[i], NULL), -EINVAL);
			assert_non_null(strstr(err, path_vars[v]));
		}
	static const char *const bad_ms[] = { "0",
					      "60001",
					      "+5",
					      " 5",
					      "5 ",
					      "5ms",
					      "-1",
					      "0x10",
					      "1e3",
					      "999999",
					      "99999999999999999999" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_ms); i++)
		assert_int_equal(parse_env(&e, "SEGD_HOOK_TIMEOUT_MS", bad_ms[i], NULL), -EINVAL);
	assert_int_equal(parse_env(&e, "SEGD_HOOK_TIMEOUT_MS", "60000", NULL), 0);
	assert_int_equal(e.timeout_ms, 60000);
	assert_int_equal(parse_env(&e, "SEGD_HOOK_TIMEOUT_MS", "00001", NULL), 0);
	assert_int_equal(e.timeout_ms, 1);

	/* SEGD_RUNC alone: every subcommand needs it */
	assert_int_equal(parse_env(&e, "SEGD_SOCKET", "rel", "SEGD_RUNC", "/x/runc", NULL),
			 -EINVAL);
	free(err);
	err = NULL;
	assert_int_equal(runc_env_runtime(test_getenv, &runc, &err), 0);
	assert_string_equal(runc, "/x/runc");
	env[1][1] = "runc";
	assert_int_equal(runc_env_runtime(test_getenv, &runc, &err), -EINVAL);
	assert_non_null(strstr(err, "SEGD_RUNC"));
	free(err);
	err = NULL;
	env[1][1] = "";
	assert_int_equal(runc_env_runtime(test_getenv, &runc, &err), 0);
	assert_null(runc);
}

static int teardown(void **state)
{
	free(err);
	err = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containerd_lines), cmocka_unit_test(test_bundle_forms),
		cmocka_unit_test(test_global_flags),	 cmocka_unit_test(test_no_command),
		cmocka_unit_test(test_refused),		 cmocka_unit_test(test_env),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
