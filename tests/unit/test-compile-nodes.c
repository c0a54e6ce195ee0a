/* SPDX-License-Identifier: MIT */
/* ClusterNetworkPolicy egress `nodes` peers: the addresses of the selected Nodes, per family,
 * in hash sets that stay when no Node matches; a Node is never an endpoint. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "policy/policy.h"

struct fixture {
	struct policy_objects *objs;
	struct policy_endpoint eps[2];
	struct policy_endpoint *ep_ptrs[2];
	struct policy_addr addrs[2][2];
	struct policy_label labels[2];
	struct policy_world w;
};

static void set_addr(struct policy_addr *a, const char *s)
{
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, a->addr), 1);
}

/* x/a (pod=a, 10.0.0.1, fd00::1) and y/b (pod=b, 10.0.1.2); Nodes and policies from yaml */
static void world_init(struct fixture *f, const char *yaml)
{
	struct policy_diags d = { 0 };
	int r;

	memset(f, 0, sizeof(*f));
	r = policy_parse("t.yaml", yaml, strlen(yaml), &f->objs, &d);
	for (size_t i = 0; i < d.n; i++) {
		char *s = policy_diag_format(&d.items[i]);

		print_error("%s\n", s);
		free(s);
	}
	policy_diags_done(&d);
	assert_int_equal(r, 0);
	for (size_t i = 0; i < 2; i++) {
		struct policy_endpoint *e = &f->eps[i];

		e->name = (char *)(i ? "y-b" : "x-a");
		e->namespace = (char *)(i ? "y" : "x");
		f->labels[i] = (struct policy_label){ (char *)"pod", (char *)(i ? "b" : "a") };
		e->labels = (struct policy_labels){ &f->labels[i], 1 };
		set_addr(&f->addrs[i][0], i ? "10.0.1.2" : "10.0.0.1");
		e->n_addrs = 1;
		if (i == 0) {
			set_addr(&f->addrs[i][1], "fd00::1");
			e->n_addrs = 2;
		}
		e->addrs = f->addrs[i];
		f->ep_ptrs[i] = e;
	}
	f->w = (struct policy_world){
		.namespaces = f->objs->namespaces,
		.n_namespaces = f->objs->n_namespaces,
		.cnps = f->objs->cnps,
		.n_cnps = f->objs->n_cnps,
		.nodes = f->objs->nodes,
		.n_nodes = f->objs->n_nodes,
		.endpoints = f->ep_ptrs,
		.n_endpoints = 2,
	};
}

static struct policy_plan *compile(struct fixture *f, size_t ep)
{
	struct policy_plan *p = NULL;

	assert_int_equal(policy_compile(&f->w, &f->eps[ep], POLICY_DENY_DROP, &p), 0);
	assert_non_null(p);
	return p;
}

static const struct policy_set *find_set(const struct policy_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_sets; i++)
		if (strcmp(p->sets[i].name, name) == 0)
			return &p->sets[i];
	fail_msg("no set %s", name);
	return NULL;
}

/* "a,b,c" of a hash set */
static void assert_set(const struct policy_plan *p, const char *name, const char *want)
{
	const struct policy_set *s = find_set(p, name);
	char buf[1024] = "";

	assert_false(s->interval);
	for (size_t j = 0; j < s->n_elems; j++) {
		char a[64];

		assert_memory_equal(s->elems[j].start, s->elems[j].end, 16);
		inet_ntop(s->family, s->elems[j].start, a, sizeof(a));
		if (j)
			strcat(buf, ",");
		strcat(buf, a);
	}
	assert_string_equal(buf, want);
}

static bool decides(const struct policy_plan *p, const char *peer, enum policy_proto proto,
		    uint16_t port, const char *want_comment)
{
	struct policy_verdict v;
	struct policy_addr a;
	bool allowed;

	set_addr(&a, peer);
	assert_int_equal(policy_plan_evaluate(p, POLICY_DIR_EGRESS, &a, proto, port, &v), 0);
	allowed = v.allowed;
	if (want_comment) {
		assert_true(v.decided_by < p->n_rules);
		assert_string_equal(p->rules[v.decided_by].comment, want_comment);
	} else
		assert_int_equal(v.decided_by, p->n_rules);
	policy_verdict_done(&v);
	return allowed;
}

#define NODE(name, labels, addrs)                                                           \
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: " name ", labels: " labels "}\n" \
	"status: {addresses: " addrs "}\n"

#define NODES                                                                             \
	NODE("n1", "{kubernetes.io/os: linux}",                                           \
	     "[{type: InternalIP, address: 192.168.1.10}, {type: InternalIP, address: "   \
	     "\"fd00::10\"}, {type: ExternalIP, address: 203.0.113.7}, {type: Hostname, " \
	     "address: n1}]")                                                             \
	NODE("n2", "{kubernetes.io/os: windows}", "[{type: InternalIP, address: 192.168.1.20}]")

#define TO_NODES                                                                              \
	"---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"    \
	"metadata: {name: to-nodes}\nspec: {tier: Admin, priority: 5, subject: {namespaces: " \
	"{matchLabels: {kubernetes.io/metadata.name: x}}}, egress: [{name: kubelet, action: " \
	"Accept, to: [{nodes: {matchLabels: {kubernetes.io/os: linux}}}], protocols: [{tcp: " \
	"{destinationPort: {number: 10250}}}]}, {action: Deny, to: [{nodes: {}}, {networks: " \
	"[10.0.0.0/8]}]}]}\n"

