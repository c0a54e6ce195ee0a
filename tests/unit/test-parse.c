/* SPDX-License-Identifier: MIT */
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

/* "file:LINE:COL: ..." -> LINE * 100000 + COL; 0 when the position is not given */
static unsigned long diag_pos(const char *s)
{
	unsigned line = 0, col = 0;
	const char *p = strchr(s, ':');

	if (p && sscanf(p + 1, "%u:%u:", &line, &col) == 2)
		return (unsigned long)line * 100000 + col;
	return 0;
}

/* want: NULL-terminated list of formatted diagnostics; policy_parse() reports them in file
 * order (stable for equal positions), so they are compared in that order. */
static void expect_diags_len(const char *file, const char *text, size_t len,
			     const char *const *want_in)
{
	struct policy_objects *o = (struct policy_objects *)0x1;
	struct policy_diags d = { 0 };
	const char *want[1100];
	size_t n = 0;
	bool bad = false;
	int r;

	r = policy_parse(file, text, len, &o, &d);
	assert_int_equal(r, -EBADMSG);
	assert_ptr_equal(o, (struct policy_objects *)0x1); /* untouched */
	while (want_in[n] && n < 1100) {
		const char *x = want_in[n];
		size_t j = n;

		while (j > 0 && diag_pos(want[j - 1]) > diag_pos(x)) {
			want[j] = want[j - 1];
			j--;
		}
		want[j] = x;
		n++;
	}
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
	expect_diags_len(file, text, strlen(text), (const char *const[]){ __VA_ARGS__, NULL })

#define HDR "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n"

static const char web_yaml[] = "apiVersion: networking.k8s.io/v1\n"
			       "kind: NetworkPolicy\n"
			       "metadata:\n"
			       "  name: web\n"
			       "  namespace: prod\n"
			       "  labels: {team: a}\n"
			       "  annotations: {note: \"x\"}\n"
			       "  uid: 1234\n"
			       "spec:\n"
			       "  podSelector:\n"
			       "    matchLabels:\n"
			       "      app: web\n"
			       "    matchExpressions:\n"
			       "    - {key: tier, operator: NotIn, values: [db, cache]}\n"
			       "  ingress:\n"
			       "  - from:\n"
			       "    - podSelector: {matchLabels: {app: lb}}\n"
			       "      namespaceSelector: {}\n"
			       "    - ipBlock:\n"
			       "        cidr: 10.0.0.1/8\n"
			       "        except: [10.1.0.0/16]\n"
			       "    ports:\n"
			       "    - port: 80\n"
			       "    - port: http\n"
			       "      protocol: UDP\n"
			       "    - port: 1000\n"
			       "      endPort: 2000\n"
			       "    - {}\n"
			       "  - {}\n"
			       "  egress:\n"
			       "  - to:\n"
			       "    - ipBlock: {cidr: \"fd00::/8\"}\n"
			       "    ports: []\n"
			       "status: {}\n";

static const char web_json[] =
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\n"
	" \"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"labels\":{\"team\":\"a\"}},\n"
	" \"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"},\n"
	"   \"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"db\",\"cache\"]}]},\n"
	"  \"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"lb\"}},\"namespaceSelector\":{}},\n"
	"     {\"ipBlock\":{\"cidr\":\"10.0.0.1/8\",\"except\":[\"10.1.0.0/16\"]}}],\n"
	"    \"ports\":[{\"port\":80},{\"port\":\"http\",\"protocol\":\"UDP\"},{\"port\":1000,\"endPort\":2000},{}]},\n"
	"   {}],\n"
	"  \"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"fd00::/8\"}}],\"ports\":[]}]}}\n";

