/* SPDX-License-Identifier: MIT */
/*
 * explain: who can reach whom, from the plans endpoints hold. A registry built by hand
 * (endpoints with addresses and labels, `installed` plans compiled with libpolicy); checks
 * with their deciding rules, isolating policies and address sides; matrices with their port
 * defaults, namespace filter, not-enforced list and pair limit; diffs of rules, elements and
 * reachability.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "explain.h"
#include "unit.h"

#define POLICIES                                                                     \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                    \
	"metadata: {name: db-in, namespace: shop}\n"                                 \
	"spec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress]\n" \
	"  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}],"             \
	" ports: [{port: %u}]}]\n"                                                   \
	"---\n"                                                                      \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                    \
	"metadata: {name: web-out, namespace: shop}\n"                               \
	"spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n" \
	"  egress:\n"                                                                \
	"  - to: [{podSelector: {matchLabels: {app: db}}}]\n"                        \
	"    ports: [{port: 5432}]\n"                                                \
	"  - ports: [{port: 53, protocol: UDP}]\n"                                   \
	"---\n"                                                                      \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                    \
	"metadata: {name: deny-cache, namespace: shop}\n"                            \
	"spec:\n  podSelector: {matchLabels: {app: cache}}\n  policyTypes: [Ingress]\n"

#define ID_WEB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* shop: web (v4+v6), db (v4+v6), cache (v4), v6 (v6), pending (v4, never committed);
 * blog: blog-a (v4). */
static void build(struct registry *r)
{
	static const struct {
		const char *name, *ns, *app, *a4, *a6;
	} def[] = {
		{ "web", "shop", "web", "10.0.0.1", "fd00::1" },
		{ "db", "shop", "db", "10.0.0.2", "fd00::2" },
		{ "cache", "shop", "cache", "10.0.0.3", NULL },
		{ "v6", "shop", "v6", NULL, "fd00::4" },
		{ "pending", "shop", "pending", "10.0.0.5", NULL },
		{ "blog-a", "blog", "a", "10.0.1.1", NULL },
	};

	*r = (struct registry){ 0 };
	for (size_t i = 0; i < ARRAY_SIZE(def); i++) {
		struct endpoint *e = ep_new(ENDPOINT_KIND_NETNS, def[i].name, def[i].ns);

		ep_label(e, "app", def[i].app);
		if (def[i].a4)
			ep_addr(e, def[i].a4);
		if (def[i].a6)
			ep_addr(e, def[i].a6);
		assert_int_equal(registry_insert(r, e), 0);
	}
}

/* Plans of every endpoint of r under the policies (db-in on port db_port), by registry
 * index; the endpoint named `skip` gets none. */
static void compile_all(const struct registry *r, unsigned db_port, const char *skip,
			struct policy_plan **plans)
{
	struct policy_endpoint *eps[16];
	struct policy_objects *objs;
	struct policy_world w;
	char text[2048];

	snprintf(text, sizeof(text), POLICIES, db_port);
	objs = objects_parse(text);
	assert_true(r->n <= 16);
	for (size_t i = 0; i < r->n; i++)
		eps[i] = &r->items[i]->pe;
	w = (struct policy_world){ .netpols = objs->netpols,
				   .n_netpols = objs->n_netpols,
				   .endpoints = eps,
				   .n_endpoints = r->n };
	for (size_t i = 0; i < r->n; i++) {
		plans[i] = NULL;
		if (!skip || !streq(r->items[i]->pe.name, skip))
			assert_int_equal(policy_compile(&w, eps[i], POLICY_DENY_DROP, &plans[i]),
					 0);
	}
	policy_objects_free(objs);
}

/* The registry with the plans of port 5432 installed, and pending left uncommitted. */
static void build_installed(struct registry *r)
{
	struct policy_plan *plans[16];

	build(r);
	compile_all(r, 5432, "pending", plans);
	for (size_t i = 0; i < r->n; i++) {
		r->items[i]->installed = plans[i];
		r->items[i]->state = plans[i] ? ENDPOINT_ENFORCED : ENDPOINT_PENDING;
	}
}

static void assert_json_eq(json_t *got, const char *want_text)
{
	json_auto_t *want = json_parse(want_text);

	if (!json_equal(got, want)) {
		_cleanup_free_ char *g = json_text(got), *w = json_text(want);

		fail_msg("JSON differs:\n  got:  %s\n  want: %s", g, w);
	}
}

