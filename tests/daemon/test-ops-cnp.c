/* SPDX-License-Identifier: MIT */
/*
 * ClusterNetworkPolicy through the operations, as NetworkPolicy goes: a mixed apply is one
 * change (all or nothing), get/delete by name, the audit log names the kind, the state dir
 * keeps them over a restart (version 2 while any is stored), and a change recompiles only the
 * endpoints it can touch. A whole core in a private kernel (harness.h), no root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "harness.h"
#include "macro.h"
#include "testutil.h"

#define CNP_HEAD "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"

/* Namespace shop (team=red), a NetworkPolicy in it and a CNP whose subject is team=red. */
static const char mixed[] = "apiVersion: v1\nkind: List\nitems:\n"
			    "- apiVersion: v1\n  kind: Namespace\n"
			    "  metadata: {name: shop, labels: {team: red}}\n"
			    "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n"
			    "  metadata: {name: np, namespace: shop}\n"
			    "  spec: {podSelector: {}}\n"
			    "- apiVersion: policy.networking.k8s.io/v1alpha2\n"
			    "  kind: ClusterNetworkPolicy\n"
			    "  metadata: {name: red}\n"
			    "  spec:\n"
			    "    tier: Admin\n"
			    "    priority: 10\n"
			    "    subject: {namespaces: {matchLabels: {team: red}}}\n"
			    "    ingress: [{action: Deny, from: [{namespaces: {}}]}]\n";

static json_t *apply(struct harness *h, const char *text, int want)
{
	struct op_error err = { 0 };
	json_t *out = NULL;
	int r = ops_apply(h->ops, "t.yaml", text, strlen(text), false, &out, &err);

	if (r != want)
		fail_msg("apply: %d (%s), want %d", r, err.message, want);
	op_error_done(&err);
	return out;
}

/* The "applied" entry of kind `kind` in an apply's answer: its action. */
static const char *action_of(json_t *out, const char *kind)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(out, "applied"), i, o)
		if (streq(json_string_value(json_object_get(o, "kind")), kind))
			return json_string_value(json_object_get(o, "action"));
	return NULL;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	assert_non_null(f);
	assert_true(getdelim(&buf, &n, '\0', f) >= 0);
	fclose(f);
	return buf;
}