static void check_web(const struct policy_netpol *p)
{
	const struct policy_rule *r;

	assert_string_equal(p->name, "web");
	assert_string_equal(p->namespace, "prod");
	assert_string_equal(policy_labels_get(&p->labels, "team"), "a");
	assert_int_equal(p->types, POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS);
	assert_int_equal(p->pod_selector.match_labels.n, 1);
	assert_int_equal(p->pod_selector.n_exprs, 1);
	assert_int_equal(p->pod_selector.exprs[0].op, POLICY_OP_NOT_IN);
	assert_int_equal(p->pod_selector.exprs[0].n_values, 2);
	assert_string_equal(p->pod_selector.exprs[0].values[1], "cache");
	assert_int_equal(p->n_ingress, 2);
	r = &p->ingress[0];
	assert_int_equal(r->n_peers, 2);
	assert_non_null(r->peers[0].pod_selector);
	assert_non_null(r->peers[0].ns_selector);
	assert_int_equal(r->peers[0].ns_selector->match_labels.n, 0);
	assert_null(r->peers[0].ipblock);
	assert_non_null(r->peers[1].ipblock);
	assert_int_equal(r->peers[1].ipblock->cidr.family, AF_INET);
	assert_int_equal(r->peers[1].ipblock->cidr.prefixlen, 8);
	assert_int_equal(r->peers[1].ipblock->cidr.addr[3], 1); /* host bits kept */
	assert_int_equal(r->peers[1].ipblock->n_except, 1);
	assert_int_equal(r->peers[1].ipblock->except[0].addr[1], 1);
	assert_int_equal(r->n_ports, 4);
	assert_int_equal(r->ports[0].proto, POLICY_PROTO_TCP);
	assert_true(r->ports[0].has_port);
	assert_null(r->ports[0].name);
	assert_int_equal(r->ports[0].port, 80);
	assert_int_equal(r->ports[1].proto, POLICY_PROTO_UDP);
	assert_string_equal(r->ports[1].name, "http");
	assert_int_equal(r->ports[2].port, 1000);
	assert_int_equal(r->ports[2].end_port, 2000);
	assert_int_equal(r->ports[3].proto, POLICY_PROTO_TCP);
	assert_false(r->ports[3].has_port);
	assert_int_equal(p->ingress[1].n_peers, 0);
	assert_int_equal(p->ingress[1].n_ports, 0);
	assert_int_equal(p->n_egress, 1);
	assert_int_equal(p->egress[0].peers[0].ipblock->cidr.family, AF_INET6);
	assert_int_equal(p->egress[0].n_ports, 0);
}

static void test_valid_yaml_json(void **state)
{
	struct policy_objects *y = parse_ok("web.yaml", web_yaml);
	struct policy_objects *j = parse_ok("web.json", web_json);

	assert_int_equal(y->n_netpols, 1);
	assert_int_equal(j->n_netpols, 1);
	check_web(y->netpols[0]);
	check_web(j->netpols[0]);
	assert_string_equal(y->netpols[0]->source_file, "web.yaml");
	assert_int_equal(y->netpols[0]->source_line, 1);
	assert_true(policy_netpol_equal(y->netpols[0], j->netpols[0]));
	policy_objects_free(y);
	policy_objects_free(j);
}

static void test_round_trip(void **state)
{
	struct policy_objects *o = parse_ok("web.yaml", web_yaml), *o2;
	struct policy_netpol *dup;
	char *s, *s2;

	s = policy_netpol_to_json(o->netpols[0]);
	assert_non_null(s);
	/* defaults explicit */
	assert_non_null(strstr(s, "\"policyTypes\":[\"Ingress\",\"Egress\"]"));
	assert_non_null(strstr(s, "{\"protocol\":\"TCP\",\"port\":80}"));
	o2 = parse_ok("rt.json", s);
	assert_true(policy_netpol_equal(o->netpols[0], o2->netpols[0]));
	s2 = policy_netpol_to_json(o2->netpols[0]);
	assert_string_equal(s, s2);
	dup = policy_netpol_dup(o->netpols[0]);
	assert_true(policy_netpol_equal(o->netpols[0], dup));
	assert_string_equal(dup->source_file, "web.yaml");
	policy_netpol_free(dup);
	free(s);
	free(s2);
	policy_objects_free(o);
	policy_objects_free(o2);

	o = parse_ok(
		"ns.yaml",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: prod}}\n");
	assert_int_equal(o->n_namespaces, 1);
	assert_string_equal(policy_labels_get(&o->namespaces[0]->labels, POLICY_NS_NAME_LABEL),
			    "prod");
	s = policy_namespace_to_json(o->namespaces[0]);
	assert_string_equal(
		s, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\","
		   "\"labels\":{\"env\":\"prod\",\"kubernetes.io/metadata.name\":\"prod\"}}}");
	o2 = parse_ok("ns.json", s);
	assert_string_equal(o2->namespaces[0]->name, "prod");
	assert_true(policy_labels_equal(&o->namespaces[0]->labels, &o2->namespaces[0]->labels));
	free(s);
	policy_objects_free(o);
	policy_objects_free(o2);

	assert_null(policy_netpol_free(NULL));
	assert_null(policy_namespace_free(NULL));
	assert_null(policy_objects_free(NULL));
}

