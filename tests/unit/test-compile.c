/* SPDX-License-Identifier: MIT */
/* The compiler against hand-made worlds: which peers land in which set, which ports in which
 * rule, and what isolation each endpoint gets. */
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

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>

#include "policy/policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	struct policy_objects *objs;
	struct policy_endpoint eps[4];
	struct policy_endpoint *ep_ptrs[4];
	struct policy_addr addrs[4][2];
	struct policy_named_port ports[4][2];
	struct policy_label labels[4][2];
	struct policy_world w;
};

static void set_addr(struct policy_addr *a, const char *s)
{
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, a->addr), 1);
}

/* x/a (pod=a, 10.0.0.1, fd00::1, http=8080/TCP), x/b (pod=b, 10.0.0.2, http=9090/TCP),
 * y/a (pod=a, 10.0.1.1), y/c (pod=c, role=db, 10.0.1.3, dns=53/UDP) */
static void world_init(struct fixture *f, const char *yaml)
{
	static const struct {
		const char *name, *ns, *pod, *a4, *a6, *port;
		uint16_t num;
		enum policy_proto proto;
	} def[4] = {
		{ "x-a", "x", "a", "10.0.0.1", "fd00::1", "http", 8080, POLICY_PROTO_TCP },
		{ "x-b", "x", "b", "10.0.0.2", NULL, "http", 9090, POLICY_PROTO_TCP },
		{ "y-a", "y", "a", "10.0.1.1", NULL, NULL, 0, 0 },
		{ "y-c", "y", "c", "10.0.1.3", NULL, "dns", 53, POLICY_PROTO_UDP },
	};
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

	for (size_t i = 0; i < 4; i++) {
		struct policy_endpoint *e = &f->eps[i];

		e->name = (char *)def[i].name;
		e->namespace = (char *)def[i].ns;
		f->labels[i][0] = (struct policy_label){ (char *)"pod", (char *)def[i].pod };
		f->labels[i][1] = (struct policy_label){ (char *)"role", (char *)"db" };
		e->labels = (struct policy_labels){ f->labels[i], i == 3 ? 2 : 1 };
		set_addr(&f->addrs[i][0], def[i].a4);
		e->n_addrs = 1;
		if (def[i].a6) {
			set_addr(&f->addrs[i][1], def[i].a6);
			e->n_addrs = 2;
		}
		e->addrs = f->addrs[i];
		if (def[i].port) {
			f->ports[i][0] = (struct policy_named_port){ (char *)def[i].port,
								     def[i].proto, def[i].num };
			e->ports = f->ports[i];
			e->n_ports = 1;
		}
		f->ep_ptrs[i] = e;
	}
	f->w = (struct policy_world){
		.namespaces = f->objs->namespaces,
		.n_namespaces = f->objs->n_namespaces,
		.netpols = f->objs->netpols,
		.n_netpols = f->objs->n_netpols,
		.cnps = f->objs->cnps,
		.n_cnps = f->objs->n_cnps,
		.endpoints = f->ep_ptrs,
		.n_endpoints = 4,
	};
}

static void world_done(struct fixture *f)
{
	policy_objects_free(f->objs);
}

static struct policy_plan *compile(struct fixture *f, size_t ep)
{
	struct policy_plan *p = NULL;

	assert_int_equal(policy_compile(&f->w, &f->eps[ep], POLICY_DENY_DROP, &p), 0);
	assert_non_null(p);
	return p;
}

/* "10.0.0.1,10.0.0.2" or "10.0.0.0-10.0.0.4,..." */
static void assert_set(const struct policy_plan *p, const char *name, const char *want)
{
	char buf[1024] = "";

	for (size_t i = 0; i < p->n_sets; i++) {
		const struct policy_set *s = &p->sets[i];

		if (strcmp(s->name, name) != 0)
			continue;
		for (size_t j = 0; j < s->n_elems; j++) {
			char a[64], z[64];

			inet_ntop(s->family, s->elems[j].start, a, sizeof(a));
			inet_ntop(s->family, s->elems[j].end, z, sizeof(z));
			if (j)
				strcat(buf, ",");
			strcat(buf, a);
			if (s->interval && strcmp(a, z) != 0) {
				strcat(buf, "-");
				strcat(buf, z);
			}
		}
		assert_string_equal(buf, want);
		return;
	}
	fail_msg("no set %s", name);
}