static void test_node_addresses_in_sets(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f, NODES TO_NODES);
	assert_true(policy_cnp_has_node_peers(f.w.cnps[0]));
	p = compile(&f, 0);
	assert_false(p->isolated[POLICY_DIR_EGRESS]);
	/* rule 0: the linux node's InternalIP and ExternalIP, not its Hostname */
	assert_set(p, "A0_n4", "192.168.1.10,203.0.113.7");
	assert_set(p, "A0_n6", "fd00::10");
	/* rule 1: every node, both families; the networks peer in its own interval set */
	assert_set(p, "A1_n4", "192.168.1.10,192.168.1.20,203.0.113.7");
	assert_set(p, "A1_n6", "fd00::10");
	assert_true(find_set(p, "A1_c4")->interval);
	assert_true(decides(p, "192.168.1.10", POLICY_PROTO_TCP, 10250,
			    "cnp/to-nodes egress[kubelet]"));
	assert_true(
		decides(p, "fd00::10", POLICY_PROTO_TCP, 10250, "cnp/to-nodes egress[kubelet]"));
	assert_true(
		decides(p, "203.0.113.7", POLICY_PROTO_TCP, 10250, "cnp/to-nodes egress[kubelet]"));
	/* the windows node only meets the Deny rule; another port on a linux node too */
	assert_false(decides(p, "192.168.1.20", POLICY_PROTO_TCP, 10250, "cnp/to-nodes egress[1]"));
	assert_false(decides(p, "192.168.1.10", POLICY_PROTO_UDP, 10250, "cnp/to-nodes egress[1]"));
	/* a Node is no endpoint and an endpoint no Node: nodes: {} does not match pods */
	assert_false(decides(p, "10.0.1.2", POLICY_PROTO_TCP, 10250, "cnp/to-nodes egress[1]"));
	assert_true(decides(p, "fd00::2", POLICY_PROTO_TCP, 10250, NULL));
	assert_true(decides(p, "192.0.2.1", POLICY_PROTO_TCP, 10250, NULL));
	policy_plan_free(p);
	/* y/b is not a subject */
	p = compile(&f, 1);
	assert_int_equal(p->n_rules, 0);
	policy_plan_free(p);
	policy_objects_free(f.objs);
}

/* No Node matches: the sets are there, empty; a Node appearing changes set elements only. */
static void test_node_change_is_a_set_change(void **state)
{
	struct fixture f, g;
	struct policy_plan *a, *b;

	world_init(&f, NODE("n2", "{kubernetes.io/os: windows}", "[]") TO_NODES);
	world_init(&g, NODES TO_NODES);
	a = compile(&f, 0);
	b = compile(&g, 0);
	assert_set(a, "A0_n4", "");
	assert_set(a, "A0_n6", "");
	assert_set(b, "A0_n4", "192.168.1.10,203.0.113.7");
	assert_false(policy_plan_equal(a, b));
	assert_int_equal(a->n_sets, b->n_sets);
	assert_int_equal(a->n_rules, b->n_rules);
	for (size_t i = 0; i < a->n_sets; i++) {
		assert_string_equal(a->sets[i].name, b->sets[i].name);
		assert_int_equal(a->sets[i].family, b->sets[i].family);
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		assert_string_equal(a->rules[i].comment, b->rules[i].comment);
		assert_int_equal(a->rules[i].set, b->rules[i].set);
	}
	assert_true(decides(a, "192.168.1.10", POLICY_PROTO_TCP, 10250, NULL));
	policy_plan_free(a);
	policy_plan_free(b);
	policy_objects_free(f.objs);
	policy_objects_free(g.objs);
}

static void test_cache_and_has_node_peers(void **state)
{
	struct policy_compile_cache *c = NULL;
	struct fixture f;

	world_init(&f, NODES TO_NODES
		   "---\napiVersion: policy.networking.k8s.io/v1alpha2\n"
		   "kind: ClusterNetworkPolicy\nmetadata: {name: plain}\n"
		   "spec: {tier: Baseline, priority: 1, subject: {namespaces: {}}, egress: "
		   "[{action: Deny, to: [{networks: [192.168.0.0/16]}]}]}\n");
	assert_true(policy_cnp_has_node_peers(f.w.cnps[0]));
	assert_false(policy_cnp_has_node_peers(f.w.cnps[1]));
	/* policy_cnp_references() does not see Nodes (they are not endpoints) */
	assert_false(policy_cnp_references(&f.w, f.w.cnps[0], &f.eps[1]));
	assert_int_equal(policy_compile_cache_new(&f.w, &c), 0);
	for (size_t i = 0; i < 2; i++) {
		struct policy_plan *a = compile(&f, i), *b = NULL;

		assert_int_equal(policy_compile_cached(c, &f.eps[i], POLICY_DENY_DROP, &b), 0);
		assert_true(policy_plan_equal(a, b));
		policy_plan_free(a);
		policy_plan_free(b);
	}
	policy_compile_cache_free(c);
	policy_objects_free(f.objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_addresses_in_sets),
		cmocka_unit_test(test_node_change_is_a_set_change),
		cmocka_unit_test(test_cache_and_has_node_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
