/* SPDX-License-Identifier: MIT */
/*
 * Who can reach whom, and why: one flow (check) and every pair (matrix), evaluated against the
 * plans the kernel was given (endpoint->installed). A check also reads the two namespaces'
 * rulesets back, so that a plan the kernel no longer holds is flagged rather than trusted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "explain.h"
#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rules.h"

#define MATRIX_MAX_PORTS 64
#define MATRIX_MAX_PAIRS (1u << 20)	/* pairs x ports in one answer */

/* One side of a flow: an endpoint, or an address segd does not manage. */
struct side {
	const char *ref;		/* as given */
	struct endpoint *e;		/* NULL: an outside address */
	struct policy_addr ip;		/* the address given, when one was */
	bool has_ip;
};

int explain_parse_port(const char *s, struct explain_port *ret)
{
	const char *slash;
	char *end = NULL;
	unsigned long v;
	int proto = POLICY_PROTO_TCP;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || v == 0 || v > 65535 || (*end && *end != '/'))
		return -EINVAL;
	slash = *end == '/' ? end + 1 : NULL;
	if (slash) {
		char up[8];
		size_t n = strlen(slash);

		if (n == 0 || n >= sizeof(up))
			return -EINVAL;
		for (size_t i = 0; i <= n; i++)
			up[i] = (char)(slash[i] >= 'a' && slash[i] <= 'z' ? slash[i] - 32 : slash[i]);
		proto = policy_proto_from_string(up);
		if (proto < 0)
			return -EINVAL;
	}
	*ret = (struct explain_port){ .port = (uint16_t)v, .proto = (enum policy_proto)proto };
	return 0;
}

static json_t *port_json(const struct explain_port *p)
{
	return json_sprintf("%u/%s", p->port, policy_proto_to_string(p->proto));
}

static const char *family_name(int family)
{
	return family == AF_INET ? "ipv4" : "ipv6";
}