#define NS                                                                             \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: blue}}\n" \
	"---\n"                                                                        \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: \"y\", labels: {team: red}}\n"

#define NP(name, ns, spec)                                                                   \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " name \
	", namespace: \"" ns "\"}\nspec: " spec "\n"

static void test_unselected_endpoint_is_open(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f, NS);
	p = compile(&f, 0);
	assert_false(p->isolated[POLICY_DIR_INGRESS]);
	assert_false(p->isolated[POLICY_DIR_EGRESS]);
	assert_int_equal(p->n_rules, 0);
	assert_int_equal(p->n_selected_by, 0);
	policy_plan_free(p);
	world_done(&f);
}

static void test_deny_all_ingress(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		       "metadata: {name: deny, namespace: x}\nspec: {podSelector: {}}\n");
	p = compile(&f, 0);
	assert_true(p->isolated[POLICY_DIR_INGRESS]);
	assert_false(p->isolated[POLICY_DIR_EGRESS]); /* policyTypes defaults to Ingress */
	assert_int_equal(p->n_rules, 0);
	assert_int_equal(p->n_selected_by, 1);
	assert_string_equal(p->selected_by[0], "x/deny");
	policy_plan_free(p);

	p = compile(&f, 2); /* y/a: other namespace, not selected */
	assert_false(p->isolated[POLICY_DIR_INGRESS]);
	policy_plan_free(p);
	world_done(&f);
}

static void test_pod_selector_is_same_namespace(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f,
		   NS NP("allow-a", "x",
			 "{podSelector: {matchLabels: {pod: b}}, ingress: [{from: [{podSelector: "
			 "{matchLabels: {pod: a}}}], ports: [{port: 80}]}]}"));
	p = compile(&f, 1);
	assert_true(p->isolated[POLICY_DIR_INGRESS]);
	assert_set(p, "i0_p4", "10.0.0.1"); /* x/a, not y/a */
	assert_set(p, "i0_p6", "fd00::1");
	assert_int_equal(p->n_rules, 2);
	assert_int_equal(p->rules[0].family, AF_INET);
	assert_true(p->rules[0].has_proto);
	assert_int_equal(p->rules[0].proto, POLICY_PROTO_TCP);
	assert_int_equal(p->rules[0].port_lo, 80);
	assert_int_equal(p->rules[0].port_hi, 80);
	assert_string_equal(p->rules[0].comment, "x/allow-a ingress[0]");
	policy_plan_free(p);
	world_done(&f);
}

static void test_namespace_selector_alone_and_with_pods(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(
		&f,
		NS NP("ns-only", "x",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
		      "{matchLabels: {team: red}}}]}, {from: [{namespaceSelector: {matchExpressions: "
		      "[{key: team, operator: Exists}]}, podSelector: {matchLabels: {pod: c}}}]}]}"));
	p = compile(&f, 0);
	assert_set(p, "i0_p4", "10.0.1.1,10.0.1.3"); /* every pod of y */
	assert_set(p, "i1_p4", "10.0.1.3");	     /* AND: pod=c in any labelled ns */
	/* no ports: any protocol, any port */
	assert_false(p->rules[0].has_proto);
	policy_plan_free(p);
	world_done(&f);
}

static void test_implicit_namespace_name_label(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	/* No Namespace objects: y still carries kubernetes.io/metadata.name=y. */
	world_init(
		&f,
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: by-name, namespace: x}\nspec: {podSelector: {}, ingress: "
		"[{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}]}]}\n");
	p = compile(&f, 0);
	assert_set(p, "i0_p4", "10.0.1.1,10.0.1.3");
	policy_plan_free(p);
	world_done(&f);
}

