/* SPDX-License-Identifier: MIT */
/*
 * A node of a fleet (fleet.c, fleet-write.c, ops-fleet.c) against a real etcd the test starts
 * (etcd-fixture.h) inside the private kernel (fixture.h): a whole segd core (harness.h) with
 * --store and --node, and the test as another writer of the store. The node adopts what the
 * store holds, follows its watch (remote endpoints as peers, policies from other writers, values
 * that are not valid ignored), writes its own policy changes as one transaction, fails static
 * while etcd is down and re-lists when it is back, and publishes its status. Every wait is a
 * condition on the loop's rounds with a deadline. Without `etcd` in PATH every test fails, saying so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "etcd-fixture.h"
#include "etcd.h"
#include "fixture.h"
#include "fleet-parse.h"
#include "harness.h"
#include "macro.h"
#include "registry.h"
#include "testutil.h"

#define WAIT_MS 20000

static struct {
	bool missing;
	struct etcd_server fx;
	struct etcd *w; /* the other writer */
} g;

#define NEED_ETCD() ETCD_FIXTURE_NEEDED(g.missing)

static const char ns_shop[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"shop\"}}";
#define NETPOL(name, port)                                                                      \
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{"    \
	"\"name\":\"" name                                                                      \
	"\",\"namespace\":\"shop\"},\"spec\":{\"podSelector\":{\"matchLabels\":"                \
	"{\"app\":\"db\"}},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":" \
	"\"api\"}}}],\"ports\":[{\"port\":" #port "}]}]}}"

/* ---- the other writer ---- */

#define w_txn(...) etcd_fixture_txn(g.w, __VA_ARGS__)
#define w_get(key, ret_mod) etcd_fixture_get(g.w, key, ret_mod)
#define w_count(prefix) etcd_fixture_count(g.w, prefix)

static int64_t w_put(const char *key, const char *value)
{
	return w_txn(&(struct etcd_op){ ETCD_OP_PUT, key, value, strlen(value), 0 }, 1);
}

static int64_t w_del(const char *key)
{
	return w_txn(&(struct etcd_op){ .type = ETCD_OP_DELETE, .key = key }, 1);
}

/* A policy object as segd writes it (origin "n9"), with the revision key, in one txn. */
static int64_t w_put_policy(const char *key, const char *object_json)
{
	_cleanup_free_ char *v = fleet_policy_format(object_json, "n9");
	const char *rv = "{\"name\":\"n9\",\"joined\":1}";

	assert_non_null(v);
	return w_txn((struct etcd_op[]){ { ETCD_OP_PUT, key, v, strlen(v), 0 },
					 { ETCD_OP_PUT, FLEET_REVISION_KEY, rv, strlen(rv), 0 } },
		     2);
}

static void w_put_endpoint(const char *node, const char *name, const char *labels,
			   const char *addrs)
{
	struct test_endpoint te = { name, "shop", labels, addrs, "http=80/TCP" };
	struct policy_endpoint pe;
	_cleanup_free_ char *key = fleet_endpoint_key(node, name), *v = NULL;

	test_policy_endpoint(&te, &pe);
	v = fleet_endpoint_format(&pe, node);
	assert_non_null(v);
	w_put(key, v);
	test_policy_endpoint_done(&pe);
}

/* ---- the node ---- */

static void node_start(struct harness *h, const char *node)
{
	char config[256];

	snprintf(config, sizeof(config), "store = etcd:%s\nnode = %s\nnode-ttl = 10\n", g.fx.url,
		 node);
	harness_start(h, config);
	assert_non_null(h->ops->fleet);
}

static json_t *view(struct harness *h)
{
	json_t *v = ops_fleet_view(h->ops);

	assert_non_null(v);
	return v;
}

static int64_t counter(struct harness *h, const char *name)
{
	json_auto_t *v = view(h);

	return json_integer_value(json_object_get(json_object_get(v, "counters"), name));
}

static bool connected(struct harness *h, void *userdata)
{
	json_auto_t *v = view(h);

	return json_is_true(json_object_get(v, "connected"));
}

static bool disconnected(struct harness *h, void *userdata)
{
	return !connected(h, userdata);
}

/* The fleet's view has node `name` with a status (a heartbeat). */
static bool node_known(struct harness *h, void *name)
{
	json_auto_t *v = view(h);
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(v, "nodes"), i, n) {
		if (streq(json_string_value(json_object_get(n, "name")), name))
			return json_integer_value(json_object_get(n, "heartbeat")) > 0;
	}
	return false;
}

static bool has_endpoint(struct harness *h, void *name)
{
	return registry_get(h->ops->registry, name) != NULL;
}

static bool lacks_endpoint(struct harness *h, void *name)
{
	return !has_endpoint(h, name);
}

static bool has_netpol(struct harness *h, void *name)
{
	for (size_t i = 0; i < h->ops->store->n_netpols; i++)
		if (streq(h->ops->store->netpols[i]->name, name))
			return true;
	return false;
}

static bool lacks_netpol(struct harness *h, void *name)
{
	return !has_netpol(h, name);
}

struct label_want {
	const char *ep, *key, *value;
};

static bool has_label(struct harness *h, void *userdata)
{
	const struct label_want *w = userdata;
	const struct endpoint *e = registry_get(h->ops->registry, w->ep);
	const char *v = e ? policy_labels_get(&e->pe.labels, w->key) : NULL;

	return v && streq(v, w->value);
}

static bool bad_values_above(struct harness *h, void *userdata)
{
	return counter(h, "bad_values") > *(int64_t *)userdata;
}

/* The status key of node says enforced_revision >= *userdata. */
struct status_want {
	const char *node;
	int64_t enforced;
};

static bool status_enforces(struct harness *h, void *userdata)
{
	const struct status_want *w = userdata;
	_cleanup_free_ char *key = fleet_node_key(w->node);
	_cleanup_free_ char *v = w_get(key, NULL);
	struct fleet_status st;

	if (!v || fleet_status_parse(v, strlen(v), w->node, &st, NULL) < 0)
		return false;
	return st.enforced_revision >= w->enforced;
}

static bool published(struct harness *h, void *key)
{
	return w_count(key) == 1;
}

#define UNTIL(h, cond, arg)                                                                 \
	do {                                                                                \
		if (!harness_until(h, cond, (void *)(arg), WAIT_MS))                        \
			fail_msg("%s(%s) did not hold within %d ms", #cond, #arg, WAIT_MS); \
	} while (0)

/* Whether any set of e's installed plan holds address a. */
static bool installed_has(const struct endpoint *e, const char *a)
{
	struct policy_addr want = { 0 };

	want.family = strchr(a, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(want.family, a, want.addr), 1);
	if (!e->installed)
		return false;
	for (size_t i = 0; i < e->installed->n_sets; i++) {
		const struct policy_set *s = &e->installed->sets[i];

		for (size_t j = 0; s->family == want.family && j < s->n_elems; j++)
			if (memcmp(s->elems[j].start, want.addr, want.family == AF_INET ? 4 : 16) ==
			    0)
				return true;
	}
	return false;
}

static bool db_allows(struct harness *h, void *addr)
{
	const struct endpoint *e = registry_get(h->ops->registry, "db");

	return e && installed_has(e, addr);
}

static bool db_refuses(struct harness *h, void *addr)
{
	return !db_allows(h, addr);
}

static void held_is(const struct endpoint *e, const char *addrs)
{
	char buf[512] = "";

	for (size_t i = 0; i < e->n_held; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(e->held[i].family, e->held[i].addr, a, sizeof(a));
		if (i)
			strcat(buf, ",");
		strcat(buf, a);
	}
	assert_string_equal(buf, addrs);
}

/* ---- tests ---- */

static int clean(void **state)
{
	if (!g.missing)
		w_txn(&(struct etcd_op){ .type = ETCD_OP_DELETE_PREFIX, .key = FLEET_PREFIX }, 1);
	return 0;
}

/* A node started against a store holding policies and another node's endpoints adopts them;
 * the remote endpoint is a peer of a local one (its address in the local plan). */
static void test_adopts_the_store(void **state)
{
	struct harness h;
	const struct endpoint *e;
	int64_t rev, mod = 0;
	json_auto_t *v = NULL;
	_cleanup_free_ char *own = NULL, *status = NULL;

	NEED_ETCD();
	w_put_policy("/segd/policy/Namespace/shop", ns_shop);
	rev = w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	w_put_endpoint("n2", "api", "app=api", "10.0.0.7,fd00::7");
	w_put_endpoint("n2", "other", "app=other", "10.0.0.8");

	node_start(&h, "n1");
	harness_endpoint(&h, "db", "shop", "app=db");
	UNTIL(&h, has_netpol, "db");
	UNTIL(&h, has_endpoint, "n2/api");
	e = registry_get(h.ops->registry, "n2/api");
	assert_int_equal(e->kind, ENDPOINT_KIND_REMOTE);
	assert_string_equal(e->node, "n2");
	assert_string_equal(e->pe.namespace, "shop");
	assert_string_equal(policy_labels_get(&e->pe.labels, "app"), "api");
	held_is(e, "10.0.0.7,fd00::7");
	assert_int_equal(h.ops->store->n_namespaces, 1);
	/* a peer: the local db accepts api's addresses (on 5432), not other's */
	UNTIL(&h, db_allows, "10.0.0.7");
	assert_true(db_allows(&h, (void *)"fd00::7"));
	assert_false(db_allows(&h, (void *)"10.0.0.8"));
	v = view(&h);
	assert_true(json_is_true(json_object_get(v, "connected")));
	assert_int_equal(json_integer_value(json_object_get(v, "revision")), rev);
	assert_string_equal(json_string_value(json_object_get(v, "node")), "n1");
	/* this node published its local endpoint and its status */
	UNTIL(&h, published, "/segd/endpoints/n1/db");
	own = w_get("/segd/endpoints/n1/db", &mod);
	assert_non_null(own);
	{
		struct policy_endpoint pe;

		assert_int_equal(fleet_endpoint_parse(own, strlen(own), "n1", "db", &pe, NULL), 0);
		assert_string_equal(policy_labels_get(&pe.labels, "app"), "db");
		fleet_endpoint_done(&pe);
	}
	UNTIL(&h, status_enforces, (&(struct status_want){ "n1", rev }));
	status = w_get("/segd/members/n1", NULL);
	assert_non_null(status);
	harness_stop(&h);
}

/* The watch: another node's endpoint added, relabelled, readdressed, removed; a value that is
 * not valid changes nothing and is counted. */
static void test_watch_remote_endpoints(void **state)
{
	struct harness h;
	const struct endpoint *e;
	int64_t bad;

	NEED_ETCD();
	w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	node_start(&h, "n1");
	harness_endpoint(&h, "db", "shop", "app=db");
	UNTIL(&h, connected, NULL);
	UNTIL(&h, has_netpol, "db");

	w_put_endpoint("n3", "web", "app=web", "10.0.3.1");
	UNTIL(&h, has_endpoint, "n3/web");
	e = registry_get(h.ops->registry, "n3/web");
	assert_int_equal(e->kind, ENDPOINT_KIND_REMOTE);
	assert_string_equal(e->node, "n3");
	held_is(e, "10.0.3.1");
	assert_false(db_allows(&h, (void *)"10.0.3.1"));

	/* relabelled: now an api, db accepts it */
	w_put_endpoint("n3", "web", "app=api", "10.0.3.1");
	UNTIL(&h, has_label, (&(struct label_want){ "n3/web", "app", "api" }));
	UNTIL(&h, db_allows, "10.0.3.1");

	/* readdressed */
	w_put_endpoint("n3", "web", "app=api", "10.0.3.2,fd00::32");
	UNTIL(&h, db_allows, "10.0.3.2");
	e = registry_get(h.ops->registry, "n3/web");
	held_is(e, "10.0.3.2,fd00::32");
	assert_true(db_allows(&h, (void *)"fd00::32"));
	assert_false(db_allows(&h, (void *)"10.0.3.1"));

	/* a value that is not valid: ignored, counted, what was there stays */
	bad = counter(&h, "bad_values");
	w_put("/segd/endpoints/n3/web", "{\"name\": \"web\", \"node\": \"n3\"}");
	UNTIL(&h, bad_values_above, &bad);
	e = registry_get(h.ops->registry, "n3/web");
	assert_non_null(e);
	held_is(e, "10.0.3.2,fd00::32");
	assert_true(db_allows(&h, (void *)"10.0.3.2"));

	/* removed */
	w_del("/segd/endpoints/n3/web");
	UNTIL(&h, lacks_endpoint, "n3/web");
	UNTIL(&h, db_refuses, "10.0.3.2");
	harness_stop(&h);
}

/* Policies from another writer: applied; a value that is not valid leaves the object in force
 * and is counted; a delete removes it. */
static void test_watch_policies(void **state)
{
	struct harness h;
	json_t *out = NULL;
	struct op_error err = { 0 };
	int64_t bad, rev;
	json_auto_t *v = NULL;

	NEED_ETCD();
	node_start(&h, "n1");
	UNTIL(&h, connected, NULL);
	harness_endpoint(&h, "db", "shop", "app=db");
	w_put_endpoint("n2", "api", "app=api", "10.0.0.7");
	UNTIL(&h, has_endpoint, "n2/api");
	assert_false(db_allows(&h, (void *)"10.0.0.7"));

	rev = w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	UNTIL(&h, has_netpol, "db");
	UNTIL(&h, db_allows, "10.0.0.7");
	v = view(&h);
	assert_int_equal(json_integer_value(json_object_get(v, "revision")), rev);

	/* not valid: a port out of range; the key's object is not the value's; not JSON */
	static const char *const bad_values[] = {
		NETPOL("db", 70000),
		NETPOL("other", 5432),
		"{\"node\": \"n9\", \"object\": {\"kind\": \"Pod\"}}",
		"not json",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_values); i++) {
		bad = counter(&h, "bad_values");
		if (bad_values[i][0] == '{' && strstr(bad_values[i], "apiVersion"))
			w_put_policy("/segd/policy/NetworkPolicy/shop/db", bad_values[i]);
		else
			w_put("/segd/policy/NetworkPolicy/shop/db", bad_values[i]);
		UNTIL(&h, bad_values_above, &bad);
		assert_true(has_netpol(&h, (void *)"db"));
		assert_false(has_netpol(&h, (void *)"other"));
		assert_true(db_allows(&h, (void *)"10.0.0.7"));
		assert_int_equal(ops_get_netpol(h.ops, "shop", "db", &out, &err), 0);
		{
			_cleanup_free_ char *s = json_dumps(out, 0);

			assert_non_null(strstr(s, "5432"));
			assert_null(strstr(s, "70000"));
		}
		json_decref(out);
	}
	{
		json_auto_t *vv = view(&h);
		const char *last = json_string_value(json_object_get(vv, "last_bad_value"));

		assert_non_null(last);
		assert_non_null(strstr(last, "/segd/policy/NetworkPolicy/shop/db"));
	}

	/* deleted by another writer */
	w_del("/segd/policy/NetworkPolicy/shop/db");
	UNTIL(&h, lacks_netpol, "db");
	UNTIL(&h, db_refuses, "10.0.0.7");
	harness_stop(&h);
}

/* ops_apply writes one transaction and answers its revision; the node's status reaches it once
 * the loop has seen its own watch event. */
static void test_apply_writes_one_txn(void **state)
{
	static const char text[] =
		TEST_POLICY_DB_FROM_API "---\n"
					"apiVersion: v1\nkind: Namespace\n"
					"metadata: {name: shop, labels: {t: x}}\n";
	struct harness h;
	struct op_error err = { 0 };
	json_t *out = NULL;
	int64_t rev, m1 = 0, m2 = 0, m3 = 0;
	_cleanup_free_ char *v1 = NULL, *v2 = NULL, *v3 = NULL, *obj = NULL, *origin = NULL;

	NEED_ETCD();
	node_start(&h, "n1");
	UNTIL(&h, connected, NULL);
	if (ops_apply(h.ops, "t.yaml", text, strlen(text), false, &out, &err) != 0)
		fail_msg("apply: %s", err.message);
	rev = json_integer_value(json_object_get(out, "revision"));
	json_decref(out);
	assert_true(rev > 0);
	assert_true(has_netpol(&h, (void *)"db-from-api")); /* applied here at once */

	v1 = w_get("/segd/policy/NetworkPolicy/shop/db-from-api", &m1);
	v2 = w_get("/segd/policy/Namespace/shop", &m2);
	v3 = w_get(FLEET_REVISION_KEY, &m3);
	assert_non_null(v1);
	assert_non_null(v2);
	assert_non_null(v3);
	/* one transaction: one revision, the one answered */
	assert_int_equal(m1, rev);
	assert_int_equal(m2, rev);
	assert_int_equal(m3, rev);
	assert_int_equal(fleet_policy_parse(v1, strlen(v1), &obj, &origin, NULL), 0);
	assert_string_equal(origin, "n1");
	assert_non_null(strstr(obj, "db-from-api"));
	assert_int_equal(w_count(FLEET_POLICY_PREFIX), 2);

	UNTIL(&h, status_enforces, (&(struct status_want){ "n1", rev }));
	{
		_cleanup_free_ char *sv = w_get("/segd/nodes/n1", NULL);
		struct fleet_status st;

		assert_non_null(sv);
		assert_int_equal(fleet_status_parse(sv, strlen(sv), "n1", &st, NULL), 0);
		assert_int_equal(st.enforced_revision, rev);
		assert_int_equal(st.not_committed, 0);
	}

	/* the same again changes nothing: no write, this node's revision answered */
	assert_int_equal(ops_apply(h.ops, "t.yaml", text, strlen(text), false, &out, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "revision")), rev);
	json_decref(out);
	{
		int64_t m = 0;
		_cleanup_free_ char *again = w_get(FLEET_REVISION_KEY, &m);

		assert_non_null(again);
		assert_int_equal(m, rev);
	}
	harness_stop(&h);
}