static json_t *addr_json(const struct policy_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, a->addr, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

static bool addr_equal(const struct policy_addr *a, const struct policy_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static struct endpoint *endpoint_by_addr(struct manager *m, const struct policy_addr *a)
{
	for (size_t i = 0; i < m->n_endpoints; i++)
		for (size_t k = 0; k < m->endpoints[i]->pe.n_addrs; k++)
			if (addr_equal(&m->endpoints[i]->pe.addrs[k], a))
				return m->endpoints[i];
	return NULL;
}

static int side_resolve(struct manager *m, const char *ref, struct side *s, struct op_error *err)
{
	*s = (struct side){ .ref = ref };
	if (!ref || !*ref)
		return op_error_set(err, 400, -EINVAL, "from and to are required");
	if (inet_pton(AF_INET, ref, s->ip.addr) == 1)
		s->ip.family = AF_INET;
	else if (inet_pton(AF_INET6, ref, s->ip.addr) == 1)
		s->ip.family = AF_INET6;
	if (s->ip.family) {
		s->has_ip = true;
		s->e = endpoint_by_addr(m, &s->ip);
		return 0;
	}
	s->e = manager_find_endpoint(m, ref);
	if (!s->e)
		return op_error_set(err, 404, -ENOENT,
				    "%s: no such endpoint (name, container id prefix) or IP address",
				    ref);
	return 0;
}

/* The side's address of `family`, if it has one. */
static const struct policy_addr *side_addr(const struct side *s, int family)
{
	if (s->has_ip)
		return s->ip.family == family ? &s->ip : NULL;
	for (size_t k = 0; s->e && k < s->e->pe.n_addrs; k++)
		if (s->e->pe.addrs[k].family == family)
			return &s->e->pe.addrs[k];
	return NULL;
}

static json_t *side_json(const struct side *s, const struct policy_addr *a)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (s->e) {
		json_object_set_new(o, "endpoint", json_string(s->e->pe.name));
		json_object_set_new(o, "namespace", json_string(s->e->pe.namespace));
	}
	if (a)
		json_object_set_new(o, "address", addr_json(a));
	return o;
}

static json_t *rule_json(const struct policy_plan_rule *r)
{
	return json_pack("{s:o, s:o, s:s}", "policy",
			 json_sprintf("%s/%s", r->policy_namespace, r->policy_name), "rule",
			 json_sprintf("%s[%u]", policy_dir_to_string(r->dir), r->rule_index),
			 "comment", r->comment ? r->comment : "");
}

/*
 * One direction at the endpoint that enforces it: egress at the source (peer = destination),
 * ingress at the destination (peer = source). *allowed is the direction's verdict.
 */
static json_t *direction_json(struct endpoint *e, enum policy_dir dir, const struct policy_addr *peer,
			      const struct explain_port *port, bool *allowed)
{
	struct policy_verdict v = { 0 };
	const struct policy_plan *plan;
	json_t *o, *rules, *sel;
	char reason[512];

	if (!e) {
		*allowed = true;
		return json_pack("{s:b, s:b, s:s}", "enforced", false, "allowed", true, "reason",
				 "not an endpoint segd manages: nothing filters this direction");
	}
	plan = e->installed;
	if (!plan) {
		*allowed = false;
		snprintf(reason, sizeof(reason), "no ruleset committed yet (state %s%s%s)",
			 endpoint_state_to_string(e->state), e->error ? ": " : "",
			 e->error ? e->error : "");
		return json_pack("{s:s, s:b, s:b, s:s}", "endpoint", e->pe.name, "enforced", false,
				 "allowed", false, "reason", reason);
	}
	if (policy_plan_evaluate(plan, dir, peer, port->proto, port->port, &v) < 0)
		return NULL;
	*allowed = v.allowed;

	rules = json_array();
	sel = json_array();
	for (size_t i = 0; rules && i < v.n_rules; i++)
		json_array_append_new(rules, rule_json(&plan->rules[v.rules[i]]));
	for (size_t i = 0; sel && i < plan->n_selected_by; i++)
		json_array_append_new(sel, json_string(plan->selected_by[i]));

	if (e->quarantined)
		snprintf(reason, sizeof(reason), "quarantined: its labels are not known yet, so it is "
			 "isolated both ways");
	else if (!v.isolated)
		snprintf(reason, sizeof(reason), "no policy with %s in policyTypes selects %s: all %s "
			 "traffic is allowed", dir == POLICY_DIR_INGRESS ? "Ingress" : "Egress",
			 e->pe.name, policy_dir_to_string(dir));
	else if (v.n_rules > 0)
		snprintf(reason, sizeof(reason), "allowed by %s/%s %s[%u]",
			 plan->rules[v.rules[0]].policy_namespace, plan->rules[v.rules[0]].policy_name,
			 policy_dir_to_string(dir), plan->rules[v.rules[0]].rule_index);
	else {
		_cleanup_free_ char *names = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&names, &len);

		for (size_t i = 0; f && i < plan->n_selected_by; i++)
			fprintf(f, "%s%s", i ? ", " : "", plan->selected_by[i]);
		if (f)
			fclose(f);
		snprintf(reason, sizeof(reason), "%s is selected by %s for %s, and none of their "
			 "rules matches", e->pe.name, names && *names ? names : "a policy",
			 policy_dir_to_string(dir));
	}
	o = json_pack("{s:s, s:b, s:b, s:b, s:o, s:o, s:s}", "endpoint", e->pe.name, "enforced", true,
		      "isolated", v.isolated, "allowed", v.allowed, "selected_by", sel, "rules",
		      rules, "reason", reason);
	policy_verdict_done(&v);
	return o;
}

/* Whether the kernel still holds what segd believes it committed in e's namespace. */
static json_t *kernel_json(struct endpoint *e)
{
	json_t *dump = NULL;
	bool in_sync = false;
	int r;

	if (!e->nft || !e->installed)
		return json_pack("{s:s, s:b, s:s}", "endpoint", e->pe.name, "in_sync", false, "error",
				 "not attached or nothing committed");
	r = nft_rules_json(e->nft, e->installed, &dump, &in_sync);
	json_decref(dump);
	if (r < 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "cannot read the ruleset back: %s", strerror(-r));
		return json_pack("{s:s, s:b, s:s}", "endpoint", e->pe.name, "in_sync", false, "error",
				 msg);
	}
	return json_pack("{s:s, s:b}", "endpoint", e->pe.name, "in_sync", in_sync);
}

