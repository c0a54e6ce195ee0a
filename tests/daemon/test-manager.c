/* SPDX-License-Identifier: MIT */
/*
 * The manager's signals: SIGHUP reloads what can change while segd runs (log level, resync
 * interval) and reopens the audit log after logrotate moved it, and never exits; SIGTERM
 * exits the loop with every table left in place. A whole core in a private kernel, no root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "harness.h"
#include "log.h"
#include "loop.h"
#include "netns.h"
#include "nft.h"

static char config_path[256];
static int reloads;

static int reload(struct settings *ret, void *userdata)
{
	char *err = NULL;
	int r;

	reloads++;
	r = settings_load_file(ret, config_path, &err);
	free(err);
	return r;
}

static void write_config(const char *text)
{
	FILE *f = fopen(config_path, "we");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int lines(const char *path)
{
	FILE *f = fopen(path, "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_sighup_reloads_and_sigterm_exits(void **state)
{
	char dir[200], audit[256], rotated[256];
	struct settings s;
	struct manager *m = NULL;
	struct op_error err = { 0 };
	json_t *out = NULL;
	char *e = NULL;
	sigset_t mask;
	int fd = -1, r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);

	snprintf(dir, sizeof(dir), "%s/manager", fixture_tmpdir());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(config_path, sizeof(config_path), "%s/segd.conf", dir);
	snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	snprintf(rotated, sizeof(rotated), "%s/audit.jsonl.1", dir);
	{
		char text[1024];

		snprintf(text, sizeof(text),
			 "# segd test\nstate-dir = %s/state\nsocket = %s/sock\n"
			 "audit-log = %s\nlog-level = info\nresync-interval = 30\n"
			 "group = no-such-group\naudit-group = no-such-group\n",
			 dir, dir, audit);
		write_config(text);
		settings_init(&s);
		assert_int_equal(settings_parse_text(&s, "segd.conf", text, strlen(text), &e), 0);
		log_set_level(s.log_level);
		/* what the next reload reads: debug, a new interval, and a change that needs a
		 * restart */
		snprintf(text, sizeof(text),
			 "state-dir = %s/state\nsocket = %s/sock\n"
			 "audit-log = %s\nlog-level = debug\nresync-interval = 5\n"
			 "deny-action = reject\ngroup = no-such-group\n"
			 "audit-group = no-such-group\n",
			 dir, dir, audit);
		write_config(text);
	}
	assert_int_equal(manager_new(&s, reload, NULL, &m), 0);
	settings_done(&s);
	assert_int_equal(manager_start(m), 0);

	/* A change through the operations is audited only when a caller is known: through the
	 * API. Here we only need the file to exist and be reopened. */
	assert_int_equal(access(audit, F_OK), 0);
	assert_int_equal(rename(audit, rotated), 0);

	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_int_equal(manager_run_once(m, 2000), 0); /* SIGHUP does not exit */
	assert_int_equal(reloads, 1);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	/* reopened by name: a new file */
	assert_int_equal(access(audit, F_OK), 0);

	/* A broken config file: the reload fails, the settings stay, segd goes on. */
	write_config("log-level = loud\n");
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_int_equal(manager_run_once(m, 2000), 0);
	assert_int_equal(reloads, 2);
	assert_int_equal(log_get_level(), LOG_DEBUG);

	/* The core still works after reloads. */
	assert_int_equal(fixture_netns("mgr", &fd), 0);
	close(fd);
	{
		struct endpoint_spec spec = { .name = strdup("mgr"),
					      .netns = strdup("mgr"),
					      .namespace = strdup("default") };

		assert_int_equal(ops_endpoint_add(manager_ops(m), &spec, &out, &err), 0);
		endpoint_spec_done(&spec);
		json_decref(out);
	}

	assert_int_equal(kill(getpid(), SIGTERM), 0);
	r = manager_run_once(m, 2000);
	assert_int_equal(r, LOOP_EXIT);
	manager_free(m);
	/* The table outlives segd. */
	{
		struct nft_sock *sock = NULL;

		assert_int_equal(netns_open_name("mgr", &fd), 0);
		assert_int_equal(nft_sock_open(NULL, fd, &sock), 0);
		assert_int_equal(nft_table_exists(sock), 1);
		nft_sock_free(sock);
		close(fd);
	}
	assert_true(lines(rotated) >= 0); /* the rotated file is still there, untouched */
	log_set_level(LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sighup_reloads_and_sigterm_exits),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
