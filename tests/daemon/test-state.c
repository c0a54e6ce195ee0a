/* SPDX-License-Identifier: MIT */
/*
 * state: the state dir in a temporary directory. Save and load give back the same objects and
 * hand-registered endpoints; journal lines are replayed; a torn last line is skipped and cut
 * off; a fresh dir gets an empty state.json; a corrupt or over-size one is refused; the
 * journal is folded into state.json once it outgrows it (when a change settles). Write-ahead:
 * a persisted change is undone exactly (journal cut back, old state.json renamed back), a
 * write that fails leaves the files as they were. (Faults: test-state-load.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "fixture.h"
#include "state.h"
#include "unit.h"

#define OBJECTS                                                                          \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n" \
	"---\n"                                                                          \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                        \
	"metadata: {name: db-in, namespace: shop}\n"                                     \
	"spec:\n  podSelector: {matchLabels: {app: db}}\n"                               \
	"  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}],"                 \
	" ports: [{port: 5432}]}]\n"                                                     \
	"---\n"                                                                          \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                        \
	"metadata: {name: out, namespace: blog}\n"                                       \
	"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"                            \
	"  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]\n"

static unsigned dir_seq;

/* A new state dir (not yet created) under the test's temporary directory. */
static void new_dir(char *buf, size_t size)
{
	snprintf(buf, size, "%s/state%u/segd", fixture_tmpdir(), dir_seq++);
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static struct endpoint *netns_ep(const char *name, const char *ns, const char *app)
{
	struct endpoint *e = ep_new(ENDPOINT_KIND_NETNS, name, ns);

	ep_label(e, "app", app);
	return e;
}

static void expect_endpoint(json_t *eps, const struct endpoint *e)
{
	json_auto_t *want = state_endpoint_desc(e);
	json_t *got = json_object_get(eps, e->pe.name);

	if (!got || !json_equal(got, want)) {
		_cleanup_free_ char *g = got ? json_text(got) : strdup("(none)");
		_cleanup_free_ char *w = json_text(want);

		fail_msg("endpoint %s:\n  got:  %s\n  want: %s", e->pe.name, g, w);
	}
}

static void test_desc(void **state)
{
	struct endpoint *e = netns_ep("db", "shop", "db");
	json_auto_t *d = NULL;
	_cleanup_free_ char *s = NULL;

	ep_port(e, "pg", 5432, POLICY_PROTO_TCP);
	ep_port(e, "m", 9187, POLICY_PROTO_UDP);
	ep_addr(e, "10.0.0.2"); /* addresses are the kernel's: not stored */
	d = state_endpoint_desc(e);
	s = json_text(d);
	assert_string_equal(s,
			    "{\"labels\":{\"app\":\"db\"},\"name\":\"db\",\"namespace\":\"shop\","
			    "\"netns\":\"db\",\"ports\":[{\"name\":\"pg\",\"port\":5432,"
			    "\"protocol\":\"TCP\"},{\"name\":\"m\",\"port\":9187,"
			    "\"protocol\":\"UDP\"}]}");
	endpoint_free(e);
}

static void test_open(void **state)
{
	char dir[256], parent[300];
	struct state *st = NULL;
	struct stat sb;

	new_dir(dir, sizeof(dir));
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700); /* the last component is private */
	snprintf(parent, sizeof(parent), "%s/..", dir);
	assert_int_equal(stat(parent, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0755);
	assert_string_equal(st->dir, dir);
	assert_int_equal(st->journal_fd, -1);
	state_free(st);
	/* again: it is there already */
	assert_int_equal(state_open(dir, &st), 0);
	state_free(st);
	assert_null(state_free(NULL));

	/* under a regular file: refused */
	path_in(parent, sizeof(parent), fixture_tmpdir(), "plain");
	file_write(parent, "x", 1);
	strcat(parent, "/segd");
	st = NULL;
	assert_true(state_open(parent, &st) < 0);
	assert_null(st);
}

static void test_empty(void **state)
{
	char dir[256];
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	new_dir(dir, sizeof(dir));
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_non_null(l.objects);
	assert_int_equal(l.objects->n_namespaces + l.objects->n_netpols, 0);
	assert_int_equal(json_object_size(l.endpoints), 0);
	state_loaded_done(&l);
	assert_null(l.objects);
	state_free(st);
}

static void test_save_load(void **state)
{
	char dir[256], path[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *web = netns_ep("web", "shop", "web"), *db = netns_ep("db", "shop", "db");
	struct endpoint *c = ep_new(ENDPOINT_KIND_CONTAINER, "c1", "shop");

	new_dir(dir, sizeof(dir));
	store_load(&s, objects_parse(OBJECTS));
	ep_port(db, "pg", 5432, POLICY_PROTO_TCP);
	ep_label(db, "example.com/tier", "");
	assert_int_equal(registry_insert(&r, web), 0);
	assert_int_equal(registry_insert(&r, db), 0);
	assert_int_equal(registry_insert(&r, c), 0);

	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_save(st, &s, &r), 0);
	path_in(path, sizeof(path), dir, STATE_FILE);
	assert_int_equal(st->state_bytes, (uint64_t)file_size(path));
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		path_in(path, sizeof(path), dir, "." STATE_FILE ".tmp");
		assert_int_equal(file_size(path), -1); /* renamed over */
	}
	state_free(st);

	/* a new state object, as after a restart */
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(l.objects->n_namespaces, 1);
	assert_int_equal(l.objects->n_netpols, 2);
	{
		struct store s2 = { 0 };

		store_load(&s2, l.objects);
		l.objects = NULL;
		assert_string_equal(policy_labels_get(&s2.namespaces[0]->labels, "env"), "prod");
		for (size_t i = 0; i < s.n_netpols; i++)
			assert_true(policy_netpol_equal(s.netpols[i], s2.netpols[i]));
		store_done(&s2);
	}
	/* netns endpoints only: containers come from the engine */
	assert_int_equal(json_object_size(l.endpoints), 2);
	expect_endpoint(l.endpoints, web);
	expect_endpoint(l.endpoints, db);
	assert_null(json_object_get(l.endpoints, "c1"));
	state_loaded_done(&l);
	state_free(st);
	store_done(&s);
	registry_done(&r);
}