/* A change larger than one etcd transaction is refused whole: nothing written, nothing here. */
static void test_apply_too_large(void **state)
{
	const size_t n = ETCD_MAX_TXN_OPS; /* one over: the revision key takes a place */
	_cleanup_free_ char *text = NULL;
	struct harness h;
	struct op_error err = { 0 };
	json_t *out = NULL;
	size_t len = 0;
	FILE *f;

	NEED_ETCD();
	f = open_memstream(&text, &len);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fprintf(f,
			"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: p%zu, namespace: shop}\nspec: {podSelector: {}}\n",
			i);
	assert_int_equal(fclose(f), 0);
	node_start(&h, "n1");
	UNTIL(&h, connected, NULL);
	assert_int_equal(ops_apply(h.ops, "big.yaml", text, len, false, &out, &err), -E2BIG);
	assert_non_null(strstr(err.message, "apply the file in parts"));
	op_error_done(&err);
	assert_int_equal(w_count(FLEET_POLICY_PREFIX), 0);
	assert_int_equal(h.ops->store->n_netpols, 0);
	harness_stop(&h);
}

/* etcd stops: changes fail with -EHOSTUNREACH and change nothing, the node says it is not
 * connected and keeps what it has; etcd back: a re-list, and what was written meanwhile by
 * nobody else is there. */
