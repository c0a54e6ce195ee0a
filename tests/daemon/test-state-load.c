/* SPDX-License-Identifier: MIT */
/*
 * state-load: every fault of the state dir fails closed, with its file, line and column. A
 * stored endpoint that is not valid but names its network namespace (in state.json, or in a
 * journal line) is quarantined, never dropped and never replaced by a later put (only its
 * deletion ends it); a
 * duplicate name or namespace quarantines every namespace involved; a quarantined endpoint is
 * written back as it was, so the next start quarantines it again. Anything that names no
 * namespace (not JSON, an entry without netns, a journal line that names no stored endpoint,
 * state.journal without state.json) refuses the whole state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "state.h"
#include "unit.h"

#define HEAD                                                                          \
	"{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\", " \
	"\"items\": []},\n \"endpoints\": [\n"
#define OK_EP                                                                                  \
	"  {\"name\": \"ok\", \"netns\": \"ok\", \"namespace\": \"default\", \"labels\": {}, " \
	"\"ports\": []}"

static unsigned dir_seq;
static char dir[256];
static char logbuf[16384];

/* A state dir with these files (NULL: absent); loaded into l, stderr kept in logbuf. */
static int load(const char *state_json, const char *journal, struct state **st,
		struct state_loaded *l)
{
	char path[300], logpath[300];
	int saved, fd, r;
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s/load%u/segd", fixture_tmpdir(), dir_seq++);
	assert_int_equal(state_open(dir, st), 0);
	if (state_json) {
		snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
		file_write(path, state_json, strlen(state_json));
	}
	if (journal) {
		snprintf(path, sizeof(path), "%s/%s", dir, STATE_JOURNAL);
		file_write(path, journal, strlen(journal));
	}
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	r = state_load(*st, l);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
	assert_true(n >= 0);
	logbuf[n] = 0;
	close(fd);
	fputs(logbuf, stderr);
	return r;
}

/* logbuf has "<dir>/<rest>". */
static void expect_logged(const char *rest)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s/%s", dir, rest);
	if (!strstr(logbuf, want))
		fail_msg("not logged: %s", want);
}

static void expect_refused(const char *state_json, const char *journal, const char *where)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	assert_int_equal(load(state_json, journal, &st, &l), -EBADMSG);
	assert_null(l.objects);
	assert_null(l.endpoints);
	expect_logged(where);
	assert_non_null(strstr(logbuf, "segd does not start"));
	state_free(st);
}

/* The reason of quarantined endpoint name is "<dir>/<rest>". */
static void expect_quarantined(const struct state_loaded *l, const char *name, const char *netns,
			       const char *rest)
{
	json_t *q = json_object_get(l->quarantined, name);
	const char *reason = json_string_value(json_object_get(q, "reason"));
	char want[1024];

	if (!q)
		fail_msg("%s is not quarantined", name);
	assert_json_string(q, "netns", netns);
	snprintf(want, sizeof(want), "%s/%s", dir, rest);
	if (!reason || strncmp(reason, want, strlen(want)) != 0)
		fail_msg("reason of %s: %s\n  want: %s...", name, reason ? reason : "(none)", want);
	assert_null(json_object_get(l->endpoints, name));
}