static void test_journal(void **state)
{
	char dir[256], path[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *a = netns_ep("a", "x", "a"), *b = netns_ep("b", "x", "b");
	struct endpoint *c = netns_ep("c", "y", "c");
	struct endpoint *k = ep_new(ENDPOINT_KIND_CONTAINER, "k", "x");
	off_t state_size;

	new_dir(dir, sizeof(dir));
	assert_int_equal(registry_insert(&r, a), 0);
	assert_int_equal(registry_insert(&r, b), 0);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	state_loaded_done(&l);
	assert_int_equal(state_save(st, &s, &r), 0);
	path_in(path, sizeof(path), dir, STATE_FILE);
	state_size = file_size(path);

	/* c added, a relabelled, b removed: three lines, state.json untouched */
	assert_int_equal(registry_insert(&r, c), 0);
	assert_int_equal(state_record_endpoint(st, c, false, &s, &r), 0);
	ep_label(a, "app", "a2");
	assert_int_equal(state_record_endpoint(st, a, false, &s, &r), 0);
	registry_remove(&r, b);
	assert_int_equal(state_record_endpoint(st, b, true, &s, &r), 0);
	/* containers are not stored */
	assert_int_equal(state_record_endpoint(st, k, false, &s, &r), 0);
	assert_int_equal(state_record_endpoint(st, k, true, &s, &r), 0);
	assert_int_equal(file_size(path), state_size);
	path_in(path, sizeof(path), dir, STATE_JOURNAL);
	assert_int_equal(file_lines(path), 3);
	assert_int_equal(st->journal_bytes, (uint64_t)file_size(path));
	{
		_cleanup_free_ char *text = file_read(path, NULL);

		assert_non_null(strstr(text, "{\"op\":\"remove\",\"name\":\"b\"}\n"));
		assert_non_null(strstr(text, "{\"op\":\"put\",\"endpoint\":{\"name\":\"c\","));
	}
	state_free(st);

	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 2);
	expect_endpoint(l.endpoints, a);
	expect_endpoint(l.endpoints, c);
	assert_null(json_object_get(l.endpoints, "b"));
	state_loaded_done(&l);

	/* replaying twice gives the same: a full save keeps the journal, whose lines state.json
	 * holds too */
	assert_int_equal(state_save(st, &s, &r), 0);
	state_settle(st, &s, &r);
	assert_int_equal(file_lines(path), 3);
	assert_int_equal(state_record_endpoint(st, c, false, &s, &r), 0);
	assert_int_equal(state_record_endpoint(st, c, false, &s, &r), 0);
	state_free(st);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 2);
	expect_endpoint(l.endpoints, c);
	state_loaded_done(&l);
	state_free(st);

	endpoint_free(b);
	endpoint_free(k);
	registry_done(&r);
}

