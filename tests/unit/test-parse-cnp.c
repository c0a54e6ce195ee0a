/* SPDX-License-Identifier: MIT */
/* ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): parsing, validation, the model,
 * copies, equality and canonical JSON. */
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

#include "policy/policy.h"

static struct policy_objects *parse_ok(const char *file, const char *text)
{
	struct policy_objects *o = NULL;
	struct policy_diags d = { 0 };
	int r;

	r = policy_parse(file, text, strlen(text), &o, &d);
	if (r != 0) {
		for (size_t i = 0; i < d.n; i++) {
			char *s = policy_diag_format(&d.items[i]);

			print_error("unexpected: %s\n", s);
			free(s);
		}
		fail_msg("policy_parse(%s) = %d", file, r);
	}
	assert_int_equal(d.n, 0);
	assert_non_null(o);
	return o;
}

/* want: NULL-terminated, in the order policy_parse() reports them (file order). */
static void expect_diags_v(const char *file, const char *text, const char *const *want)
{
	struct policy_objects *o = (struct policy_objects *)0x1;
	struct policy_diags d = { 0 };
	size_t n = 0;
	bool bad = false;
	int r;

	r = policy_parse(file, text, strlen(text), &o, &d);
	assert_int_equal(r, -EBADMSG);
	assert_ptr_equal(o, (struct policy_objects *)0x1); /* untouched */
	while (want[n])
		n++;
	for (size_t i = 0; i < d.n || i < n; i++) {
		char *s = i < d.n ? policy_diag_format(&d.items[i]) : NULL;

		if (!s || i >= n || strcmp(s, want[i]) != 0) {
			print_error("diag %zu:\n  got:  %s\n  want: %s\n", i, s ? s : "(none)",
				    i < n ? want[i] : "(none)");
			bad = true;
		}
		free(s);
	}
	policy_diags_done(&d);
	if (bad)
		fail_msg("diagnostics differ for %s", file);
}

#define expect_diags(file, text, ...) \
	expect_diags_v(file, text, (const char *const[]){ __VA_ARGS__, NULL })

#define CNP_HDR                                           \
	"apiVersion: policy.networking.k8s.io/v1alpha2\n" \
	"kind: ClusterNetworkPolicy\n"                    \
	"metadata:\n"                                     \
	"  name: c\n"                                     \
	"spec:\n"
/* lines 1-8; rules start at line 9 */
#define CNP_BASE CNP_HDR "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n"

static const char admin_yaml[] =
	"apiVersion: policy.networking.k8s.io/v1alpha2\n"
	"kind: ClusterNetworkPolicy\n"
	"metadata:\n"
	"  name: cluster-wide.sec\n"
	"  labels: {team: sec}\n"
	"spec:\n"
	"  tier: Admin\n"
	"  priority: 0\n"
	"  subject:\n"
	"    namespaces: {matchLabels: {env: prod}}\n"
	"  ingress:\n"
	"  - name: allow-monitoring\n"
	"    action: Accept\n"
	"    from:\n"
	"    - namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}\n"
	"    - pods:\n"
	"        namespaceSelector: {}\n"
	"        podSelector: {matchExpressions: [{key: app, operator: In, values: [prom]}]}\n"
	"    protocols:\n"
	"    - tcp: {destinationPort: {number: 9090}}\n"
	"    - udp: {destinationPort: {range: {start: 1000, end: 2000}}}\n"
	"    - sctp: {destinationPort: {number: 5000}}\n"
	"    - destinationNamedPort: metrics\n"
	"  - action: Deny\n"
	"    from:\n"
	"    - namespaces: {}\n"
	"  - action: Pass\n"
	"    name: \"\"\n"
	"    from: [{namespaces: {matchLabels: {a: b}}}]\n"
	"  egress:\n"
	"  - name: dns\n"
	"    action: Accept\n"
	"    to:\n"
	"    - networks: [10.0.0.1/8, \"fd00::/64\",\n"
	"                 \"1111:2222:3333:4444:5555:6666:7777:8888/128\"]\n"
	"    protocols:\n"
	"    - udp: {destinationPort: {number: 53}}\n"
	"  - action: Deny\n"
	"    to: [{pods: {namespaceSelector: {matchLabels: {x: z}}, podSelector: {}}}]\n"
	"    protocols: [{destinationNamedPort: http}]\n"
	"status: {conditions: []}\n";

