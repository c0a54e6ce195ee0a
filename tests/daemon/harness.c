/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "harness.h"
#include "loop.h"
#include "time-util.h"

void harness_start(struct harness *h, const char *config)
{
	static unsigned n;
	struct settings s;
	char *err = NULL;
	char path[200];
	int r;

	*h = (struct harness){ 0 };
	snprintf(h->dir, sizeof(h->dir), "%s/h%u", fixture_tmpdir(), n++);
	assert_int_equal(mkdir(h->dir, 0700), 0);
	snprintf(h->socket, sizeof(h->socket), "%s/segd.sock", h->dir);
	snprintf(h->audit, sizeof(h->audit), "%s/audit.jsonl", h->dir);
	settings_init(&s);
	snprintf(path, sizeof(path), "%s/state", h->dir);
	assert_int_equal(settings_set(&s, "state-dir", path, &err), 0);
	assert_int_equal(settings_set(&s, "socket", h->socket, &err), 0);
	assert_int_equal(settings_set(&s, "audit-log", h->audit, &err), 0);
	assert_int_equal(settings_set(&s, "group", "segd-test-no-such-group", &err), 0);
	assert_int_equal(settings_set(&s, "audit-group", "segd-test-no-such-group", &err), 0);
	/* No fd store unless a test asks for one (config "fdstore = holder"). */
	assert_int_equal(settings_set(&s, "fdstore", "none", &err), 0);
	if (config) {
		r = settings_parse_text(&s, "harness", config, strlen(config), &err);
		if (r < 0)
			fail_msg("%s", err);
	}
	assert_int_equal(manager_new(&s, NULL, NULL, &h->m), 0);
	settings_done(&s);
	assert_int_equal(manager_start(h->m), 0);
	h->ops = manager_ops(h->m);
}

void harness_stop(struct harness *h)
{
	h->m = manager_free(h->m);
}

void harness_endpoint(struct harness *h, const char *name, const char *ns, const char *labels)
{
	struct endpoint_spec spec = { 0 };
	struct op_error err = { 0 };
	json_t *out = NULL;
	char path[128], buf[256];
	int fd = -1, r;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	if (access(path, F_OK) < 0) {
		assert_int_equal(fixture_netns(name, &fd), 0);
		close(fd);
	}
	spec.name = strdup(name);
	spec.netns = strdup(name);
	spec.namespace = strdup(ns);
	snprintf(buf, sizeof(buf), "%s", labels ? labels : "");
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		assert_non_null(eq);
		*eq = 0;
		assert_int_equal(policy_labels_set(&spec.labels, kv, eq + 1), 0);
	}
	r = ops_endpoint_add(h->ops, &spec, &out, &err);
	if (r < 0)
		fail_msg("endpoint %s: %s", name, err.message);
	json_decref(out);
	endpoint_spec_done(&spec);
}

void harness_apply(struct harness *h, const char *text)
{
	struct op_error err = { 0 };
	json_t *out = NULL;
	int r;

	r = ops_apply(h->ops, "test.yaml", text, strlen(text), false, &out, &err);
	if (r < 0)
		fail_msg("apply: %s", err.message);
	json_decref(out);
}

bool harness_until(struct harness *h, bool (*cond)(struct harness *h, void *userdata),
		   void *userdata, int timeout_ms)
{
	int64_t deadline = now_msec() + timeout_ms;

	while (!cond(h, userdata)) {
		int64_t left = deadline - now_msec();

		if (left <= 0)
			return false;
		assert_true(manager_run_once(h->m, left > 100 ? 100 : (int)left) >= 0);
	}
	return true;
}
