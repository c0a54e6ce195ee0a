/* SPDX-License-Identifier: MIT */
/*
 * settings: every option from text with good and bad values and the messages users see; the
 * config file's grammar (comments, blanks, spaces, file:line in messages, NUL bytes, size, no
 * nested config); loading a real file; which changes need a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include <cmocka.h>

#include "audit.h"
#include "fixture.h"
#include "explain.h"
#include "settings.h"
#include "unit.h"

static int setup(void **state)
{
	struct settings *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	settings_init(s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	settings_done(*state);
	free(*state);
	return 0;
}

/* Sets name=value, which must succeed without a message. */
static void set_ok(struct settings *s, const char *name, const char *value)
{
	char *err = NULL;
	int r = settings_set(s, name, value, &err);

	if (r != 0)
		fail_msg("settings_set(%s, %s) = %d: %s", name, value ? value : "(null)", r,
			 err ? err : "?");
	assert_null(err);
}

/* name=value must fail with -EINVAL and exactly this message. */
static void set_bad(struct settings *s, const char *name, const char *value, const char *msg)
{
	char *err = NULL;
	int r = settings_set(s, name, value, &err);

	if (r != -EINVAL)
		fail_msg("settings_set(%s, %s) = %d, want -EINVAL", name, value ? value : "(null)",
			 r);
	assert_non_null(err);
	assert_string_equal(err, msg);
	free(err);
}

static void test_defaults(void **state)
{
	struct settings *s = *state;

	assert_string_equal(s->socket_path, "/run/segd/segd.sock");
	assert_null(s->audit_socket); /* audit.sock next to the socket */
	assert_int_equal(s->request_timeout_s, 10);
	assert_string_equal(s->state_dir, "/var/lib/segd");
	assert_string_equal(s->engine, "none");
	assert_int_equal(s->resync_interval_s, 30);
	assert_int_equal(s->deny, POLICY_DENY_DROP);
	assert_string_equal(s->group, "segd");
	assert_string_equal(s->audit_group, "segd-audit");
	assert_string_equal(s->audit_log, AUDIT_LOG_DEFAULT);
	assert_null(s->metrics_listen);
	assert_false(s->no_table_owner);
	assert_false(s->drift_report_only);
	assert_int_equal(s->flow_log, POLICY_FLOW_LOG_DENIED);
	assert_null(s->flow_log_file);
	assert_int_equal(s->flow_log_max_bytes, 64ull << 20);
	assert_int_equal(s->log_level, LOG_INFO);
	assert_null(s->config);
}