/* The same object as JSON. */
static const char admin_json[] =
	"{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":\"ClusterNetworkPolicy\",\n"
	" \"metadata\":{\"name\":\"cluster-wide.sec\",\"labels\":{\"team\":\"sec\"}},\n"
	" \"spec\":{\"tier\":\"Admin\",\"priority\":0,\n"
	"  \"subject\":{\"namespaces\":{\"matchLabels\":{\"env\":\"prod\"}}},\n"
	"  \"ingress\":[{\"name\":\"allow-monitoring\",\"action\":\"Accept\",\n"
	"    \"from\":[{\"namespaces\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"monitoring\"}}},\n"
	"      {\"pods\":{\"namespaceSelector\":{},\"podSelector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\",\"values\":[\"prom\"]}]}}}],\n"
	"    \"protocols\":[{\"tcp\":{\"destinationPort\":{\"number\":9090}}},\n"
	"      {\"udp\":{\"destinationPort\":{\"range\":{\"start\":1000,\"end\":2000}}}},\n"
	"      {\"sctp\":{\"destinationPort\":{\"number\":5000}}},{\"destinationNamedPort\":\"metrics\"}]},\n"
	"   {\"action\":\"Deny\",\"from\":[{\"namespaces\":{}}]},\n"
	"   {\"action\":\"Pass\",\"from\":[{\"namespaces\":{\"matchLabels\":{\"a\":\"b\"}}}]}],\n"
	"  \"egress\":[{\"name\":\"dns\",\"action\":\"Accept\",\n"
	"    \"to\":[{\"networks\":[\"10.0.0.1/8\",\"fd00::/64\",\"1111:2222:3333:4444:5555:6666:7777:8888/128\"]}],\n"
	"    \"protocols\":[{\"udp\":{\"destinationPort\":{\"number\":53}}}]},\n"
	"   {\"action\":\"Deny\",\"to\":[{\"pods\":{\"namespaceSelector\":{\"matchLabels\":{\"x\":\"z\"}},\"podSelector\":{}}}],\n"
	"    \"protocols\":[{\"destinationNamedPort\":\"http\"}]}]},\n"
	" \"status\":{}}\n";

static const char baseline_yaml[] = "apiVersion: policy.networking.k8s.io/v1alpha2\n"
				    "kind: ClusterNetworkPolicy\n"
				    "metadata: {name: baseline}\n"
				    "spec:\n"
				    "  tier: Baseline\n"
				    "  priority: 1000\n"
				    "  subject:\n"
				    "    pods:\n"
				    "      namespaceSelector: {matchLabels: {env: dev}}\n"
				    "      podSelector: {matchLabels: {app: db}}\n"
				    "  egress:\n"
				    "  - action: Pass\n"
				    "    to: [{namespaces: {}}]\n"
				    "  - action: Deny\n"
				    "    to: [{networks: [0.0.0.0/0, \"::/0\"]}]\n";

static void check_admin(const struct policy_cnp *p)
{
	const struct policy_rule *r;

	assert_string_equal(p->name, "cluster-wide.sec");
	assert_string_equal(policy_labels_get(&p->labels, "team"), "sec");
	assert_int_equal(p->tier, POLICY_TIER_ADMIN);
	assert_int_equal(p->priority, 0);
	assert_string_equal(policy_labels_get(&p->ns_selector.match_labels, "env"), "prod");
	assert_null(p->pod_selector);
	assert_int_equal(p->n_ingress, 3);
	assert_int_equal(p->n_egress, 2);

	r = &p->ingress[0];
	assert_string_equal(r->name, "allow-monitoring");
	assert_int_equal(r->action, POLICY_ACTION_ACCEPT);
	assert_int_equal(r->n_peers, 2);
	assert_non_null(r->peers[0].ns_selector);
	assert_null(r->peers[0].pod_selector);
	assert_null(r->peers[0].ipblock);
	assert_int_equal(r->peers[0].n_networks, 0);
	assert_string_equal(policy_labels_get(&r->peers[0].ns_selector->match_labels,
					      POLICY_NS_NAME_LABEL),
			    "monitoring");
	assert_non_null(r->peers[1].ns_selector);
	assert_non_null(r->peers[1].pod_selector);
	assert_int_equal(r->peers[1].ns_selector->match_labels.n, 0);
	assert_int_equal(r->peers[1].pod_selector->n_exprs, 1);
	assert_int_equal(r->n_ports, 4);
	assert_int_equal(r->ports[0].proto, POLICY_PROTO_TCP);
	assert_true(r->ports[0].has_port);
	assert_null(r->ports[0].name);
	assert_int_equal(r->ports[0].port, 9090);
	assert_int_equal(r->ports[0].end_port, 0);
	assert_false(r->ports[0].any_proto);
	assert_int_equal(r->ports[1].proto, POLICY_PROTO_UDP);
	assert_int_equal(r->ports[1].port, 1000);
	assert_int_equal(r->ports[1].end_port, 2000);
	assert_int_equal(r->ports[2].proto, POLICY_PROTO_SCTP);
	assert_int_equal(r->ports[2].port, 5000);
	assert_true(r->ports[3].has_port);
	assert_true(r->ports[3].any_proto);
	assert_string_equal(r->ports[3].name, "metrics");
	assert_int_equal(r->ports[3].port, 0);

	assert_null(p->ingress[1].name);
	assert_int_equal(p->ingress[1].action, POLICY_ACTION_DENY);
	assert_int_equal(p->ingress[1].n_ports, 0);
	assert_int_equal(p->ingress[1].peers[0].ns_selector->match_labels.n, 0);
	assert_null(p->ingress[2].name); /* "" is no name */
	assert_int_equal(p->ingress[2].action, POLICY_ACTION_PASS);

	r = &p->egress[0];
	assert_string_equal(r->name, "dns");
	assert_int_equal(r->n_peers, 1);
	assert_null(r->peers[0].ns_selector);
	assert_null(r->peers[0].pod_selector);
	assert_int_equal(r->peers[0].n_networks, 3);
	assert_int_equal(r->peers[0].networks[0].family, AF_INET);
	assert_int_equal(r->peers[0].networks[0].prefixlen, 8);
	assert_memory_equal(r->peers[0].networks[0].addr, "\x0a\x00\x00\x01", 4); /* as written */
	assert_int_equal(r->peers[0].networks[1].family, AF_INET6);
	assert_int_equal(r->peers[0].networks[1].prefixlen, 64);
	assert_int_equal(r->peers[0].networks[2].prefixlen, 128);
	assert_int_equal(r->ports[0].proto, POLICY_PROTO_UDP);
	assert_int_equal(r->ports[0].port, 53);
	r = &p->egress[1];
	assert_int_equal(r->action, POLICY_ACTION_DENY);
	assert_string_equal(policy_labels_get(&r->peers[0].ns_selector->match_labels, "x"), "z");
	assert_non_null(r->peers[0].pod_selector);
	assert_true(r->ports[0].any_proto);
	assert_string_equal(r->ports[0].name, "http");
}