static void test_multi_doc_and_list(void **state)
{
	struct policy_objects *o;

	o = parse_ok("m.yaml", "---\n"
			       "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
			       "---\n"
			       "---\n" /* empty documents are skipped */
		     HDR "spec: {podSelector: {}}\n"
			       "...\n"
			       "---\n"
			       "apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n"
			       "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n"
			       "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n"
			       "  metadata: {name: q, namespace: b}\n  spec: {podSelector: {}}\n");
	assert_int_equal(o->n_namespaces, 2);
	assert_int_equal(o->n_netpols, 2);
	assert_string_equal(o->namespaces[0]->name, "a");
	assert_string_equal(o->namespaces[1]->name, "b");
	assert_string_equal(o->netpols[0]->name, "p");
	assert_string_equal(o->netpols[0]->namespace, "default");
	assert_int_equal(o->netpols[0]->source_line, 7);
	assert_string_equal(o->netpols[1]->namespace, "b");
	assert_int_equal(o->netpols[1]->source_line, 21);
	policy_objects_free(o);

	o = parse_ok(
		"l.json",
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
		" {\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}]}");
	assert_int_equal(o->n_namespaces, 1);
	policy_objects_free(o);

	o = parse_ok(
		"arr.json",
		"[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}]");
	assert_int_equal(o->n_namespaces, 1);
	policy_objects_free(o);

	o = parse_ok("empty.yaml", "# nothing\n");
	assert_int_equal(o->n_namespaces + o->n_netpols, 0);
	policy_objects_free(o);
}

static unsigned types_of(const char *spec)
{
	char buf[1024];
	struct policy_objects *o;
	unsigned t;

	snprintf(buf, sizeof(buf), HDR "spec:\n%s", spec);
	o = parse_ok("t.yaml", buf);
	t = o->netpols[0]->types;
	policy_objects_free(o);
	return t;
}

static void test_defaults(void **state)
{
	assert_int_equal(types_of("  podSelector: {}\n"), POLICY_TYPE_INGRESS);
	assert_int_equal(types_of("  podSelector: {}\n  egress: [{}]\n"),
			 POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS);
	assert_int_equal(types_of("  podSelector: {}\n  egress: []\n"), POLICY_TYPE_INGRESS);
	assert_int_equal(types_of("  podSelector: {}\n  egress: [{}]\n  policyTypes: [Egress]\n"),
			 POLICY_TYPE_EGRESS);
	assert_int_equal(types_of("  podSelector: {}\n  policyTypes: []\n"), POLICY_TYPE_INGRESS);
	assert_int_equal(
		types_of("  podSelector: {}\n  ingress: ~\n  policyTypes: [Ingress, Egress]\n"),
		POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS);
}

static void test_cidr_position(void **state)
{
	expect_diags(
		"p.yaml",
		HDR "spec:\n"
		    "  podSelector: {}\n"
		    "  ingress:\n"
		    "  - from:\n"
		    "    - podSelector:\n"
		    "        matchLabels:\n"
		    "          app: lb\n"
		    "    - ipBlock: {\n"
		    "        except: [],\n"
		    "  cidr: 10.0.0.0/33 }\n",
		"p.yaml:14:9: spec.ingress[0].from[1].ipBlock.cidr: invalid CIDR \"10.0.0.0/33\"");
	expect_diags("p.json",
		     "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\",\n"
		     " \"metadata\": {\"name\": \"p\"},\n"
		     " \"spec\": {\"podSelector\": {}, \"egress\": [{\"to\": [\n"
		     "   {\"ipBlock\": {\"cidr\": \"fd00::/129\"}}]}]}}\n",
		     "p.json:4:25: spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"fd00::/129\"");
}

