/* SPDX-License-Identifier: MIT */
/*
 * store: puts (created, configured, unchanged), the same object put twice within one change,
 * removals, and what committing or restoring a snapshot frees. Ownership is the point here:
 * run it under ASan, which fails on any leak or double free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store.h"
#include "unit.h"

static struct policy_namespace *ns(const char *name, const char *team)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {team: '%s'}}\n",
		 name, team);
	return namespace_parse(text);
}

static struct policy_netpol *np(const char *nsname, const char *name, unsigned port)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
		 " \"metadata\": {\"name\": \"%s\", \"namespace\": \"%s\"},"
		 " \"spec\": {\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": %u}]}]}}",
		 name, nsname, port);
	return netpol_parse(text);
}

static struct policy_cnp *cnp(const char *name, unsigned priority)
{
	char text[512];
	struct policy_objects *o;
	struct policy_cnp *p;

	snprintf(text, sizeof(text),
		 "{\"apiVersion\": \"policy.networking.k8s.io/v1alpha2\","
		 " \"kind\": \"ClusterNetworkPolicy\", \"metadata\": {\"name\": \"%s\"},"
		 " \"spec\": {\"tier\": \"Admin\", \"priority\": %u,"
		 " \"subject\": {\"namespaces\": {}}}}",
		 name, priority);
	o = objects_parse(text);
	assert_int_equal(o->n_cnps, 1);
	p = o->cnps[0];
	o->n_cnps = 0;
	policy_objects_free(o);
	return p;
}

struct cnp_seen {
	char names[8][64];
	size_t n;
};

static void on_cnp_changed(const struct policy_cnp *p, void *userdata)
{
	struct cnp_seen *seen = userdata;

	assert_true(seen->n < ARRAY_SIZE(seen->names));
	snprintf(seen->names[seen->n++], sizeof(seen->names[0]), "%s:%u", p->name, p->priority);
}

/* ClusterNetworkPolicies: by name, sorted; put/remove/commit/restore as NetworkPolicies,
 * and what changed since a snapshot (both versions of a changed one). */
static void test_cnps(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_cnp *b = cnp("b", 1), *obj;
	struct cnp_seen seen = { 0 };

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = b;
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_CREATED);
	assert_null(obj);
	obj = cnp("a", 2);
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_CREATED);
	store_sort(&s);
	assert_string_equal(s.cnps[0]->name, "a");
	assert_string_equal(s.cnps[1]->name, "b");
	assert_int_equal(store_find_cnp(&s, "b"), 1);
	assert_int_equal(store_find_cnp(&s, "c"), -1);
	store_cnps_changed(&s, &snap, on_cnp_changed, &seen);
	assert_int_equal(seen.n, 2);
	assert_false(store_namespaces_changed(&s, &snap));
	store_snapshot_commit(&s, &snap);

	/* an equal one is left to the caller; another priority replaces it */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = cnp("b", 1);
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_UNCHANGED);
	assert_non_null(obj);
	policy_cnp_free(obj);
	seen.n = 0;
	store_cnps_changed(&s, &snap, on_cnp_changed, &seen);
	assert_int_equal(seen.n, 0);
	obj = cnp("b", 7);
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_CONFIGURED);
	store_remove_cnp_at(&s, (size_t)store_find_cnp(&s, "a"));
	assert_int_equal(s.n_cnps, 1);
	store_cnps_changed(&s, &snap, on_cnp_changed, &seen);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.names[0], "b:7");
	assert_string_equal(seen.names[1], "a:2");
	assert_string_equal(seen.names[2], "b:1");
	/* undone: both back as they were (b is the object first put) */
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_cnps, 2);
	assert_ptr_equal(s.cnps[1], b);
	assert_int_equal(s.cnps[1]->priority, 1);

	/* kept: the removed one and the old b are freed (ASan tells) */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = cnp("b", 9);
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_CONFIGURED);
	/* put twice in one change: the first new version is freed, the snapshot's kept */
	obj = cnp("b", 10);
	assert_int_equal(store_put_cnp(&s, &snap, &obj), STORE_CONFIGURED);
	assert_ptr_equal(snap.cnps[1], b);
	store_remove_cnp_at(&s, 0);
	store_snapshot_commit(&s, &snap);
	assert_int_equal(s.n_cnps, 1);
	assert_int_equal(s.cnps[0]->priority, 10);
	store_done(&s);
	assert_int_equal(s.n_cnps, 0);
	assert_null(s.cnps);
}