static void test_valid(void **state)
{
	struct policy_objects *o;

	o = parse_ok("a.yaml", admin_yaml);
	assert_int_equal(o->n_cnps, 1);
	assert_int_equal(o->n_netpols, 0);
	check_admin(o->cnps[0]);
	assert_string_equal(o->cnps[0]->source_file, "a.yaml");
	assert_int_equal(o->cnps[0]->source_line, 1);
	policy_objects_free(o);

	o = parse_ok("a.json", admin_json);
	assert_int_equal(o->n_cnps, 1);
	check_admin(o->cnps[0]);
	policy_objects_free(o);

	o = parse_ok("b.yaml", baseline_yaml);
	assert_int_equal(o->n_cnps, 1);
	assert_int_equal(o->cnps[0]->tier, POLICY_TIER_BASELINE);
	assert_int_equal(o->cnps[0]->priority, 1000);
	assert_string_equal(policy_labels_get(&o->cnps[0]->ns_selector.match_labels, "env"), "dev");
	assert_string_equal(policy_labels_get(&o->cnps[0]->pod_selector->match_labels, "app"),
			    "db");
	assert_int_equal(o->cnps[0]->n_ingress, 0);
	assert_int_equal(o->cnps[0]->egress[0].action, POLICY_ACTION_PASS);
	assert_int_equal(o->cnps[0]->egress[1].peers[0].n_networks, 2);
	assert_int_equal(o->cnps[0]->egress[1].peers[0].networks[0].prefixlen, 0);
	policy_objects_free(o);

	/* nulls are absent members; an empty rule list is no rules */
	o = parse_ok("n.yaml",
		     CNP_HDR "  tier: Baseline\n  priority: 7\n"
			     "  subject: {namespaces: {}, pods: null}\n"
			     "  ingress: []\n"
			     "  egress: [{action: Deny, to: [{namespaces: {}, nodes: null, "
			     "domainNames: null, networks: null}]}]\n"
			     "status: null\n");
	assert_int_equal(o->n_cnps, 1);
	assert_int_equal(o->cnps[0]->n_ingress, 0);
	assert_int_equal(o->cnps[0]->n_egress, 1);
	assert_int_equal(o->cnps[0]->egress[0].peers[0].n_networks, 0);
	assert_null(o->cnps[0]->pod_selector);
	policy_objects_free(o);
}

static void test_status(void **state)
{
	/* a spec member "status" is unknown (status belongs at the top) */
	expect_diags("n.yaml",
		     CNP_HDR "  tier: Baseline\n  priority: 7\n"
			     "  subject: {namespaces: {}, pods: null}\n"
			     "  ingress: []\n  egress: null\n  status: {}\n",
		     "n.yaml:11:3: spec: unknown field \"status\"");
	/* duplicate keys and wrong types, as for every kind */
	expect_diags("d.yaml", CNP_BASE "  tier: Baseline\n",
		     "d.yaml:9:3: spec: duplicate key \"tier\"");
	expect_diags(
		"w.yaml",
		CNP_BASE "  ingress:\n  - action: 1\n    from: [{namespaces: []}]\n"
			 "    protocols: [{tcp: {destinationPort: {number: \"80\"}}}]\n"
			 "  egress: {}\n",
		"w.yaml:10:13: spec.ingress[0].action: expected a string, got an integer",
		"w.yaml:11:25: spec.ingress[0].from[0].namespaces: expected an object, got a list",
		"w.yaml:12:50: spec.ingress[0].protocols[0].tcp.destinationPort.number: expected an "
		"integer, got a string",
		"w.yaml:13:11: spec.egress: expected a list, got an object");
}