static void test_paths(void **state)
{
	struct settings *s = *state;
	char path[200];

	set_ok(s, "socket", "/tmp/x.sock");
	assert_string_equal(s->socket_path, "/tmp/x.sock");
	/* sun_path holds 107 bytes and the NUL */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = 0;
	set_ok(s, "socket", path);
	assert_int_equal(strlen(s->socket_path), 107);
	path[107] = 'a';
	path[108] = 0;
	set_bad(s, "socket", path, "--socket needs an absolute path of at most 107 bytes");
	set_bad(s, "socket", "run/x.sock", "--socket needs an absolute path of at most 107 bytes");
	set_bad(s, "socket", "", "--socket needs an absolute path of at most 107 bytes");
	assert_int_equal(strlen(s->socket_path), 107); /* a refused value changes nothing */

	set_ok(s, "audit-socket", "/run/segd/ro.sock");
	assert_string_equal(s->audit_socket, "/run/segd/ro.sock");
	set_bad(s, "audit-socket", "ro.sock",
		"--audit-socket needs an absolute path of at most 107 bytes");
	set_bad(s, "audit-socket", path,
		"--audit-socket needs an absolute path of at most 107 bytes");
	assert_string_equal(s->audit_socket, "/run/segd/ro.sock");

	set_ok(s, "request-timeout", "1");
	assert_int_equal(s->request_timeout_s, 1);
	set_ok(s, "request-timeout", "3600");
	assert_int_equal(s->request_timeout_s, 3600);
	set_bad(s, "request-timeout", "0", "--request-timeout: 1 to 3600 seconds");
	set_bad(s, "request-timeout", "3601", "--request-timeout: 1 to 3600 seconds");
	set_bad(s, "request-timeout", "-5", "--request-timeout: 1 to 3600 seconds");
	set_bad(s, "request-timeout", "10s", "--request-timeout: 1 to 3600 seconds");
	assert_int_equal(s->request_timeout_s, 3600);

	set_ok(s, "state-dir", "/srv/segd");
	assert_string_equal(s->state_dir, "/srv/segd");
	set_bad(s, "state-dir", "srv", "--state-dir needs an absolute path");
	assert_string_equal(s->state_dir, "/srv/segd");

	set_ok(s, "audit-log", "/var/log/a.jsonl");
	assert_string_equal(s->audit_log, "/var/log/a.jsonl");
	set_ok(s, "audit-log", "none");
	assert_null(s->audit_log);
	set_bad(s, "audit-log", "a.jsonl",
		"--audit-log needs an absolute path or 'none', not 'a.jsonl'");
	set_bad(s, "audit-log", "NONE", "--audit-log needs an absolute path or 'none', not 'NONE'");
	assert_null(s->audit_log);

	set_ok(s, "flow-log-file", "/var/log/flows.jsonl");
	assert_string_equal(s->flow_log_file, "/var/log/flows.jsonl");
	set_bad(s, "flow-log-file", "flows", "--flow-log-file needs an absolute path");

	set_ok(s, "group", "wheel");
	assert_string_equal(s->group, "wheel");
	set_ok(s, "audit-group", "auditors");
	set_bad(s, "group", "", "--group needs a group name");
	set_bad(s, "audit-group", "", "--audit-group needs a group name");
	assert_string_equal(s->audit_group, "auditors");
}

static void test_engine(void **state)
{
	struct settings *s = *state;
	char spec[200] = "unix://";

	set_ok(s, "engine", "auto");
	assert_string_equal(s->engine, "auto");
	set_ok(s, "engine", "unix:///run/docker.sock");
	assert_string_equal(s->engine, "unix:///run/docker.sock");
	set_ok(s, "engine", "none");
	assert_string_equal(s->engine, "none");
	/* the path, as a socket path, is at most 107 bytes */
	memset(spec + 7, 'p', 107);
	spec[7] = '/';
	spec[7 + 107] = 0;
	set_ok(s, "engine", spec);
	strcat(spec, "p");
	{
		char msg[300];

		snprintf(msg, sizeof(msg), "--engine: 'auto', 'none' or 'unix:///path', not '%s'",
			 spec);
		set_bad(s, "engine", spec, msg);
	}
	set_bad(s, "engine", "unix://run/docker.sock",
		"--engine: 'auto', 'none' or 'unix:///path', not 'unix://run/docker.sock'");
	set_bad(s, "engine", "docker", "--engine: 'auto', 'none' or 'unix:///path', not 'docker'");
	set_bad(s, "engine", "", "--engine: 'auto', 'none' or 'unix:///path', not ''");
	assert_int_equal(strlen(s->engine), 7 + 107); /* the last good one */
}

