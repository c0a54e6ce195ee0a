/* SPDX-License-Identifier: MIT */
/*
 * segd-runc end to end, without root: a fake runc (a shell script) records the command line
 * it was given and the config.json it saw; segd-runc (argv[1]) runs against a temporary
 * bundle. The command line arrives unchanged, the hooks are in the config, and every failure
 * exits non-zero without running the fake runc, leaving the config as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "macro.h"

#define FAKE_STATUS 7
#define CONFIG                                                                               \
	"{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},\"hooks\":{\"prestart\":" \
	"[{\"path\":\"/bin/true\"}]},\"rlimits\":[18446744073709551615]}"

static char segd_runc[PATH_MAX];
static char dir[] = "/tmp/segd-test-runc-wrap.XXXXXX";
static char bundle[PATH_MAX + 64], fake[PATH_MAX + 64], hook[PATH_MAX + 64], out_dir[PATH_MAX + 64];

/* "base/name", kept until the end of the tests. */
static char *paths[512];
static size_t n_paths;

static char *path_in(const char *base, const char *name)
{
	char *p;

	assert_true(n_paths < ARRAY_SIZE(paths));
	assert_true(asprintf(&p, "%s/%s", base, name) > 0);
	paths[n_paths++] = p;
	return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The file's text, or NULL when it does not exist. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, 0, f) < 0) {
		assert_true(feof(f)); /* empty */
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static char *stderr_text;

/* Runs segd-runc with argv (NULL-terminated) and envp; its exit status (or 128 + signal). */
static int run(char *const *envp, const char *const *argv)
{
	char *err_path = path_in(dir, "stderr");
	int status, fd;
	pid_t pid;

	(void)unlink(path_in(out_dir, "argv"));
	(void)unlink(path_in(out_dir, "seen.json"));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		execve(segd_runc, (char *const *)argv, envp);
		_exit(98);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(stderr_text);
	stderr_text = read_text(err_path);
	if (stderr_text && stderr_text[0])
		print_error("%s", stderr_text);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The environment: the defaults for the test, then overrides "NAME=VALUE" (VALUE empty: drop). */
static char **make_env(const char *first, ...)
{
	static char vars[16][PATH_MAX + 128];
	static char *envp[17];
	const char *defaults[] = { "SEGD_RUNC=", "SEGD_OCI_HOOK=", "SEGD_SOCKET=/s.sock",
				   "FAKE_OUT=",	 "FAKE_BUNDLE=",   "PATH=/usr/bin:/bin" };
	size_t n = 0;
	va_list ap;

	snprintf(vars[n++], sizeof(vars[0]), "SEGD_RUNC=%s", fake);
	snprintf(vars[n++], sizeof(vars[0]), "SEGD_OCI_HOOK=%s", hook);
	snprintf(vars[n++], sizeof(vars[0]), "%s", defaults[2]);
	snprintf(vars[n++], sizeof(vars[0]), "FAKE_OUT=%s", out_dir);
	snprintf(vars[n++], sizeof(vars[0]), "FAKE_BUNDLE=%s", bundle);
	snprintf(vars[n++], sizeof(vars[0]), "%s", defaults[5]);
	va_start(ap, first);
	for (const char *o = first; o; o = va_arg(ap, const char *)) {
		size_t klen = strcspn(o, "=") + 1, i;

		for (i = 0; i < n && strncmp(vars[i], o, klen); i++)
			;
		if (i == n)
			n++;
		snprintf(vars[i], sizeof(vars[0]), "%s", o);
	}
	va_end(ap);
	for (size_t i = 0, k = 0; i < n; i++)
		if (vars[i][strcspn(vars[i], "=") + 1]) /* "NAME=" is dropped */
			envp[k++] = vars[i], envp[k] = NULL;
	return envp;
}

static const char *create_argv[16];

static const char *const *argv_create(void)
{
	const char *a[] = { "segd-runc",
			    "--root",
			    path_in(dir, "root"),
			    "--log",
			    path_in(dir, "log.json"),
			    "--log-format",
			    "json",
			    "create",
			    "--bundle",
			    bundle,
			    "--pid-file",
			    path_in(dir, "init.pid"),
			    "ctr1",
			    NULL };
	static char store[16][PATH_MAX + 128];

	for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
		if (!a[i]) {
			create_argv[i] = NULL;
			break;
		}
		snprintf(store[i], sizeof(store[0]), "%s", a[i]);
		create_argv[i] = store[i];
	}
	return create_argv;
}

static void assert_not_run(void)
{
	_cleanup_free_ char *a = read_text(path_in(out_dir, "argv"));

	assert_null(a);
}

/* The fake runc's command line: "$0\n$1\n..." */
static void assert_ran_with(const char *const *argv, const char *argv0)
{
	_cleanup_free_ char *a = read_text(path_in(out_dir, "argv")), *want = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&want, &len);

	assert_non_null(a);
	fprintf(f, "%s\n", argv0);
	for (size_t i = 1; argv[i]; i++)
		fprintf(f, "%s\n", argv[i]);
	fclose(f);
	assert_string_equal(a, want);
}

