/* SPDX-License-Identifier: MIT */
/*
 * views: what the API shows of the model. Endpoints (netns and container kinds, isolation and
 * policies from a plan compiled with libpolicy), NetworkPolicies by namespace, Namespaces
 * applied and implicit, and the shape of the status answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <linux/netfilter/nf_tables.h>

#include <cmocka.h>

#include "json-util.h"
#include "time-util.h"
#include "views.h"
#include "unit.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

#define POLICIES                                                                         \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n" \
	"---\n"                                                                          \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                        \
	"metadata: {name: db-in, namespace: shop}\n"                                     \
	"spec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress]\n"     \
	"---\n"                                                                          \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                        \
	"metadata: {name: all-out, namespace: shop}\n"                                   \
	"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"                            \
	"---\n"                                                                          \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                        \
	"metadata: {name: web, namespace: blog}\n"                                       \
	"spec:\n  podSelector: {}\n"

static void assert_json_eq(json_t *got, const char *want_text)
{
	json_auto_t *want = json_parse(want_text);
	_cleanup_free_ char *g = json_text(got), *w = json_text(want);

	if (!json_equal(got, want))
		fail_msg("JSON differs:\n  got:  %s\n  want: %s", g, w);
}

static void test_endpoint_netns(void **state)
{
	struct endpoint *e = ep_new(ENDPOINT_KIND_NETNS, "db", "shop");
	json_auto_t *o = NULL;

	o = view_endpoint(e);
	assert_json_eq(
		o,
		"{\"name\": \"db\", \"kind\": \"netns\", \"namespace\": \"shop\","
		" \"netns\": \"db\", \"labels\": {}, \"ports\": [], \"addresses\": [],"
		" \"state\": \"pending\", \"error\": null, \"policies\": [],"
		" \"isolation\": {\"ingress\": false, \"egress\": false}, \"quarantined\": false,"
		" \"guard\": {\"state\": \"pending\", \"reason\": null, \"devices\": []}}");
	json_decref(o);

	ep_label(e, "app", "db");
	ep_addr(e, "10.0.0.2");
	ep_addr(e, "fd00::2");
	ep_port(e, "pg", 5432, POLICY_PROTO_TCP);
	endpoint_set_error(e, ENDPOINT_ERROR, "commit failed: %s", "EPERM");
	e->quarantined = true; /* a fault in the state dir */
	o = view_endpoint(e);
	assert_json_eq(
		o, "{\"name\": \"db\", \"kind\": \"netns\", \"namespace\": \"shop\","
		   " \"netns\": \"db\", \"labels\": {\"app\": \"db\"},"
		   " \"ports\": [{\"name\": \"pg\", \"port\": 5432, \"protocol\": \"TCP\"}],"
		   " \"addresses\": [\"10.0.0.2\", \"fd00::2\"],"
		   " \"state\": \"error\", \"error\": \"commit failed: EPERM\", \"policies\": [],"
		   " \"isolation\": {\"ingress\": false, \"egress\": false}, \"quarantined\": true,"
		   " \"guard\": {\"state\": \"pending\", \"reason\": null, \"devices\": []}}");
	endpoint_free(e);
}