static void test_ipblock_except_interval_set(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(
		&f,
		NS NP("cidr", "x",
		      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
		      "[{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.2/32, 10.0.0.128/25]}}, "
		      "{ipBlock: {cidr: 10.0.0.200/29}}, {ipBlock: {cidr: 'fd00::/64'}}]}]}"));
	p = compile(&f, 0);
	assert_false(p->isolated[POLICY_DIR_INGRESS]);
	assert_true(p->isolated[POLICY_DIR_EGRESS]);
	/* except subtracted, the second block merged back in */
	assert_set(p, "e0_c4", "10.0.0.0-10.0.0.1,10.0.0.3-10.0.0.127,10.0.0.200-10.0.0.207");
	assert_set(p, "e0_c6", "fd00::-fd00::ffff:ffff:ffff:ffff");
	for (size_t i = 0; i < p->n_rules; i++)
		assert_int_equal(p->rules[i].dir, POLICY_DIR_EGRESS);
	policy_plan_free(p);
	world_done(&f);
}

static void test_named_ports(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(
		&f,
		NS NP("named", "x",
		      "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{ports: "
		      "[{port: http}]}], egress: [{to: [{podSelector: {}}], ports: [{port: http}]}]}"));
	/* Ingress resolves against the destination itself: x/a's http is 8080, x/b's 9090. */
	p = compile(&f, 0);
	assert_int_equal(p->rules[0].dir, POLICY_DIR_INGRESS);
	assert_int_equal(p->rules[0].port_lo, 8080);
	/* Egress resolves per peer: one set per number. */
	assert_set(p, "e0_n0_8080_4", "10.0.0.1");
	assert_set(p, "e0_n0_9090_4", "10.0.0.2");
	policy_plan_free(p);

	p = compile(&f, 1);
	assert_int_equal(p->rules[0].port_lo, 9090);
	policy_plan_free(p);
	world_done(&f);
}

static void test_named_port_protocol_must_match(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	/* y/c names dns as UDP; a TCP rule for it resolves nowhere and allows nothing. */
	world_init(&f,
		   NS NP("dns", "y",
			 "{podSelector: {matchLabels: {pod: c}}, ingress: [{ports: [{port: dns, "
			 "protocol: TCP}]}, {ports: [{port: dns, protocol: UDP}]}]}"));
	p = compile(&f, 3);
	assert_true(p->isolated[POLICY_DIR_INGRESS]);
	assert_int_equal(p->n_rules, 1);
	assert_int_equal(p->rules[0].rule_index, 1);
	assert_int_equal(p->rules[0].proto, POLICY_PROTO_UDP);
	assert_int_equal(p->rules[0].port_lo, 53);
	policy_plan_free(p);
	world_done(&f);
}

static void test_policy_types_egress_ignores_ingress_rules(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(
		&f,
		NS NP("eg", "x",
		      "{podSelector: {}, policyTypes: [Egress], ingress: [{}], egress: [{ports: "
		      "[{port: 53, protocol: UDP}, {port: 1000, endPort: 2000}, {protocol: SCTP}]}]}"));
	p = compile(&f, 0);
	assert_false(p->isolated[POLICY_DIR_INGRESS]);
	assert_true(p->isolated[POLICY_DIR_EGRESS]);
	assert_int_equal(p->n_rules, 3);
	assert_int_equal(p->rules[0].family, AF_UNSPEC);
	assert_int_equal(p->rules[0].set, -1);
	assert_int_equal(p->rules[1].port_lo, 1000);
	assert_int_equal(p->rules[1].port_hi, 2000);
	assert_int_equal(p->rules[2].proto, POLICY_PROTO_SCTP);
	assert_int_equal(p->rules[2].port_lo, 0);
	policy_plan_free(p);
	world_done(&f);
}

static void test_union_and_order_are_deterministic(void **state)
{
	struct fixture f;
	struct policy_plan *p, *q;
	char *a, *b;

	/* Declared in reverse order: the plan is ordered by policy name regardless. */
	world_init(&f, NS NP("zz", "x", "{podSelector: {}, ingress: [{ports: [{port: 2}]}]}")
			       NP("aa", "x", "{podSelector: {}, ingress: [{ports: [{port: 1}]}]}"));
	p = compile(&f, 0);
	q = compile(&f, 0);
	assert_true(policy_plan_equal(p, q));
	a = policy_plan_to_json(p);
	b = policy_plan_to_json(q);
	assert_non_null(a);
	assert_string_equal(a, b);
	assert_int_equal(p->n_selected_by, 2);
	assert_string_equal(p->selected_by[0], "x/aa");
	assert_int_equal(p->rules[0].port_lo, 1);
	assert_int_equal(p->rules[1].port_lo, 2);
	free(a);
	free(b);
	policy_plan_free(q);

	/* An address no rule of x/a refers to leaves x/a's plan alone: no selector peers here. */
	set_addr(&f.addrs[1][0], "10.0.0.9");
	q = compile(&f, 0);
	assert_true(policy_plan_equal(p, q));
	policy_plan_free(q);
	policy_plan_free(p);
	world_done(&f);
}