static void test_store_lost_and_back(void **state)
{
	static const char text[] = TEST_POLICY_DB_FROM_API;
	struct harness h;
	struct op_error err = { 0 };
	json_t *out = NULL;
	int64_t relists;
	size_t n_netpols;

	NEED_ETCD();
	node_start(&h, "n1");
	harness_endpoint(&h, "db", "shop", "app=db");
	w_put_endpoint("n2", "api", "app=api", "10.0.0.7");
	UNTIL(&h, has_endpoint, "n2/api");
	relists = counter(&h, "relists");
	n_netpols = h.ops->store->n_netpols;

	etcd_server_stop(&g.fx);
	/* at once, before the node noticed: the write itself fails */
	assert_int_equal(ops_apply(h.ops, "t.yaml", text, strlen(text), false, &out, &err),
			 -EHOSTUNREACH);
	assert_null(out);
	assert_non_null(strstr(err.message, "change not applied"));
	op_error_done(&err);
	assert_int_equal(h.ops->store->n_netpols, n_netpols);
	assert_false(has_netpol(&h, (void *)"db-from-api"));

	UNTIL(&h, disconnected, NULL);
	{
		json_auto_t *v = view(&h);

		assert_true(json_is_string(json_object_get(v, "error")));
	}
	/* once it knows: refused at once */
	assert_int_equal(ops_apply(h.ops, "t.yaml", text, strlen(text), false, &out, &err),
			 -EHOSTUNREACH);
	assert_non_null(strstr(err.message, "cannot be reached"));
	op_error_done(&err);
	assert_false(has_netpol(&h, (void *)"db-from-api"));
	/* fail static: the remote endpoint stays */
	assert_true(has_endpoint(&h, (void *)"n2/api"));

	etcd_server_restart(&g.fx);
	UNTIL(&h, connected, NULL);
	assert_true(counter(&h, "relists") > relists);
	assert_true(has_endpoint(&h, (void *)"n2/api"));
	/* and it writes again */
	if (ops_apply(h.ops, "t.yaml", text, strlen(text), false, &out, &err) != 0)
		fail_msg("apply: %s", err.message);
	json_decref(out);
	assert_int_equal(w_count("/segd/policy/NetworkPolicy/shop/db-from-api"), 1);
	harness_stop(&h);
}