static void test_endpoint_isolation(void **state)
{
	struct policy_objects *objs = objects_parse(POLICIES);
	struct endpoint *db = ep_new(ENDPOINT_KIND_NETNS, "db", "shop");
	struct endpoint *web = ep_new(ENDPOINT_KIND_NETNS, "web", "shop");
	struct endpoint *other = ep_new(ENDPOINT_KIND_NETNS, "other", "blog");
	struct policy_endpoint *eps[] = { &db->pe, &web->pe, &other->pe };
	struct policy_world w = { .namespaces = objs->namespaces,
				  .n_namespaces = objs->n_namespaces,
				  .netpols = objs->netpols,
				  .n_netpols = objs->n_netpols,
				  .endpoints = eps,
				  .n_endpoints = 3 };
	json_auto_t *o = NULL;

	ep_label(db, "app", "db");
	ep_label(web, "app", "web");
	assert_int_equal(policy_compile(&w, &db->pe, POLICY_DENY_DROP, &db->installed), 0);
	assert_int_equal(policy_compile(&w, &web->pe, POLICY_DENY_DROP, &web->installed), 0);
	assert_int_equal(policy_compile(&w, &other->pe, POLICY_DENY_DROP, &other->installed), 0);
	db->state = web->state = other->state = ENDPOINT_ENFORCED;

	o = view_endpoint(db);
	assert_json_string(o, "state", "enforced");
	assert_json_eq(json_object_get(o, "policies"), "[\"shop/all-out\", \"shop/db-in\"]");
	assert_json_eq(json_object_get(o, "isolation"), "{\"ingress\": true, \"egress\": true}");
	json_decref(o);
	o = view_endpoint(web);
	assert_json_eq(json_object_get(o, "policies"), "[\"shop/all-out\"]");
	assert_json_eq(json_object_get(o, "isolation"), "{\"ingress\": false, \"egress\": true}");
	json_decref(o);
	o = view_endpoint(other);
	assert_json_eq(json_object_get(o, "policies"), "[\"blog/web\"]");
	assert_json_eq(json_object_get(o, "isolation"), "{\"ingress\": true, \"egress\": false}");

	endpoint_free(db);
	endpoint_free(web);
	endpoint_free(other);
	policy_objects_free(objs);
}

static void test_endpoint_container(void **state)
{
	struct endpoint *e = ep_new(ENDPOINT_KIND_CONTAINER, "web-1", "default");
	json_auto_t *o = NULL;

	/* no containers yet */
	o = view_endpoint(e);
	assert_json_string(o, "kind", "container");
	assert_json_string(o, "netns", "/proc/1/ns/net");
	assert_true(json_is_null(json_object_get(o, "id")));
	assert_json_eq(json_object_get(o, "containers"), "[]");
	assert_json_false(o, "quarantined");
	json_decref(o);

	/* a pod: the owner of the namespace names it, even when it is not the first */
	ep_container(e, ID_A, NULL, false);
	ep_container(e, ID_B, "infra", true);
	e->quarantined = true;
	o = view_endpoint(e);
	assert_json_string(o, "id", ID_B);
	assert_json_eq(json_object_get(o, "containers"),
		       "[{\"id\": \"" ID_A "\", \"name\": null},"
		       " {\"id\": \"" ID_B "\", \"name\": \"infra\"}]");
	assert_json_true(o, "quarantined");
	json_decref(o);

	/* no owner: the first */
	e->containers[1].owner = false;
	o = view_endpoint(e);
	assert_json_string(o, "id", ID_A);
	endpoint_free(e);
}

static void test_endpoints_and_netpols(void **state)
{
	struct registry r = { 0 };
	struct store s = { 0 };
	json_auto_t *o = NULL, *want = NULL;
	json_t *items;

	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "b", "shop")), 0);
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "a", "blog")), 0);
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "c", "shop")), 0);
	o = view_endpoints(&r, NULL, NULL);
	items = json_object_get(o, "items");
	assert_int_equal(json_object_size(o), 1);
	assert_int_equal(json_array_size(items), 3);
	assert_json_string(json_array_get(items, 0), "name", "a");
	json_decref(o);
	o = view_endpoints(&r, "shop", NULL);
	items = json_object_get(o, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_json_string(json_array_get(items, 0), "name", "b");
	assert_json_string(json_array_get(items, 1), "name", "c");
	json_decref(o);
	o = view_endpoints(&r, "none", NULL);
	assert_json_eq(o, "{\"items\": []}");
	json_decref(o);

	store_load(&s, objects_parse(POLICIES));
	o = view_netpols(&s, NULL);
	items = json_object_get(o, "items");
	assert_int_equal(json_array_size(items), 3);
	/* store order (namespace, name), each as the canonical object */
	want = json_take_text(policy_netpol_to_json(s.netpols[0]));
	assert_true(json_equal(json_array_get(items, 0), want));
	assert_json_string(json_object_get(json_array_get(items, 0), "metadata"), "namespace",
			   "blog");
	assert_json_string(json_object_get(json_array_get(items, 1), "metadata"), "name",
			   "all-out");
	assert_json_string(json_object_get(json_array_get(items, 2), "metadata"), "name", "db-in");
	assert_json_string(json_array_get(items, 2), "kind", "NetworkPolicy");
	json_decref(o);
	o = view_netpols(&s, "shop");
	assert_int_equal(json_array_size(json_object_get(o, "items")), 2);
	json_decref(o);
	o = view_netpols(&s, "default");
	assert_json_eq(o, "{\"items\": []}");

	assert_null(view_netpol(NULL));
	assert_null(view_namespace(NULL));
	store_done(&s);
	registry_done(&r);
}