static void test_create(void **state)
{
	const char *const *argv = argv_create();
	_cleanup_free_ char *seen = NULL, *after = NULL, *again = NULL, *log = NULL;
	json_auto_t *o = NULL;
	json_t *cr, *ps;
	struct stat st;

	write_file(path_in(bundle, "config.json"), CONFIG, 0640);
	assert_int_equal(run(make_env(NULL), argv), FAKE_STATUS);
	assert_ran_with(argv, fake);
	seen = read_text(path_in(out_dir, "seen.json"));
	assert_non_null(seen);
	o = json_loads(seen, JSON_DECODE_INT_AS_REAL, NULL);
	assert_non_null(o);
	cr = json_object_get(json_object_get(o, "hooks"), "createRuntime");
	ps = json_object_get(json_object_get(o, "hooks"), "poststop");
	assert_int_equal(json_array_size(cr), 1);
	assert_int_equal(json_array_size(ps), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cr, 0), "path")),
			    hook);
	assert_non_null(strstr(seen, "\"args\":[\"segd-oci-hook\",\"--socket\",\"/s.sock\","
				     "\"createRuntime\"]"));
	assert_non_null(strstr(seen, "\"prestart\":[{\"path\":\"/bin/true\"}]"));
	assert_non_null(strstr(seen, "18446744073709551615"));
	/* same mode; no temporary file left */
	assert_int_equal(stat(path_in(bundle, "config.json"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(access(path_in(bundle, ".config.json.segd-runc.1"), F_OK), -1);
	/* again (restore, run): nothing added twice */
	after = read_text(path_in(bundle, "config.json"));
	assert_int_equal(run(make_env(NULL), argv), FAKE_STATUS);
	again = read_text(path_in(bundle, "config.json"));
	assert_string_equal(after, again);
	/* --timeout-ms and --config from the environment */
	write_file(path_in(bundle, "config.json"), CONFIG, 0600);
	assert_int_equal(run(make_env("SEGD_HOOK_TIMEOUT_MS=1500",
				      "SEGD_HOOK_CONFIG=/etc/segd.conf", NULL),
			     argv),
			 FAKE_STATUS);
	free(seen);
	seen = read_text(path_in(out_dir, "seen.json"));
	assert_non_null(strstr(seen, "\"--socket\",\"/s.sock\",\"--config\",\"/etc/segd.conf\","
				     "\"--timeout-ms\",\"1500\",\"poststop\"]"));
	/* nothing was logged to runc's log */
	log = read_text(path_in(dir, "log.json"));
	assert_null(log);
}

static void test_bundle_forms(void **state)
{
	const char *in_cwd[] = { "segd-runc", "run", "-d", "ctr", NULL };
	char b_eq[PATH_MAX + 80];
	const char *eq[] = { "segd-runc", "restore", "ctr", b_eq, NULL };
	char cwd[PATH_MAX];
	_cleanup_free_ char *seen = NULL;

	/* the current directory */
	write_file(path_in(bundle, "config.json"), CONFIG, 0600);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(bundle), 0);
	assert_int_equal(run(make_env(NULL), in_cwd), FAKE_STATUS);
	assert_int_equal(chdir(cwd), 0);
	assert_ran_with(in_cwd, fake);
	seen = read_text(path_in(out_dir, "seen.json"));
	assert_non_null(strstr(seen, "createRuntime"));
	/* -b=DIR after the container's id */
	write_file(path_in(bundle, "config.json"), CONFIG, 0600);
	snprintf(b_eq, sizeof(b_eq), "-b=%s", bundle);
	assert_int_equal(run(make_env(NULL), eq), FAKE_STATUS);
	free(seen);
	seen = read_text(path_in(out_dir, "seen.json"));
	assert_non_null(strstr(seen, "createRuntime"));
}

static void test_pass_through(void **state)
{
	const char *state_argv[] = { "segd-runc", "--root", "/r", "state", "ctr", NULL };
	const char *odd[] = { "segd-runc", "delete", "--bogus", "", "x y", NULL };
	const char *none[] = { "segd-runc", NULL };
	_cleanup_free_ char *cfg = NULL;

	/* segd's settings and the bundle do not matter to other subcommands */
	write_file(path_in(bundle, "config.json"), "not json", 0600);
	assert_int_equal(run(make_env("SEGD_SOCKET=relative", "SEGD_OCI_HOOK=/nonexistent", NULL),
			     state_argv),
			 FAKE_STATUS);
	assert_ran_with(state_argv, fake);
	assert_int_equal(run(make_env(NULL), odd), FAKE_STATUS);
	assert_ran_with(odd, fake);
	assert_int_equal(run(make_env(NULL), none), FAKE_STATUS);
	assert_ran_with(none, fake);
	cfg = read_text(path_in(bundle, "config.json"));
	assert_string_equal(cfg, "not json");
}

/* create fails: non-zero, the fake runc not run, config.json as it was. */
static void assert_refused(char **envp, const char *config, const char *why)
{
	_cleanup_free_ char *after = NULL;

	assert_int_not_equal(run(envp, argv_create()), FAKE_STATUS);
	assert_not_run();
	assert_non_null(stderr_text);
	assert_non_null(strstr(stderr_text, "segd-runc: "));
	if (why)
		assert_non_null(strstr(stderr_text, why));
	if (config) { /* (a FIFO is not read) */
		after = read_text(path_in(bundle, "config.json"));
		assert_non_null(after);
		assert_string_equal(after, config);
	}
}

static void test_refused(void **state)
{
	char *cfg = path_in(bundle, "config.json");
	_cleanup_free_ char *log = NULL;
	json_auto_t *line = NULL;
	int fd;

	write_file(cfg, "{\"hooks\":[]}", 0600);
	assert_refused(make_env(NULL), "{\"hooks\":[]}", "hooks is not an object");
	/* containerd shows runc's --log to the docker user: our reason is there, as runc's */
	log = read_text(path_in(dir, "log.json"));
	assert_non_null(log);
	line = json_loads(log, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(line);
	assert_string_equal(json_string_value(json_object_get(line, "level")), "error");
	assert_non_null(strstr(json_string_value(json_object_get(line, "msg")),
			       "the container is not started"));
	assert_int_equal(unlink(path_in(dir, "log.json")), 0);

	write_file(cfg, "{", 0600);
	assert_refused(make_env(NULL), "{", "config.json");
	write_file(cfg, CONFIG, 0600);
	assert_refused(make_env("SEGD_OCI_HOOK=/nonexistent/segd-oci-hook", NULL), CONFIG,
		       "/nonexistent/segd-oci-hook");
	assert_refused(make_env("SEGD_OCI_HOOK=relative/hook", NULL), CONFIG, "SEGD_OCI_HOOK");
	assert_refused(make_env("SEGD_OCI_HOOK=/", NULL), CONFIG, "segd-oci-hook");
	write_file(path_in(dir, "noexec-hook"), "#!/bin/sh\n", 0644);
	{
		char env_hook[PATH_MAX + 80];

		snprintf(env_hook, sizeof(env_hook), "SEGD_OCI_HOOK=%s",
			 path_in(dir, "noexec-hook"));
		assert_refused(make_env(env_hook, NULL), CONFIG, "Permission denied");
	}
	assert_refused(make_env("SEGD_SOCKET=relative.sock", NULL), CONFIG, "SEGD_SOCKET");
	assert_refused(make_env("SEGD_HOOK_TIMEOUT_MS=5s", NULL), CONFIG, "SEGD_HOOK_TIMEOUT_MS");
	/* a symbolic link, a FIFO, a directory: not read */
	assert_int_equal(unlink(cfg), 0);
	write_file(path_in(dir, "elsewhere.json"), CONFIG, 0600);
	assert_int_equal(symlink(path_in(dir, "elsewhere.json"), cfg), 0);
	assert_refused(make_env(NULL), NULL, "config.json");
	assert_int_equal(unlink(cfg), 0);
	assert_int_equal(mkfifo(cfg, 0600), 0);
	assert_refused(make_env(NULL), NULL, "not a regular file");
	assert_int_equal(unlink(cfg), 0);
	assert_refused(make_env(NULL), NULL, "No such file");
	/* over the bound: refused before reading */
	fd = open(cfg, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 * 1024 * 1024 + 1), 0);
	close(fd);
	assert_refused(make_env(NULL), NULL, "too large");
	write_file(cfg, CONFIG, 0600);
	/* no bundle */
	{
		const char *argv[] = {
			"segd-runc", "create", "-b", "/nonexistent/bundle", "c", NULL
		};

		assert_int_not_equal(run(make_env(NULL), argv), FAKE_STATUS);
		assert_not_run();
	}
	/* a command line runc would refuse */
	{
		const char *argv[] = { "segd-runc", "--bogus", "create", "c", NULL };

		assert_int_not_equal(run(make_env(NULL), argv), FAKE_STATUS);
		assert_not_run();
		assert_non_null(strstr(stderr_text, "flag provided but not defined"));
	}
}

static void test_runtime(void **state)
{
	const char *state_argv[] = { "segd-runc", "state", "ctr", NULL };
	char self_env[PATH_MAX + 16], path_env[2 * PATH_MAX + 16];
	char *loop_dir = path_in(dir, "loop"), *bin_dir = path_in(dir, "bin");

	/* SEGD_RUNC: absolute, executable, and never segd-runc itself */
	snprintf(self_env, sizeof(self_env), "SEGD_RUNC=%s", segd_runc);
	assert_int_not_equal(run(make_env(self_env, NULL), state_argv), FAKE_STATUS);
	assert_non_null(strstr(stderr_text, "itself"));
	assert_int_not_equal(run(make_env("SEGD_RUNC=runc", NULL), state_argv), FAKE_STATUS);
	assert_non_null(strstr(stderr_text, "SEGD_RUNC"));
	assert_int_not_equal(run(make_env("SEGD_RUNC=/nonexistent/runc", NULL), state_argv),
			     FAKE_STATUS);
	/* with runc's --log, the reason is there too (containerd shows it to docker) */
	{
		const char *const *argv = argv_create();
		_cleanup_free_ char *log = NULL;

		assert_int_not_equal(run(make_env("SEGD_RUNC=/nonexistent/runc", NULL), argv),
				     FAKE_STATUS);
		assert_not_run();
		log = read_text(path_in(dir, "log.json"));
		assert_non_null(log);
		assert_non_null(strstr(log,
				       "\"msg\":\"segd-runc: SEGD_RUNC=/nonexistent/runc: No such "
				       "file or directory\""));
		assert_int_equal(unlink(path_in(dir, "log.json")), 0);
	}
	/* on PATH: a runc that is segd-runc (a link to it) is skipped */
	assert_int_equal(mkdir(loop_dir, 0700), 0);
	assert_int_equal(mkdir(bin_dir, 0700), 0);
	assert_int_equal(symlink(segd_runc, path_in(loop_dir, "runc")), 0);
	assert_int_equal(symlink(fake, path_in(bin_dir, "runc")), 0);
	snprintf(path_env, sizeof(path_env), "PATH=relative:%s::%s", loop_dir, bin_dir);
	assert_int_equal(run(make_env("SEGD_RUNC=", path_env, NULL), state_argv), FAKE_STATUS);
	assert_ran_with(state_argv, path_in(bin_dir, "runc"));
	snprintf(path_env, sizeof(path_env), "PATH=%s", loop_dir);
	assert_int_not_equal(run(make_env("SEGD_RUNC=", path_env, NULL), state_argv), FAKE_STATUS);
	assert_non_null(strstr(stderr_text, "no runc on PATH"));
	assert_not_run();
}

static void test_find_hook(void **state)
{
	const char *const *argv = argv_create();
	_cleanup_free_ char *seen = NULL, *want = NULL, *next_to = NULL;

	/* without SEGD_OCI_HOOK: segd-oci-hook next to segd-runc (the build tree has it) */
	write_file(path_in(bundle, "config.json"), CONFIG, 0600);
	assert_true(asprintf(&next_to, "%.*s/segd-oci-hook",
			     (int)(strrchr(segd_runc, '/') - segd_runc), segd_runc) > 0);
	assert_int_equal(access(next_to, X_OK), 0);
	assert_true(asprintf(&want, "\"path\":\"%s\"", next_to) > 0);
	assert_int_equal(run(make_env("SEGD_OCI_HOOK=", NULL), argv), FAKE_STATUS);
	seen = read_text(path_in(out_dir, "seen.json"));
	assert_non_null(strstr(seen, want));
}

static int setup(void **state)
{
	char script[PATH_MAX * 2];

	assert_non_null(mkdtemp(dir));
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	snprintf(out_dir, sizeof(out_dir), "%s/out", dir);
	snprintf(fake, sizeof(fake), "%s/fake-runc", dir);
	snprintf(hook, sizeof(hook), "%s/segd-oci-hook", dir);
	assert_int_equal(mkdir(bundle, 0700), 0);
	assert_int_equal(mkdir(out_dir, 0700), 0);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\nprintf '%%s\\n' \"$0\" \"$@\" > \"$FAKE_OUT/argv\"\n"
		 "cp \"$FAKE_BUNDLE/config.json\" \"$FAKE_OUT/seen.json\" 2>/dev/null\nexit %d\n",
		 FAKE_STATUS);
	write_file(fake, script, 0755);
	write_file(hook, "#!/bin/sh\nexit 0\n", 0755);
	return 0;
}

static int teardown(void **state)
{
	const char *argv[] = { "rm", "-rf", dir, NULL };
	pid_t pid = fork();
	int status;

	/* rm -rf of our own temporary directory, without a shell */
	if (pid == 0) {
		execvp("rm", (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	free(stderr_text);
	for (size_t i = 0; i < n_paths; i++)
		free(paths[i]);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),	     cmocka_unit_test(test_bundle_forms),
		cmocka_unit_test(test_pass_through), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_runtime),	     cmocka_unit_test(test_find_hook),
	};

	if (argc != 2 || !realpath(argv[1], segd_runc)) {
		fprintf(stderr, "usage: %s SEGD-RUNC\n", argv[0]);
		return 2;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