static void test_numbers(void **state)
{
	static const char *const bad_intervals[] = {
		"0", "86401", "-1", "+5", "", "5s", "0x10", "99999999999999999999999", "1.5"
	};
	static const char *const bad_sizes[] = { "0", "65537", "-1", "1M", "", "4294967297" };
	struct settings *s = *state;

	set_ok(s, "resync-interval", "1");
	assert_int_equal(s->resync_interval_s, 1);
	set_ok(s, "resync-interval", "86400");
	assert_int_equal(s->resync_interval_s, 86400);
	for (size_t i = 0; i < ARRAY_SIZE(bad_intervals); i++)
		set_bad(s, "resync-interval", bad_intervals[i],
			"--resync-interval: 1 to 86400 seconds");
	assert_int_equal(s->resync_interval_s, 86400);

	set_ok(s, "flow-log-max-size", "1");
	assert_int_equal(s->flow_log_max_bytes, 1u << 20);
	set_ok(s, "flow-log-max-size", "65536");
	assert_int_equal(s->flow_log_max_bytes, 65536ull << 20);
	for (size_t i = 0; i < ARRAY_SIZE(bad_sizes); i++)
		set_bad(s, "flow-log-max-size", bad_sizes[i],
			"--flow-log-max-size: 1 to 65536 (MiB)");
	assert_int_equal(s->flow_log_max_bytes, 65536ull << 20);

	assert_int_equal(s->matrix_budget, EXPLAIN_DEFAULT_BUDGET);
	set_ok(s, "matrix-budget", "1");
	assert_int_equal(s->matrix_budget, 1);
	set_ok(s, "matrix-budget", "1000000000");
	assert_int_equal(s->matrix_budget, 1000000000);
	set_bad(s, "matrix-budget", "0", "--matrix-budget: 1 to 1000000000 cells (pairs x ports)");
	set_bad(s, "matrix-budget", "1000000001",
		"--matrix-budget: 1 to 1000000000 cells (pairs x ports)");
	set_bad(s, "matrix-budget", "1e6",
		"--matrix-budget: 1 to 1000000000 cells (pairs x ports)");
	assert_int_equal(s->matrix_budget, 1000000000);
}

static void test_hook_fail_open(void **state)
{
	struct settings *s = *state;
	char name[16];

	assert_int_equal(s->n_hook_fail_open, 0);
	set_ok(s, "hook-fail-open", "db");
	set_ok(s, "hook-fail-open", "Web_1.x-y");
	set_ok(s, "hook-fail-open", "db"); /* once */
	assert_int_equal(s->n_hook_fail_open, 2);
	assert_string_equal(s->hook_fail_open[0], "db");
	assert_string_equal(s->hook_fail_open[1], "Web_1.x-y");
	set_bad(s, "hook-fail-open", "-x",
		"--hook-fail-open: container name '-x' must start with a letter or a digit");
	set_bad(s, "hook-fail-open", "a b",
		"--hook-fail-open: container name 'a b' must contain only letters, digits, '_', "
		"'.' and '-'");
	for (int i = 2; i < POLICY_MAX_FAIL_OPEN; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		set_ok(s, "hook-fail-open", name);
	}
	set_bad(s, "hook-fail-open", "one-more", "--hook-fail-open: at most 64 names");
	assert_int_equal(s->n_hook_fail_open, POLICY_MAX_FAIL_OPEN);
}

static void test_numbers_digits_only(void **state)
{
	struct settings *s = *state;

	/* strtoul() would skip spaces and take a sign: numbers start with a digit */
	set_bad(s, "resync-interval", "+5", "--resync-interval: 1 to 86400 seconds");
	set_bad(s, "resync-interval", " +5", "--resync-interval: 1 to 86400 seconds");
	set_bad(s, "resync-interval", " 5", "--resync-interval: 1 to 86400 seconds");
	set_bad(s, "flow-log-max-size", " +5", "--flow-log-max-size: 1 to 65536 (MiB)");
	set_ok(s, "resync-interval", "5");
	assert_int_equal(s->resync_interval_s, 5);
}