int manager_check(struct manager *m, const char *from, const char *to, const char *port,
		  json_t **ret, struct op_error *err)
{
	static const int families[] = { AF_INET, AF_INET6 };
	json_auto_t *out = NULL, *checks = NULL, *kernel = NULL;
	struct explain_port p;
	struct side a, b;
	bool verdict = true, any = false, mismatch = false;
	json_t *decisive = NULL;
	int r;

	if (explain_parse_port(port, &p) < 0)
		return op_error_set(err, 400, -EINVAL, "port: \"%s\" is not PORT or PORT/PROTOCOL "
				    "(TCP, UDP, SCTP)", port ? port : "");
	r = side_resolve(m, from, &a, err);
	if (r >= 0)
		r = side_resolve(m, to, &b, err);
	if (r < 0)
		return r;
	if (!a.e && !b.e)
		return op_error_set(err, 400, -EINVAL, "neither %s nor %s is an endpoint segd "
				    "manages", from, to);

	checks = json_array();
	kernel = json_array();
	if (!checks || !kernel)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct policy_addr *sa = side_addr(&a, families[i]);
		const struct policy_addr *da = side_addr(&b, families[i]);
		bool eg, in;
		json_t *c;

		if (!sa || !da)
			continue;
		any = true;
		c = json_pack("{s:s, s:o, s:o, s:o, s:o}", "family", family_name(families[i]), "from",
			      side_json(&a, sa), "to", side_json(&b, da), "egress",
			      direction_json(a.e, POLICY_DIR_EGRESS, da, &p, &eg), "ingress",
			      direction_json(b.e, POLICY_DIR_INGRESS, sa, &p, &in));
		if (!c)
			return op_error_set(err, 500, -ENOMEM, "out of memory");
		json_object_set_new(c, "allowed", json_boolean(eg && in));
		json_array_append_new(checks, c);
		/* the first family that denies decides the summary; else the first one */
		if ((!(eg && in) && verdict) || !decisive)
			decisive = c;
		verdict = verdict && eg && in;
	}
	if (!any)
		return op_error_set(err, 400, -EINVAL, "%s and %s have no address family in common",
				    from, to);

	for (size_t i = 0; i < 2; i++) {
		struct endpoint *e = i ? b.e : a.e;
		json_t *k;

		if (!e || (i == 1 && e == a.e))
			continue;
		k = kernel_json(e);
		if (k && !json_is_true(json_object_get(k, "in_sync")))
			mismatch = true;
		json_array_append_new(kernel, k);
	}

	out = json_pack("{s:s, s:s, s:o, s:s, s:O, s:O, s:O, s:O, s:O, s:b}", "from", from, "to", to,
			"port", port_json(&p), "verdict", verdict ? "allowed" : "denied", "family",
			json_object_get(decisive, "family"), "egress",
			json_object_get(decisive, "egress"), "ingress",
			json_object_get(decisive, "ingress"), "checks", checks, "kernel", kernel,
			"kernel_mismatch", mismatch);
	if (!out)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- matrix --------------------------------------------------------------------------------- */

static bool has_port(const struct explain_port *ports, size_t n, const struct explain_port *p)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i].port == p->port && ports[i].proto == p->proto)
			return true;
	return false;
}

static int cmp_port(const void *x, const void *y)
{
	const struct explain_port *a = x, *b = y;

	if (a->proto != b->proto)
		return (int)a->proto - (int)b->proto;
	return (int)a->port - (int)b->port;
}

/* The ports the plans of `eps` name (a range by its first port), sorted; 80/TCP when none. */
static size_t default_ports(struct endpoint **eps, size_t n, struct explain_port *ports)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct policy_plan *plan = eps[i]->installed;

		for (size_t j = 0; plan && j < plan->n_rules && k < MATRIX_MAX_PORTS; j++) {
			const struct policy_plan_rule *r = &plan->rules[j];
			struct explain_port p = { .port = r->port_lo, .proto = r->proto };

			if (!r->has_proto || r->port_lo == 0 || has_port(ports, k, &p))
				continue;
			ports[k++] = p;
		}
	}
	if (k == 0)
		ports[k++] = (struct explain_port){ .port = 80, .proto = POLICY_PROTO_TCP };
	qsort(ports, k, sizeof(*ports), cmp_port);
	return k;
}

