/* SPDX-License-Identifier: MIT */
/*
 * Nodes through the operations: applied, changed and deleted like policies, kept in the state
 * dir (version 2), and a Node change recompiles exactly the endpoints selected by the
 * ClusterNetworkPolicies with an egress `nodes` peer, their node sets following the Node's
 * addresses. A whole core in a private kernel (harness.h), no root.
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
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "harness.h"
#include "macro.h"
#include "testutil.h"

#define CNP_HEAD "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"
#define NODE(addr)                                                                \
	"apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {os: linux}}\n" \
	"status: {addresses: [{type: InternalIP, address: \"" addr "\"}]}\n"

static const char policies[] =
	"apiVersion: v1\nkind: Namespace\n"
	"metadata: {name: shop, labels: {team: red}}\n---\n" CNP_HEAD "metadata: {name: to-nodes}\n"
	"spec:\n  tier: Admin\n  priority: 5\n"
	"  subject: {pods: {namespaceSelector: {matchLabels: {team: red}},\n"
	"                   podSelector: {matchLabels: {app: web}}}}\n"
	"  egress: [{action: Accept, to: [{nodes: {matchLabels: {os: "
	"linux}}}]}]\n---\n" CNP_HEAD "metadata: {name: plain}\n"
	"spec:\n  tier: Baseline\n  priority: 5\n"
	"  subject: {namespaces: {}}\n"
	"  egress: [{action: Deny, to: [{networks: [192.0.2.0/24]}]}]\n";

static void apply(struct harness *h, const char *text)
{
	struct op_error err = { 0 };
	json_t *out = NULL;
	int r = ops_apply(h->ops, "t.yaml", text, strlen(text), false, &out, &err);

	if (r != 0)
		fail_msg("apply: %d (%s)", r, err.message);
	op_error_done(&err);
	json_decref(out);
}

/* The elements of set `name` in endpoint ep's installed plan, "a,b" */
static void assert_installed_set(struct harness *h, const char *ep, const char *name,
				 const char *want)
{
	const struct endpoint *e = registry_get(h->ops->registry, ep);
	char buf[512] = "";

	assert_non_null(e);
	assert_non_null(e->installed);
	for (size_t i = 0; i < e->installed->n_sets; i++) {
		const struct policy_set *s = &e->installed->sets[i];

		if (!streq(s->name, name))
			continue;
		for (size_t j = 0; j < s->n_elems; j++) {
			char a[64];

			inet_ntop(s->family, s->elems[j].start, a, sizeof(a));
			if (j)
				strcat(buf, ",");
			strcat(buf, a);
		}
		assert_string_equal(buf, want);
		return;
	}
	fail_msg("%s has no set %s", ep, name);
}

static void test_node_changes_mark_node_peer_subjects(void **state)
{
	struct op_error err = { 0 };
	struct harness h;
	json_t *out;

	harness_start(&h, NULL);
	apply(&h, policies);
	harness_endpoint(&h, "web", "shop", "app=web");
	harness_endpoint(&h, "db", "shop", "app=db");
	harness_endpoint(&h, "b1", "blue", "app=x");
	assert_installed_set(&h, "web", "A0_n4", "");

	/* A Node appears: web alone (plain selects all, but has no nodes peer). */
	apply(&h, NODE("10.9.0.1"));
	assert_int_equal(h.ops->store->n_nodes, 1);
	assert_int_equal(h.ops->rc->last.compiled, 1);
	assert_installed_set(&h, "web", "A0_n4", "10.9.0.1");
	assert_installed_set(&h, "web", "A0_n6", "");
	/* It moves to another family: the same endpoint, other elements. */
	apply(&h, NODE("fd00::9"));
	assert_int_equal(h.ops->rc->last.compiled, 1);
	assert_installed_set(&h, "web", "A0_n4", "");
	assert_installed_set(&h, "web", "A0_n6", "fd00::9");
	/* Deleted by name: its address leaves the set. */
	assert_int_equal(ops_delete_node(h.ops, "n1", &out, &err), 0);
	json_decref(out);
	assert_int_equal(h.ops->rc->last.compiled, 1);
	assert_installed_set(&h, "web", "A0_n6", "");
	assert_int_equal(ops_get_node(h.ops, "n1", &out, &err), -ENOENT);
	op_error_done(&err);
	assert_int_equal(reconcile_check_index(h.ops->rc), 0);
	harness_stop(&h);
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

static void test_restore_from_the_state_dir(void **state)
{
	char config[256], path[320];
	struct harness h, again;
	struct op_error err = { 0 };
	json_t *out;
	char *text;

	harness_start(&h, NULL);
	apply(&h, NODE("10.9.0.1"));
	snprintf(config, sizeof(config), "state-dir = %s/state\n", h.dir);
	snprintf(path, sizeof(path), "%s/state/state.json", h.dir);
	text = slurp(path);
	assert_non_null(strstr(text, "\"version\": 2"));
	assert_non_null(strstr(text, "\"kind\": \"Node\""));
	free(text);
	harness_stop(&h);

	harness_start(&again, config);
	assert_int_equal(again.ops->store->n_nodes, 1);
	assert_string_equal(again.ops->store->nodes[0]->name, "n1");
	assert_int_equal(again.ops->store->nodes[0]->n_addrs, 1);
	assert_int_equal(ops_delete_node(again.ops, "n1", &out, &err), 0);
	json_decref(out);
	text = slurp(path);
	assert_non_null(strstr(text, "\"version\": 1"));
	free(text);
	harness_stop(&again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_changes_mark_node_peer_subjects),
		cmocka_unit_test(test_restore_from_the_state_dir),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