static void test_choices(void **state)
{
	struct settings *s = *state;

	set_ok(s, "deny-action", "reject");
	assert_int_equal(s->deny, POLICY_DENY_REJECT);
	set_ok(s, "deny-action", "drop");
	assert_int_equal(s->deny, POLICY_DENY_DROP);
	set_bad(s, "deny-action", "DROP", "--deny-action: 'drop' or 'reject', not 'DROP'");
	set_bad(s, "deny-action", "", "--deny-action: 'drop' or 'reject', not ''");

	set_ok(s, "drift", "report");
	assert_true(s->drift_report_only);
	set_ok(s, "drift", "repair");
	assert_false(s->drift_report_only);
	set_bad(s, "drift", "fix", "--drift: repair or report, not 'fix'");

	set_ok(s, "flow-log", "none");
	assert_int_equal(s->flow_log, POLICY_FLOW_LOG_NONE);
	set_ok(s, "flow-log", "all");
	assert_int_equal(s->flow_log, POLICY_FLOW_LOG_ALL);
	set_ok(s, "flow-log", "denied");
	assert_int_equal(s->flow_log, POLICY_FLOW_LOG_DENIED);
	set_bad(s, "flow-log", "some", "--flow-log: denied, all or none, not 'some'");

	set_ok(s, "log-level", "error");
	assert_int_equal(s->log_level, LOG_ERR);
	set_ok(s, "log-level", "warning");
	assert_int_equal(s->log_level, LOG_WARNING);
	set_ok(s, "log-level", "debug");
	assert_int_equal(s->log_level, LOG_DEBUG);
	set_ok(s, "log-level", "info");
	assert_int_equal(s->log_level, LOG_INFO);
	set_bad(s, "log-level", "trace", "--log-level: error, warning, info or debug, not 'trace'");
	assert_int_equal(s->log_level, LOG_INFO);

	set_ok(s, "metrics-listen", "127.0.0.1:9469");
	assert_string_equal(s->metrics_listen, "127.0.0.1:9469");
	set_ok(s, "metrics-listen", "[::1]:9469");
	assert_string_equal(s->metrics_listen, "[::1]:9469");
	set_bad(s, "metrics-listen", "localhost:9469",
		"--metrics-listen: IPV4:PORT or [IPV6]:PORT, not 'localhost:9469'");
	set_bad(s, "metrics-listen", "127.0.0.1:0",
		"--metrics-listen: IPV4:PORT or [IPV6]:PORT, not '127.0.0.1:0'");
	assert_string_equal(s->metrics_listen, "[::1]:9469");
}

static void test_flags_and_names(void **state)
{
	struct settings *s = *state;

	set_ok(s, "no-table-owner", NULL); /* a flag given alone */
	assert_true(s->no_table_owner);
	set_ok(s, "no-table-owner", "false");
	assert_false(s->no_table_owner);
	set_ok(s, "no-table-owner", "yes");
	assert_true(s->no_table_owner);
	set_ok(s, "no-table-owner", "0");
	assert_false(s->no_table_owner);
	set_ok(s, "no-table-owner", "1");
	assert_true(s->no_table_owner);
	set_ok(s, "no-table-owner", "no");
	assert_false(s->no_table_owner);
	set_ok(s, "no-table-owner", "true");
	assert_true(s->no_table_owner);
	set_bad(s, "no-table-owner", "maybe", "--no-table-owner: true or false, not 'maybe'");
	set_bad(s, "no-table-owner", "TRUE", "--no-table-owner: true or false, not 'TRUE'");
	assert_true(s->no_table_owner);

	/* every other option needs a value */
	set_bad(s, "socket", NULL, "--socket needs a value");
	set_bad(s, "log-level", NULL, "--log-level needs a value");
	set_bad(s, "bogus", NULL, "--bogus needs a value");
	set_bad(s, "bogus", "1", "unknown option 'bogus'");
	set_bad(s, "", "1", "unknown option ''");
	set_bad(s, "Socket", "/x", "unknown option 'Socket'");
	/* --config is the command line's business, not an option to set */
	set_bad(s, "config", "/etc/segd.conf", "unknown option 'config'");
}

static void parse_ok(struct settings *s, const char *text)
{
	char *err = NULL;
	int r = settings_parse_text(s, "f.conf", text, strlen(text), &err);

	if (r != 0)
		fail_msg("settings_parse_text(%s) = %d: %s", text, r, err ? err : "?");
	assert_null(err);
}

static void parse_bad_len(struct settings *s, const char *text, size_t len, const char *msg)
{
	char *err = NULL;
	int r = settings_parse_text(s, "f.conf", text, len, &err);

	assert_int_equal(r, -EINVAL);
	assert_non_null(err);
	assert_string_equal(err, msg);
	free(err);
}

