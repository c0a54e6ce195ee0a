/* SPDX-License-Identifier: MIT */
/* Node (v1) objects and ClusterNetworkPolicy egress `nodes` peers: parsing, validation,
 * copies, equality and canonical JSON. */
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

#include "policy/policy.h"

static struct policy_objects *parse_ok(const char *file, const char *text)
{
	struct policy_objects *o = NULL;
	struct policy_diags d = { 0 };
	int r;

	r = policy_parse(file, text, strlen(text), &o, &d);
	for (size_t i = 0; i < d.n; i++) {
		char *s = policy_diag_format(&d.items[i]);

		print_error("unexpected: %s\n", s);
		free(s);
	}
	assert_int_equal(r, 0);
	assert_int_equal(d.n, 0);
	return o;
}

static void expect_diags_v(const char *file, const char *text, const char *const *want)
{
	struct policy_objects *o = (struct policy_objects *)0x1;
	struct policy_diags d = { 0 };
	size_t n = 0;
	bool bad = false;

	assert_int_equal(policy_parse(file, text, strlen(text), &o, &d), -EBADMSG);
	assert_ptr_equal(o, (struct policy_objects *)0x1);
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

static const char node_yaml[] =
	"apiVersion: v1\n"
	"kind: Node\n"
	"metadata:\n"
	"  name: worker-1.example\n"
	"  labels: {kubernetes.io/os: linux}\n"
	"  uid: 1234\n"
	"spec: {podCIDR: 10.244.1.0/24, taints: [{key: a, effect: NoSchedule}]}\n"
	"status:\n"
	"  phase: Running\n"
	"  addresses:\n"
	"  - {type: Hostname, address: worker-1}\n"
	"  - {type: InternalIP, address: 192.168.1.10}\n"
	"  - {type: ExternalIP, address: \"2001:db8::7\"}\n"
	"  - {type: InternalDNS, address: worker-1.cluster.local}\n";

static void assert_addr(const struct policy_addr *a, const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(a->family, a->addr, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

static void test_valid(void **state)
{
	struct policy_objects *o = parse_ok("n.yaml", node_yaml), *o2;
	struct policy_node *d;
	char *json, *json2;

	assert_int_equal(o->n_nodes, 1);
	assert_int_equal(o->n_namespaces + o->n_netpols + o->n_cnps, 0);
	assert_string_equal(o->nodes[0]->name, "worker-1.example");
	assert_string_equal(policy_labels_get(&o->nodes[0]->labels, "kubernetes.io/os"), "linux");
	/* only InternalIP and ExternalIP are addresses, in input order */
	assert_int_equal(o->nodes[0]->n_addrs, 2);
	assert_addr(&o->nodes[0]->addrs[0], "192.168.1.10");
	assert_addr(&o->nodes[0]->addrs[1], "2001:db8::7");

	json = policy_node_to_json(o->nodes[0]);
	assert_string_equal(json, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
				  "\"worker-1.example\",\"labels\":{\"kubernetes.io/os\":\"linux\"}"
				  "},\"status\":{\"addresses\":[{\"type\":\"InternalIP\","
				  "\"address\":\"192.168.1.10\"},{\"type\":\"InternalIP\","
				  "\"address\":\"2001:db8::7\"}]}}");
	/* canonical: parsing it back gives an equal Node and the same text */
	o2 = parse_ok("c.json", json);
	assert_true(policy_node_equal(o->nodes[0], o2->nodes[0]));
	json2 = policy_node_to_json(o2->nodes[0]);
	assert_string_equal(json, json2);

	d = policy_node_dup(o->nodes[0]);
	assert_non_null(d);
	assert_true(policy_node_equal(d, o->nodes[0]));
	d->addrs[1].addr[15] ^= 1;
	assert_false(policy_node_equal(d, o->nodes[0]));
	d->addrs[1].addr[15] ^= 1;
	assert_int_equal(policy_labels_set(&d->labels, "zone", "b"), 0);
	assert_false(policy_node_equal(d, o->nodes[0]));
	policy_node_free(d);
	assert_true(policy_node_equal(NULL, NULL));
	assert_false(policy_node_equal(o->nodes[0], NULL));
	free(json);
	free(json2);
	policy_objects_free(o);
	policy_objects_free(o2);

	/* no status, empty addresses, in a List with other kinds */
	o = parse_ok("l.yaml", "apiVersion: v1\nkind: List\nitems:\n"
			       "- {apiVersion: v1, kind: Node, metadata: {name: a}}\n"
			       "- {apiVersion: v1, kind: Node, metadata: {name: b}, spec: {},"
			       " status: {addresses: []}}\n"
			       "- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n");
	assert_int_equal(o->n_nodes, 2);
	assert_int_equal(o->n_namespaces, 1);
	assert_int_equal(o->nodes[0]->n_addrs, 0);
	assert_int_equal(o->nodes[1]->n_addrs, 0);
	json = policy_node_to_json(o->nodes[0]);
	assert_string_equal(json, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
				  "\"a\"},\"status\":{\"addresses\":[]}}");
	free(json);
	policy_objects_free(o);
}

static void test_errors(void **state)
{
	expect_diags(
		"e.yaml",
		"apiVersion: v1\n"
		"kind: Node\n"
		"metadata: {name: Bad_Name, namespace: x}\n"
		"spec: {podCIDR: 10.0.0.0/24, bogus: 1}\n"
		"status:\n"
		"  nodeInfo: {}\n"
		"  extra: 1\n"
		"  addresses:\n"
		"  - {type: InternalIP, address: 10.0.0.300}\n"
		"  - {type: ExternalIP, address: \"10.0.0.1/32\"}\n"
		"  - {type: InternalIP}\n"
		"  - {address: 10.0.0.1}\n"
		"  - {type: InternalIP, address: 10.0.0.1, port: 1}\n"
		"  - {type: \"\", address: 10.0.0.1}\n"
		"  - {type: Hostname, address: [1]}\n"
		"  - 10.0.0.1\n",
		"e.yaml:3:18: metadata.name: invalid name \"Bad_Name\": a lowercase RFC 1123 "
		"subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
		"must start and end with an alphanumeric character",
		"e.yaml:3:39: metadata.namespace: not allowed: Node is cluster-scoped (has no "
		"namespace)",
		"e.yaml:4:30: spec: unknown field \"bogus\"",
		"e.yaml:7:3: status: unknown field \"extra\"",
		"e.yaml:9:33: status.addresses[0].address: invalid IP address \"10.0.0.300\" "
		"for type InternalIP",
		"e.yaml:10:33: status.addresses[1].address: invalid IP address \"10.0.0.1/32\" "
		"for type ExternalIP",
		"e.yaml:11:5: status.addresses[2]: missing required field \"address\"",
		"e.yaml:12:5: status.addresses[3]: missing required field \"type\"",
		"e.yaml:13:43: status.addresses[4]: unknown field \"port\"",
		"e.yaml:14:12: status.addresses[5].type: invalid address type \"\": must be 1 "
		"to 64 characters",
		"e.yaml:15:31: status.addresses[6].address: expected a string, got a list",
		"e.yaml:16:5: status.addresses[7]: expected an object, got a string");
	expect_diags(
		"v.yaml", "apiVersion: v2\nkind: Node\nmetadata: {name: a}\n",
		"v.yaml:1:13: apiVersion: unsupported apiVersion \"v2\" for kind Node (want v1)");
	expect_diags("s.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: a}\nspec: []\n",
		     "s.yaml:4:7: spec: expected an object, got a list");
}

static void test_address_limit(void **state)
{
	char *text = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy_objects *o;

	assert_non_null(f);
	fputs("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"a\"},"
	      "\"status\":{\"addresses\":[",
	      f);
	for (int i = 0; i < POLICY_MAX_ENDPOINT_ADDRS; i++)
		fprintf(f, "%s{\"type\":\"InternalIP\",\"address\":\"10.0.0.%d\"}", i ? "," : "",
			i);
	fputs("]}}", f);
	assert_int_equal(fclose(f), 0);
	o = parse_ok("max.json", text);
	assert_int_equal(o->nodes[0]->n_addrs, POLICY_MAX_ENDPOINT_ADDRS);
	policy_objects_free(o);
	/* one more is refused */
	p = strstr(text, "]}}");
	assert_non_null(p);
	text = realloc(text, len + 64);
	p = strstr(text, "]}}");
	strcpy(p, ",{\"type\":\"InternalIP\",\"address\":\"10.0.1.1\"}]}}");
	{
		struct policy_diags d = { 0 };

		o = NULL;
		assert_int_equal(policy_parse("big.json", text, strlen(text), &o, &d), -EBADMSG);
		assert_null(o);
		assert_int_equal(d.n, 1);
		assert_non_null(strstr(d.items[0].message, "addresses"));
		policy_diags_done(&d);
	}
	free(text);
}

#define CNP_HDR                                                                              \
	"apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"        \
	"metadata: {name: c}\nspec:\n  tier: Admin\n  priority: 1\n  subject: {namespaces: " \
	"{}}\n"

static void test_cnp_nodes_peer(void **state)
{
	struct policy_objects *o, *o2;
	struct policy_cnp *d;
	char *json, *json2;

	o = parse_ok("p.yaml",
		     CNP_HDR "  egress:\n"
			     "  - action: Accept\n"
			     "    to:\n"
			     "    - nodes: {matchLabels: {kubernetes.io/os: linux}}\n"
			     "    - {nodes: {}, namespaces: null}\n"
			     "    - networks: [10.0.0.0/8]\n"
			     "    protocols: [{tcp: {destinationPort: {number: 10250}}}]\n");
	assert_true(policy_cnp_has_node_peers(o->cnps[0]));
	assert_non_null(o->cnps[0]->egress[0].peers[0].node_selector);
	assert_null(o->cnps[0]->egress[0].peers[0].ns_selector);
	assert_string_equal(
		policy_labels_get(&o->cnps[0]->egress[0].peers[0].node_selector->match_labels,
				  "kubernetes.io/os"),
		"linux");
	assert_non_null(o->cnps[0]->egress[0].peers[1].node_selector);
	assert_null(o->cnps[0]->egress[0].peers[2].node_selector);

	json = policy_cnp_to_json(o->cnps[0]);
	assert_non_null(strstr(json, "{\"nodes\":{\"matchLabels\":{\"kubernetes.io/os\":"
				     "\"linux\"}}},{\"nodes\":{}},{\"networks\":"));
	o2 = parse_ok("c.json", json);
	assert_true(policy_cnp_equal(o->cnps[0], o2->cnps[0]));
	json2 = policy_cnp_to_json(o2->cnps[0]);
	assert_string_equal(json, json2);
	d = policy_cnp_dup(o->cnps[0]);
	assert_true(policy_cnp_equal(d, o->cnps[0]));
	assert_int_equal(policy_labels_set(&d->egress[0].peers[1].node_selector->match_labels, "a",
					   "b"),
			 0);
	assert_false(policy_cnp_equal(d, o->cnps[0]));
	policy_cnp_free(d);
	free(json);
	free(json2);
	policy_objects_free(o);
	policy_objects_free(o2);

	o = parse_ok("q.yaml",
		     CNP_HDR "  egress: [{action: Deny, to: [{networks: [0.0.0.0/0]}]}]\n");
	assert_false(policy_cnp_has_node_peers(o->cnps[0]));
	policy_objects_free(o);

	expect_diags("e.yaml",
		     CNP_HDR "  ingress: [{action: Deny, from: [{nodes: {}}]}]\n"
			     "  egress:\n"
			     "  - action: Accept\n"
			     "    to: [{nodes: {}, namespaces: {}}, {nodes: []}, "
			     "{nodes: {matchLabels: {\"a b\": c}}}]\n"
			     "    protocols: [{destinationNamedPort: http}]\n",
		     "e.yaml:8:36: spec.ingress[0].from[0].nodes: not allowed in an ingress peer "
		     "(egress only)",
		     "e.yaml:11:10: spec.egress[0].to[0]: must specify exactly one of: namespaces, "
		     "pods, networks, nodes (got namespaces, nodes)",
		     "e.yaml:11:47: spec.egress[0].to[1].nodes: expected an object, got a list",
		     "e.yaml:11:75: spec.egress[0].to[2].nodes.matchLabels: invalid label key "
		     "\"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', "
		     "and must start and end with an alphanumeric character",
		     "e.yaml:12:40: spec.egress[0].protocols[0].destinationNamedPort: may not be "
		     "used in a rule with a networks, nodes or domainNames peer: those have no "
		     "named ports");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_address_limit),
		cmocka_unit_test(test_cnp_nodes_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