/* A re-list after the gap brings what changed while the node was away from the store. */
static void test_relist_sees_the_gap(void **state)
{
	struct harness h;

	NEED_ETCD();
	w_put_endpoint("n2", "gone", "app=x", "10.0.0.9");
	node_start(&h, "n1");
	UNTIL(&h, has_endpoint, "n2/gone");
	UNTIL(&h, connected, NULL);

	etcd_server_stop(&g.fx);
	UNTIL(&h, disconnected, NULL);
	etcd_server_restart(&g.fx);
	/* written and removed before the node re-lists: its loop does not run meanwhile */
	w_del("/segd/endpoints/n2/gone");
	w_put_endpoint("n2", "new", "app=y", "10.0.0.10");
	w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	UNTIL(&h, connected, NULL);
	UNTIL(&h, has_endpoint, "n2/new");
	UNTIL(&h, lacks_endpoint, "n2/gone");
	UNTIL(&h, has_netpol, "db");
	harness_stop(&h);
}

/* A watch that has to start again from a revision etcd compacted meanwhile re-lists: what
 * happened in the gap is there. */
static void test_compaction_relists(void **state)
{
	struct harness h;
	int64_t relists, rev;

	NEED_ETCD();
	node_start(&h, "n1");
	UNTIL(&h, connected, NULL);
	relists = counter(&h, "relists");
	/* the node's loop does not run from here: its watch is at the revision it had */
	w_put_endpoint("n2", "a", "app=x", "10.0.0.21");
	rev = w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	etcd_server_compact(&g.fx, rev);
	/* its stream breaks; the watch it starts again asks for a compacted revision */
	etcd_server_restart(&g.fx);
	UNTIL(&h, has_netpol, "db");
	UNTIL(&h, has_endpoint, "n2/a");
	assert_true(counter(&h, "relists") > relists);
	harness_stop(&h);
}