static const struct policy_emit_options emit;

static json_t *check_ok(const struct registry *r, const char *from, const char *to,
			const char *port)
{
	struct op_error err = { 0 };
	json_t *o = NULL;
	int k = explain_check(r, &emit, from, to, port, &o, &err);

	if (k != 0)
		fail_msg("explain_check(%s, %s, %s) = %d: %s", from, to, port, k,
			 err.message ? err.message : "?");
	assert_non_null(o);
	return o;
}

static void check_err(const struct registry *r, const char *from, const char *to, const char *port,
		      int want, const char *msg)
{
	struct op_error err = { 0 };
	json_t *o = (json_t *)0x1;

	assert_int_equal(explain_check(r, &emit, from, to, port, &o, &err), want);
	assert_ptr_equal(o, (json_t *)0x1);
	assert_non_null(err.message);
	assert_string_equal(err.message, msg);
	op_error_done(&err);
}

static void test_check_allowed(void **state)
{
	struct registry r;
	json_auto_t *o = NULL;
	json_t *checks;

	build_installed(&r);
	o = check_ok(&r, "web", "db", "5432");
	assert_json_string(o, "from", "web");
	assert_json_string(o, "to", "db");
	assert_json_string(o, "port", "5432/TCP");
	assert_json_string(o, "verdict", "allowed");
	assert_json_string(o, "family", "ipv4");
	assert_json_eq(
		json_object_get(o, "egress"),
		"{\"endpoint\": \"web\", \"enforced\": true, \"isolated\": true, \"allowed\": true,"
		" \"selected_by\": [\"shop/web-out\"], \"rules\": [{\"policy\": \"shop/web-out\","
		" \"rule\": \"egress[0]\", \"comment\": \"shop/web-out egress[0]\"}],"
		" \"reason\": \"allowed by shop/web-out egress[0]\", \"tier\": \"NetworkPolicy\","
		" \"decided_by\": {\"policy\": \"shop/web-out\", \"rule\": \"egress[0]\","
		" \"comment\": \"shop/web-out egress[0]\"}, \"passed\": [],"
		" \"guard\": {\"state\": \"pending\", \"reason\": null, \"devices\": []}}");
	assert_json_eq(
		json_object_get(o, "ingress"),
		"{\"endpoint\": \"db\", \"enforced\": true, \"isolated\": true, \"allowed\": true,"
		" \"selected_by\": [\"shop/db-in\"], \"rules\": [{\"policy\": \"shop/db-in\","
		" \"rule\": \"ingress[0]\", \"comment\": \"shop/db-in ingress[0]\"}],"
		" \"reason\": \"allowed by shop/db-in ingress[0]\", \"tier\": \"NetworkPolicy\","
		" \"decided_by\": {\"policy\": \"shop/db-in\", \"rule\": \"ingress[0]\","
		" \"comment\": \"shop/db-in ingress[0]\"}, \"passed\": []}");
	/* both families, each with its addresses */
	checks = json_object_get(o, "checks");
	assert_int_equal(json_array_size(checks), 2);
	assert_json_string(json_array_get(checks, 1), "family", "ipv6");
	assert_json_eq(
		json_object_get(json_array_get(checks, 1), "from"),
		"{\"endpoint\": \"web\", \"namespace\": \"shop\", \"address\": \"fd00::1\"}");
	assert_json_eq(json_object_get(json_array_get(checks, 1), "to"),
		       "{\"endpoint\": \"db\", \"namespace\": \"shop\", \"address\": \"fd00::2\"}");
	assert_json_true(json_array_get(checks, 1), "allowed");
	/* never attached: the kernel cannot confirm it */
	assert_json_eq(json_object_get(o, "kernel"),
		       "[{\"endpoint\": \"web\", \"in_sync\": false,"
		       "  \"error\": \"not attached or nothing committed\"},"
		       " {\"endpoint\": \"db\", \"in_sync\": false,"
		       "  \"error\": \"not attached or nothing committed\"}]");
	assert_json_true(o, "kernel_mismatch");
	json_decref(o);

	/* nobody isolates db's egress or web's ingress */
	o = check_ok(&r, "db", "web", "80/tcp");
	assert_json_string(o, "verdict", "allowed");
	assert_json_string(json_object_get(o, "egress"), "reason",
			   "no policy with Egress in policyTypes selects db: all egress traffic is "
			   "allowed");
	assert_json_false(json_object_get(o, "egress"), "isolated");
	assert_json_eq(json_object_get(json_object_get(o, "egress"), "rules"), "[]");
	assert_json_string(json_object_get(o, "ingress"), "reason",
			   "no policy with Ingress in policyTypes selects web: all ingress traffic "
			   "is allowed");
	registry_done(&r);
}