static void test_invalid_entry_quarantined(void **state)
{
	static const char text[] =
		HEAD OK_EP ",\n"
			   "  {\"name\": \"bad\", \"netns\": \"badns\", \"labels\": {\"a b\": "
			   "\"c\"}}\n ]}\n";
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	json_auto_t *stored = NULL;

	assert_int_equal(load(text, NULL, &st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 1);
	assert_non_null(json_object_get(l.endpoints, "ok"));
	assert_int_equal(json_object_size(l.quarantined), 1);
	/* line 4, at the labels value */
	expect_quarantined(&l, "bad", "badns", "state.json:4:47: endpoints[1]: labels: ");
	/* kept as stored, to be written back as it was */
	stored = json_parse(
		"{\"name\": \"bad\", \"netns\": \"badns\", \"labels\": {\"a b\": \"c\"}}");
	assert_true(json_equal(json_object_get(json_object_get(st->quarantined, "bad"), "stored"),
			       stored));
	state_loaded_done(&l);
	state_free(st);
}

static void test_entry_kinds(void **state)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	/* every way an entry can be wrong while it still names its namespace */
	static const char text[] = HEAD
		"  {\"netns\": \"n1\"},\n"			   /* no name */
		"  {\"name\": \"Bad_Name\", \"netns\": \"n2\"},\n" /* bad name */
		"  {\"name\": \"p\", \"netns\": \"n3\", \"ports\": [{\"name\": \"x\"}]},\n" /* port */
		"  {\"name\": \"u\", \"netns\": \"n4\", \"frob\": 1},\n" /* unknown key */
		"  {\"name\": \"ns\", \"netns\": \"n5\", \"namespace\": 7}\n ]}";

	assert_int_equal(load(text, NULL, &st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 0);
	assert_int_equal(json_object_size(l.quarantined), 5);
	expect_quarantined(&l, "quarantined-0", "n1", "state.json:3:3: endpoints[0]: ");
	expect_quarantined(&l, "quarantined-1", "n2", "state.json:4:12: endpoints[1]: name: ");
	expect_quarantined(&l, "p", "n3", "state.json:5:41: endpoints[2]: ports[0]: ");
	expect_quarantined(&l, "u", "n4", "state.json:6:3: endpoints[3]: ");
	expect_quarantined(&l, "ns", "n5", "state.json:7:3: endpoints[4]: ");
	state_loaded_done(&l);
	state_free(st);
}

static void test_unattributable_entries_refused(void **state)
{
	/* no netns, a netns that is not a name under /run/netns, not an object */
	expect_refused(HEAD OK_EP ",\n  {\"name\": \"x\", \"labels\": {}}\n ]}", NULL,
		       "state.json:4:3: endpoints[1]: ");
	expect_refused(HEAD "  {\"name\": \"x\", \"netns\": \"../etc\"}\n ]}", NULL,
		       "state.json:3:26: endpoints[0]: netns: ");
	expect_refused(HEAD "  {\"name\": \"x\", \"netns\": 5}\n ]}", NULL,
		       "state.json:3:3: endpoints[0]: ");
	expect_refused(HEAD OK_EP ",\n   5\n ]}", NULL, "state.json:4:4: endpoints[1]: ");
	/* not JSON, not a state file, stored policies that are not valid */
	expect_refused(HEAD OK_EP ",\n  {\"name\": }\n ]}", NULL,
		       "state.json:4:12: not valid JSON");
	expect_refused("{\"version\": 1,\n \"version\": 1}", NULL, "state.json:2:");
	expect_refused("{\"version\": 3, \"objects\": {}, \"endpoints\": []}", NULL,
		       "state.json:1:13: version 3");
	expect_refused(
		"{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\",\n"
		" \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Namespace\",\n"
		" \"metadata\": {\"name\": \"Bad_Name\"}}]}, \"endpoints\": []}",
		NULL, "state.json:3:");
}

#define CNP_ITEM                                                                                     \
	" \"items\": [{\"apiVersion\": \"policy.networking.k8s.io/v1alpha2\",\n"                     \
	" \"kind\": \"ClusterNetworkPolicy\", \"metadata\": {\"name\": \"c\"}, \"spec\": {\"tier\":" \
	" \"Baseline\", \"priority\": 3, \"subject\": {\"namespaces\": {}}}}]}, \"endpoints\": []}"

/* Version 2 holds ClusterNetworkPolicies; version 1 (written by a segd that has none, or by
 * hand) may not: it is refused at its version rather than read as something it cannot be. */
static void test_cnp_versions(void **state)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	assert_int_equal(load("{\"version\": 2, \"objects\": {\"apiVersion\": \"v1\", \"kind\": "
			      "\"List\",\n" CNP_ITEM,
			      NULL, &st, &l),
			 0);
	assert_int_equal(l.objects->n_cnps, 1);
	assert_string_equal(l.objects->cnps[0]->name, "c");
	assert_int_equal(l.objects->cnps[0]->tier, POLICY_TIER_BASELINE);
	assert_int_equal(l.objects->cnps[0]->priority, 3);
	state_loaded_done(&l);
	state_free(st);

	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": "
		       "\"List\",\n" CNP_ITEM,
		       NULL, "state.json:1:13: version 1 holds no ClusterNetworkPolicy");
	/* an invalid one in version 2 is refused with its position, like any stored policy */
	expect_refused("{\"version\": 2, \"objects\": {\"apiVersion\": \"v1\", \"kind\": "
		       "\"List\",\n"
		       " \"items\": [{\"apiVersion\": \"policy.networking.k8s.io/v1alpha2\",\n"
		       " \"kind\": \"ClusterNetworkPolicy\", \"metadata\": {\"name\": \"c\"},\n"
		       " \"spec\": {\"tier\": \"Middle\", \"priority\": 3, \"subject\": "
		       "{\"namespaces\": {}}}}]}, \"endpoints\": []}",
		       NULL, "state.json:4:");
}