/* Allowed in every family both have (the same rule as check's verdict). */
static bool pair_allowed(struct endpoint *a, struct endpoint *b, const struct explain_port *p,
			 bool *ret_known)
{
	static const int families[] = { AF_INET, AF_INET6 };
	bool allowed = true, any = false;

	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		struct side sa = { .e = a }, sb = { .e = b };
		const struct policy_addr *x = side_addr(&sa, families[i]), *y = side_addr(&sb, families[i]);
		struct policy_verdict v;

		if (!x || !y)
			continue;
		any = true;
		if (policy_plan_evaluate(a->installed, POLICY_DIR_EGRESS, y, p->proto, p->port, &v) < 0)
			return false;
		allowed = allowed && v.allowed;
		policy_verdict_done(&v);
		if (policy_plan_evaluate(b->installed, POLICY_DIR_INGRESS, x, p->proto, p->port, &v) < 0)
			return false;
		allowed = allowed && v.allowed;
		policy_verdict_done(&v);
	}
	*ret_known = any;
	return any && allowed;
}

int explain_matrix_json(struct endpoint **eps, size_t n, const struct explain_port *ports,
			size_t n_ports, json_t **ret)
{
	json_auto_t *out = NULL;
	json_t *pairs, *names, *plist;

	out = json_pack("{s:[], s:[], s:[]}", "endpoints", "ports", "pairs");
	if (!out)
		return -ENOMEM;
	names = json_object_get(out, "endpoints");
	plist = json_object_get(out, "ports");
	pairs = json_object_get(out, "pairs");
	for (size_t i = 0; i < n; i++)
		json_array_append_new(names, json_pack("{s:s, s:s}", "name", eps[i]->pe.name,
						       "namespace", eps[i]->pe.namespace));
	for (size_t k = 0; k < n_ports; k++)
		json_array_append_new(plist, port_json(&ports[k]));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			if (i == j)
				continue;
			for (size_t k = 0; k < n_ports; k++) {
				bool known = false;
				bool ok = pair_allowed(eps[i], eps[j], &ports[k], &known);
				json_t *o;

				if (!known)
					continue;	/* no address family in common */
				o = json_pack("{s:s, s:s, s:o, s:b}", "from", eps[i]->pe.name, "to",
					      eps[j]->pe.name, "port", port_json(&ports[k]), "allowed",
					      ok);
				if (!o || json_array_append_new(pairs, o) < 0)
					return -ENOMEM;
			}
		}
	*ret = TAKE_PTR(out);
	return 0;
}

int explain_collect_ports(const char *spec, struct explain_port *ports, size_t *ret_n)
{
	_cleanup_free_ char *copy = spec ? strdup(spec) : NULL;
	size_t n = 0;

	if (!spec || !*spec) {
		*ret_n = 0;
		return 0;
	}
	if (!copy)
		return -ENOMEM;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct explain_port p;

		if (n == MATRIX_MAX_PORTS || explain_parse_port(t, &p) < 0)
			return -EINVAL;
		if (!has_port(ports, n, &p))
			ports[n++] = p;
	}
	*ret_n = n;
	return 0;
}

int manager_matrix(struct manager *m, const char *ns, const char *ports_spec, json_t **ret,
		   struct op_error *err)
{
	_cleanup_free_ struct endpoint **eps = calloc(m->n_endpoints + 1, sizeof(*eps));
	struct explain_port ports[MATRIX_MAX_PORTS];
	json_auto_t *skipped = json_array();
	size_t n = 0, n_ports = 0;
	int r;

	if (!eps || !skipped)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	r = explain_collect_ports(ports_spec, ports, &n_ports);
	if (r == -ENOMEM)
		return op_error_set(err, 500, r, "out of memory");
	if (r < 0)
		return op_error_set(err, 400, r, "ports: \"%s\" is not a list of PORT[/PROTOCOL] "
				    "(at most %d)", ports_spec, MATRIX_MAX_PORTS);
	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];

		if (ns && !streq(e->pe.namespace, ns))
			continue;
		if (!e->installed) {
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "name", e->pe.name,
								 "state", endpoint_state_to_string(e->state)));
			continue;
		}
		eps[n++] = e;
	}
	if (n_ports == 0)
		n_ports = default_ports(eps, n, ports);
	if ((uint64_t)n * n * n_ports > MATRIX_MAX_PAIRS)
		return op_error_set(err, 413, -E2BIG, "%zu endpoints x %zu ports is over %u pairs; "
				    "narrow it with a namespace or fewer ports", n, n_ports,
				    MATRIX_MAX_PAIRS);
	r = explain_matrix_json(eps, n, ports, n_ports, ret);
	if (r < 0)
		return op_error_set(err, 500, r, "out of memory");
	/* endpoints without a committed ruleset cannot be evaluated: named, not guessed */
	json_object_set(*ret, "not_enforced", skipped);
	return 0;
}