static void test_validation(void **state)
{
	expect_diags(
		"b.yaml",
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata:\n"
		"  name: Bad_Name\n"
		"  namespace: a.b\n"
		"  foo: 1\n"
		"spec:\n"
		"  podSelector:\n"
		"    matchExpressions:\n"
		"    - {key: app, operator: In}\n"
		"    - {key: app, operator: Exists, values: [x]}\n"
		"    - {key: -app, operator: Foo}\n"
		"  ingress:\n"
		"  - from:\n"
		"    - {}\n"
		"    - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8, 11.0.0.0/16, \"fd00::/64\", bad]}\n"
		"      podSelector: {}\n"
		"    ports:\n"
		"    - port: 0\n"
		"    - port: \"80\"\n"
		"    - port: http\n"
		"      endPort: 90\n"
		"    - port: 100\n"
		"      endPort: 99\n"
		"    - endPort: 5\n"
		"    - port: 70000\n"
		"    - protocol: ICMP\n"
		"    - port: a--b\n"
		"    - port: 80\n"
		"      endPort: 65536\n"
		"  policyTypes: [Ingress, Ingress, Foo]\n",
		"b.yaml:6:3: metadata: unknown field \"foo\"",
		"b.yaml:4:9: metadata.name: invalid name \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
		"b.yaml:5:14: metadata.namespace: invalid namespace \"a.b\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
		"b.yaml:10:7: spec.podSelector.matchExpressions[0].values: values must be non-empty when operator is In or NotIn",
		"b.yaml:11:44: spec.podSelector.matchExpressions[1].values: values must be empty when operator is Exists or DoesNotExist",
		"b.yaml:12:13: spec.podSelector.matchExpressions[2].key: invalid label key \"-app\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
		"b.yaml:12:29: spec.podSelector.matchExpressions[2].operator: unknown operator \"Foo\": must be In, NotIn, Exists or DoesNotExist",
		"b.yaml:19:13: spec.ingress[0].ports[0].port: invalid port 0: must be between 1 and 65535",
		"b.yaml:20:13: spec.ingress[0].ports[1].port: invalid port name \"80\": must contain at least one letter (a-z)",
		"b.yaml:22:16: spec.ingress[0].ports[2].endPort: may not be specified when port is non-numeric",
		"b.yaml:24:16: spec.ingress[0].ports[3].endPort: endPort 99 must be greater than or equal to port 100",
		"b.yaml:25:16: spec.ingress[0].ports[4].endPort: may not be specified when port is not specified",
		"b.yaml:26:13: spec.ingress[0].ports[5].port: invalid port 70000: must be between 1 and 65535",
		"b.yaml:27:17: spec.ingress[0].ports[6].protocol: unsupported protocol \"ICMP\": must be TCP, UDP or SCTP",
		"b.yaml:28:13: spec.ingress[0].ports[7].port: invalid port name \"a--b\": must not contain consecutive hyphens",
		"b.yaml:30:16: spec.ingress[0].ports[8].endPort: invalid endPort 65536: must be between 1 and 65535",
		"b.yaml:15:7: spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock",
		"b.yaml:16:7: spec.ingress[0].from[1]: may not specify both ipBlock and another peer",
		"b.yaml:16:44: spec.ingress[0].from[1].ipBlock.except[0]: except \"10.0.0.0/8\" must be a strict subset of cidr \"10.0.0.0/8\"",
		"b.yaml:16:56: spec.ingress[0].from[1].ipBlock.except[1]: except \"11.0.0.0/16\" must be a strict subset of cidr \"10.0.0.0/8\"",
		"b.yaml:16:69: spec.ingress[0].from[1].ipBlock.except[2]: except \"fd00::/64\" is not in the address family of cidr \"10.0.0.0/8\"",
		"b.yaml:16:82: spec.ingress[0].from[1].ipBlock.except[3]: invalid CIDR \"bad\"",
		"b.yaml:31:26: spec.policyTypes[1]: duplicate policy type \"Ingress\"",
		"b.yaml:31:35: spec.policyTypes[2]: unsupported policy type \"Foo\": must be Ingress or Egress");

	/* more port names and selector syntax */
	expect_diags(
		"c.yaml",
		HDR "spec:\n"
		    "  podSelector:\n"
		    "    matchLabels: {\"Bad/x\": a, ok: \"-v\"}\n"
		    "  egress:\n"
		    "  - ports:\n"
		    "    - port: abcdefghijklmnop\n"
		    "    - port: -ab\n"
		    "    - port: Http\n"
		    "    - port: 80.5\n"
		    "    - port: \"\"\n"
		    "    to:\n"
		    "    - ipBlock: {}\n"
		    "    - ipBlock: {cidr: 10.0.0.0}\n"
		    "    - namespaceSelector: {matchExpressions: [{operator: In, values: [a]}]}\n",
		"c.yaml:7:19: spec.podSelector.matchLabels: invalid label key \"Bad/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
		"c.yaml:7:35: spec.podSelector.matchLabels: invalid label value \"-v\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
		"c.yaml:10:13: spec.egress[0].ports[0].port: invalid port name \"abcdefghijklmnop\": must be no more than 15 characters",
		"c.yaml:11:13: spec.egress[0].ports[1].port: invalid port name \"-ab\": must not begin or end with a hyphen",
		"c.yaml:12:13: spec.egress[0].ports[2].port: invalid port name \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
		"c.yaml:13:13: spec.egress[0].ports[3].port: expected an integer or a string, got a number",
		"c.yaml:14:13: spec.egress[0].ports[4].port: invalid port name \"\": must be non-empty",
		"c.yaml:16:16: spec.egress[0].to[0].ipBlock: missing required field \"cidr\"",
		"c.yaml:17:23: spec.egress[0].to[1].ipBlock.cidr: invalid CIDR \"10.0.0.0\"",
		"c.yaml:18:46: spec.egress[0].to[2].namespaceSelector.matchExpressions[0]: missing required field \"key\"");

	/* required fields */
	expect_diags(
		"r.yaml",
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x}\nspec: {}\n",
		"r.yaml:3:11: metadata: missing required field \"name\"",
		"r.yaml:4:7: spec: missing required field \"podSelector\"");
	expect_diags("r2.yaml", HDR, "r2.yaml:1:1: missing required field \"spec\"");
}