/* A node that stops renewing its lease is lost: etcd deletes its endpoints and status, and this
 * node drops them from its peers. */
static void test_lost_node_lease_expires(void **state)
{
	struct etcd_error err = { { 0 } };
	struct test_endpoint te = { "tmp", "shop", "app=api", "10.0.4.1", NULL };
	struct policy_endpoint pe;
	_cleanup_free_ char *v = NULL;
	int64_t lease = 0;
	struct harness h;

	NEED_ETCD();
	w_put_policy("/segd/policy/NetworkPolicy/shop/db", NETPOL("db", 5432));
	node_start(&h, "n1");
	harness_endpoint(&h, "db", "shop", "app=db");
	UNTIL(&h, has_netpol, "db");
	if (etcd_lease_grant(g.w, 2, &lease, &err) < 0)
		fail_msg("lease: %s", err.message);
	test_policy_endpoint(&te, &pe);
	v = fleet_endpoint_format(&pe, "n4");
	test_policy_endpoint_done(&pe);
	w_txn(&(struct etcd_op){ ETCD_OP_PUT, "/segd/endpoints/n4/tmp", v, strlen(v), lease }, 1);
	UNTIL(&h, has_endpoint, "n4/tmp");
	UNTIL(&h, db_allows, "10.0.4.1");
	/* nobody renews it */
	UNTIL(&h, lacks_endpoint, "n4/tmp");
	UNTIL(&h, db_refuses, "10.0.4.1");
	harness_stop(&h);
}