static void test_list_and_kinds(void **state)
{
	struct policy_objects *o;

	o = parse_ok("l.yaml",
		     "apiVersion: v1\n"
		     "kind: List\n"
		     "items:\n"
		     "- apiVersion: networking.k8s.io/v1\n"
		     "  kind: NetworkPolicy\n"
		     "  metadata: {name: np, namespace: a}\n"
		     "  spec:\n"
		     "    podSelector: {}\n"
		     "    ingress: [{from: [{podSelector: {}}]}]\n"
		     "    egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]\n"
		     "- apiVersion: policy.networking.k8s.io/v1alpha2\n"
		     "  kind: ClusterNetworkPolicy\n"
		     "  metadata: {name: one}\n"
		     "  spec: {tier: Admin, priority: 3, subject: {namespaces: {}}}\n"
		     "- apiVersion: v1\n"
		     "  kind: Namespace\n"
		     "  metadata: {name: a}\n"
		     "- apiVersion: policy.networking.k8s.io/v1alpha2\n"
		     "  kind: ClusterNetworkPolicy\n"
		     "  metadata: {name: two}\n"
		     "  spec: {tier: Baseline, priority: 2, subject: {namespaces: {}}}\n");
	assert_int_equal(o->n_netpols, 1);
	assert_int_equal(o->n_namespaces, 1);
	assert_int_equal(o->n_cnps, 2);
	assert_string_equal(o->cnps[0]->name, "one");
	assert_string_equal(o->cnps[1]->name, "two");
	assert_int_equal(o->cnps[1]->source_line, 18);
	/* NetworkPolicy rules accept and have no name */
	assert_int_equal(o->netpols[0]->ingress[0].action, POLICY_ACTION_ACCEPT);
	assert_null(o->netpols[0]->ingress[0].name);
	assert_int_equal(o->netpols[0]->egress[0].action, POLICY_ACTION_ACCEPT);
	assert_null(o->netpols[0]->egress[0].name);
	assert_int_equal(o->netpols[0]->egress[0].peers[0].n_networks, 0);
	assert_null(o->netpols[0]->egress[0].peers[0].networks);
	policy_objects_free(o);

	/* multi-document YAML, and one name twice: kept in input order (the later one wins
	 * where they are applied, as for NetworkPolicy) */
	o = parse_ok("m.yaml",
		     CNP_BASE "---\n" CNP_BASE "---\n" CNP_HDR
			      "  tier: Baseline\n  priority: 1\n  subject: {namespaces: {}}\n");
	assert_int_equal(o->n_cnps, 3);
	assert_int_equal(o->cnps[2]->tier, POLICY_TIER_BASELINE);
	assert_true(policy_cnp_equal(o->cnps[0], o->cnps[1]));
	assert_false(policy_cnp_equal(o->cnps[0], o->cnps[2]));
	policy_objects_free(o);

	expect_diags(
		"v.yaml",
		"apiVersion: policy.networking.k8s.io/v1\n"
		"kind: ClusterNetworkPolicy\n"
		"metadata: {name: c}\n"
		"spec: {tier: Admin, priority: 3, subject: {namespaces: {}}}\n",
		"v.yaml:1:13: apiVersion: unsupported apiVersion \"policy.networking.k8s.io/v1\" "
		"for kind ClusterNetworkPolicy (want policy.networking.k8s.io/v1alpha2)");
}

static void test_names(void **state)
{
	struct policy_objects *o;

	assert_string_equal(policy_tier_to_string(POLICY_TIER_ADMIN), "Admin");
	assert_string_equal(policy_tier_to_string(POLICY_TIER_NETPOL), "NetworkPolicy");
	assert_string_equal(policy_tier_to_string(POLICY_TIER_BASELINE), "Baseline");
	assert_null(policy_tier_to_string(_POLICY_TIER_MAX));
	assert_string_equal(policy_action_to_string(POLICY_ACTION_ACCEPT), "Accept");
	assert_string_equal(policy_action_to_string(POLICY_ACTION_DENY), "Deny");
	assert_string_equal(policy_action_to_string(POLICY_ACTION_PASS), "Pass");
	assert_null(policy_action_to_string(_POLICY_ACTION_MAX));

	/* a rule name of 100 characters (code points, not bytes) is fine */
	o = parse_ok("r.yaml",
		     CNP_BASE "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n"
			      "    name: \"ääääääääääääääääääääääääääääääääääääääääääääääääää"
			      "ääääääääääääääääääääääääääääääääääääääääääääääääää\"\n");
	assert_int_equal(strlen(o->cnps[0]->ingress[0].name), 200);
	policy_objects_free(o);
}

static const char *const round_trip_inputs[] = {
	admin_yaml,
	admin_json,
	baseline_yaml,
	CNP_BASE,
	CNP_HDR "  tier: Baseline\n  priority: 500\n"
		"  subject: {pods: {namespaceSelector: {matchExpressions: [{key: a, operator: "
		"Exists}]}, podSelector: {matchExpressions: [{key: b, operator: NotIn, values: "
		"[x, w]}]}}}\n"
		"  ingress:\n"
		"  - {name: a, action: Pass, from: [{pods: {namespaceSelector: {}, podSelector: "
		"{}}}], protocols: [{sctp: {destinationPort: {range: {start: 1, end: 65535}}}}]}\n"
		"  egress:\n"
		"  - {action: Accept, to: [{networks: [\"::ffff:10.0.0.0/104\"]}, {namespaces: "
		"{}}], protocols: [{tcp: {destinationPort: {number: 65535}}}, {udp: "
		"{destinationPort: {number: 1}}}]}\n",
	"{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":\"ClusterNetworkPolicy\","
	"\"metadata\":{\"name\":\"j\",\"labels\":{\"a.b/c\":\"d\",\"e\":\"\"}},\"spec\":{\"tier\":"
	"\"Admin\",\"priority\":999,\"subject\":{\"namespaces\":{\"matchLabels\":{\"z\":\"1\"}}},"
	"\"egress\":[{\"action\":\"Deny\",\"to\":[{\"namespaces\":{\"matchExpressions\":[{\"key\":"
	"\"k\",\"operator\":\"DoesNotExist\"}]}}],\"protocols\":[{\"destinationNamedPort\":\"dns-"
	"udp\"}]}]}}",
};