static void parse_bad(struct settings *s, const char *text, const char *msg)
{
	parse_bad_len(s, text, strlen(text), msg);
}

static void test_parse_text(void **state)
{
	struct settings *s = *state;

	parse_ok(s, "");
	parse_ok(s, "\n\n# nothing\n   \t\n");
	parse_ok(s, "# segd\n"
		    "\n"
		    "  socket = /tmp/a.sock   # where segctl talks\n"
		    "log-level=debug\r\n"
		    "\tresync-interval\t=\t60\t\n"
		    "group = a#b\n"
		    "no-table-owner = true\n"
		    "flow-log = all"); /* no final newline */
	assert_string_equal(s->socket_path, "/tmp/a.sock");
	assert_int_equal(s->log_level, LOG_DEBUG);
	assert_int_equal(s->resync_interval_s, 60);
	assert_string_equal(s->group, "a"); /* '#' starts a comment anywhere */
	assert_true(s->no_table_owner);
	assert_int_equal(s->flow_log, POLICY_FLOW_LOG_ALL);

	/* only len bytes are read */
	assert_int_equal(settings_parse_text(s, "f.conf", "log-level = error\nbogus = 1\n", 18,
					     NULL),
			 0);
	assert_int_equal(s->log_level, LOG_ERR);

	parse_bad(s, "log-level = info\n\nbogus = 1\n", "f.conf:3: unknown option 'bogus'");
	parse_bad(s, "# a\nresync-interval = 0\n",
		  "f.conf:2: --resync-interval: 1 to 86400 seconds");
	parse_bad(s, "socket\n", "f.conf:1: expected NAME = VALUE");
	parse_bad(s, "no-table-owner\n", "f.conf:1: expected NAME = VALUE");
	parse_bad(s, "\n = /x\n", "f.conf:2: expected NAME = VALUE");
	parse_bad(s, "\n\n\nconfig = /etc/other.conf\n",
		  "f.conf:4: a config file cannot name another");
	parse_bad(s, "log level = info\n", "f.conf:1: unknown option 'log level'");
	parse_bad(s, "socket = relative\n",
		  "f.conf:1: --socket needs an absolute path of at most 107 bytes");
	parse_bad(s, "no-table-owner =\n", "f.conf:1: --no-table-owner: true or false, not ''");
	parse_bad(s, "deny-action = drop # or reject\nlog-level = loud\n",
		  "f.conf:2: --log-level: error, warning, info or debug, not 'loud'");
	/* a CR counts as space, not as a line break */
	parse_bad(s, "a = 1\rb = 2\n", "f.conf:1: unknown option 'a'");
}

static void test_parse_hostile(void **state)
{
	struct settings *s = *state;
	char *big;

	parse_bad_len(s, "log-level = info\0bogus = 1\n", 27, "f.conf: holds a NUL byte");
	parse_bad_len(s, "\0", 1, "f.conf: holds a NUL byte");

	/* 64 KiB of comments are read; one byte more is refused unread */
	big = malloc(SETTINGS_MAX_FILE_BYTES + 2);
	assert_non_null(big);
	memset(big, '#', SETTINGS_MAX_FILE_BYTES + 1);
	big[SETTINGS_MAX_FILE_BYTES - 1] = '\n';
	big[SETTINGS_MAX_FILE_BYTES + 1] = 0;
	assert_int_equal(settings_parse_text(s, "f.conf", big, SETTINGS_MAX_FILE_BYTES, NULL), 0);
	parse_bad_len(s, big, SETTINGS_MAX_FILE_BYTES + 1, "f.conf: over 65536 bytes");

	/* a very long line and many lines: the line number is still right */
	memset(big, '\n', SETTINGS_MAX_FILE_BYTES);
	memcpy(big + 60000, "x = y", 5);
	parse_bad_len(s, big, SETTINGS_MAX_FILE_BYTES, "f.conf:60001: unknown option 'x'");
	free(big);
}