static void test_check_denied(void **state)
{
	struct registry r;
	json_auto_t *o = NULL;

	build_installed(&r);
	o = check_ok(&r, "web", "db", "80");
	assert_json_string(o, "verdict", "denied");
	assert_json_false(json_object_get(o, "egress"), "allowed");
	assert_json_string(json_object_get(o, "egress"), "reason",
			   "web is selected by shop/web-out for egress, and none of their rules "
			   "matches");
	assert_json_string(
		json_object_get(o, "ingress"), "reason",
		"db is selected by shop/db-in for ingress, and none of their rules matches");
	json_decref(o);

	/* web may send 53/UDP anywhere; cache takes nothing */
	o = check_ok(&r, "web", "cache", "53/UDP");
	assert_json_string(o, "verdict", "denied");
	assert_json_string(o, "port", "53/UDP");
	assert_int_equal(json_array_size(json_object_get(o, "checks")), 1); /* IPv4 only */
	assert_json_true(json_object_get(o, "egress"), "allowed");
	assert_json_eq(json_object_get(json_object_get(o, "egress"), "rules"),
		       "[{\"policy\": \"shop/web-out\", \"rule\": \"egress[1]\","
		       " \"comment\": \"shop/web-out egress[1]\"}]");
	assert_json_false(json_object_get(o, "ingress"), "allowed");
	assert_json_eq(json_object_get(json_object_get(o, "ingress"), "selected_by"),
		       "[\"shop/deny-cache\"]");
	json_decref(o);

	/* a quarantined end says so */
	registry_get(&r, "db")->quarantined = true;
	o = check_ok(&r, "cache", "db", "5432");
	assert_json_string(o, "verdict", "denied");
	assert_json_string(
		json_object_get(o, "ingress"), "reason",
		"quarantined: its labels are not known yet, so it is isolated both ways");
	json_decref(o);

	/* nothing committed yet: denied, and why */
	o = check_ok(&r, "web", "pending", "53/udp");
	assert_json_string(o, "verdict", "denied");
	assert_json_eq(json_object_get(o, "ingress"),
		       "{\"endpoint\": \"pending\", \"enforced\": false, \"allowed\": false,"
		       " \"reason\": \"no ruleset committed yet (state pending)\"}");
	json_decref(o);
	endpoint_set_error(registry_get(&r, "pending"), ENDPOINT_ERROR, "netns gone");
	o = check_ok(&r, "pending", "web", "80");
	assert_json_string(json_object_get(o, "egress"), "reason",
			   "no ruleset committed yet (state error: netns gone)");
	registry_done(&r);
}

static void test_check_addresses(void **state)
{
	struct registry r;
	json_auto_t *o = NULL;
	json_t *c;

	build_installed(&r);
	/* an endpoint's address is that endpoint; an outside one filters nothing */
	o = check_ok(&r, "10.0.0.1", "8.8.8.8", "53/udp");
	assert_json_string(o, "verdict", "allowed");
	assert_json_string(o, "from", "10.0.0.1");
	c = json_array_get(json_object_get(o, "checks"), 0);
	assert_json_eq(
		json_object_get(c, "from"),
		"{\"endpoint\": \"web\", \"namespace\": \"shop\", \"address\": \"10.0.0.1\"}");
	assert_json_eq(json_object_get(c, "to"), "{\"address\": \"8.8.8.8\"}");
	assert_json_eq(
		json_object_get(o, "ingress"),
		"{\"enforced\": false, \"allowed\": true, \"reason\": \"not an endpoint segd "
		"manages: nothing filters this direction\"}");
	assert_int_equal(json_array_size(json_object_get(o, "kernel")), 1);
	json_decref(o);
	o = check_ok(&r, "8.8.8.8", "db", "5432");
	assert_json_string(o, "verdict", "denied");
	json_decref(o);
	/* the given address picks the family */
	o = check_ok(&r, "web", "fd00::2", "5432");
	assert_json_string(o, "family", "ipv6");
	assert_int_equal(json_array_size(json_object_get(o, "checks")), 1);
	json_decref(o);
	/* the same endpoint on both sides is read back once */
	o = check_ok(&r, "web", "10.0.0.1", "80");
	assert_int_equal(json_array_size(json_object_get(o, "kernel")), 1);
	json_decref(o);
	/* a container id prefix names its endpoint */
	ep_container(registry_get(&r, "web"), ID_WEB, "web-1", true);
	o = check_ok(&r, "0123", "db", "5432");
	assert_json_string(o, "verdict", "allowed");
	assert_json_string(json_object_get(o, "egress"), "endpoint", "web");
	registry_done(&r);
}

