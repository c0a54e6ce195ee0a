/* SPDX-License-Identifier: MIT */
/*
 * audit: one JSON line per change, with the fields audit.h documents; no changes, no line;
 * the rolled-back record; reopening after logrotate; and an audit without a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit.h"
#include "fixture.h"
#include "unit.h"

/* Line k (0-based) of a file as JSON. */
static json_t *line_json(const char *path, size_t k)
{
	_cleanup_free_ char *text = file_read(path, NULL);
	char *p = text, *nl;

	assert_non_null(text);
	for (size_t i = 0; i < k; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	nl = strchr(p, '\n');
	assert_non_null(nl); /* every line is complete */
	*nl = 0;
	return json_parse(p);
}

static void make_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", fixture_tmpdir(), name);
}

static void test_record(void **state)
{
	char path[256], self[64] = "";
	struct audit *a = NULL;
	json_auto_t *rec = NULL;
	json_t *c;
	struct stat st;

	make_path(path, sizeof(path), "log/segd/audit.jsonl"); /* parents are created */
	assert_int_equal(audit_open(path, &a), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_false(audit_active(a));

	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", "web.yaml");
	assert_true(audit_active(a));
	audit_change(a, "NetworkPolicy", "shop", "db", "created", NULL,
		     json_pack("{s:s}", "kind", "NetworkPolicy"));
	audit_change(a, "Namespace", NULL, "shop", "configured", json_pack("{s:i}", "v", 1),
		     json_pack("{s:i}", "v", 2));
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(audit_records(a), 1);
	assert_int_equal(file_lines(path), 1);

	rec = line_json(path, 0);
	assert_int_equal(json_object_size(rec), 8);
	assert_json_int(rec, "seq", 1);
	assert_json_int(rec, "uid", 1000);
	assert_json_int(rec, "pid", getpid());
	{
		FILE *f = fopen("/proc/self/comm", "re");

		assert_non_null(f);
		assert_non_null(fgets(self, sizeof(self), f));
		fclose(f);
		self[strcspn(self, "\n")] = 0;
	}
	assert_json_string(rec, "comm", self);
	assert_json_string(rec, "request", "POST /v1/apply");
	assert_json_string(rec, "file", "web.yaml");
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
	assert_int_equal(strlen(json_string_value(json_object_get(rec, "time"))), 24);
	assert_true(json_string_value(json_object_get(rec, "time"))[19] == '.');
	c = json_object_get(rec, "changes");
	assert_int_equal(json_array_size(c), 2);
	{
		_cleanup_free_ char *c0 = json_text(json_array_get(c, 0));
		_cleanup_free_ char *c1 = json_text(json_array_get(c, 1));

		assert_string_equal(
			c0, "{\"action\":\"created\",\"after\":{\"kind\":\"NetworkPolicy\"},"
			    "\"before\":null,\"kind\":\"NetworkPolicy\",\"name\":\"db\","
			    "\"namespace\":\"shop\"}");
		assert_string_equal(c1,
				    "{\"action\":\"configured\",\"after\":{\"v\":2},"
				    "\"before\":{\"v\":1},\"kind\":\"Namespace\",\"name\":\"shop\","
				    "\"namespace\":null}");
	}

	/* the changes went with the record: committing again writes nothing */
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(file_lines(path), 1);
	audit_end(a);
	assert_false(audit_active(a));

	/* a second request, without a file, from a process that is gone */
	audit_begin(a, 0, 4194303, "DELETE", "/v1/namespaces/shop/networkpolicies/db", NULL);
	audit_change(a, "NetworkPolicy", "shop", "db", "deleted", json_object(), NULL);
	assert_int_equal(audit_commit(a), 0);
	audit_end(a);
	json_decref(rec);
	rec = line_json(path, 1);
	assert_json_int(rec, "seq", 2);
	assert_json_int(rec, "uid", 0);
	assert_true(json_is_null(json_object_get(rec, "comm")));
	assert_true(json_is_null(json_object_get(rec, "file")));
	assert_json_string(rec, "request", "DELETE /v1/namespaces/shop/networkpolicies/db");
	assert_true(json_is_null(
		json_object_get(json_array_get(json_object_get(rec, "changes"), 0), "after")));
	assert_int_equal(audit_records(a), 2);
	audit_free(a);
}

static void test_no_changes(void **state)
{
	char path[256];
	struct audit *a = NULL;

	make_path(path, sizeof(path), "quiet.jsonl");
	assert_int_equal(audit_open(path, &a), 0);

	/* a read: nothing */
	audit_begin(a, 1000, getpid(), "GET", "/v1/status", NULL);
	assert_int_equal(audit_commit(a), 0);
	audit_end(a);
	/* a failed request: its changes are forgotten */
	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", "x.yaml");
	audit_change(a, "NetworkPolicy", "x", "y", "created", NULL, json_object());
	audit_discard(a);
	assert_int_equal(audit_commit(a), 0);
	audit_end(a);
	/* changes made outside a request (the engine, a restore) are not recorded */
	audit_change(a, "NetworkPolicy", "x", "y", "created", json_object(), json_object());
	assert_int_equal(audit_commit(a), 0);
	/* nor does ending a request commit it */
	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", "x.yaml");
	audit_change(a, "NetworkPolicy", "x", "y", "created", NULL, json_object());
	audit_end(a);
	assert_int_equal(audit_commit(a), 0);

	assert_int_equal(file_size(path), 0);
	assert_int_equal(audit_records(a), 0);
	/* nothing committed: nothing to roll back */
	audit_rolled_back(a, "x");
	assert_int_equal(file_size(path), 0);
	audit_free(a);
}

static void test_rolled_back(void **state)
{
	char path[256];
	struct audit *a = NULL;
	json_auto_t *rec = NULL;

	make_path(path, sizeof(path), "rollback.jsonl");
	assert_int_equal(audit_open(path, &a), 0);
	audit_begin(a, 1000, getpid(), "POST", "/v1/endpoints", NULL);
	audit_change(a, "Endpoint", "default", "red", "created", NULL, json_object());
	assert_int_equal(audit_commit(a), 0);
	audit_rolled_back(a, "change not applied: cannot write state in /x: No space left");
	audit_end(a);
	assert_int_equal(file_lines(path), 2);
	rec = line_json(path, 1);
	assert_int_equal(json_object_size(rec), 3);
	assert_json_int(rec, "seq_rolled_back", 1);
	assert_json_string(rec, "error",
			   "change not applied: cannot write state in /x: No space left");
	assert_int_equal(strlen(json_string_value(json_object_get(rec, "time"))), 24);
	/* a rollback is not a change record */
	assert_int_equal(audit_records(a), 1);
	json_decref(rec);

	/* it names the last committed record, and takes no error as "" */
	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", NULL);
	audit_change(a, "NetworkPolicy", "x", "y", "created", NULL, json_object());
	assert_int_equal(audit_commit(a), 0);
	audit_rolled_back(a, NULL);
	rec = line_json(path, 3);
	assert_json_int(rec, "seq_rolled_back", 2);
	assert_json_string(rec, "error", "");
	audit_end(a);

	/* a change with no record (nothing changed in the model) rolls back nothing: not the
	 * previous request's record */
	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", NULL);
	assert_int_equal(audit_commit(a), 0);
	audit_rolled_back(a, "kernel refused");
	assert_int_equal(file_lines(path), 4);
	audit_free(a);
}

static void test_reopen(void **state)
{
	char path[256], moved[300];
	struct audit *a = NULL;
	json_auto_t *rec = NULL;

	make_path(path, sizeof(path), "rotate.jsonl");
	snprintf(moved, sizeof(moved), "%s.1", path);
	assert_int_equal(audit_open(path, &a), 0);
	audit_begin(a, 1, 1, "POST", "/v1/apply", NULL);
	audit_change(a, "NetworkPolicy", "x", "a", "created", NULL, NULL);
	assert_int_equal(audit_commit(a), 0);

	/* logrotate renames it; until reopened the old file gets the records */
	assert_int_equal(rename(path, moved), 0);
	audit_change(a, "NetworkPolicy", "x", "b", "created", NULL, NULL);
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(file_lines(moved), 2);
	assert_int_equal(file_size(path), -1);
	assert_int_equal(audit_reopen(a), 0);
	assert_int_equal(file_size(path), 0);
	audit_change(a, "NetworkPolicy", "x", "c", "created", NULL, NULL);
	assert_int_equal(audit_commit(a), 0);
	audit_end(a);
	assert_int_equal(file_lines(moved), 2);
	assert_int_equal(file_lines(path), 1);
	rec = line_json(path, 0);
	assert_json_int(rec, "seq", 3); /* numbering goes on */
	audit_free(a);

	/* reopened as it is, the file is appended to */
	assert_int_equal(audit_open(path, &a), 0);
	assert_int_equal(audit_reopen(a), 0);
	audit_begin(a, 1, 1, "POST", "/v1/apply", NULL);
	audit_change(a, "NetworkPolicy", "x", "d", "created", NULL, NULL);
	assert_int_equal(audit_commit(a), 0);
	audit_free(a);
	assert_int_equal(file_lines(path), 2);
}

static void test_no_file(void **state)
{
	struct audit *a = NULL;
	char path[256];

	assert_int_equal(audit_open(NULL, &a), 0);
	assert_non_null(a);
	audit_begin(a, 1000, getpid(), "POST", "/v1/apply", "x.yaml");
	assert_false(audit_active(a));
	audit_change(a, "NetworkPolicy", "x", "y", "created", json_object(), json_object());
	assert_int_equal(audit_commit(a), 0);
	audit_rolled_back(a, "x");
	assert_int_equal(audit_reopen(a), 0);
	assert_int_equal(audit_records(a), 0);
	audit_end(a);
	assert_null(audit_free(a));

	/* and no audit at all */
	audit_begin(NULL, 0, 0, "GET", "/", NULL);
	assert_false(audit_active(NULL));
	audit_change(NULL, "x", NULL, "y", "created", json_object(), NULL);
	audit_discard(NULL);
	audit_end(NULL);
	assert_int_equal(audit_reopen(NULL), 0);
	assert_int_equal(audit_records(NULL), 0);
	audit_rolled_back(NULL, "x");
	assert_null(audit_free(NULL));

	/* a file that cannot be opened: not through a symlink, not under a file */
	make_path(path, sizeof(path), "link.jsonl");
	assert_int_equal(symlink("/dev/null", path), 0);
	a = NULL;
	assert_int_equal(audit_open(path, &a), -ELOOP);
	assert_null(a);
	make_path(path, sizeof(path), "link.jsonl/x.jsonl");
	assert_true(audit_open(path, &a) < 0);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),	    cmocka_unit_test(test_no_changes),
		cmocka_unit_test(test_rolled_back), cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_no_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