static void test_load_file(void **state)
{
	struct settings *s = *state;
	char path[256], *err = NULL;
	char *big;

	snprintf(path, sizeof(path), "%s/segd.conf", fixture_tmpdir());
	file_write(path, "state-dir = /srv/state\nengine = auto\n", 37);
	assert_int_equal(settings_load_file(s, path, &err), 0);
	assert_null(err);
	assert_string_equal(s->state_dir, "/srv/state");
	assert_string_equal(s->engine, "auto");

	/* messages name the file as given */
	file_write(path, "engine = docker\n", 16);
	assert_int_equal(settings_load_file(s, path, &err), -EINVAL);
	assert_non_null(err);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path),
			    ":1: --engine: 'auto', 'none' or 'unix:///path', not 'docker'");
	free(err);

	/* a file over the limit, and one that is not there, and a directory */
	big = malloc(SETTINGS_MAX_FILE_BYTES + 100);
	assert_non_null(big);
	memset(big, '\n', SETTINGS_MAX_FILE_BYTES + 100);
	file_write(path, big, SETTINGS_MAX_FILE_BYTES + 100);
	free(big);
	assert_int_equal(settings_load_file(s, path, &err), -EINVAL);
	assert_true(strstr(err, ": over 65536 bytes") != NULL);
	free(err);

	snprintf(path, sizeof(path), "%s/missing.conf", fixture_tmpdir());
	assert_int_equal(settings_load_file(s, path, &err), -EINVAL);
	assert_true(strstr(err, ": No such file or directory") != NULL);
	free(err);

	assert_int_equal(settings_load_file(s, fixture_tmpdir(), &err), -EINVAL);
	assert_true(strstr(err, ": Is a directory") != NULL);
	free(err);
}

static void test_restart_needed(void **state)
{
	struct settings a, b;
	static const struct {
		const char *name, *value;
		const char *restart;
	} changes[] = {
		{ "socket", "/tmp/other.sock", "socket" },
		{ "audit-socket", "/tmp/ro.sock", "audit-socket" },
		{ "request-timeout", "5", "request-timeout" },
		{ "state-dir", "/srv/other", "state-dir" },
		{ "engine", "auto", "engine" },
		{ "deny-action", "reject", "deny-action" },
		{ "group", "other", "group" },
		{ "audit-group", "other", "audit-group" },
		{ "audit-log", "none", "audit-log" },
		{ "audit-log", "/var/log/other.jsonl", "audit-log" },
		{ "metrics-listen", "127.0.0.1:1", "metrics-listen" },
		{ "no-table-owner", "true", "no-table-owner" },
		{ "drift", "report", "drift" },
		{ "flow-log", "all", "flow-log" },
		{ "flow-log-file", "/var/log/f", "flow-log-file" },
		{ "flow-log-max-size", "1", "flow-log-max-size" },
		/* these apply while segd runs */
		{ "log-level", "debug", NULL },
		{ "resync-interval", "5", NULL },
		/* the defaults again: no change */
		{ "flow-log", "denied", NULL },
		{ "deny-action", "drop", NULL },
	};

	settings_init(&a);
	settings_init(&b);
	assert_null(settings_restart_needed(&a, &b));
	settings_done(&b);
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++) {
		const char *got;

		settings_init(&b);
		assert_int_equal(settings_set(&b, changes[i].name, changes[i].value, NULL), 0);
		got = settings_restart_needed(&a, &b);
		if (!changes[i].restart)
			assert_null(got);
		else if (!got || strcmp(got, changes[i].restart) != 0)
			fail_msg("%s = %s: restart_needed %s, want %s", changes[i].name,
				 changes[i].value, got ? got : "NULL", changes[i].restart);
		/* symmetric */
		got = settings_restart_needed(&b, &a);
		assert_true(changes[i].restart ? got && streq(got, changes[i].restart) : !got);
		settings_done(&b);
	}
	/* the config file's own name does not need one */
	settings_init(&b);
	b.config = strdup("/etc/segd.conf");
	assert_null(settings_restart_needed(&a, &b));
	settings_done(&b);
	settings_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_fail_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers_digits_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_choices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
		cmocka_unit_test(test_restart_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