static void test_check_errors(void **state)
{
	struct registry r;

	build_installed(&r);
	check_err(&r, "web", "nope", "80", -ENOENT,
		  "nope: no such endpoint (name, container id prefix) or IP address");
	check_err(&r, "nope", "web", "80", -ENOENT,
		  "nope: no such endpoint (name, container id prefix) or IP address");
	check_err(&r, "10.0.0.300", "web", "80", -ENOENT,
		  "10.0.0.300: no such endpoint (name, container id prefix) or IP address");
	check_err(&r, "web", "db", "0", -EINVAL,
		  "port: \"0\" is not PORT or PORT/PROTOCOL (TCP, UDP, SCTP)");
	check_err(&r, "web", "db", "65536", -EINVAL,
		  "port: \"65536\" is not PORT or PORT/PROTOCOL (TCP, UDP, SCTP)");
	check_err(&r, "web", "db", "80/icmp", -EINVAL,
		  "port: \"80/icmp\" is not PORT or PORT/PROTOCOL (TCP, UDP, SCTP)");
	check_err(&r, "web", "db", "", -EINVAL,
		  "port: \"\" is not PORT or PORT/PROTOCOL (TCP, UDP, SCTP)");
	check_err(&r, "web", "db", NULL, -EINVAL,
		  "port: \"\" is not PORT or PORT/PROTOCOL (TCP, UDP, SCTP)");
	check_err(&r, "", "db", "80", -EINVAL, "from and to are required");
	check_err(&r, "web", NULL, "80", -EINVAL, "from and to are required");
	check_err(&r, "8.8.8.8", "1.1.1.1", "80", -EINVAL,
		  "neither 8.8.8.8 nor 1.1.1.1 is an endpoint segd manages");
	check_err(&r, "cache", "v6", "80", -EINVAL,
		  "cache and v6 have no address family in common");
	/* blog-a's namespace takes web's address: by that address, nobody can say who it is */
	ep_addr(registry_get(&r, "blog-a"), "10.0.0.1");
	check_err(&r, "10.0.0.1", "db", "5432", -EADDRINUSE,
		  "10.0.0.1 is ambiguous: endpoints blog-a and web both hold it");
	check_err(&r, "fd00::99", "cache", "80", -EINVAL,
		  "fd00::99 and cache have no address family in common");
	registry_done(&r);
}

static json_t *matrix_ok(const struct registry *r, const char *ns, const char *ports)
{
	struct op_error err = { 0 };
	json_t *o = NULL;
	int k = explain_matrix(r, ns, ports, EXPLAIN_DEFAULT_BUDGET, &o, &err);

	if (k != 0)
		fail_msg("explain_matrix(%s, %s) = %d: %s", ns ? ns : "all",
			 ports ? ports : "default", k, err.message ? err.message : "?");
	return o;
}

static size_t index_of(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (streq(json_is_string(v) ? json_string_value(v)
					    : json_string_value(json_object_get(v, "name")),
			  name))
			return i;
	fail_msg("%s is not listed", name);
	return 0;
}

/* The verdict of from->to on port in a matrix's rows: 1, 0, or -1 when the pair shares no
 * address family or is one endpoint twice. */