/* node delete removes a node's keys; the other nodes drop its endpoints; a running node
 * publishes itself again. */
static void test_node_delete(void **state)
{
	struct harness h;
	struct op_error err = { 0 };
	json_t *out = NULL;
	struct fleet_status st = { .enforced_revision = 0, .endpoints = 1, .heartbeat = 1 };
	_cleanup_free_ char *sv = fleet_status_format("n2", &st);
	_cleanup_free_ char *mv = fleet_member_format("n2", 1);

	NEED_ETCD();
	w_put("/segd/nodes/n2", sv);
	w_put("/segd/members/n2", mv);
	w_put_endpoint("n2", "api", "app=api", "10.0.0.7");
	w_put_endpoint("n2", "web", "app=web", "10.0.0.8");
	node_start(&h, "n1");
	harness_endpoint(&h, "db", "shop", "app=db");
	UNTIL(&h, has_endpoint, "n2/web");
	UNTIL(&h, connected, NULL);
	UNTIL(&h, node_known, "n1"); /* its own status, seen through the watch */
	{
		json_auto_t *v = view(&h);
		json_t *nodes = json_object_get(v, "nodes");

		assert_int_equal(json_array_size(nodes), 2);
		assert_string_equal(json_string_value(
					    json_object_get(json_array_get(nodes, 1), "name")),
				    "n2");
	}

	assert_int_equal(ops_fleet_node_delete(h.ops, "n9", &out, &err), -ENOENT);
	op_error_done(&err);
	if (ops_fleet_node_delete(h.ops, "n2", &out, &err) != 0)
		fail_msg("node delete: %s", err.message);
	assert_string_equal(json_string_value(json_object_get(out, "deleted")), "n2");
	json_decref(out);
	assert_int_equal(w_count("/segd/endpoints/n2/"), 0);
	assert_int_equal(w_count("/segd/nodes/n2"), 0);
	assert_int_equal(w_count("/segd/members/n2"), 0);
	UNTIL(&h, lacks_endpoint, "n2/api");
	UNTIL(&h, lacks_endpoint, "n2/web");

	/* this node deleted: it is running, it publishes itself again */
	if (ops_fleet_node_delete(h.ops, "n1", &out, &err) != 0)
		fail_msg("node delete: %s", err.message);
	json_decref(out);
	assert_int_equal(w_count("/segd/endpoints/n1/"), 0);
	UNTIL(&h, status_enforces, (&(struct status_want){ "n1", 0 }));
	UNTIL(&h, published, "/segd/endpoints/n1/db");
	UNTIL(&h, published, "/segd/members/n1");
	harness_stop(&h);
	/* on a single host there is no fleet */
	harness_start(&h, NULL);
	assert_int_equal(ops_fleet_node_delete(h.ops, "n2", &out, &err), -EPERM);
	op_error_done(&err);
	harness_stop(&h);
}

static int setup(void **state)
{
	const char *urls[1];
	struct etcd_config cfg = { .urls = urls, .n_urls = 1 };

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!etcd_fixture_have("etcd")) {
		g.missing = true;
		return 0;
	}
	etcd_server_start(&g.fx, NULL);
	urls[0] = g.fx.url;
	assert_int_equal(etcd_new(NULL, &cfg, &g.w), 0);
	return 0;
}

static int teardown(void **state)
{
	g.w = etcd_free(g.w);
	etcd_server_stop(&g.fx);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_adopts_the_store, clean),
		cmocka_unit_test_setup(test_watch_remote_endpoints, clean),
		cmocka_unit_test_setup(test_watch_policies, clean),
		cmocka_unit_test_setup(test_apply_writes_one_txn, clean),
		cmocka_unit_test_setup(test_apply_too_large, clean),
		cmocka_unit_test_setup(test_store_lost_and_back, clean),
		cmocka_unit_test_setup(test_relist_sees_the_gap, clean),
		cmocka_unit_test_setup(test_compaction_relists, clean),
		cmocka_unit_test_setup(test_lost_node_lease_expires, clean),
		cmocka_unit_test_setup(test_node_delete, clean),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