static void test_put_to_string(void **state)
{
	assert_string_equal(store_put_to_string(STORE_UNCHANGED), "unchanged");
	assert_string_equal(store_put_to_string(STORE_CONFIGURED), "configured");
	assert_string_equal(store_put_to_string(STORE_CREATED), "created");
	assert_null(store_put_to_string(_STORE_PUT_MAX));
	assert_null(store_put_to_string((enum store_put) - 1));
}

static void test_put_namespace(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_namespace *a = ns("a", "x"), *obj;

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = a;
	assert_int_equal(store_put_namespace(&s, &snap, &obj), STORE_CREATED);
	assert_null(obj); /* taken */
	assert_true(store_namespaces_changed(&s, &snap));
	store_snapshot_commit(&s, &snap);
	assert_int_equal(s.n_namespaces, 1);
	assert_ptr_equal(s.namespaces[0], a);

	/* an equal one is left to the caller */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = ns("a", "x");
	assert_int_equal(store_put_namespace(&s, &snap, &obj), STORE_UNCHANGED);
	assert_non_null(obj);
	policy_namespace_free(obj);
	assert_false(store_namespaces_changed(&s, &snap));
	assert_ptr_equal(s.namespaces[0], a);

	/* other labels replace it; the old one lives on in the snapshot until the commit */
	obj = ns("a", "y");
	assert_int_equal(store_put_namespace(&s, &snap, &obj), STORE_CONFIGURED);
	assert_null(obj);
	assert_ptr_not_equal(s.namespaces[0], a);
	assert_string_equal(policy_labels_get(&s.namespaces[0]->labels, "team"), "y");
	assert_ptr_equal(snap.namespaces[0], a);
	assert_true(store_namespaces_changed(&s, &snap));
	store_snapshot_commit(&s, &snap); /* frees a */
	assert_null(snap.namespaces);
	assert_int_equal(s.n_namespaces, 1);
	store_done(&s);
	assert_int_equal(s.n_namespaces, 0);
}

static void test_put_netpol(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_netpol *obj;

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = np("shop", "web", 80);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
	obj = np("shop", "db", 5432);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
	obj = np("blog", "web", 80); /* same name, other namespace */
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
	store_sort(&s);
	store_snapshot_commit(&s, &snap);
	assert_int_equal(s.n_netpols, 3);
	assert_string_equal(s.netpols[0]->namespace, "blog");
	assert_string_equal(s.netpols[1]->name, "db");
	assert_string_equal(s.netpols[2]->name, "web");
	assert_int_equal(store_find_netpol(&s, "shop", "web"), 2);
	assert_int_equal(store_find_netpol(&s, "blog", "web"), 0);
	assert_int_equal(store_find_netpol(&s, "blog", "db"), -1);
	assert_int_equal(store_find_netpol(&s, "nope", "web"), -1);

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = np("shop", "db", 5432);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_UNCHANGED);
	policy_netpol_free(obj);
	obj = np("shop", "db", 5433);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CONFIGURED);
	assert_null(obj);
	assert_int_equal(s.netpols[1]->ingress[0].ports[0].port, 5433);
	store_snapshot_commit(&s, &snap);
	store_done(&s);
}

/* One change puts the same object twice (a file naming it twice): the first version is
 * freed at once, since no snapshot holds it. */
static void test_put_twice_new(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_netpol *obj;
	struct policy_namespace *n;

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = np("shop", "web", 80);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
	obj = np("shop", "web", 81);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CONFIGURED);
	obj = np("shop", "web", 81);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_UNCHANGED);
	policy_netpol_free(obj);
	n = ns("a", "x");
	assert_int_equal(store_put_namespace(&s, &snap, &n), STORE_CREATED);
	n = ns("a", "y");
	assert_int_equal(store_put_namespace(&s, &snap, &n), STORE_CONFIGURED);
	assert_int_equal(s.n_netpols, 1);
	assert_int_equal(s.netpols[0]->ingress[0].ports[0].port, 81);
	store_snapshot_commit(&s, &snap);
	store_done(&s);

	/* and undone: both versions go */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = np("shop", "web", 80);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
	obj = np("shop", "web", 81);
	assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CONFIGURED);
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_netpols, 0);
	store_done(&s);
}

/* The same, over an object the snapshot holds: that one survives the second put, and goes
 * at the commit or comes back at the restore. */