static void test_torn_line(void **state)
{
	static const char good1[] = "{\"op\":\"put\",\"endpoint\":{\"name\":\"a\",\"netns\":\"a\","
				    "\"namespace\":\"x\",\"labels\":{},\"ports\":[]}}\n";
	static const char good2[] = "{\"op\":\"put\",\"endpoint\":{\"name\":\"b\",\"netns\":\"b\","
				    "\"namespace\":\"x\",\"labels\":{\"k\":\"v\"},\"ports\":[]}}\n"
				    "{\"op\":\"remove\",\"name\":\"gone\"}\n";
	static const char torn[] = "{\"op\":\"remove\",\"name\":\"a\"";
	char dir[256], path[300], text[2048];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *c = netns_ep("c", "x", "c");
	size_t good_len;

	new_dir(dir, sizeof(dir));
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0); /* a fresh dir gets its state.json */
	state_loaded_done(&l);
	path_in(path, sizeof(path), dir, STATE_FILE);
	assert_true(file_size(path) > 0);
	path_in(path, sizeof(path), dir, STATE_JOURNAL);
	snprintf(text, sizeof(text), "%s%s%s", good1, good2, torn);
	good_len = strlen(text) - strlen(torn);
	file_write(path, text, strlen(text));

	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 2);
	assert_int_equal(json_object_size(l.quarantined), 0);
	assert_non_null(json_object_get(l.endpoints, "a")); /* the torn removal did not happen */
	assert_json_string(json_object_get(json_object_get(l.endpoints, "b"), "labels"), "k", "v");
	state_loaded_done(&l);
	/* the torn tail is cut off */
	assert_int_equal(file_size(path), (off_t)good_len);
	assert_int_equal(st->journal_bytes, good_len);

	/* the next record starts a line of its own */
	assert_int_equal(registry_insert(&r, c), 0);
	assert_int_equal(state_record_endpoint(st, c, false, &s, &r), 0);
	state_free(st);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 3);
	expect_endpoint(l.endpoints, c);
	state_loaded_done(&l);
	{
		_cleanup_free_ char *after = file_read(path, NULL);

		assert_true(strncmp(after + good_len,
				    "{\"op\":\"put\",\"endpoint\":{\"name\":\"c\"", 33) == 0);
		assert_int_equal(after[strlen(after) - 1], '\n');
		assert_int_equal(st->journal_bytes, strlen(after));
	}
	state_free(st);
	registry_done(&r);
}

static void expect_refused(const char *state_json, int want)
{
	char dir[256], path[300];
	struct state *st = NULL;
	struct state_loaded l = { .objects = (struct policy_objects *)0x1 };

	new_dir(dir, sizeof(dir));
	assert_int_equal(state_open(dir, &st), 0);
	path_in(path, sizeof(path), dir, STATE_FILE);
	file_write(path, state_json, strlen(state_json));
	if (state_load(st, &l) != want)
		fail_msg("state.json %s: not refused with %d", state_json, want);
	assert_ptr_equal(l.objects, (struct policy_objects *)0x1); /* untouched */
	state_free(st);
}

static void test_corrupt(void **state)
{
	expect_refused("", -EBADMSG);
	expect_refused("{", -EBADMSG);
	expect_refused("[]", -EBADMSG);
	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\","
		       " \"items\": []}}",
		       -EBADMSG);
	expect_refused("{\"version\": 3, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\","
		       " \"items\": []}, \"endpoints\": []}",
		       -EBADMSG);
	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\","
		       " \"items\": []}, \"endpoints\": {}}",
		       -EBADMSG);
	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\","
		       " \"items\": []}, \"endpoints\": [], \"extra\": 1}",
		       -EBADMSG);
	expect_refused("{\"version\": 1, \"version\": 1, \"objects\": {}, \"endpoints\": []}",
		       -EBADMSG);
	/* stored objects pass the parser's validation like user input */
	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\","
		       " \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Namespace\","
		       " \"metadata\": {\"name\": \"Bad_Name\"}}]}, \"endpoints\": []}",
		       -EBADMSG);
	expect_refused("{\"version\": 1, \"objects\": {\"kind\": \"Secret\"}, \"endpoints\": []}",
		       -EBADMSG);
}