static int pair(json_t *m, const char *from, const char *to, const char *port)
{
	json_t *eps = json_object_get(m, "endpoints");
	size_t k = index_of(json_object_get(m, "ports"), port);
	const char *row = json_string_value(
		json_array_get(json_array_get(json_object_get(m, "rows"), k), index_of(eps, from)));
	char c;

	assert_non_null(row);
	assert_int_equal(strlen(row), json_array_size(eps));
	c = row[index_of(eps, to)];
	assert_true(c == 'Y' || c == '.' || c == '?' || c == '-');
	return c == 'Y' ? 1 : c == '.' ? 0 : -1;
}

/* The cells of a matrix that are a verdict (not '-' or '?'). */
static size_t verdicts(json_t *m)
{
	size_t n = 0, k, i;
	json_t *rows, *row;

	json_array_foreach(json_object_get(m, "rows"), k, rows)
		json_array_foreach(rows, i, row)
			for (const char *c = json_string_value(row); *c; c++)
				n += *c == 'Y' || *c == '.';
	return n;
}

static void test_matrix(void **state)
{
	struct registry r;
	json_auto_t *m = NULL;

	build_installed(&r);
	/* the ports the plans name, sorted (TCP first) */
	m = matrix_ok(&r, "shop", NULL);
	assert_json_eq(json_object_get(m, "ports"), "[\"5432/TCP\", \"53/UDP\"]");
	assert_json_eq(json_object_get(m, "endpoints"),
		       "[{\"name\": \"cache\", \"namespace\": \"shop\"},"
		       " {\"name\": \"db\", \"namespace\": \"shop\"},"
		       " {\"name\": \"v6\", \"namespace\": \"shop\"},"
		       " {\"name\": \"web\", \"namespace\": \"shop\"}]");
	assert_json_eq(json_object_get(m, "not_enforced"),
		       "[{\"name\": \"pending\", \"state\": \"pending\"}]");
	/* 5 pairs of endpoints share a family (cache and v6 do not): 10 ordered, x 2 ports */
	assert_int_equal(verdicts(m), 20);
	assert_json_eq(json_object_get(m, "rows"), "[[\"-.?Y\", \".-YY\", \"?.-Y\", \".Y.-\"],"
						   " [\"-.?Y\", \".-YY\", \"?.-Y\", \"..Y-\"]]");
	assert_int_equal(pair(m, "web", "db", "5432/TCP"), 1);
	assert_int_equal(pair(m, "web", "db", "53/UDP"), 0);
	assert_int_equal(pair(m, "db", "web", "5432/TCP"), 1);
	assert_int_equal(pair(m, "cache", "db", "5432/TCP"), 0);
	assert_int_equal(pair(m, "web", "cache", "53/UDP"), 0);
	assert_int_equal(pair(m, "web", "v6", "53/UDP"), 1);
	assert_int_equal(pair(m, "web", "v6", "5432/TCP"), 0);
	assert_int_equal(pair(m, "cache", "v6", "53/UDP"), -1);
	assert_int_equal(pair(m, "web", "web", "53/UDP"), -1);
	json_decref(m);

	/* ports given */
	m = matrix_ok(&r, "shop", "5432,80/udp,5432/tcp");
	assert_json_eq(json_object_get(m, "ports"), "[\"5432/TCP\", \"80/UDP\"]");
	assert_int_equal(pair(m, "db", "web", "80/UDP"), 1);
	assert_int_equal(pair(m, "web", "db", "80/UDP"), 0);
	json_decref(m);

	/* every namespace */
	m = matrix_ok(&r, NULL, "80");
	assert_int_equal(json_array_size(json_object_get(m, "endpoints")), 5);
	assert_int_equal(pair(m, "blog-a", "cache", "80/TCP"), 0);
	assert_int_equal(pair(m, "blog-a", "web", "80/TCP"), 1);
	json_decref(m);

	/* no rule names a port: 80/TCP */
	m = matrix_ok(&r, "blog", NULL);
	assert_json_eq(json_object_get(m, "ports"), "[\"80/TCP\"]");
	assert_json_eq(json_object_get(m, "rows"), "[[\"-\"]]");
	assert_json_eq(json_object_get(m, "not_enforced"), "[]");
	json_decref(m);
	m = matrix_ok(&r, "nothing-here", "");
	assert_json_eq(m, "{\"endpoints\": [], \"ports\": [\"80/TCP\"], \"rows\": [[]],"
			  " \"not_enforced\": [], \"tiers\": []}");

	{
		struct op_error err = { 0 };
		json_t *o = NULL;

		assert_int_equal(explain_matrix(&r, NULL, "80,x", EXPLAIN_DEFAULT_BUDGET, &o, &err),
				 -EINVAL);
		assert_string_equal(err.message, "ports: \"80,x\" is not a list of PORT[/PROTOCOL] "
						 "(at most 64)");
		assert_null(o);
		op_error_done(&err);
	}
	registry_done(&r);
}