static void test_types(void **state)
{
	/* a quoted "80" is a string in JSON too */
	expect_diags(
		"q.json",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\"},"
		"\"spec\":{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"80\"}]}]}}",
		"q.json:1:139: spec.ingress[0].ports[0].port: invalid port name \"80\": must contain at least one letter (a-z)");
	/* YAML 1.1: "true" and "yes" are booleans, octal-looking integers are refused */
	expect_diags(
		"n.yaml",
		"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    x: true\n    y: \"\\0\"\n"
		"spec: {finalizers: [kubernetes]}\n",
		"n.yaml:6:8: metadata.labels: expected a string, got a boolean",
		"n.yaml:7:8: metadata.labels: string contains a NUL character");
	expect_diags(
		"o.yaml", HDR "spec:\n  podSelector: []\n  ingress: [{ports: [{port: 010}]}]\n",
		"o.yaml:6:16: spec.podSelector: expected an object, got a list",
		"o.yaml:7:29: spec.ingress[0].ports[0].port: unsupported integer syntax \"010\": use plain decimal");
}

static void test_kinds(void **state)
{
	expect_diags(
		"k.yaml",
		"apiVersion: v1\nkind: Pod\n"
		"---\n"
		"apiVersion: v2\nkind: Namespace\n"
		"---\n"
		"kind: List\napiVersion: v1\nitems:\n"
		"- {apiVersion: v1, kind: Namespace, metadata: {name: a, labels: {kubernetes.io/metadata.name: b}}}\n"
		"- {apiVersion: v1, kind: Namespace, metadata: {name: A, namespace: x}}\n"
		"- {apiVersion: v1, kind: List}\n"
		"---\n"
		"metadata: {}\n"
		"---\n"
		"- 1\n",
		"k.yaml:2:7: kind: unknown kind \"Pod\"",
		"k.yaml:4:13: apiVersion: unsupported apiVersion \"v2\" for kind Namespace (want v1)",
		"k.yaml:10:65: items[0].metadata.labels: label \"kubernetes.io/metadata.name\" must be \"a\"",
		"k.yaml:11:54: items[1].metadata.name: invalid name \"A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
		"k.yaml:11:68: items[1].metadata.namespace: not allowed for kind Namespace",
		"k.yaml:12:26: items[2].kind: a List may not contain a List",
		"k.yaml:14:1: missing required field \"kind\"",
		"k.yaml:14:1: missing required field \"apiVersion\"",
		"k.yaml:16:3: [0]: expected an object, got an integer");
	expect_diags(
		"u.yaml",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nspec: {}\nfoo: {bar: 1}\n",
		"u.yaml:5:1: unknown field \"foo\"");
	expect_diags(
		"u2.yaml",
		HDR "spec: {podSelector: {}, ingress: [{from: [{podSelector: {}, x: 1}], y: 2}]}\n",
		"u2.yaml:5:69: spec.ingress[0]: unknown field \"y\"",
		"u2.yaml:5:61: spec.ingress[0].from[0]: unknown field \"x\"");
	expect_diags("s.yaml", HDR "spec: {podSelector: {}}\nstatus: []\n",
		     "s.yaml:6:9: status: expected an object, got a list");
}