static void test_oversize(void **state)
{
	char dir[256], path[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	int fd;

	/* sparse files: the size alone refuses them, unread */
	for (int journal = 0; journal < 2; journal++) {
		new_dir(dir, sizeof(dir));
		assert_int_equal(state_open(dir, &st), 0);
		if (journal) {
			assert_int_equal(state_load(st, &l), 0);
			state_loaded_done(&l);
		}
		path_in(path, sizeof(path), dir, journal ? STATE_JOURNAL : STATE_FILE);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)STATE_MAX_BYTES + 1), 0);
		close(fd);
		assert_int_equal(state_load(st, &l), -EFBIG);
		state_free(st);
	}
}

/* One endpoint with 200 labels of 60-character values: each journal line is ~14 KiB. */
static struct endpoint *big_ep(const char *name, char fill)
{
	struct endpoint *e = ep_new(ENDPOINT_KIND_NETNS, name, "x");
	char k[16], v[61];

	memset(v, fill, 60);
	v[60] = 0;
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		ep_label(e, k, v);
	}
	return e;
}

static void test_fold(void **state)
{
	char dir[256], jpath[300], spath[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *e = big_ep("big", 'a');
	unsigned records = 0;

	new_dir(dir, sizeof(dir));
	path_in(jpath, sizeof(jpath), dir, STATE_JOURNAL);
	path_in(spath, sizeof(spath), dir, STATE_FILE);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	state_loaded_done(&l);
	assert_int_equal(state_save(st, &s, &r), 0); /* a small state.json */
	assert_int_equal(registry_insert(&r, e), 0);

	/* lines go to the journal until it holds STATE_JOURNAL_MIN */
	while (st->journal_bytes < STATE_JOURNAL_MIN) {
		assert_int_equal(state_record_endpoint(st, e, false, &s, &r), 0);
		records++;
		assert_int_equal(file_lines(jpath), records);
		assert_true(records < 100);
		if (st->journal_bytes < STATE_JOURNAL_MIN)
			state_settle(st, &s, &r);
	}
	assert_true(file_size(spath) < 1000);
	/* once the change is in force, state.json is rewritten and the journal emptied */
	state_settle(st, &s, &r);
	assert_int_equal(file_size(jpath), 0);
	assert_int_equal(st->journal_bytes, 0);
	assert_true(file_size(spath) > 10000);
	assert_int_equal(st->state_bytes, (uint64_t)file_size(spath));
	/* and the next one is a journal line again */
	assert_int_equal(state_record_endpoint(st, e, true, &s, &r), 0);
	assert_int_equal(file_lines(jpath), 1);
	state_free(st);

	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 0); /* the removal, replayed */
	state_loaded_done(&l);
	state_free(st);
	registry_done(&r);
}