/* n endpoints with empty (but installed) plans, no addresses. */
static void build_many(struct registry *r, size_t n)
{
	*r = (struct registry){ 0 };
	for (size_t i = 0; i < n; i++) {
		char name[16];
		struct endpoint *e;

		snprintf(name, sizeof(name), "e%04zu", i);
		e = ep_new(ENDPOINT_KIND_NETNS, name, "x");
		e->installed = calloc(1, sizeof(*e->installed));
		assert_non_null(e->installed);
		assert_int_equal(registry_insert(r, e), 0);
	}
}

static void test_matrix_limit(void **state)
{
	const uint64_t cells = 128 * 127 * 64;
	char ports[512] = "";
	struct registry r;
	struct op_error err = { 0 };
	json_t *o = NULL;

	for (int i = 1; i <= EXPLAIN_MAX_PORTS; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%d",
			 i > 1 ? "," : "", i);
	/* 128 x 127 x 64 cells, within a budget of exactly that */
	build_many(&r, 128);
	assert_int_equal(explain_matrix(&r, NULL, ports, cells, &o, &err), 0);
	assert_int_equal(json_array_size(json_object_get(o, "endpoints")), 128);
	assert_int_equal(json_array_size(json_object_get(o, "ports")), 64);
	assert_int_equal(json_array_size(json_object_get(o, "rows")), 64);
	assert_int_equal(json_array_size(json_array_get(json_object_get(o, "rows"), 63)), 128);
	json_decref(o);
	o = NULL;
	/* one cell less: refused before any pair is evaluated, saying how to narrow it */
	assert_int_equal(explain_matrix(&r, NULL, ports, cells - 1, &o, &err), -EMSGSIZE);
	assert_string_equal(
		err.message,
		"matrix of 128 endpoints (16256 pairs) x 64 ports is 1040384 cells, over "
		"the budget of 1040383 (segd --matrix-budget); narrow it with a "
		"namespace (-n) or fewer ports (--port)");
	assert_null(o);
	op_error_done(&err);
	/* fewer ports fit */
	assert_int_equal(explain_matrix(&r, NULL, "1,2,3", cells - 1, &o, &err), 0);
	json_decref(o);
	o = NULL;
	/* an endpoint without a committed ruleset is not counted */
	assert_int_equal(registry_insert(&r, ep_new(ENDPOINT_KIND_NETNS, "not-enforced", "y")), 0);
	assert_int_equal(explain_matrix(&r, NULL, ports, cells, &o, &err), 0);
	json_decref(o);
	o = NULL;
	registry_get(&r, "not-enforced")->installed = calloc(1, sizeof(struct policy_plan));
	assert_int_equal(explain_matrix(&r, NULL, ports, cells, &o, &err), -EMSGSIZE);
	assert_null(o);
	op_error_done(&err);
	/* a namespace narrows it */
	assert_int_equal(explain_matrix(&r, "y", ports, cells, &o, &err), 0);
	json_decref(o);
	/* 65 ports are refused outright */
	strcat(ports, ",65");
	assert_int_equal(explain_matrix(&r, "y", ports, cells, &o, &err), -EINVAL);
	op_error_done(&err);
	registry_done(&r);
}

static json_t *diff_budget(const struct registry *r, struct policy_plan **plans, uint64_t budget)
{
	json_t *o = NULL;

	assert_int_equal(explain_diff(r, plans, budget, &o), 0);
	assert_non_null(o);
	return o;
}

static json_t *diff_of(const struct registry *r, struct policy_plan **plans)
{
	json_t *o = NULL;

	assert_int_equal(explain_diff(r, plans, EXPLAIN_DEFAULT_BUDGET, &o), 0);
	assert_non_null(o);
	return o;
}