static void test_peer_address_change_changes_plan(void **state)
{
	struct fixture f;
	struct policy_plan *p, *q;

	/* x/a admits x/b (a selector peer) on 80, and may reach x/b's named port http. */
	world_init(
		&f,
		NS NP("from-b", "x",
		      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress, Egress], "
		      "ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}], "
		      "egress: [{to: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: http}]}]}"));
	p = compile(&f, 0);
	assert_set(p, "i0_p4", "10.0.0.2");
	assert_set(p, "e0_n0_9090_4", "10.0.0.2");

	/* x/b moves: both sets follow it, and the plans differ */
	set_addr(&f.addrs[1][0], "10.0.0.9");
	q = compile(&f, 0);
	assert_set(q, "i0_p4", "10.0.0.9");
	assert_set(q, "e0_n0_9090_4", "10.0.0.9");
	assert_false(policy_plan_equal(p, q));
	/* the same rules, only set elements changed */
	assert_true(policy_plan_same_shape(p, q));
	policy_plan_free(q);

	/* x/b gains an IPv6 address: the v6 set gets it */
	set_addr(&f.addrs[1][1], "fd00::2");
	f.eps[1].n_addrs = 2;
	q = compile(&f, 0);
	assert_set(q, "i0_p6", "fd00::2");
	assert_false(policy_plan_equal(p, q));
	policy_plan_free(q);
	policy_plan_free(p);
	world_done(&f);
}

static void test_set_changes_with_peer_labels(void **state)
{
	struct fixture f;
	struct policy_plan *p, *q;

	world_init(
		&f,
		NS NP("from-db", "x",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
		      "{}, podSelector: {matchLabels: {role: db}}}]}]}"));
	p = compile(&f, 0);
	assert_set(p, "i0_p4", "10.0.1.3");
	f.eps[3].labels.n = 1; /* y/c loses role=db */
	q = compile(&f, 0);
	assert_set(q, "i0_p4", "");
	assert_false(policy_plan_equal(p, q));
	policy_plan_free(p);
	policy_plan_free(q);
	world_done(&f);
}

/* The cache shares selector results between endpoints; plans must be the same as without. */
static bool allows(const struct policy_plan *p, enum policy_dir dir, const char *peer,
		   enum policy_proto proto, uint16_t port, const char *want_comment)
{
	struct policy_verdict v;
	struct policy_addr a;
	bool allowed;

	set_addr(&a, peer);
	assert_int_equal(policy_plan_evaluate(p, dir, &a, proto, port, &v), 0);
	allowed = v.allowed;
	if (want_comment) {
		assert_true(v.n_rules > 0);
		assert_string_equal(p->rules[v.rules[0]].comment, want_comment);
	}
	if (!v.isolated)
		assert_int_equal(v.n_rules, 0);
	policy_verdict_done(&v);
	return allowed;
}