static void test_syntax(void **state)
{
	static const char bad_utf8_yaml[] = "apiVersion: v1\nkind: \"\xff\"\n";
	static const char bad_utf8_json[] = "{\"kind\": \"\xc3\"}";

	expect_diags("d.yaml", "a: 1\nb: {c: 1, c: 2}\na: 3\n",
		     "d.yaml:2:11: b: duplicate key \"c\"", "d.yaml:3:1: duplicate key \"a\"");
	expect_diags(
		"d.json",
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\n \"metadata\":{\"name\":\"x\",\"name\":\"y\"}}",
		"d.json:2:25: metadata: duplicate key \"name\"");
	expect_diags("u.yaml", bad_utf8_yaml, "u.yaml:2:8: invalid leading UTF-8 octet");
	expect_diags("u.json", bad_utf8_json,
		     "u.json:1:10: invalid JSON: unable to decode byte 0xc3 near '\"'");
	expect_diags("a.yaml", "a: &x [1, 2]\nb: [*x, *x]\n",
		     "a.yaml:2:5: b[0]: YAML aliases are not allowed");
	expect_diags("t.yaml", "x: !foo 1\n", "t.yaml:1:4: x: unsupported tag \"!foo\"");
	expect_diags("t2.yaml", "x: !!int abc\n",
		     "t2.yaml:1:4: x: value \"abc\" does not fit tag \"tag:yaml.org,2002:int\"");
	expect_diags("s.yaml", "a: [1\n",
		     "s.yaml:2:1: did not find expected ',' or ']' while parsing a flow sequence");
	expect_diags("s.json", "{\"a\": [1}", "s.json:1:9: invalid JSON: ']' expected near '}'");
	expect_diags("k.yaml", "? [a]\n: 1\n", "k.yaml:1:3: a mapping key must be a scalar");
}

static void test_json_fallback(void **state)
{
	/* libyaml cannot read surrogate escapes: the tree comes from jansson, without positions */
	expect_diags(
		"f.json",
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"\\ud83d\\ude00\"}}",
		"f.json: metadata.name: invalid name \"\xf0\x9f\x98\x80\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
	policy_objects_free(parse_ok(
		"f2.json",
		"\t{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}"));
}

/* text with every "\n" made "\r\n", after `prefix` (a byte order mark): caller frees */
static char *crlf(const char *prefix, const char *text, size_t *ret_len)
{
	size_t n = strlen(prefix);
	char *out = malloc(n + 2 * strlen(text) + 1);

	assert_non_null(out);
	memcpy(out, prefix, n);
	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			out[n++] = '\r';
		out[n++] = *p;
	}
	out[n] = 0;
	*ret_len = n;
	return out;
}

static struct policy_objects *parse_ok_len(const char *file, const char *text, size_t len)
{
	struct policy_objects *o = NULL;
	struct policy_diags d = { 0 };

	assert_int_equal(policy_parse(file, text, len, &o, &d), 0);
	assert_int_equal(d.n, 0);
	return o;
}