static void test_apply_get_delete(void **state)
{
	static const char bad_cnp[] =
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: other, namespace: shop}\n"
		"spec: {podSelector: {}}\n---\n" CNP_HEAD "metadata: {name: bad}\n"
		"spec: {tier: Admin, priority: 1001, subject: {namespaces: {}}}\n";
	static const char changed[] =
		CNP_HEAD "metadata: {name: red}\n"
			 "spec:\n  tier: Admin\n  priority: 11\n"
			 "  subject: {namespaces: {matchLabels: {team: red}}}\n";
	struct op_error err = { 0 };
	struct harness h;
	json_t *out;
	char *audit;

	harness_start(&h, NULL);
	/* As the API does around a request: what it changes is recorded. */
	audit_begin(h.ops->audit, 0, getpid(), "POST", "/v1/apply", "t.yaml");
	out = apply(&h, mixed, 0);
	audit_end(h.ops->audit);
	assert_string_equal(action_of(out, "Namespace"), "created");
	assert_string_equal(action_of(out, "NetworkPolicy"), "created");
	assert_string_equal(action_of(out, "ClusterNetworkPolicy"), "created");
	json_decref(out);
	assert_int_equal(h.ops->store->n_namespaces, 1);
	assert_int_equal(h.ops->store->n_netpols, 1);
	assert_int_equal(h.ops->store->n_cnps, 1);
	out = apply(&h, mixed, 0);
	assert_string_equal(action_of(out, "ClusterNetworkPolicy"), "unchanged");
	json_decref(out);

	/* An invalid CNP refuses the whole input: the NetworkPolicy beside it too. */
	assert_int_equal(ops_apply(h.ops, "b.yaml", bad_cnp, strlen(bad_cnp), false, &out, &err),
			 -EBADMSG);
	assert_true(err.diags.n >= 1);
	assert_int_equal(err.diags.items[0].line, 9);
	op_error_done(&err);
	assert_int_equal(h.ops->store->n_netpols, 1);
	assert_int_equal(h.ops->store->n_cnps, 1);

	/* get: the full object, as serialized */
	assert_int_equal(ops_get_cnp(h.ops, "red", &out, &err), 0);
	assert_string_equal(json_string_value(json_object_get(out, "kind")),
			    "ClusterNetworkPolicy");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(out, "spec"), "priority")),
			 10);
	json_decref(out);
	assert_int_equal(ops_get_cnp(h.ops, "absent", &out, &err), -ENOENT);
	assert_string_equal(err.message, "clusternetworkpolicy absent not found");
	op_error_done(&err);

	audit_begin(h.ops->audit, 0, getpid(), "POST", "/v1/apply", "t.yaml");
	out = apply(&h, changed, 0);
	audit_end(h.ops->audit);
	assert_string_equal(action_of(out, "ClusterNetworkPolicy"), "configured");
	json_decref(out);
	assert_int_equal(h.ops->store->cnps[0]->priority, 11);

	/* delete -f is all or nothing: the CNP stays when the NetworkPolicy named is absent */
	{
		static const char two[] = CNP_HEAD "metadata: {name: red}\n"
						   "spec: {tier: Admin, priority: 1, subject: "
						   "{namespaces: {}}}\n---\n"
						   "apiVersion: networking.k8s.io/v1\n"
						   "kind: NetworkPolicy\nmetadata: {name: absent, "
						   "namespace: shop}\nspec: {podSelector: {}}\n";
		static const char absent[] = CNP_HEAD "metadata: {name: nope}\n"
						      "spec: {tier: Baseline, priority: 1, "
						      "subject: {namespaces: {}}}\n";

		assert_int_equal(ops_delete_file(h.ops, "d.yaml", two, strlen(two), &out, &err),
				 -ENOENT);
		op_error_done(&err);
		assert_int_equal(ops_delete_file(h.ops, "d.yaml", absent, strlen(absent), &out,
						 &err),
				 -ENOENT);
		assert_string_equal(err.message,
				    "clusternetworkpolicy nope not found, nothing deleted");
		op_error_done(&err);
		assert_int_equal(h.ops->store->n_cnps, 1);
	}

	assert_int_equal(ops_delete_cnp(h.ops, "absent", &out, &err), -ENOENT);
	op_error_done(&err);
	audit_begin(h.ops->audit, 0, getpid(), "DELETE", "/v1/clusternetworkpolicies/red", NULL);
	assert_int_equal(ops_delete_cnp(h.ops, "red", &out, &err), 0);
	audit_end(h.ops->audit);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "deleted"), 0), "kind")),
			    "ClusterNetworkPolicy");
	json_decref(out);
	assert_int_equal(h.ops->store->n_cnps, 0);
	assert_int_equal(h.ops->store->n_netpols, 1);

	/* The audit log names each change of the kind: created, configured, deleted. */
	audit = slurp(h.audit);
	{
		char *line, *save = NULL;
		int n = 0;

		for (line = strtok_r(audit, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			json_auto_t *rec = json_loads(line, 0, NULL);
			json_t *c;
			size_t i;

			assert_non_null(rec);
			json_array_foreach(json_object_get(rec, "changes"), i, c)
				if (streq(json_string_value(json_object_get(c, "kind")),
					  "ClusterNetworkPolicy")) {
					assert_string_equal(json_string_value(
								    json_object_get(c, "name")),
							    "red");
					assert_true(json_is_null(json_object_get(c, "namespace")));
					assert_string_equal(json_string_value(
								    json_object_get(c, "action")),
							    n == 0   ? "created"
							    : n == 1 ? "configured"
								     : "deleted");
					n++;
				}
		}
		assert_int_equal(n, 3);
	}
	free(audit);
	harness_stop(&h);
}

static void test_restore_from_the_state_dir(void **state)
{
	char config[256], path[320];
	struct harness h, again;
	struct op_error err = { 0 };
	json_t *out;
	char *text;

	harness_start(&h, NULL);
	json_decref(apply(&h, mixed, 0));
	snprintf(config, sizeof(config), "state-dir = %s/state\n", h.dir);
	snprintf(path, sizeof(path), "%s/state/state.json", h.dir);
	text = slurp(path);
	assert_non_null(strstr(text, "\"version\": 2"));
	free(text);
	harness_stop(&h);

	harness_start(&again, config);
	assert_int_equal(again.ops->store->n_cnps, 1);
	assert_string_equal(again.ops->store->cnps[0]->name, "red");
	assert_int_equal(again.ops->store->cnps[0]->tier, POLICY_TIER_ADMIN);
	assert_int_equal(again.ops->store->n_netpols, 1);
	/* Without one, the file is version 1 again (an older segd reads it). */
	assert_int_equal(ops_delete_cnp(again.ops, "red", &out, &err), 0);
	json_decref(out);
	text = slurp(path);
	assert_non_null(strstr(text, "\"version\": 1"));
	assert_null(strstr(text, "ClusterNetworkPolicy"));
	free(text);
	harness_stop(&again);
}