static void test_evaluate(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(
		&f,
		NS NP("web", "x",
		      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress, Egress], "
		      "ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}, "
		      "{port: 1000, endPort: 1010, protocol: UDP}]}, {from: [{ipBlock: {cidr: "
		      "10.9.0.0/16, except: [10.9.1.0/24]}}]}], egress: [{to: [{namespaceSelector: {}, "
		      "podSelector: {matchLabels: {role: db}}}], ports: [{port: dns, protocol: UDP}]}]}"));
	p = compile(&f, 0);
	/* ingress: b on 80/TCP and 1000-1010/UDP; the ipBlock on every port */
	assert_true(allows(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_TCP, 80,
			   "x/web ingress[0]"));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_TCP, 81, NULL));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_UDP, 80, NULL));
	assert_true(allows(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_UDP, 1010, NULL));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_UDP, 1011, NULL));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.0.1.1", POLICY_PROTO_TCP, 80, NULL));
	assert_true(allows(p, POLICY_DIR_INGRESS, "10.9.200.1", POLICY_PROTO_SCTP, 9,
			   "x/web ingress[1]"));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.9.1.7", POLICY_PROTO_TCP, 80, NULL));
	assert_true(allows(p, POLICY_DIR_INGRESS, "10.9.0.0", POLICY_PROTO_TCP, 80, NULL));
	assert_false(allows(p, POLICY_DIR_INGRESS, "10.10.0.0", POLICY_PROTO_TCP, 80, NULL));
	/* egress: the named port resolves per destination (y/c's dns is 53/UDP) */
	assert_true(
		allows(p, POLICY_DIR_EGRESS, "10.0.1.3", POLICY_PROTO_UDP, 53, "x/web egress[0]"));
	assert_false(allows(p, POLICY_DIR_EGRESS, "10.0.1.3", POLICY_PROTO_TCP, 53, NULL));
	assert_false(allows(p, POLICY_DIR_EGRESS, "10.0.1.1", POLICY_PROTO_UDP, 53, NULL));
	assert_false(allows(p, POLICY_DIR_EGRESS, "fd00::1", POLICY_PROTO_UDP, 53, NULL));
	policy_plan_free(p);

	/* x/b is selected by nothing: open both ways */
	p = compile(&f, 1);
	assert_true(allows(p, POLICY_DIR_INGRESS, "10.99.0.1", POLICY_PROTO_TCP, 1, NULL));
	assert_true(allows(p, POLICY_DIR_EGRESS, "fd00::99", POLICY_PROTO_UDP, 2, NULL));
	policy_plan_free(p);
	world_done(&f);
}

/* ---- ClusterNetworkPolicy tiers ---------------------------------------------------------- */

#define CNP(name, spec)                                                                    \
	"---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n" \
	"metadata: {name: " name "}\nspec: " spec "\n"

/* Whether the plan lets the flow through, and which rule decided (want_comment; NULL: none
 * did, the NetworkPolicy default deny or the default allow). */
static bool decides(const struct policy_plan *p, enum policy_dir dir, const char *peer,
		    enum policy_proto proto, uint16_t port, const char *want_comment)
{
	struct policy_verdict v;
	struct policy_addr a;
	bool allowed;

	set_addr(&a, peer);
	assert_int_equal(policy_plan_evaluate(p, dir, &a, proto, port, &v), 0);
	allowed = v.allowed;
	if (want_comment) {
		assert_true(v.decided_by < p->n_rules);
		assert_string_equal(p->rules[v.decided_by].comment, want_comment);
	} else
		assert_int_equal(v.decided_by, p->n_rules);
	/* the one reading the conntrack cut and matrix use says the same */
	assert_int_equal(policy_plan_allows(p, dir, &a, policy_proto_ipproto(proto), port),
			 allowed);
	policy_verdict_done(&v);
	return allowed;
}

static void test_tiers_admin_deny_beats_networkpolicy(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f,
		   NS NP("open", "x", "{podSelector: {}, ingress: [{}]}")
			   CNP("no-red", "{tier: Admin, priority: 10, subject: {namespaces: "
					 "{matchLabels: {team: blue}}}, ingress: [{name: red-out, "
					 "action: Deny, from: [{namespaces: {matchLabels: {team: "
					 "red}}}]}]}"));
	p = compile(&f, 0);
	assert_true(p->isolated[POLICY_DIR_INGRESS]);
	assert_false(decides(p, POLICY_DIR_INGRESS, "10.0.1.1", POLICY_PROTO_TCP, 80,
			     "cnp/no-red ingress[red-out]"));
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_TCP, 80,
			    "x/open ingress[0]"));
	/* an address no endpoint has: the NetworkPolicy (any peer) allows it */
	assert_true(decides(p, POLICY_DIR_INGRESS, "192.0.2.1", POLICY_PROTO_UDP, 5,
			    "x/open ingress[0]"));
	assert_true(policy_plan_restricts(p, POLICY_DIR_INGRESS));
	assert_false(policy_plan_restricts(p, POLICY_DIR_EGRESS));
	/* the Admin rules come first in the plan */
	assert_int_equal(p->rules[0].tier, POLICY_TIER_ADMIN);
	assert_int_equal(p->rules[0].action, POLICY_ACTION_DENY);
	assert_null(p->rules[0].policy_namespace);
	assert_string_equal(p->rules[0].rule_name, "red-out");
	policy_plan_free(p);
	/* y-a is not a subject */
	p = compile(&f, 2);
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.0.1", POLICY_PROTO_TCP, 80, NULL));
	assert_int_equal(p->n_rules, 0);
	policy_plan_free(p);
	world_done(&f);
}