/* UTF-16 (little or big endian) with its byte order mark, from ASCII text: caller frees */
static char *utf16(const char *text, bool big_endian, size_t *ret_len)
{
	size_t n = strlen(text);
	char *out = malloc(2 * n + 2);

	assert_non_null(out);
	out[0] = big_endian ? '\xfe' : '\xff';
	out[1] = big_endian ? '\xff' : '\xfe';
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i + big_endian] = text[i];
		out[2 + 2 * i + !big_endian] = 0;
	}
	*ret_len = 2 * n + 2;
	return out;
}

static void test_bom_crlf(void **state)
{
	static const char multi[] =
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n" HDR
		"  namespace: a\nspec: {podSelector: {}}\n";
	static const char *const prefixes[] = { "", "\xef\xbb\xbf" };
	size_t len;
	char *t;

	/* kubectl's reading: a UTF-8 byte order mark is dropped, CRLF is a line end; YAML, JSON
	 * and multi-document YAML, each with the mark, with CRLF and with both */
	for (size_t k = 0; k < 4; k++) {
		const char *prefix = prefixes[k & 1];
		struct policy_objects *y, *j, *m;

		if (k & 2) {
			t = crlf(prefix, web_yaml, &len);
			y = parse_ok_len("web.yaml", t, len);
			free(t);
			t = crlf(prefix, web_json, &len);
			j = parse_ok_len("web.json", t, len);
			free(t);
			t = crlf(prefix, multi, &len);
			m = parse_ok_len("m.yaml", t, len);
			free(t);
		} else {
			assert_true(asprintf(&t, "%s%s", prefix, web_yaml) > 0);
			y = parse_ok("web.yaml", t);
			free(t);
			assert_true(asprintf(&t, "%s%s", prefix, web_json) > 0);
			j = parse_ok("web.json", t);
			free(t);
			assert_true(asprintf(&t, "%s%s", prefix, multi) > 0);
			m = parse_ok("m.yaml", t);
			free(t);
		}
		check_web(y->netpols[0]);
		check_web(j->netpols[0]);
		assert_int_equal(y->netpols[0]->source_line, 1);
		assert_int_equal(m->n_namespaces, 1);
		assert_int_equal(m->n_netpols, 1);
		assert_int_equal(m->netpols[0]->source_line, 5); /* after the "---" */
		policy_objects_free(y);
		policy_objects_free(j);
		policy_objects_free(m);
	}

	/* Positions in a file with CRLF (and a mark) are those of the same file with LF. */
	t = crlf("\xef\xbb\xbf", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, bad: 1}\n",
		 &len);
	expect_diags_len("c.yaml", t, len,
			 (const char *const[]){ "c.yaml:3:21: metadata: unknown field \"bad\"",
						NULL });
	free(t);
	t = crlf("", "a: [1\n\nb: 2\n", &len);
	expect_diags_len(
		"s.yaml", t, len,
		(const char *const[]){
			"s.yaml:3:2: did not find expected ',' or ']' while parsing a flow sequence",
			NULL });
	free(t);
	/* libyaml reports bad UTF-8 by offset: our count of lines takes CRLF as one */
	t = crlf("\xef\xbb\xbf", "apiVersion: v1\n\nkind: \"\xff\"\n", &len);
	expect_diags_len("u.yaml", t, len,
			 (const char *const[]){ "u.yaml:3:8: invalid leading UTF-8 octet", NULL });
	free(t);
	/* ... and a lone CR as one too, as libyaml does */
	expect_diags("r.yaml", "apiVersion: v1\r\rkind: \"\xff\"\r",
		     "r.yaml:3:8: invalid leading UTF-8 octet");
	t = crlf(
		"\xef\xbb\xbf",
		"{\"apiVersion\": \"v1\",\n \"kind\": \"Namespace\",\n \"metadata\": {\"name\": 1}}\n",
		&len);
	expect_diags_len("c.json", t, len,
			 (const char *const[]){
				 "c.json:3:23: metadata.name: expected a string, got an integer",
				 NULL });
	free(t);
	t = crlf("\xef\xbb\xbf", "{\"a\":\n [1}\n", &len);
	expect_diags_len("s.json", t, len,
			 (const char *const[]){ "s.json:2:4: invalid JSON: ']' expected near '}'",
						NULL });
	free(t);
	/* only a leading mark is one: anywhere else it is content */
	expect_diags("b.yaml", "apiVersion: v1\n\xef\xbb\xbfkind: Namespace\n",
		     "b.yaml:2:2: did not find expected key while parsing a block mapping");

	/* UTF-16 after its mark (Windows PowerShell's default), both byte orders */
	for (int be = 0; be < 2; be++) {
		struct policy_objects *o;

		t = utf16(web_yaml, be, &len);
		o = parse_ok_len("w16.yaml", t, len);
		check_web(o->netpols[0]);
		policy_objects_free(o);
		free(t);
		t = utf16("apiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: a, bad: 1}\r\n",
			  be, &len);
		expect_diags_len("c16.yaml", t, len,
				 (const char *const[]){
					 "c16.yaml:3:21: metadata: unknown field \"bad\"", NULL });
		free(t);
	}
	expect_diags_len(
		"odd.yaml",
		"\xff\xfe"
		"a\0b",
		5,
		(const char *const[]){
			"odd.yaml: UTF-16 input (byte order mark) of an odd length: 5 bytes",
			NULL });
	expect_diags_len("sur.yaml",
			 "\xff\xfe"
			 "a\0\n\0b\0\x00\xdc",
			 10,
			 (const char *const[]){
				 "sur.yaml:2:2: invalid UTF-16: a lone surrogate (0xdc00)", NULL });
}