#define NODE_ITEM                                                                             \
	" \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": " \
	"\"n1\"},\n \"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": "    \
	"\"10.0.0.9\"}]}}]}, \"endpoints\": []}"

/* Nodes are stored in version 2 as ClusterNetworkPolicies are; version 1 may not hold one. */
static void test_node_versions(void **state)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	assert_int_equal(load("{\"version\": 2, \"objects\": {\"apiVersion\": \"v1\", \"kind\": "
			      "\"List\",\n" NODE_ITEM,
			      NULL, &st, &l),
			 0);
	assert_int_equal(l.objects->n_nodes, 1);
	assert_string_equal(l.objects->nodes[0]->name, "n1");
	assert_int_equal(l.objects->nodes[0]->n_addrs, 1);
	state_loaded_done(&l);
	state_free(st);
	expect_refused("{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": "
		       "\"List\",\n" NODE_ITEM,
		       NULL, "state.json:1:13: version 1 holds no ClusterNetworkPolicy or Node");
}

static void test_duplicates_quarantine_both(void **state)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	static const char same_name[] = HEAD OK_EP
		",\n"
		"  {\"name\": \"d\", \"netns\": \"d1\"},\n  {\"name\": \"d\", \"netns\": \"d2\"}\n ]}";
	static const char same_netns[] = HEAD
		"  {\"name\": \"a\", \"netns\": \"x\"},\n  {\"name\": \"b\", \"netns\": \"x\"}\n ]}";

	assert_int_equal(load(same_name, NULL, &st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 1); /* ok */
	assert_int_equal(json_object_size(l.quarantined), 2);
	expect_quarantined(&l, "d", "d1",
			   "state.json:5:3: endpoints[2]: endpoint d is stored twice");
	expect_quarantined(&l, "quarantined-0", "d2", "state.json:5:3: endpoints[2]: its name");
	state_loaded_done(&l);
	state_free(st);

	assert_int_equal(load(same_netns, NULL, &st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 0);
	assert_int_equal(json_object_size(l.quarantined), 1);
	expect_quarantined(&l, "b", "x", "state.json:4:3: endpoints[1]: its network namespace");
	state_loaded_done(&l);
	state_free(st);
}

static void test_journal_faults_quarantine(void **state)
{
	static const char journal[] =
		"{\"op\":\"put\",\"endpoint\":{\"name\":\"a\",\"netns\":\"a\"}}\n"
		/* 2: a put whose endpoint is not valid */
		"{\"op\":\"put\",\"endpoint\":{\"name\":\"b\",\"netns\":\"b\",\"labels\":{\"a b\":\"c\"}}}\n"
		/* 3: not a record segd writes, naming a stored endpoint */
		"{\"op\":\"frobnicate\",\"name\":\"a\"}\n"
		/* 4: a later put does not lift a quarantine; 5: a deletion ends it */
		"{\"op\":\"put\",\"endpoint\":{\"name\":\"b\",\"netns\":\"b\"}}\n"
		"{\"op\":\"remove\",\"name\":\"a\"}\n"
		/* 6: a record with extra keys naming the stored endpoint ok */
		"{\"op\":\"remove\",\"name\":\"ok\",\"extra\":1}\n"
		/* 7: a removal of what is not stored is a replay: nothing */
		"{\"op\":\"remove\",\"name\":\"never\"}\n";
	struct state *st = NULL;
	struct state_loaded l = { 0 };

	assert_int_equal(load(HEAD OK_EP "\n ]}", journal, &st, &l), 0);
	assert_int_equal(json_object_size(l.endpoints), 0);
	assert_int_equal(json_object_size(l.quarantined), 2);
	expect_quarantined(&l, "b", "b", "state.journal:2:57: endpoint: labels: ");
	assert_null(json_object_get(l.quarantined, "a"));
	expect_quarantined(&l, "ok", "ok", "state.journal:6:1: not {");
	state_loaded_done(&l);
	state_free(st);
}

static void test_journal_unattributable_refused(void **state)
{
	expect_refused(HEAD OK_EP "\n ]}",
		       "{\"op\":\"remove\",\"name\":\"ok\"}\n{\"op\":\"put\",\"endp\n",
		       "state.journal:2:");
	expect_refused(HEAD OK_EP "\n ]}", "{\"op\":\"remove\",\"name\":\"ok\"}\n\n",
		       "state.journal:2:1: ");
	expect_refused(HEAD OK_EP "\n ]}", "[\"remove\",\"ok\"]\n", "state.journal:1:1: ");
	expect_refused(HEAD OK_EP "\n ]}", "{\"op\":\"frobnicate\",\"name\":\"nobody\"}\n",
		       "state.journal:1:1: ");
	expect_refused(HEAD OK_EP "\n ]}",
		       "{\"op\":\"put\",\"endpoint\":{\"name\":\"x\",\"labels\":{}}}\n",
		       "state.journal:1:24: endpoint: ");
}

static void test_journal_without_state_refused(void **state)
{
	struct state *st = NULL;
	struct state_loaded l = { 0 };
	char path[300];

	expect_refused(NULL, "{\"op\":\"remove\",\"name\":\"ok\"}\n", "state.journal:1:1: ");
	expect_logged("state.json: missing");
	/* even an empty journal: state.json was there when it was made */
	expect_refused(NULL, "", "state.journal:1:1: ");

	/* a fresh dir: an empty state.json is written first */
	assert_int_equal(load(NULL, NULL, &st, &l), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	assert_true(file_size(path) > 0);
	state_loaded_done(&l);
	state_free(st);
}

/* A quarantined endpoint saved and loaded again: quarantined again, with its first reason and
 * what was stored, never written as a valid endpoint. */
static void test_quarantine_is_written_back(void **state)
{
	static const char text[] = HEAD
		"  {\"name\": \"bad\", \"netns\": \"badns\", \"labels\": {\"a b\": \"c\"}}\n ]}";
	struct state *st = NULL, *st2 = NULL;
	struct state_loaded l = { 0 }, l2 = { 0 };
	struct store s = { 0 };
	struct registry r = { 0 };
	struct endpoint *e = ep_new(ENDPOINT_KIND_NETNS, "bad", "default");
	_cleanup_free_ char *first = NULL;
	char path[300];

	assert_int_equal(load(text, NULL, &st, &l), 0);
	first = strdup(json_string_value(
		json_object_get(json_object_get(l.quarantined, "bad"), "reason")));
	state_loaded_done(&l);
	e->quarantined = true;
	assert_int_equal(registry_insert(&r, e), 0);
	assert_int_equal(state_save(st, &s, &r), 0);
	state_settle(st, &s, &r);
	state_free(st);

	assert_int_equal(state_open(dir, &st2), 0);
	assert_int_equal(state_load(st2, &l2), 0);
	assert_int_equal(json_object_size(l2.endpoints), 0);
	{
		json_t *q = json_object_get(l2.quarantined, "bad");
		const char *reason = json_string_value(json_object_get(q, "reason"));

		assert_non_null(q);
		assert_non_null(strstr(reason, "quarantined at an earlier start: "));
		assert_non_null(strstr(reason, first));
		assert_non_null(
			json_object_get(json_object_get(json_object_get(st2->quarantined, "bad"),
							"stored"),
					"labels"));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	{
		_cleanup_free_ char *saved = file_read(path, NULL);

		assert_non_null(strstr(saved, "\"quarantined\""));
	}
	/* deleting it (a journal removal) ends the quarantine */
	assert_int_equal(state_record_endpoint(st2, e, true, &s, &r), 0);
	state_settle(st2, &s, &r);
	registry_remove(&r, e);
	state_loaded_done(&l2);
	state_free(st2);
	assert_int_equal(state_open(dir, &st), 0);
	assert_int_equal(state_load(st, &l), 0);
	assert_int_equal(json_object_size(l.quarantined), 0);
	state_loaded_done(&l);
	state_free(st);
	endpoint_free(e);
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_entry_quarantined),
		cmocka_unit_test(test_entry_kinds),
		cmocka_unit_test(test_unattributable_entries_refused),
		cmocka_unit_test(test_duplicates_quarantine_both),
		cmocka_unit_test(test_cnp_versions),
		cmocka_unit_test(test_node_versions),
		cmocka_unit_test(test_journal_faults_quarantine),
		cmocka_unit_test(test_journal_unattributable_refused),
		cmocka_unit_test(test_journal_without_state_refused),
		cmocka_unit_test(test_quarantine_is_written_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