static void test_round_trip(void **state)
{
	for (size_t k = 0; k < sizeof(round_trip_inputs) / sizeof(round_trip_inputs[0]); k++) {
		struct policy_objects *o = parse_ok("in", round_trip_inputs[k]), *o2;
		struct policy_cnp *dup;
		char *s, *s2;

		assert_int_equal(o->n_cnps, 1);
		s = policy_cnp_to_json(o->cnps[0]);
		assert_non_null(s);
		o2 = parse_ok("rt.json", s);
		assert_int_equal(o2->n_cnps, 1);
		assert_true(policy_cnp_equal(o->cnps[0], o2->cnps[0]));
		s2 = policy_cnp_to_json(o2->cnps[0]);
		assert_string_equal(s, s2);
		dup = policy_cnp_dup(o->cnps[0]);
		assert_true(policy_cnp_equal(o->cnps[0], dup));
		assert_string_equal(dup->source_file, "in");
		policy_cnp_free(dup);
		free(s);
		free(s2);
		policy_objects_free(o);
		policy_objects_free(o2);
	}
}

static void test_canonical(void **state)
{
	struct policy_objects *o = parse_ok("b.yaml", baseline_yaml);
	char *s = policy_cnp_to_json(o->cnps[0]);

	assert_string_equal(
		s,
		"{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":"
		"\"ClusterNetworkPolicy\",\"metadata\":{\"name\":\"baseline\"},\"spec\":{\"tier\":"
		"\"Baseline\",\"priority\":1000,\"subject\":{\"pods\":{\"namespaceSelector\":{"
		"\"matchLabels\":{\"env\":\"dev\"}},\"podSelector\":{\"matchLabels\":{\"app\":"
		"\"db\"}}}},\"egress\":[{\"action\":\"Pass\",\"to\":[{\"namespaces\":{}}]},{"
		"\"action\":\"Deny\",\"to\":[{\"networks\":[\"0.0.0.0/0\",\"::/0\"]}]}]}}");
	free(s);
	policy_objects_free(o);

	o = parse_ok("a.yaml", admin_yaml);
	s = policy_cnp_to_json(o->cnps[0]);
	assert_non_null(
		strstr(s, "{\"name\":\"allow-monitoring\",\"action\":\"Accept\",\"from\":"));
	assert_non_null(strstr(s,
			       "\"protocols\":[{\"tcp\":{\"destinationPort\":{\"number\":9090}}},"
			       "{\"udp\":{\"destinationPort\":{\"range\":{\"start\":1000,\"end\":"
			       "2000}}}},{\"sctp\":{\"destinationPort\":{\"number\":5000}}},{"
			       "\"destinationNamedPort\":\"metrics\"}]"));
	assert_non_null(strstr(s, "\"networks\":[\"10.0.0.1/8\",\"fd00::/64\","));
	assert_null(strstr(s, "status"));
	free(s);
	policy_objects_free(o);
	assert_null(policy_cnp_to_json(NULL));
}

/* Each field policy_cnp_equal() compares makes a difference. */
static void test_equal(void **state)
{
	struct policy_objects *o = parse_ok("a.yaml", admin_yaml);
	const struct policy_cnp *a = o->cnps[0];
	struct policy_cnp *b;

#define DIFFERS(change)                               \
	do {                                          \
		b = policy_cnp_dup(a);                \
		assert_non_null(b);                   \
		assert_true(policy_cnp_equal(a, b));  \
		change;                               \
		assert_false(policy_cnp_equal(a, b)); \
		policy_cnp_free(b);                   \
	} while (0)

	DIFFERS(b->tier = POLICY_TIER_BASELINE);
	DIFFERS(b->priority = 1);
	DIFFERS(b->name[0] = 'x');
	DIFFERS(policy_labels_set(&b->labels, "team", "other"));
	DIFFERS(policy_labels_set(&b->ns_selector.match_labels, "env", "dev"));
	DIFFERS(b->pod_selector = calloc(1, sizeof(*b->pod_selector)));
	DIFFERS(b->ingress[0].action = POLICY_ACTION_DENY);
	DIFFERS(b->ingress[0].name[0] = 'x');
	DIFFERS(free(b->ingress[0].name); b->ingress[0].name = NULL);
	DIFFERS(b->ingress[0].ports[3].any_proto = false);
	DIFFERS(b->ingress[0].ports[1].end_port = 2001);
	DIFFERS(b->egress[0].peers[0].networks[0].addr[3] = 0);
	DIFFERS(b->egress[0].peers[0].n_networks = 2);
	DIFFERS(b->egress[1].ports[0].name[0] = 'x');
#undef DIFFERS
	assert_true(policy_cnp_equal(NULL, NULL));
	assert_false(policy_cnp_equal(a, NULL));
	assert_null(policy_cnp_dup(NULL));
	assert_null(policy_cnp_free(NULL));
	policy_objects_free(o);
}