static void test_limits(void **state)
{
	size_t big = POLICY_MAX_INPUT_BYTES + 1, n;
	char *text = malloc(big + 1), *p;

	assert_non_null(text);
	memset(text, ' ', big);
	text[big] = '\0';
	expect_diags_len("big.yaml", text, big,
			 (const char *const[]){
				 "big.yaml: input too large: 4194305 bytes (max 4194304)", NULL });

	/* 4097 documents */
	p = text;
	for (unsigned i = 0; i <= POLICY_MAX_DOCUMENTS; i++)
		p += sprintf(p, "---\n");
	expect_diags("docs.yaml", text, "docs.yaml:4097:1: too many documents (max 4096)");

	/* nesting */
	n = 0;
	for (unsigned i = 0; i <= POLICY_MAX_DEPTH; i++)
		text[n++] = '[';
	text[n] = '\0';
	expect_diags("deep.json", text, "deep.json:1:65: nesting too deep (max 64)");

	/* 257 ingress rules */
	p = text + sprintf(text, HDR "spec:\n  podSelector: {}\n  ingress: [");
	for (unsigned i = 0; i <= POLICY_MAX_RULES; i++)
		p += sprintf(p, "{},");
	sprintf(p - 1, "]\n");
	expect_diags("rules.yaml", text,
		     "rules.yaml:7:12: spec.ingress: too many ingress rules: 257 (max 256)");

	/* 257 labels */
	p = text +
	    sprintf(text, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n");
	for (unsigned i = 0; i <= POLICY_MAX_LABELS; i++)
		p += sprintf(p, "    l%u: v\n", i);
	expect_diags("labels.yaml", text,
		     "labels.yaml:6:5: metadata.labels: too many labels: 257 (max 256)");
	free(text);
}

static void test_diag_format(void **state)
{
	struct policy_diags d = { 0 };
	char *s;

	assert_int_equal(policy_diags_add(&d, "f", 1, 2, "a.b", "m %d", 1), 0);
	assert_int_equal(policy_diags_add(&d, "f", 0, 0, "", "m"), 0);
	assert_int_equal(policy_diags_add(&d, NULL, 3, 0, NULL, "100%%"), 0);
	s = policy_diag_format(&d.items[0]);
	assert_string_equal(s, "f:1:2: a.b: m 1");
	free(s);
	s = policy_diag_format(&d.items[1]);
	assert_string_equal(s, "f: m");
	free(s);
	s = policy_diag_format(&d.items[2]);
	assert_string_equal(s, "3: 100%");
	free(s);
	policy_diags_done(&d);
	assert_int_equal(d.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_yaml_json),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_multi_doc_and_list),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_cidr_position),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_json_fallback),
		cmocka_unit_test(test_bom_crlf),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_diag_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