/* Rules of the Baseline tier in endpoint name's installed plan. */
static size_t baseline_rules(struct harness *h, const char *name)
{
	const struct endpoint *e = registry_get(h->ops->registry, name);
	size_t n = 0;

	assert_non_null(e);
	assert_non_null(e->installed);
	for (size_t i = 0; i < e->installed->n_rules; i++)
		n += e->installed->rules[i].tier == POLICY_TIER_BASELINE;
	return n;
}

/* What a change recompiles: the endpoints the CNP's subject selects (by namespace labels,
 * then pod labels), before or after; an endpoint a CNP's peers select marks that CNP's
 * subjects when it appears. */
static void test_marking(void **state)
{
	static const char nss[] = "apiVersion: v1\nkind: Namespace\n"
				  "metadata: {name: shop, labels: {team: red}}\n---\n"
				  "apiVersion: v1\nkind: Namespace\n"
				  "metadata: {name: blue, labels: {team: blue}}\n";
	static const char web_only[] = CNP_HEAD
		"metadata: {name: web}\n"
		"spec:\n  tier: Baseline\n  priority: 5\n"
		"  subject: {pods: {namespaceSelector: {matchLabels: {team: red}},\n"
		"                   podSelector: {matchLabels: {app: web}}}}\n"
		"  ingress: [{action: Accept, from: [{namespaces: {matchLabels: {team: blue}}}]}]\n";
	static const char web_moved[] = CNP_HEAD
		"metadata: {name: web}\n"
		"spec:\n  tier: Baseline\n  priority: 5\n"
		"  subject: {pods: {namespaceSelector: {matchLabels: {team: red}},\n"
		"                   podSelector: {matchLabels: {app: db}}}}\n"
		"  ingress: [{action: Accept, from: [{namespaces: {matchLabels: {team: blue}}}]}]\n";
	struct op_error err = { 0 };
	struct harness h;
	json_t *out;

	harness_start(&h, NULL);
	json_decref(apply(&h, nss, 0));
	harness_endpoint(&h, "web", "shop", "app=web");
	harness_endpoint(&h, "db", "shop", "app=db");
	harness_endpoint(&h, "other", "green", "app=web");
	harness_endpoint(&h, "b1", "blue", "app=x");

	/* Created: its subject is web alone (other's namespace has no team label). */
	json_decref(apply(&h, web_only, 0));
	assert_int_equal(h.ops->rc->last.compiled, 1);
	/* Subject changed from web to db: both, before and after. */
	json_decref(apply(&h, web_moved, 0));
	assert_int_equal(h.ops->rc->last.compiled, 2);
	/* An endpoint appears in a namespace its peers select: db (the subject) and itself. */
	harness_endpoint(&h, "b2", "blue", "app=y");
	assert_int_equal(h.ops->rc->last.compiled, 2);
	/* One in a namespace no peer selects: itself alone. */
	harness_endpoint(&h, "g2", "green", "app=y");
	assert_int_equal(h.ops->rc->last.compiled, 1);
	/* Deleted: its subject (db). */
	assert_int_equal(ops_delete_cnp(h.ops, "web", &out, &err), 0);
	json_decref(out);
	assert_int_equal(h.ops->rc->last.compiled, 1);
	/* A namespace relabel re-evaluates subjects (and peers) by namespace labels: green
	 * becomes team=red, so other (green, app=web) joins the subject. */
	json_decref(apply(&h, web_only, 0));
	assert_int_equal(baseline_rules(&h, "other"), 0);
	assert_true(baseline_rules(&h, "web") > 0);
	json_decref(apply(&h,
			  "apiVersion: v1\nkind: Namespace\n"
			  "metadata: {name: green, labels: {team: red}}\n",
			  0));
	assert_true(baseline_rules(&h, "other") > 0);
	/* The marks the index gave were right: the periodic check finds nothing to repair. */
	assert_int_equal(reconcile_check_index(h.ops->rc), 0);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_get_delete),
		cmocka_unit_test(test_restore_from_the_state_dir),
		cmocka_unit_test(test_marking),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