static void test_spec_errors(void **state)
{
	expect_diags(
		"t.yaml", CNP_HDR "  tier: Developer\n  priority: 1\n  subject: {namespaces: {}}\n",
		"t.yaml:6:9: spec.tier: unsupported tier \"Developer\": must be Admin or Baseline");
	expect_diags("p.yaml",
		     CNP_HDR "  tier: Admin\n  priority: -1\n  subject: {namespaces: {}}\n",
		     "p.yaml:7:13: spec.priority: invalid priority -1: must be between 0 and 1000");
	expect_diags(
		"p.yaml", CNP_HDR "  tier: Admin\n  priority: 1001\n  subject: {namespaces: {}}\n",
		"p.yaml:7:13: spec.priority: invalid priority 1001: must be between 0 and 1000");
	expect_diags("p.yaml",
		     CNP_HDR "  tier: admin\n  priority: \"5\"\n  subject: {namespaces: {}}\n",
		     "p.yaml:6:9: spec.tier: unsupported tier \"admin\": must be Admin or Baseline",
		     "p.yaml:7:13: spec.priority: expected an integer, got a string");
	expect_diags(
		"s.yaml",
		CNP_HDR
		"  tier: Admin\n  priority: 1\n"
		"  subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}\n",
		"s.yaml:8:12: spec.subject: must specify exactly one of: namespaces, pods (got namespaces, pods)");
	expect_diags("s.yaml", CNP_HDR "  tier: Admin\n  priority: 1\n  subject: {}\n",
		     "s.yaml:8:12: spec.subject: must specify exactly one of: namespaces, pods");
	expect_diags(
		"s.yaml",
		CNP_HDR
		"  tier: Admin\n  priority: 1\n  subject: {pods: {namespaceSelector: {}}, foo: 1}\n",
		"s.yaml:8:19: spec.subject.pods: missing required field \"podSelector\"",
		"s.yaml:8:44: spec.subject: unknown field \"foo\"");
	expect_diags(
		"s.yaml",
		CNP_HDR "  tier: Admin\n  priority: 1\n  subject: {pods: {podSelector: {}}}\n",
		"s.yaml:8:19: spec.subject.pods: missing required field \"namespaceSelector\"");
	expect_diags(
		"e.yaml",
		"apiVersion: policy.networking.k8s.io/v1alpha2\n"
		"kind: ClusterNetworkPolicy\n"
		"metadata:\n"
		"  name: Bad_Name\n"
		"  namespace: prod\n"
		"spec: {}\n"
		"status: []\n",
		"e.yaml:4:9: metadata.name: invalid name \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
		"e.yaml:5:14: metadata.namespace: not allowed: ClusterNetworkPolicy is cluster-scoped (has no namespace)",
		"e.yaml:6:7: spec: missing required field \"tier\"",
		"e.yaml:6:7: spec: missing required field \"priority\"",
		"e.yaml:6:7: spec: missing required field \"subject\"",
		"e.yaml:7:9: status: expected an object, got a list");
	expect_diags("e.yaml",
		     "apiVersion: policy.networking.k8s.io/v1alpha2\n"
		     "kind: ClusterNetworkPolicy\n"
		     "metadata: {name: c}\n",
		     "e.yaml:1:1: missing required field \"spec\"");
}