/* Admin Pass goes to the NetworkPolicy tier when one isolates, else to the Baseline tier. */
static void test_tiers_pass_delegates(void **state)
{
	struct fixture f;
	struct policy_plan *p;
	struct policy_verdict v;
	struct policy_addr a;

	world_init(
		&f,
		NS NP("a-from-red", "x",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
		      "[{namespaceSelector: {matchLabels: {team: red}}}]}]}")
			CNP("admin",
			    "{tier: Admin, priority: 5, subject: {namespaces: {}}, "
			    "ingress: [{name: red-80, action: Pass, from: [{namespaces: "
			    "{matchLabels: {team: red}}}], protocols: [{tcp: "
			    "{destinationPort: {number: 80}}}]}, {name: red, action: Deny, "
			    "from: [{namespaces: {matchLabels: {team: red}}}]}]}")
				CNP("base",
				    "{tier: Baseline, priority: 1, subject: {pods: "
				    "{namespaceSelector: {}, podSelector: {}}}, ingress: [{action: "
				    "Deny, from: [{pods: {namespaceSelector: {matchLabels: {team: "
				    "red}}, podSelector: {matchLabels: {pod: a}}}}]}]}"));
	/* x-a: isolated by a-from-red, which decides what the Admin tier passes */
	p = compile(&f, 0);
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.1.1", POLICY_PROTO_TCP, 80,
			    "x/a-from-red ingress[0]"));
	set_addr(&a, "10.0.1.1");
	assert_int_equal(policy_plan_evaluate(p, POLICY_DIR_INGRESS, &a, POLICY_PROTO_TCP, 80, &v),
			 0);
	assert_int_equal(v.n_passes, 1);
	assert_string_equal(p->rules[v.passes[0]].comment, "cnp/admin ingress[red-80]");
	assert_int_equal(v.tier, POLICY_TIER_NETPOL);
	policy_verdict_done(&v);
	assert_false(decides(p, POLICY_DIR_INGRESS, "10.0.1.1", POLICY_PROTO_TCP, 81,
			     "cnp/admin ingress[red]"));
	/* from x-b: no Admin rule matches, the NetworkPolicy denies (default deny) */
	assert_false(decides(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_TCP, 80, NULL));
	policy_plan_free(p);
	/* x-b: not isolated, so the Baseline tier decides what is passed: y/a denied, y/c not */
	p = compile(&f, 1);
	assert_false(decides(p, POLICY_DIR_INGRESS, "10.0.1.1", POLICY_PROTO_TCP, 80,
			     "cnp/base ingress[0]"));
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.1.3", POLICY_PROTO_TCP, 80, NULL));
	assert_false(decides(p, POLICY_DIR_INGRESS, "10.0.1.3", POLICY_PROTO_UDP, 80,
			     "cnp/admin ingress[red]"));
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.0.1", POLICY_PROTO_UDP, 80, NULL));
	policy_plan_free(p);
	world_done(&f);
}