static void test_fold_needs_journal_over_state(void **state)
{
	char dir[256], jpath[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *e = NULL;
	uint64_t state_bytes;

	/* a state.json of ~25 big endpoints (~350 KiB) */
	for (int i = 0; i < 25; i++) {
		char name[8];

		snprintf(name, sizeof(name), "e%02d", i);
		e = big_ep(name, (char)('a' + i));
		assert_int_equal(registry_insert(&r, e), 0);
	}
	new_dir(dir, sizeof(dir));
	path_in(jpath, sizeof(jpath), dir, STATE_JOURNAL);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	state_loaded_done(&l);
	assert_int_equal(state_save(st, &s, &r), 0);
	state_bytes = st->state_bytes;
	assert_true(state_bytes > STATE_JOURNAL_MIN);

	/* past STATE_JOURNAL_MIN but not past state.json: still the journal */
	while (st->journal_bytes < state_bytes) {
		assert_int_equal(state_record_endpoint(st, e, false, &s, &r), 0);
		assert_true(st->journal_bytes > 0);
		assert_int_equal(st->state_bytes, state_bytes);
		if (st->journal_bytes < state_bytes)
			state_settle(st, &s, &r);
	}
	state_settle(st, &s, &r);
	assert_int_equal(st->journal_bytes, 0);
	assert_int_equal(file_size(jpath), 0);
	state_free(st);
	registry_done(&r);
}

/* Write-ahead: until settled, the change persisted last can be put back, durably and with no
 * space needed: a journal line is cut off, a full save renamed back from its hard link. */
static void test_undo(void **state)
{
	char dir[256], spath[300], jpath[300], ppath[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *a = netns_ep("a", "x", "a"), *b = netns_ep("b", "x", "b");
	_cleanup_free_ char *before = NULL, *after = NULL;
	off_t jsize;

	new_dir(dir, sizeof(dir));
	path_in(spath, sizeof(spath), dir, STATE_FILE);
	path_in(jpath, sizeof(jpath), dir, STATE_JOURNAL);
	path_in(ppath, sizeof(ppath), dir, STATE_PREV);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	state_loaded_done(&l);
	assert_int_equal(registry_insert(&r, a), 0);
	assert_int_equal(state_record_endpoint(st, a, false, &s, &r), 0);
	state_settle(st, &s, &r);
	jsize = file_size(jpath);

	/* a journal line, undone */
	assert_int_equal(registry_insert(&r, b), 0);
	assert_int_equal(state_record_endpoint(st, b, false, &s, &r), 0);
	assert_true(file_size(jpath) > jsize);
	assert_int_equal(state_undo(st), 0);
	assert_int_equal(file_size(jpath), jsize);
	assert_int_equal(st->journal_bytes, (uint64_t)jsize);
	registry_remove(&r, b);

	/* a full save, undone: the old state.json is back, byte for byte */
	before = file_read(spath, NULL);
	store_load(&s, objects_parse(OBJECTS));
	assert_int_equal(state_save(st, &s, &r), 0);
	assert_true(file_size(ppath) > 0); /* the old one, kept */
	assert_int_equal(state_undo(st), 0);
	after = file_read(spath, NULL);
	assert_string_equal(after, before);
	assert_int_equal(file_size(ppath), -1);
	/* nothing left to undo */
	assert_int_equal(state_undo(st), 0);

	/* a full save, settled: the copy goes */
	assert_int_equal(state_save(st, &s, &r), 0);
	state_settle(st, &s, &r);
	assert_int_equal(file_size(ppath), -1);
	state_free(st);
	/* and the load has it, with the journal's a */
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(l.objects->n_netpols, 2);
	assert_int_equal(json_object_size(l.endpoints), 1);
	expect_endpoint(l.endpoints, a);
	state_loaded_done(&l);

	/* a crash after a save, before settle or undo: the newer state.json is the state, and the
	 * stale copy is removed at the next load */
	store_done(&s);
	assert_int_equal(state_save(st, &s, &r), 0);
	assert_true(file_size(ppath) > 0);
	state_free(st);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(l.objects->n_netpols, 0);
	assert_int_equal(file_size(ppath), -1);
	state_loaded_done(&l);
	state_free(st);
	endpoint_free(b);
	registry_done(&r);
}

static void ignore(int sig)
{
}

/* A state dir that cannot take the change (a file size limit stands in for a full disk):
 * -errno, and the files are as they were. */
static void test_write_failure_changes_nothing(void **state)
{
	char dir[256], spath[300], jpath[300];
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *e = big_ep("big", 'q');
	struct rlimit old, lim;
	_cleanup_free_ char *sbefore = NULL, *jbefore = NULL, *safter = NULL, *jafter = NULL;
	int r1, r2;

	new_dir(dir, sizeof(dir));
	path_in(spath, sizeof(spath), dir, STATE_FILE);
	path_in(jpath, sizeof(jpath), dir, STATE_JOURNAL);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	state_loaded_done(&l);
	assert_int_equal(registry_insert(&r, e), 0);
	sbefore = file_read(spath, NULL);
	jbefore = file_read(jpath, NULL);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096; /* a journal line of big is ~14 KiB */
	signal(SIGXFSZ, ignore);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r1 = state_record_endpoint(st, e, false, &s, &r);
	r2 = state_save(st, &s, &r);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r1, -EFBIG);
	assert_int_equal(r2, -EFBIG);
	safter = file_read(spath, NULL);
	jafter = file_read(jpath, NULL);
	assert_string_equal(safter, sbefore);
	assert_string_equal(jafter, jbefore);
	assert_int_equal(st->journal_bytes, 0);
	/* nothing is pending: an undo does nothing */
	assert_int_equal(state_undo(st), 0);
	free(safter);
	safter = file_read(spath, NULL);
	assert_string_equal(safter, sbefore);
	state_free(st);
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_desc),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_torn_line),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_needs_journal_over_state),
		cmocka_unit_test(test_undo),
		cmocka_unit_test(test_write_failure_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