static void test_rule_errors(void **state)
{
	expect_diags(
		"r.yaml",
		CNP_BASE "  ingress:\n"
			 "  - action: Allow\n"
			 "    from: []\n"
			 "  - from: [{}]\n"
			 "  - action: Deny\n"
			 "    from:\n"
			 "    - {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}\n"
			 "    - networks: [10.0.0.0/8]\n"
			 "    - foo: {}\n"
			 "    - nodes: {}\n"
			 "    protocols: []\n"
			 "  - action: Accept\n"
			 "  - action: Accept\n"
			 "    from: {namespaces: {}}\n"
			 "    ports: [{port: 80}]\n",
		"r.yaml:10:13: spec.ingress[0].action: unsupported action \"Allow\": must be Accept, Deny or Pass",
		"r.yaml:11:11: spec.ingress[0].from: must have 1 to 25 peers, got 0",
		"r.yaml:12:5: spec.ingress[1]: missing required field \"action\"",
		"r.yaml:12:12: spec.ingress[1].from[0]: must specify exactly one of: namespaces, pods",
		"r.yaml:15:7: spec.ingress[2].from[0]: must specify exactly one of: namespaces, pods (got namespaces, pods)",
		"r.yaml:16:7: spec.ingress[2].from[1].networks: not allowed in an ingress peer (egress only)",
		"r.yaml:17:7: spec.ingress[2].from[2]: unknown field \"foo\"",
		"r.yaml:17:7: spec.ingress[2].from[2]: must specify exactly one of: namespaces, pods",
		"r.yaml:18:7: spec.ingress[2].from[3].nodes: not allowed in an ingress peer (egress only)",
		"r.yaml:19:16: spec.ingress[2].protocols: must have 1 to 25 protocols, got 0",
		"r.yaml:20:5: spec.ingress[3]: missing required field \"from\"",
		"r.yaml:22:11: spec.ingress[4].from: expected a list, got an object",
		"r.yaml:23:5: spec.ingress[4]: unknown field \"ports\"");
	expect_diags(
		"r.yaml",
		CNP_BASE
		"  egress:\n"
		"  - action: Accept\n"
		"    to:\n"
		"    - networks: [10.0.0.0/33, 1.2.3.4, \"1111:2222:3333:4444:5555:6666:7777:8888/0128\"]\n"
		"    - nodes: {}\n"
		"    - domainNames: [example.com]\n"
		"    - {networks: [], namespaces: {}}\n"
		"    protocols:\n"
		"    - destinationNamedPort: http\n"
		"  - action: Accept\n"
		"    to: [{pods: {podSelector: {}}}]\n"
		"    protocols:\n"
		"    - {tcp: {destinationPort: {number: 80}}, destinationNamedPort: http}\n"
		"    - {}\n"
		"    - tcp: {destinationPort: {number: 0}}\n"
		"    - udp: {destinationPort: {number: 65536}}\n"
		"    - sctp: {destinationPort: {range: {start: 90, end: 80}}}\n"
		"    - tcp: {destinationPort: {range: {start: 80, end: 80}}}\n"
		"    - tcp: {destinationPort: {number: 80, range: {start: 1, end: 2}}}\n"
		"    - tcp: {}\n"
		"    - destinationNamedPort: Bad--Name\n"
		"    - tcp: {destinationPort: {range: {start: 1}}}\n"
		"    - tcp: {destinationPort: {port: 1}}\n"
		"    - tcp: {destinationPort: {}}\n"
		"    - {udp: {destinationPort: {number: 1}}, sctp: {destinationPort: {number: 2}}}\n"
		"    - tcp: {destinationPort: {number: 8080, protocol: UDP}}\n",
		"r.yaml:12:18: spec.egress[0].to[0].networks[0]: invalid CIDR \"10.0.0.0/33\"",
		"r.yaml:12:31: spec.egress[0].to[0].networks[1]: invalid CIDR \"1.2.3.4\"",
		"r.yaml:12:40: spec.egress[0].to[0].networks[2]: too long: 44 characters (max 43)",
		"r.yaml:14:7: spec.egress[0].to[2].domainNames: segd does not implement egress \"domainNames\" peers: the policy is rejected, nothing of it is applied",
		"r.yaml:15:7: spec.egress[0].to[3]: must specify exactly one of: namespaces, pods, networks, nodes (got namespaces, networks)",
		"r.yaml:17:29: spec.egress[0].protocols[0].destinationNamedPort: may not be used in a rule with a networks, nodes or domainNames peer: those have no named ports",
		"r.yaml:19:17: spec.egress[1].to[0].pods: missing required field \"namespaceSelector\"",
		"r.yaml:21:7: spec.egress[1].protocols[0]: must specify exactly one of: tcp, udp, sctp, destinationNamedPort (got tcp, destinationNamedPort)",
		"r.yaml:22:7: spec.egress[1].protocols[1]: must specify exactly one of: tcp, udp, sctp, destinationNamedPort",
		"r.yaml:23:39: spec.egress[1].protocols[2].tcp.destinationPort.number: invalid port 0: must be between 1 and 65535",
		"r.yaml:24:39: spec.egress[1].protocols[3].udp.destinationPort.number: invalid port 65536: must be between 1 and 65535",
		"r.yaml:25:39: spec.egress[1].protocols[4].sctp.destinationPort.range: start port 90 must be less than end port 80",
		"r.yaml:26:38: spec.egress[1].protocols[5].tcp.destinationPort.range: start port 80 must be less than end port 80",
		"r.yaml:27:30: spec.egress[1].protocols[6].tcp.destinationPort: must specify exactly one of: number, range (got number, range)",
		"r.yaml:28:12: spec.egress[1].protocols[7].tcp: missing required field \"destinationPort\"",
		"r.yaml:29:29: spec.egress[1].protocols[8].destinationNamedPort: invalid port name \"Bad--Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
		"r.yaml:30:38: spec.egress[1].protocols[9].tcp.destinationPort.range: missing required field \"end\"",
		"r.yaml:31:30: spec.egress[1].protocols[10].tcp.destinationPort: must specify exactly one of: number, range",
		"r.yaml:31:31: spec.egress[1].protocols[10].tcp.destinationPort: unknown field \"port\"",
		"r.yaml:32:30: spec.egress[1].protocols[11].tcp.destinationPort: must specify exactly one of: number, range",
		"r.yaml:33:7: spec.egress[1].protocols[12]: must specify exactly one of: tcp, udp, sctp, destinationNamedPort (got udp, sctp)",
		"r.yaml:34:45: spec.egress[1].protocols[13].tcp.destinationPort: unknown field \"protocol\"");
}