/* Lower priority first; equal priorities by name; a policy's rules in order. */
static void test_tiers_priority_and_order(void **state)
{
	static const char *const specs[][2] = {
		{ "5", "10" }, /* accept first */
		{ "10", "5" }, /* deny first */
		{ "7", "7" },  /* by name: "allow" before "deny" */
	};

	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		char yaml[2048];
		struct fixture f;
		struct policy_plan *p;

		snprintf(yaml, sizeof(yaml),
			 NS CNP("allow", "{tier: Admin, priority: %s, subject: {namespaces: {}}, "
					 "egress: [{action: Accept, to: [{namespaces: {}}]}]}")
				 CNP("deny",
				     "{tier: Admin, priority: %s, subject: {namespaces: {}}, "
				     "egress: [{action: Deny, to: [{namespaces: {}}]}]}"),
			 specs[i][0], specs[i][1]);
		world_init(&f, yaml);
		p = compile(&f, 0);
		if (i == 1)
			assert_false(decides(p, POLICY_DIR_EGRESS, "10.0.1.3", POLICY_PROTO_TCP, 1,
					     "cnp/deny egress[0]"));
		else
			assert_true(decides(p, POLICY_DIR_EGRESS, "10.0.1.3", POLICY_PROTO_TCP, 1,
					    "cnp/allow egress[0]"));
		/* not an endpoint: neither rule matches */
		assert_true(decides(p, POLICY_DIR_EGRESS, "192.0.2.1", POLICY_PROTO_TCP, 1, NULL));
		policy_plan_free(p);
		world_done(&f);
	}
}

/* networks peers match addresses (endpoints too); destinationNamedPort resolves on the
 * destination with that port's own protocol; the Baseline tier is skipped where a
 * NetworkPolicy isolates. */
static void test_tiers_networks_named_ports_isolation(void **state)
{
	struct fixture f;
	struct policy_plan *p;

	world_init(&f, NS NP("a-out", "x",
			     "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], "
			     "egress: [{ports: [{port: 443}]}]}")
			       CNP("nets", "{tier: Admin, priority: 1, subject: {namespaces: {}}, "
					   "egress: [{name: lab, action: Deny, to: [{networks: "
					   "[10.0.1.0/30, 'fd00::/120']}]}, {name: dns, action: "
					   "Accept, to: [{namespaces: {}}], protocols: "
					   "[{destinationNamedPort: dns}]}], ingress: [{name: web, "
					   "action: Accept, from: [{namespaces: {}}], protocols: "
					   "[{destinationNamedPort: http}]}]}")
				       CNP("base", "{tier: Baseline, priority: 1, subject: "
						   "{namespaces: {}}, egress: [{action: Deny, to: "
						   "[{networks: [0.0.0.0/0]}]}]}"));
	p = compile(&f, 0);
	assert_false(decides(p, POLICY_DIR_EGRESS, "10.0.1.1", POLICY_PROTO_TCP, 443,
			     "cnp/nets egress[lab]"));
	assert_false(decides(p, POLICY_DIR_EGRESS, "fd00::1", POLICY_PROTO_TCP, 443,
			     "cnp/nets egress[lab]"));
	/* y-c (10.0.1.3, in the /30 too) : lab first */
	assert_false(decides(p, POLICY_DIR_EGRESS, "10.0.1.3", POLICY_PROTO_UDP, 53,
			     "cnp/nets egress[lab]"));
	/* x-b has no port "dns": 53/UDP to it is the NetworkPolicy's, which denies */
	assert_false(decides(p, POLICY_DIR_EGRESS, "10.0.0.2", POLICY_PROTO_UDP, 53, NULL));
	/* the Baseline deny-all is not reached: the NetworkPolicy isolates x-a's egress */
	assert_true(decides(p, POLICY_DIR_EGRESS, "10.0.0.2", POLICY_PROTO_TCP, 443,
			    "x/a-out egress[0]"));
	/* ingress http is x-a's own 8080/TCP */
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_TCP, 8080,
			    "cnp/nets ingress[web]"));
	assert_true(decides(p, POLICY_DIR_INGRESS, "10.0.0.2", POLICY_PROTO_UDP, 8080, NULL));
	policy_plan_free(p);
	/* x-b: not isolated, the Baseline decides; dns to y-c is accepted on 53/UDP only */
	p = compile(&f, 1);
	assert_false(decides(p, POLICY_DIR_EGRESS, "10.0.0.1", POLICY_PROTO_TCP, 443,
			     "cnp/base egress[0]"));
	assert_true(decides(p, POLICY_DIR_EGRESS, "fd00::1:1", POLICY_PROTO_TCP, 443, NULL));
	policy_plan_free(p);
	world_done(&f);
}