static void test_put_twice_existing(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_netpol *orig, *obj;

	for (int restore = 0; restore < 2; restore++) {
		assert_int_equal(store_snapshot_take(&s, &snap), 0);
		orig = obj = np("shop", "web", 80);
		assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CREATED);
		store_snapshot_commit(&s, &snap);

		assert_int_equal(store_snapshot_take(&s, &snap), 0);
		obj = np("shop", "web", 81);
		assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CONFIGURED);
		obj = np("shop", "web", 82);
		assert_int_equal(store_put_netpol(&s, &snap, &obj), STORE_CONFIGURED);
		assert_ptr_equal(snap.netpols[0], orig);
		if (restore) {
			store_snapshot_restore(&s, &snap);
			assert_int_equal(s.n_netpols, 1);
			assert_ptr_equal(s.netpols[0], orig);
			assert_int_equal(s.netpols[0]->ingress[0].ports[0].port, 80);
		} else {
			store_snapshot_commit(&s, &snap);
			assert_int_equal(s.n_netpols, 1);
			assert_int_equal(s.netpols[0]->ingress[0].ports[0].port, 82);
		}
		store_done(&s);
	}
}

static void test_remove(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_netpol *b;
	struct policy_namespace *nb;

	store_load(&s, objects_parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n---\n"
				     "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
				     "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"));
	assert_int_equal(s.n_namespaces, 3);
	assert_string_equal(s.namespaces[0]->name, "a"); /* loaded sorted */
	assert_string_equal(s.namespaces[2]->name, "c");
	assert_int_equal(store_find_namespace(&s, "b"), 1);
	assert_int_equal(store_find_namespace(&s, "d"), -1);
	nb = s.namespaces[1];

	/* undone: it is back, the very same object */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	store_remove_namespace_at(&s, 1);
	assert_int_equal(s.n_namespaces, 2);
	assert_string_equal(s.namespaces[1]->name, "c");
	assert_true(store_namespaces_changed(&s, &snap));
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_namespaces, 3);
	assert_ptr_equal(s.namespaces[1], nb);

	/* kept: it is freed (ASan) */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	store_remove_namespace_at(&s, 1);
	store_remove_namespace_at(&s, 1);
	store_snapshot_commit(&s, &snap);
	assert_int_equal(s.n_namespaces, 1);
	assert_string_equal(s.namespaces[0]->name, "a");
	store_done(&s);

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	for (unsigned i = 0; i < 3; i++) {
		char name[8];
		struct policy_netpol *p;

		snprintf(name, sizeof(name), "p%u", i);
		p = np("x", name, 80);
		assert_int_equal(store_put_netpol(&s, &snap, &p), STORE_CREATED);
	}
	store_snapshot_commit(&s, &snap);
	b = s.netpols[1];
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	store_remove_netpol_at(&s, 2); /* the last one */
	store_remove_netpol_at(&s, 0); /* the first one */
	assert_int_equal(s.n_netpols, 1);
	assert_ptr_equal(s.netpols[0], b);
	store_snapshot_commit(&s, &snap);
	store_done(&s);
}

struct seen {
	char names[8][64];
	size_t n;
};

static void on_changed(const struct policy_netpol *p, void *userdata)
{
	struct seen *x = userdata;

	assert_true(x->n < 8);
	snprintf(x->names[x->n++], sizeof(x->names[0]), "%s/%s:%u", p->namespace, p->name,
		 p->ingress[0].ports[0].port);
}

static void test_changes(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_netpol *p;
	struct policy_namespace *n;
	struct seen seen = { 0 };

	store_load(&s,
		   objects_parse(
			   "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
			   "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
			   " \"metadata\": {\"name\": \"keep\", \"namespace\": \"x\"},"
			   " \"spec\": {\"podSelector\": {},"
			   " \"ingress\": [{\"ports\": [{\"port\": 1}]}]}}\n---\n"
			   "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
			   " \"metadata\": {\"name\": \"change\", \"namespace\": \"x\"},"
			   " \"spec\": {\"podSelector\": {},"
			   " \"ingress\": [{\"ports\": [{\"port\": 2}]}]}}\n---\n"
			   "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
			   " \"metadata\": {\"name\": \"drop\", \"namespace\": \"x\"},"
			   " \"spec\": {\"podSelector\": {},"
			   " \"ingress\": [{\"ports\": [{\"port\": 3}]}]}}\n"));
	assert_int_equal(s.n_netpols, 3);

	/* nothing changed */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	p = np("x", "keep", 1);
	assert_int_equal(store_put_netpol(&s, &snap, &p), STORE_UNCHANGED);
	policy_netpol_free(p);
	n = namespace_parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
	assert_int_equal(store_put_namespace(&s, &snap, &n), STORE_UNCHANGED);
	policy_namespace_free(n);
	store_netpols_changed(&s, &snap, on_changed, &seen);
	assert_int_equal(seen.n, 0);
	assert_false(store_namespaces_changed(&s, &snap));

	/* one added, one changed (both versions), one removed */
	p = np("x", "new", 4);
	assert_int_equal(store_put_netpol(&s, &snap, &p), STORE_CREATED);
	p = np("x", "change", 5);
	assert_int_equal(store_put_netpol(&s, &snap, &p), STORE_CONFIGURED);
	store_remove_netpol_at(&s, (size_t)store_find_netpol(&s, "x", "drop"));
	store_sort(&s);
	store_netpols_changed(&s, &snap, on_changed, &seen);
	assert_int_equal(seen.n, 4);
	/* the current ones first (in store order), then the ones only the snapshot has */
	assert_string_equal(seen.names[0], "x/change:5");
	assert_string_equal(seen.names[1], "x/new:4");
	assert_string_equal(seen.names[2], "x/change:2");
	assert_string_equal(seen.names[3], "x/drop:3");
	assert_false(store_namespaces_changed(&s, &snap));
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_netpols, 3);
	assert_int_equal(s.netpols[store_find_netpol(&s, "x", "change")]->ingress[0].ports[0].port,
			 2);

	/* namespaces: added */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	n = ns("b", "x");
	assert_int_equal(store_put_namespace(&s, &snap, &n), STORE_CREATED);
	assert_true(store_namespaces_changed(&s, &snap));
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_namespaces, 1);
	store_done(&s);
}