static void test_namespaces(void **state)
{
	struct registry r = { 0 };
	struct store s = { 0 };
	json_auto_t *o = NULL;
	json_t *items;

	o = view_namespaces(&s, &r);
	assert_json_eq(o, "{\"items\": []}");
	json_decref(o);

	/* shop is applied; blog only has a policy; dev and shop have endpoints */
	store_load(&s, objects_parse(POLICIES));
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "x", "dev")), 0);
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "y", "shop")), 0);
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "z", "dev")), 0);
	o = view_namespaces(&s, &r);
	items = json_object_get(o, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_json_eq(json_array_get(items, 0),
		       "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\":"
		       " \"blog\", \"labels\": {\"kubernetes.io/metadata.name\": \"blog\"}}}");
	assert_json_eq(json_array_get(items, 1),
		       "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\":"
		       " \"dev\", \"labels\": {\"kubernetes.io/metadata.name\": \"dev\"}}}");
	/* the applied one, with its own labels */
	assert_json_string(json_object_get(json_array_get(items, 2), "metadata"), "name", "shop");
	assert_json_string(json_object_get(json_object_get(json_array_get(items, 2), "metadata"),
					   "labels"),
			   "env", "prod");
	store_done(&s);
	registry_done(&r);
}

static void test_status(void **state)
{
	struct registry r = { 0 };
	struct store s = { 0 };
	struct reconciler rc = { 0 };
	struct drift d = { .detected = 3, .repairs = 2, .event_overruns = 1 };
	struct errlog l = { 0 };
	struct status_inputs in = { .registry = &r,
				    .store = &s,
				    .rc = &rc,
				    .drift = &d,
				    .errlog = &l,
				    .started = time(NULL) - 100 };
	struct endpoint *e;
	json_auto_t *o = NULL;
	json_t *changes;

	store_load(&s, objects_parse(POLICIES));
	e = ep_new(ENDPOINT_KIND_NETNS, "a", "dev");
	e->state = ENDPOINT_ENFORCED;
	assert_int_equal(registry_insert(&r, e), 0);
	e = ep_new(ENDPOINT_KIND_NETNS, "b", "dev");
	e->state = ENDPOINT_ERROR;
	assert_int_equal(registry_insert(&r, e), 0);
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "c", "dev")), 0);
	/* the kernel refused d's ruleset twice: listed with its reason and its next retry */
	e = ep_new(ENDPOINT_KIND_NETNS, "d", "dev");
	endpoint_set_error(e, ENDPOINT_FAILED, "kernel refused ruleset: %s",
			   "Argument list too long");
	e->retry = (struct backoff){ .failures = 2, .due_usec = now_usec() + 200000 };
	assert_int_equal(registry_insert(&r, e), 0);
	rc.commits = 7;
	rc.commit_errors = 2;
	rc.last = (struct change_stats){ 1, 2, 3, 4, 5, 6, 7 };
	rc.total.bytes = 123456789012ull;
	rc.emit.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
	errlog_add(&l, "old");
	errlog_add(&l, "new");

	o = view_status(&in);
	assert_non_null(o);
	assert_json_string(o, "version", SEGD_VERSION);
	assert_json_int(o, "pid", getpid());
	assert_true(json_integer_value(json_object_get(o, "uptime_seconds")) >= 100);
	assert_true(json_integer_value(json_object_get(o, "uptime_seconds")) < 200);
	assert_json_int(o, "endpoints", 4);
	assert_json_int(o, "failed", 1);
	{
		json_t *f = json_array_get(json_object_get(o, "failed_endpoints"), 0);

		assert_int_equal(json_array_size(json_object_get(o, "failed_endpoints")), 1);
		assert_json_string(f, "name", "d");
		assert_json_string(f, "error", "kernel refused ruleset: Argument list too long");
		assert_json_int(f, "failures", 2);
		assert_true(json_integer_value(json_object_get(f, "next_in_ms")) <= 200);
	}
	assert_json_int(o, "networkpolicies", 3);
	assert_json_int(o, "namespaces", 3); /* shop (applied), blog and dev (implicit) */
	assert_json_int(o, "enforced", 1);
	assert_json_int(o, "errors", 1);
	assert_json_int(o, "commits", 7);
	assert_json_int(o, "commit_errors", 2);
	assert_json_eq(json_object_get(o, "table_flags"), "[\"owner\", \"persist\"]");
	assert_int_equal(json_array_size(json_object_get(o, "last_errors")), 2);
	assert_json_string(json_array_get(json_object_get(o, "last_errors"), 0), "message", "new");
	assert_json_string(o, "engine_spec", "none");
	assert_true(json_is_null(json_object_get(o, "engine")));
	changes = json_object_get(o, "changes");
	assert_json_eq(json_object_get(changes, "last"),
		       "{\"namespaces\": 1, \"incremental\": 2, \"compiled\": 3, \"batches\": 4,"
		       " \"messages\": 5, \"bytes\": 6, \"usec\": 7}");
	assert_json_int(json_object_get(changes, "total"), "bytes", 123456789012ll);
	assert_json_eq(json_object_get(o, "drift"), "{\"watching\": false, \"detected\": 3,"
						    " \"repairs\": 2, \"event_overruns\": 1}");
	/* live endpoints whose host-side guard is not (yet) enforced */
	assert_json_int(o, "unguarded", 0);
	assert_json_int(o, "address_conflicts", 0);
	assert_json_int(o, "compromised", 0);
	assert_json_int(o, "clusternetworkpolicies", 0);
	assert_json_int(o, "nodes", 0);
	assert_json_eq(json_object_get(o, "conntrack"),
		       "{\"keep_established\": false, \"flows_cut\": 0}");
	/* nobody may fail open unless the host names them */
	assert_json_eq(json_object_get(o, "hook_fail_open"), "{\"names\": [], \"config\": null}");
	assert_int_equal(json_object_size(o), 25);
	json_decref(o);

	/* the engine's part is taken; no flags */
	rc.emit.table_flags = 0;
	in.engine_spec = "unix:///run/docker.sock";
	in.engine = json_pack("{s:b}", "connected", 1);
	in.drift_watching = true;
	o = view_status(&in);
	assert_json_eq(json_object_get(o, "table_flags"), "[]");
	assert_json_string(o, "engine_spec", "unix:///run/docker.sock");
	assert_json_true(json_object_get(o, "engine"), "connected");
	assert_json_true(json_object_get(o, "drift"), "watching");
	json_decref(o);

	/* the host's hook-fail-open names, and the file the hook reads them from */
	{
		char a[] = "db", b[] = "cache", *names[] = { a, b };

		in.engine = NULL;
		in.hook_fail_open = names;
		in.n_hook_fail_open = 2;
		in.config = "/etc/segd/segd.conf";
		o = view_status(&in);
		assert_json_eq(
			json_object_get(o, "hook_fail_open"),
			"{\"names\": [\"db\", \"cache\"], \"config\": \"/etc/segd/segd.conf\"}");
	} /* o is json_auto_t: freed at the end */

	errlog_done(&l);
	store_done(&s);
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_netns),
		cmocka_unit_test(test_endpoint_isolation),
		cmocka_unit_test(test_endpoint_container),
		cmocka_unit_test(test_endpoints_and_netpols),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