struct chains_seen {
	char names[16][32];
	size_t n, jumps, returns;
};

static int count_chains(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
			void *ud)
{
	struct chains_seen *c = ud;
	char buf[4096];

	if (kind == POLICY_EMIT_CHAIN && c->n < 16)
		snprintf(c->names[c->n++], 32, "%s", nftnl_chain_get_str(obj, NFTNL_CHAIN_NAME));
	if (kind == POLICY_EMIT_RULE) {
		nftnl_rule_snprintf(buf, sizeof(buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
		c->jumps += strstr(buf, "jump") != NULL;
		c->returns += strstr(buf, "return") != NULL;
		(void)pr;
	}
	policy_emit_free(kind, obj);
	return 0;
}

static void test_tiers_emit_chains(void **state)
{
	struct fixture f;
	struct policy_plan *p;
	struct chains_seen c = { 0 };

	world_init(&f,
		   NS CNP("admin", "{tier: Admin, priority: 5, subject: {namespaces: {}}, "
				   "ingress: [{action: Pass, from: [{namespaces: {}}]}]}")
			   CNP("base", "{tier: Baseline, priority: 1, subject: {namespaces: "
				       "{}}, egress: [{action: Deny, to: [{namespaces: {}}]}]}"));
	p = compile(&f, 0);
	assert_int_equal(policy_emit(p, NULL, count_chains, &c), 0);
	/* input, input_accepted, output, output_accepted, then the two tier chains in use */
	assert_int_equal(c.n, 6);
	assert_string_equal(c.names[4], POLICY_NFT_CHAIN_INPUT_ADMIN);
	assert_string_equal(c.names[5], POLICY_NFT_CHAIN_OUTPUT_BASELINE);
	assert_int_equal(c.jumps, 2);
	assert_int_equal(c.returns, 2); /* the Pass, once per family */
	policy_plan_free(p);
	world_done(&f);
}

static void test_cache_gives_the_same_plans(void **state)
{
	struct fixture f;
	struct policy_compile_cache *c = NULL;

	world_init(
		&f,
		NS NP("from-db", "x",
		      "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{from: "
		      "[{namespaceSelector: {}, podSelector: {matchLabels: {role: db}}}]}], egress: "
		      "[{to: [{podSelector: {}}], ports: [{port: http}]}, {to: [{ipBlock: {cidr: "
		      "10.0.0.0/8, except: [10.0.1.0/24]}}]}]}")
			NP("any", "y",
			   "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}"));
	assert_int_equal(policy_compile_cache_new(&f.w, &c), 0);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < 4; i++) {
			struct policy_plan *a = compile(&f, i), *b = NULL;

			assert_int_equal(policy_compile_cached(c, &f.eps[i], POLICY_DENY_DROP, &b),
					 0);
			assert_true(policy_plan_equal(a, b));
			policy_plan_free(a);
			policy_plan_free(b);
		}
	policy_compile_cache_free(c);
	world_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unselected_endpoint_is_open),
		cmocka_unit_test(test_deny_all_ingress),
		cmocka_unit_test(test_pod_selector_is_same_namespace),
		cmocka_unit_test(test_namespace_selector_alone_and_with_pods),
		cmocka_unit_test(test_implicit_namespace_name_label),
		cmocka_unit_test(test_ipblock_except_interval_set),
		cmocka_unit_test(test_named_ports),
		cmocka_unit_test(test_named_port_protocol_must_match),
		cmocka_unit_test(test_policy_types_egress_ignores_ingress_rules),
		cmocka_unit_test(test_union_and_order_are_deterministic),
		cmocka_unit_test(test_peer_address_change_changes_plan),
		cmocka_unit_test(test_set_changes_with_peer_labels),
		cmocka_unit_test(test_cache_gives_the_same_plans),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_tiers_admin_deny_beats_networkpolicy),
		cmocka_unit_test(test_tiers_pass_delegates),
		cmocka_unit_test(test_tiers_priority_and_order),
		cmocka_unit_test(test_tiers_networks_named_ports_isolation),
		cmocka_unit_test(test_tiers_emit_chains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