static void plans_free(struct policy_plan **plans, size_t n)
{
	for (size_t i = 0; i < n; i++)
		policy_plan_free(plans[i]);
}

static void test_diff(void **state)
{
	struct policy_plan *plans[16];
	struct registry r;
	json_auto_t *d = NULL;
	json_t *e;

	build_installed(&r);
	/* the same policies: nothing changes but pending, which has no plan yet */
	compile_all(&r, 5432, NULL, plans);
	d = diff_of(&r, plans);
	assert_int_equal(json_array_size(json_object_get(d, "endpoints")), 1);
	e = json_array_get(json_object_get(d, "endpoints"), 0);
	assert_json_string(e, "name", "pending");
	assert_json_false(e, "committed_before");
	assert_true(json_is_null(json_object_get(json_object_get(e, "isolation"), "before")));
	assert_json_eq(json_object_get(d, "reachability"), "[]");
	assert_json_eq(json_object_get(d, "ports"), "[\"5432/TCP\", \"53/UDP\"]");
	plans_free(plans, r.n);
	json_decref(d);

	/* db-in moves to 5433: db's rules change, web can no longer reach it on 5432 */
	compile_all(&r, 5433, "pending", plans);
	d = diff_of(&r, plans);
	assert_int_equal(json_array_size(json_object_get(d, "endpoints")), 1);
	e = json_array_get(json_object_get(d, "endpoints"), 0);
	assert_json_eq(
		e, "{\"name\": \"db\", \"namespace\": \"shop\", \"committed_before\": true,"
		   " \"isolation\": {\"before\": {\"ingress\": true, \"egress\": false},"
		   "                \"after\": {\"ingress\": true, \"egress\": false}},"
		   " \"selected_by\": {\"before\": [\"shop/db-in\"], \"after\": [\"shop/db-in\"]},"
		   " \"rules_added\": [\"shop/db-in ingress[0]: ipv4 from @i0_p4 TCP/5433\","
		   "                 \"shop/db-in ingress[0]: ipv6 from @i0_p6 TCP/5433\"],"
		   " \"rules_removed\": [\"shop/db-in ingress[0]: ipv4 from @i0_p4 TCP/5432\","
		   "                   \"shop/db-in ingress[0]: ipv6 from @i0_p6 TCP/5432\"],"
		   " \"elements_added_count\": 0, \"elements_removed_count\": 0,"
		   " \"elements_added\": {}, \"elements_removed\": {}}");
	assert_json_eq(json_object_get(d, "ports"), "[\"5432/TCP\", \"5433/TCP\", \"53/UDP\"]");
	assert_json_eq(
		json_object_get(d, "reachability"),
		"[{\"from\": \"web\", \"to\": \"db\", \"port\": \"5432/TCP\", \"before\": true,"
		"  \"after\": false}]");
	assert_null(json_object_get(d, "reachability_error"));
	plans_free(plans, r.n);
	registry_done(&r);
}