/* text = head + n times item + tail, in a buffer the caller frees */
static char *repeat(const char *head, const char *item, size_t n, const char *tail)
{
	size_t len = strlen(head) + n * strlen(item) + strlen(tail) + 1;
	char *s = malloc(len), *p;

	assert_non_null(s);
	p = stpcpy(s, head);
	for (size_t i = 0; i < n; i++)
		p = stpcpy(p, item);
	stpcpy(p, tail);
	return s;
}

static void test_limits(void **state)
{
	struct policy_objects *o;
	char *s;

	/* 25 of each is the most there may be */
	s = repeat(CNP_BASE "  ingress:\n", "  - {action: Deny, from: [{namespaces: {}}]}\n", 25,
		   "");
	o = parse_ok("l.yaml", s);
	assert_int_equal(o->cnps[0]->n_ingress, 25);
	policy_objects_free(o);
	free(s);
	s = repeat(CNP_BASE "  ingress:\n", "  - {action: Deny, from: [{namespaces: {}}]}\n", 26,
		   "");
	expect_diags("l.yaml", s, "l.yaml:10:3: spec.ingress: too many ingress rules: 26 (max 25)");
	free(s);
	s = repeat(CNP_BASE "  egress:\n", "  - {action: Deny, to: [{namespaces: {}}]}\n", 26, "");
	expect_diags("l.yaml", s, "l.yaml:10:3: spec.egress: too many egress rules: 26 (max 25)");
	free(s);

	s = repeat(CNP_BASE "  egress:\n  - action: Deny\n    to:\n", "    - namespaces: {}\n", 25,
		   "");
	o = parse_ok("l.yaml", s);
	assert_int_equal(o->cnps[0]->egress[0].n_peers, 25);
	policy_objects_free(o);
	free(s);
	s = repeat(CNP_BASE "  egress:\n  - action: Deny\n    to:\n", "    - namespaces: {}\n", 26,
		   "");
	expect_diags("l.yaml", s, "l.yaml:12:5: spec.egress[0].to: too many peers: 26 (max 25)");
	free(s);

	s = repeat(CNP_BASE "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n"
			    "    protocols:\n",
		   "    - tcp: {destinationPort: {number: 1}}\n", 26, "");
	expect_diags("l.yaml", s,
		     "l.yaml:13:5: spec.ingress[0].protocols: too many protocols: 26 (max 25)");
	free(s);

	s = repeat(CNP_BASE "  egress:\n  - action: Deny\n    to: [{networks: [", "10.0.0.0/8, ",
		   25, "\"::/0\"]}]\n");
	expect_diags("l.yaml", s,
		     "l.yaml:11:21: spec.egress[0].to[0].networks: too many networks: 26 (max 25)");
	free(s);
	expect_diags(
		"l.yaml", CNP_BASE "  egress:\n  - action: Deny\n    to: [{networks: []}]\n",
		"l.yaml:11:21: spec.egress[0].to[0].networks: must have 1 to 25 networks, got 0");

	s = repeat(CNP_BASE
		   "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n    name: ",
		   "a", 101, "\n");
	expect_diags("l.yaml", s,
		     "l.yaml:12:11: spec.ingress[0].name: too long: 101 characters (max 100)");
	free(s);
	s = repeat(CNP_BASE
		   "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n    name: ",
		   "a", 100, "\n");
	o = parse_ok("l.yaml", s);
	assert_int_equal(strlen(o->cnps[0]->ingress[0].name), 100);
	policy_objects_free(o);
	free(s);
}

/* One bad object among good ones: nothing of the input is returned. */
static void test_all_or_nothing(void **state)
{
	expect_diags("m.yaml",
		     "apiVersion: v1\n"
		     "kind: Namespace\n"
		     "metadata: {name: a}\n"
		     "---\n" CNP_BASE "---\n"
		     "apiVersion: policy.networking.k8s.io/v1alpha2\n"
		     "kind: ClusterNetworkPolicy\n"
		     "metadata: {name: bad}\n"
		     "spec: {tier: Admin, priority: 1, subject: {namespaces: {}},\n"
		     "  egress: [{action: Accept, to: [{domainNames: [a.example]}]}]}\n"
		     "---\n" CNP_BASE,
		     "m.yaml:18:35: spec.egress[0].to[0].domainNames: segd does not implement "
		     "egress \"domainNames\" peers: the policy is rejected, nothing of it is "
		     "applied");
	expect_diags(
		"m.json",
		"[{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\n"
		"  \"metadata\":{\"name\":\"np\"},\"spec\":{\"podSelector\":{}}},\n"
		" {\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":"
		"\"ClusterNetworkPolicy\",\n"
		"  \"metadata\":{\"name\":\"c\"},\"spec\":{\"tier\":\"Admin\",\"priority\":1001,"
		"\"subject\":{\"namespaces\":{}}}}]\n",
		"m.json:4:61: [1].spec.priority: invalid priority 1001: must be between 0 and "
		"1000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	       cmocka_unit_test(test_status),
		cmocka_unit_test(test_list_and_kinds), cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_equal),	       cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_rule_errors),    cmocka_unit_test(test_limits),
		cmocka_unit_test(test_all_or_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