static void test_empty(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct seen seen = { 0 };

	assert_int_equal(store_find_namespace(&s, "a"), -1);
	assert_int_equal(store_find_netpol(&s, "a", "b"), -1);
	store_sort(&s);
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	assert_non_null(snap.namespaces);
	assert_false(store_namespaces_changed(&s, &snap));
	store_netpols_changed(&s, &snap, on_changed, &seen);
	assert_int_equal(seen.n, 0);
	store_snapshot_restore(&s, &snap);
	store_load(&s,
		   objects_parse("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": []}"));
	assert_int_equal(s.n_namespaces + s.n_netpols, 0);
	store_done(&s);
	store_done(&s);
}

static struct policy_node *node(const char *name, const char *addr)
{
	char text[512];
	struct policy_objects *o;
	struct policy_node *n;

	snprintf(text, sizeof(text),
		 "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"%s\"},"
		 " \"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"%s\"}]}}",
		 name, addr);
	o = objects_parse(text);
	assert_int_equal(o->n_nodes, 1);
	n = o->nodes[0];
	o->n_nodes = 0;
	policy_objects_free(o);
	return n;
}

/* Nodes: sorted by name, unchanged when equal, and whether any changed since a snapshot. */
static void test_nodes(void **state)
{
	struct store s = { 0 };
	struct store_snapshot snap;
	struct policy_node *obj, *b;

	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = b = node("b", "10.0.0.2");
	assert_int_equal(store_put_node(&s, &snap, &obj), STORE_CREATED);
	assert_null(obj);
	obj = node("a", "10.0.0.1");
	assert_int_equal(store_put_node(&s, &snap, &obj), STORE_CREATED);
	store_sort(&s);
	assert_string_equal(s.nodes[0]->name, "a");
	assert_int_equal(store_find_node(&s, "b"), 1);
	assert_int_equal(store_find_node(&s, "c"), -1);
	assert_true(store_nodes_changed(&s, &snap));
	store_snapshot_commit(&s, &snap);

	/* the same Node again is no change; another address is */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	obj = node("b", "10.0.0.2");
	assert_int_equal(store_put_node(&s, &snap, &obj), STORE_UNCHANGED);
	policy_node_free(obj);
	assert_false(store_nodes_changed(&s, &snap));
	obj = node("b", "fd00::2");
	assert_int_equal(store_put_node(&s, &snap, &obj), STORE_CONFIGURED);
	assert_true(store_nodes_changed(&s, &snap));
	store_snapshot_restore(&s, &snap);
	assert_ptr_equal(s.nodes[1], b);

	/* a removal is a change; restoring brings the Node back */
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	store_remove_node_at(&s, 0);
	assert_int_equal(s.n_nodes, 1);
	assert_true(store_nodes_changed(&s, &snap));
	store_snapshot_restore(&s, &snap);
	assert_int_equal(s.n_nodes, 2);
	assert_int_equal(store_snapshot_take(&s, &snap), 0);
	store_remove_node_at(&s, 1);
	store_snapshot_commit(&s, &snap);
	assert_int_equal(s.n_nodes, 1);
	store_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_to_string),
		cmocka_unit_test(test_put_namespace),
		cmocka_unit_test(test_put_netpol),
		cmocka_unit_test(test_put_twice_new),
		cmocka_unit_test(test_put_twice_existing),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_cnps),
		cmocka_unit_test(test_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