static void test_diff_elements(void **state)
{
	struct policy_plan *plans[16];
	struct registry r;
	json_auto_t *d = NULL;
	json_t *e;

	/* web moves to 10.0.0.9: db's set of peers changes, its rules do not */
	build_installed(&r);
	registry_get(&r, "web")->pe.addrs[0].addr[3] = 9;
	compile_all(&r, 5432, "pending", plans);
	d = diff_of(&r, plans);
	e = json_array_get(json_object_get(d, "endpoints"), 0);
	assert_int_equal(json_array_size(json_object_get(d, "endpoints")), 1);
	assert_json_string(e, "name", "db");
	assert_json_eq(json_object_get(e, "rules_added"), "[]");
	assert_json_int(e, "elements_added_count", 1);
	assert_json_int(e, "elements_removed_count", 1);
	assert_json_eq(json_object_get(e, "elements_added"), "{\"i0_p4\": [\"10.0.0.9\"]}");
	assert_json_eq(json_object_get(e, "elements_removed"), "{\"i0_p4\": [\"10.0.0.1\"]}");
	plans_free(plans, r.n);
	json_decref(d);
	registry_done(&r);

	/* 40 new peers: 32 listed, then a count */
	build_installed(&r);
	for (int i = 0; i < 40; i++) {
		char name[16], a[16];
		struct endpoint *w;

		snprintf(name, sizeof(name), "web%02d", i);
		snprintf(a, sizeof(a), "10.0.2.%d", i + 1);
		w = ep_new(ENDPOINT_KIND_NETNS, name, "shop");
		ep_label(w, "app", "web");
		ep_addr(w, a);
		assert_int_equal(registry_insert(&r, w), 0);
	}
	{
		struct policy_plan *all[64], *none[64] = { NULL };
		struct policy_endpoint *eps[64];
		struct policy_objects *objs;
		struct policy_world w;
		char text[2048];
		ssize_t k = -1;

		snprintf(text, sizeof(text), POLICIES, 5432);
		objs = objects_parse(text);
		for (size_t i = 0; i < r.n; i++) {
			eps[i] = &r.items[i]->pe;
			if (streq(eps[i]->name, "db"))
				k = (ssize_t)i;
		}
		w = (struct policy_world){ .netpols = objs->netpols,
					   .n_netpols = objs->n_netpols,
					   .endpoints = eps,
					   .n_endpoints = r.n };
		assert_true(k >= 0);
		memcpy(all, none, sizeof(all));
		assert_int_equal(policy_compile(&w, eps[k], POLICY_DENY_DROP, &all[k]), 0);
		d = diff_of(&r, all);
		e = json_array_get(json_object_get(d, "endpoints"), 0);
		assert_json_int(e, "elements_added_count", 40);
		assert_int_equal(json_array_size(
					 json_object_get(json_object_get(e, "elements_added"),
							 "i0_p4")),
				 33);
		assert_string_equal(json_string_value(json_array_get(
					    json_object_get(json_object_get(e, "elements_added"),
							    "i0_p4"),
					    32)),
				    "... 8 more");
		policy_plan_free(all[k]);
		policy_objects_free(objs);
	}
	registry_done(&r);
}

static void test_diff_limit(void **state)
{
	struct registry r;
	struct policy_plan **plans;
	json_t *o;

	/* 100 changed among 100 evaluated, 1 port: 100 x 99 ordered pairs, before and after */
	build_many(&r, 100);
	plans = calloc(r.n, sizeof(*plans));
	assert_non_null(plans);
	for (size_t i = 0; i < r.n; i++) {
		plans[i] = calloc(1, sizeof(**plans));
		assert_non_null(plans[i]);
		plans[i]->isolated[POLICY_DIR_INGRESS] = true;
	}
	o = diff_budget(&r, plans, 19799);
	assert_int_equal(json_array_size(json_object_get(o, "endpoints")), 100);
	assert_true(json_is_null(json_object_get(o, "reachability")));
	assert_json_string(o, "reachability_error",
			   "100 changed endpoints against 100 x 1 ports is 19800 cells, over the "
			   "budget of 19799 (segd --matrix-budget): run segctl matrix with a "
			   "namespace before and after instead");
	json_decref(o);
	o = diff_budget(&r, plans, 19800);
	assert_json_eq(json_object_get(o, "reachability"), "[]"); /* no addresses: no pairs */
	assert_null(json_object_get(o, "reachability_error"));
	json_decref(o);
	plans_free(plans, r.n);
	free(plans);
	registry_done(&r);

	/* 110 endpoints with addresses, each now isolated: all 11990 pairs change; the first
	 * 10000 are listed, the rest counted */
	build_many(&r, 110);
	plans = calloc(r.n, sizeof(*plans));
	assert_non_null(plans);
	for (size_t i = 0; i < r.n; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.1.%zu.%zu", i / 200, i % 200 + 1);
		ep_addr(r.items[i], a);
		plans[i] = calloc(1, sizeof(**plans));
		assert_non_null(plans[i]);
		plans[i]->isolated[POLICY_DIR_INGRESS] = true;
	}
	o = diff_of(&r, plans);
	assert_int_equal(json_array_size(json_object_get(o, "reachability")),
			 EXPLAIN_DIFF_MAX_LISTED);
	assert_json_int(o, "reachability_more", 110 * 109 - EXPLAIN_DIFF_MAX_LISTED);
	json_decref(o);
	plans_free(plans, r.n);
	free(plans);
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_allowed),
		cmocka_unit_test(test_check_denied),
		cmocka_unit_test(test_check_addresses),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_matrix_limit),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_diff_elements),
		cmocka_unit_test(test_diff_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
