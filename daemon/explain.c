/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "explain.h"
#include "json-util.h"
#include "macro.h"
#include "nft-verify.h"
#include "views.h"

#define DIFF_MAX_ELEMENTS_LISTED 32

/* One side of a flow: an endpoint, or an address segd does not manage. */
struct side {
	const char *ref;	  /* as given */
	const struct endpoint *e; /* NULL: an outside address */
	struct policy_addr ip;	  /* the address given, when one was */
	bool has_ip;
};

static int side_resolve(const struct registry *r, const char *ref, struct side *s,
			struct op_error *err)
{
	*s = (struct side){ .ref = ref };
	if (!ref || !*ref)
		return op_error_set(err, -EINVAL, "from and to are required");
	if (inet_pton(AF_INET, ref, s->ip.addr) == 1)
		s->ip.family = AF_INET;
	else if (inet_pton(AF_INET6, ref, s->ip.addr) == 1)
		s->ip.family = AF_INET6;
	if (s->ip.family) {
		struct endpoint *holders[2];

		s->has_ip = true;
		/* An address two endpoints hold is neither's: say so rather than pick one. */
		if (registry_addr_holders(r, &s->ip, holders, 2) > 1)
			return op_error_set(err, -EADDRINUSE,
					    "%s is ambiguous: endpoints %s and %s both hold it",
					    ref, holders[0]->pe.name, holders[1]->pe.name);
		s->e = registry_find_addr(r, &s->ip);
		return 0;
	}
	s->e = registry_find(r, ref);
	if (!s->e)
		return op_error_set(err, -ENOENT,
				    "%s: no such endpoint (name, container id prefix) "
				    "or IP address",
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
		json_object_set_new(o, "address", json_addr(a));
	return o;
}

/* "ns/name", or "cnp/name" for a ClusterNetworkPolicy */
static const char *rule_ns(const struct policy_plan_rule *r)
{
	return r->policy_namespace ? r->policy_namespace : "cnp";
}

static json_t *rule_json(const struct policy_plan_rule *r)
{
	json_t *o = json_pack("{s:o, s:o, s:s}", "policy",
			      json_sprintf("%s/%s", rule_ns(r), r->policy_name), "rule",
			      r->rule_name ? json_sprintf("%s[%s]", policy_dir_to_string(r->dir),
							  r->rule_name)
					   : json_sprintf("%s[%u]", policy_dir_to_string(r->dir),
							  r->rule_index),
			      "comment", r->comment ? r->comment : "");

	/* ClusterNetworkPolicy rules say where they stand; NetworkPolicy rules only allow */
	if (o && r->tier != POLICY_TIER_NETPOL)
		json_object_update_new(o, json_pack("{s:s, s:I, s:s}", "tier",
						    policy_tier_to_string(r->tier), "priority",
						    (json_int_t)r->priority, "action",
						    policy_action_to_string(r->action)));
	return o;
}

/* "Admin tier cnp/NAME (priority P) ingress[RULE]" / "NS/NAME ingress[I]" */
static void rule_text(FILE *f, const struct policy_plan_rule *r)
{
	if (r->tier != POLICY_TIER_NETPOL)
		fprintf(f, "%s tier %s/%s (priority %u) ", policy_tier_to_string(r->tier),
			rule_ns(r), r->policy_name, r->priority);
	else
		fprintf(f, "%s/%s ", rule_ns(r), r->policy_name);
	if (r->rule_name)
		fprintf(f, "%s[%s]", policy_dir_to_string(r->dir), r->rule_name);
	else
		fprintf(f, "%s[%u]", policy_dir_to_string(r->dir), r->rule_index);
}

static bool plan_has_tiers(const struct policy_plan *plan, enum policy_dir dir)
{
	for (size_t i = 0; i < plan->n_rules; i++)
		if (plan->rules[i].dir == dir && plan->rules[i].tier != POLICY_TIER_NETPOL)
			return true;
	return false;
}

/* Why v is what it is, in words: the Pass rules on the way and what decided. */
static void verdict_text(FILE *f, const struct endpoint *e, const struct policy_plan *plan,
			 enum policy_dir dir, const struct policy_verdict *v, const char *names)
{
	for (size_t i = 0; i < v->n_passes; i++) {
		fputs("passed on by ", f);
		rule_text(f, &plan->rules[v->passes[i]]);
		fputs("; ", f);
	}
	if (v->decided_by < plan->n_rules) {
		const struct policy_plan_rule *r = &plan->rules[v->decided_by];

		fputs(v->allowed ? "allowed by " : "denied by ", f);
		rule_text(f, r);
		if (r->tier == POLICY_TIER_ADMIN && v->allowed && v->isolated)
			fputs(", which NetworkPolicies cannot override", f);
		else if (r->tier == POLICY_TIER_ADMIN && !v->allowed)
			fputs(", which NetworkPolicies cannot reopen", f);
	} else if (v->isolated)
		fprintf(f, "%s is selected by %s for %s, and none of their rules matches",
			e->pe.name, names && *names ? names : "a policy",
			policy_dir_to_string(dir));
	else if (plan_has_tiers(plan, dir))
		fprintf(f,
			"no ClusterNetworkPolicy rule decides and no NetworkPolicy with %s in "
			"policyTypes selects %s: allowed",
			dir == POLICY_DIR_INGRESS ? "Ingress" : "Egress", e->pe.name);
	else
		fprintf(f, "no policy with %s in policyTypes selects %s: all %s traffic is allowed",
			dir == POLICY_DIR_INGRESS ? "Ingress" : "Egress", e->pe.name,
			policy_dir_to_string(dir));
}

/* The policies isolating `dir` at plan, as a JSON array and as "a, b" text. */
static json_t *isolating_json(const struct policy_plan *plan, enum policy_dir dir, char **ret_text)
{
	const char **names = calloc((plan ? plan->n_selected_by : 0) + 1, sizeof(*names));
	size_t n = names ? policy_plan_isolating(plan, dir, names) : 0, len = 0;
	json_t *a = json_array();
	FILE *f = ret_text ? open_memstream(ret_text, &len) : NULL;

	for (size_t i = 0; a && i < n; i++) {
		json_array_append_new(a, json_string(names[i]));
		if (f)
			fprintf(f, "%s%s", i ? ", " : "", names[i]);
	}
	if (f)
		fclose(f);
	free(names);
	return a;
}

/*
 * One direction at the endpoint that enforces it: egress at the source (peer = destination),
 * ingress at the destination (peer = source). *allowed is the direction's verdict.
 */
static json_t *direction_json(const struct endpoint *e, enum policy_dir dir,
			      const struct policy_addr *peer, const struct policy_l4 *port,
			      bool *allowed)
{
	struct policy_verdict v = { 0 };
	const struct policy_plan *plan;
	_cleanup_free_ char *names = NULL;
	json_t *o, *rules, *sel, *passed, *decision;
	char reason[768];

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
	sel = isolating_json(plan, dir, &names);
	for (size_t i = 0; rules && i < v.n_rules; i++)
		json_array_append_new(rules, rule_json(&plan->rules[v.rules[i]]));

	if (e->quarantined)
		snprintf(reason, sizeof(reason),
			 "quarantined: its labels are not known yet, so it is "
			 "isolated both ways");
	else {
		FILE *f = fmemopen(reason, sizeof(reason), "w");

		if (!f) {
			policy_verdict_done(&v);
			json_decref(rules);
			json_decref(sel);
			return NULL;
		}
		setbuf(f, NULL);
		verdict_text(f, e, plan, dir, &v, names);
		fclose(f);
		reason[sizeof(reason) - 1] = '\0';
	}
	passed = json_array();
	for (size_t i = 0; passed && i < v.n_passes; i++)
		json_array_append_new(passed, rule_json(&plan->rules[v.passes[i]]));
	decision =
		v.decided_by < plan->n_rules ? rule_json(&plan->rules[v.decided_by]) : json_null();
	o = json_pack("{s:s, s:b, s:b, s:b, s:o, s:o, s:s, s:o, s:o*, s:s?}", "endpoint",
		      e->pe.name, "enforced", true, "isolated", v.isolated, "allowed", v.allowed,
		      "selected_by", sel, "rules", rules, "reason", reason, "decided_by", decision,
		      "passed", passed, "tier",
		      v.tier < _POLICY_TIER_MAX ? policy_tier_to_string(v.tier) : NULL);
	/* Egress is enforced again on the host side, where the workload cannot touch it; say
	 * when it is not. */
	if (o && dir == POLICY_DIR_EGRESS && e->kind != ENDPOINT_KIND_REMOTE)
		json_object_set_new(o, "guard", view_guard(&e->guard));
	policy_verdict_done(&v);
	return o;
}

/* Whether the kernel still holds what segd believes it committed in e's namespace. */
static json_t *kernel_json(const struct endpoint *e, const struct policy_emit_options *emit)
{
	struct policy_emit_options eo;
	json_t *dump = NULL;
	bool in_sync = false;
	int r;

	if (e->kind == ENDPOINT_KIND_REMOTE)
		return json_pack("{s:s, s:b, s:s, s:s}", "endpoint", e->pe.name, "in_sync", false,
				 "node", e->node, "error",
				 "enforced by another node: its verdict here is modelled "
				 "from the store; the kernel's evidence is on that node");
	if (!e->nft || !e->installed)
		return json_pack("{s:s, s:b, s:s}", "endpoint", e->pe.name, "in_sync", false,
				 "error", "not attached or nothing committed");
	eo = endpoint_emit(e, emit);
	r = nft_rules_json(e->nft, e->installed, &eo, &dump, &in_sync);
	json_decref(dump);
	if (r < 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "cannot read the ruleset back: %s", strerror(-r));
		return json_pack("{s:s, s:b, s:s}", "endpoint", e->pe.name, "in_sync", false,
				 "error", msg);
	}
	return json_pack("{s:s, s:b}", "endpoint", e->pe.name, "in_sync", in_sync);
}

int explain_check(const struct registry *reg, const struct policy_emit_options *emit,
		  const char *from, const char *to, const char *port, json_t **ret,
		  struct op_error *err)
{
	static const int families[] = { AF_INET, AF_INET6 };
	json_auto_t *out = NULL, *checks = NULL, *kernel = NULL;
	struct policy_l4 p;
	struct side a, b;
	bool verdict = true, any = false, mismatch = false;
	json_t *decisive = NULL;
	int r;

	if (!port || policy_port_spec_parse(port, &p.port, &p.proto) < 0)
		return op_error_set(err, -EINVAL,
				    "port: \"%s\" is not PORT or PORT/PROTOCOL "
				    "(TCP, UDP, SCTP)",
				    port ? port : "");
	r = side_resolve(reg, from, &a, err);
	if (r >= 0)
		r = side_resolve(reg, to, &b, err);
	if (r < 0)
		return r;
	if (!a.e && !b.e)
		return op_error_set(err, -EINVAL, "neither %s nor %s is an endpoint segd manages",
				    from, to);

	checks = json_array();
	kernel = json_array();
	if (!checks || !kernel)
		return op_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct policy_addr *sa = side_addr(&a, families[i]);
		const struct policy_addr *da = side_addr(&b, families[i]);
		bool eg, in;
		json_t *c;

		if (!sa || !da)
			continue;
		any = true;
		c = json_pack("{s:s, s:o, s:o, s:o, s:o}", "family",
			      policy_family_to_string(families[i]), "from", side_json(&a, sa), "to",
			      side_json(&b, da), "egress",
			      direction_json(a.e, POLICY_DIR_EGRESS, da, &p, &eg), "ingress",
			      direction_json(b.e, POLICY_DIR_INGRESS, sa, &p, &in));
		if (!c)
			return op_error_set(err, -ENOMEM, "out of memory");
		json_object_set_new(c, "allowed", json_boolean(eg && in));
		json_array_append_new(checks, c);
		/* the first family that denies decides the summary; else the first one */
		if ((!(eg && in) && verdict) || !decisive)
			decisive = c;
		verdict = verdict && eg && in;
	}
	if (!any)
		return op_error_set(err, -EINVAL, "%s and %s have no address family in common",
				    from, to);

	for (size_t i = 0; i < 2; i++) {
		const struct endpoint *e = i ? b.e : a.e;
		json_t *k;

		if (!e || (i == 1 && e == a.e))
			continue;
		k = kernel_json(e, emit);
		if (k && !json_is_true(json_object_get(k, "in_sync")) &&
		    !json_is_true(json_object_get(k, "remote")))
			mismatch = true;
		json_array_append_new(kernel, k);
	}

	out = json_pack("{s:s, s:s, s:o, s:s, s:O, s:O, s:O, s:O, s:O, s:b}", "from", from, "to",
			to, "port", json_l4(&p), "verdict", verdict ? "allowed" : "denied",
			"family", json_object_get(decisive, "family"), "egress",
			json_object_get(decisive, "egress"), "ingress",
			json_object_get(decisive, "ingress"), "checks", checks, "kernel", kernel,
			"kernel_mismatch", mismatch);
	if (!out)
		return op_error_set(err, -ENOMEM, "out of memory");
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- matrix --------------------------------------------------------------------------------- */

static int pair_allowed(const struct endpoint *a, const struct policy_plan *pa,
			const struct endpoint *b, const struct policy_plan *pb,
			const struct policy_l4 *p, bool *ret_known)
{
	return policy_pair_allowed(pa, a->pe.addrs, a->pe.n_addrs, pb, b->pe.addrs, b->pe.n_addrs,
				   p, ret_known);
}

static json_t *ports_json(const struct policy_l4 *ports, size_t n)
{
	json_t *a = json_array();

	for (size_t k = 0; a && k < n; k++)
		json_array_append_new(a, json_l4(&ports[k]));
	return a;
}

/*
 * The verdicts as rows of characters, one row per source endpoint and port: the answer costs
 * one byte per cell, whatever the number of cells, and no JSON object per pair.
 */
static int matrix_rows(const struct endpoint **eps, size_t n, const struct policy_l4 *ports,
		       size_t n_ports, json_t *rows)
{
	_cleanup_free_ char *row = malloc(n + 1);

	if (!row)
		return -ENOMEM;
	for (size_t k = 0; k < n_ports; k++) {
		json_t *port_rows = json_array();

		if (!port_rows || json_array_append_new(rows, port_rows) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < n; j++) {
				bool known = false;
				int ok;

				if (i == j) {
					row[j] = MATRIX_SELF;
					continue;
				}
				ok = pair_allowed(eps[i], eps[i]->installed, eps[j],
						  eps[j]->installed, &ports[k], &known);
				if (ok < 0)
					return ok;
				row[j] = !known ? MATRIX_NO_FAMILY
					 : ok	? MATRIX_ALLOWED
						: MATRIX_DENIED;
			}
			if (json_array_append_new(port_rows, json_stringn(row, n)) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* The ClusterNetworkPolicies that take part in the matrix (in some plan's rules), in the order
 * a connection meets them: [{"policy": "cnp/NAME", "tier", "priority"}]. Rules of one policy
 * are adjacent in a plan, so each is looked at once per plan. */
static int cmp_tier_rule(const void *a, const void *b)
{
	const struct policy_plan_rule *x = *(const struct policy_plan_rule *const *)a;
	const struct policy_plan_rule *y = *(const struct policy_plan_rule *const *)b;

	if (x->tier != y->tier)
		return policy_tier_rank(x->tier) < policy_tier_rank(y->tier) ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->policy_name, y->policy_name);
}

static json_t *matrix_tiers(const struct endpoint **eps, size_t n)
{
	_cleanup_free_ const struct policy_plan_rule **v = NULL;
	size_t n_v = 0, cap = 0;
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		const struct policy_plan *p = eps[i]->installed;

		for (size_t k = 0; k < p->n_rules; k++) {
			const struct policy_plan_rule *r = &p->rules[k];

			if (r->tier == POLICY_TIER_NETPOL ||
			    (k > 0 && p->rules[k - 1].tier == r->tier &&
			     streq(p->rules[k - 1].policy_name, r->policy_name)))
				continue;
			if (n_v == cap) {
				const struct policy_plan_rule **q;

				cap = cap ? cap * 2 : 16;
				q = reallocarray(v, cap, sizeof(*v));
				if (!q)
					return json_decref(a), NULL;
				v = q;
			}
			v[n_v++] = r;
		}
	}
	if (!a)
		return NULL;
	qsort_safe(v, n_v, sizeof(*v), cmp_tier_rule);
	for (size_t i = 0; i < n_v; i++)
		if (i == 0 || cmp_tier_rule(&v[i], &v[i - 1]) != 0)
			json_array_append_new(a,
					      json_pack("{s:o, s:s, s:I}", "policy",
							json_sprintf("cnp/%s", v[i]->policy_name),
							"tier", policy_tier_to_string(v[i]->tier),
							"priority", (json_int_t)v[i]->priority));
	return a;
}

int explain_matrix(const struct registry *reg, const char *ns, const char *ports_spec,
		   uint64_t budget, json_t **ret, struct op_error *err)
{
	_cleanup_free_ const struct endpoint **eps = calloc(reg->n + 1, sizeof(*eps));
	struct policy_l4 ports[EXPLAIN_MAX_PORTS];
	json_auto_t *out = NULL, *skipped = json_array();
	json_t *names;
	size_t n = 0, n_ports = 0;
	uint64_t cells;
	int r;

	if (!eps || !skipped)
		return op_error_set(err, -ENOMEM, "out of memory");
	r = policy_l4_list_parse(ports_spec, ports, EXPLAIN_MAX_PORTS, &n_ports);
	if (r < 0)
		return op_error_set(err, -EINVAL,
				    "ports: \"%s\" is not a list of PORT[/PROTOCOL] "
				    "(at most %d)",
				    ports_spec, EXPLAIN_MAX_PORTS);
	for (size_t i = 0; i < reg->n; i++) {
		const struct endpoint *e = reg->items[i];

		if (ns && !streq(e->pe.namespace, ns))
			continue;
		if (!e->installed) {
			/* no committed ruleset: cannot be evaluated, so named, not guessed */
			json_array_append_new(skipped,
					      json_pack("{s:s, s:s}", "name", e->pe.name, "state",
							endpoint_state_to_string(e->state)));
			continue;
		}
		eps[n++] = e;
	}
	if (n_ports == 0) {
		for (size_t i = 0; i < n; i++)
			n_ports = policy_plan_ports(eps[i]->installed, ports, n_ports,
						    EXPLAIN_MAX_PORTS);
		if (n_ports == 0)
			ports[n_ports++] =
				(struct policy_l4){ .port = 80, .proto = POLICY_PROTO_TCP };
		policy_l4_sort(ports, n_ports);
	}
	/* The cost is known before any pair is evaluated: refuse rather than stall the loop. */
	cells = policy_matrix_cells(n, n_ports);
	if (!policy_cells_fit(cells, budget))
		return op_error_set(err, -EMSGSIZE,
				    "matrix of %zu endpoints (%" PRIu64
				    " pairs) x %zu ports is %" PRIu64
				    " cells, over the budget of %" PRIu64
				    " (segd --matrix-budget); narrow it with a namespace (-n) or "
				    "fewer ports (--port)",
				    n, policy_matrix_cells(n, 1), n_ports, cells, budget);

	out = json_pack("{s:[], s:o, s:[], s:O}", "endpoints", "ports", ports_json(ports, n_ports),
			"rows", "not_enforced", skipped);
	if (!out)
		return op_error_set(err, -ENOMEM, "out of memory");
	names = json_object_get(out, "endpoints");
	for (size_t i = 0; i < n; i++)
		json_array_append_new(names, json_pack("{s:s, s:s}", "name", eps[i]->pe.name,
						       "namespace", eps[i]->pe.namespace));
	r = matrix_rows(eps, n, ports, n_ports, json_object_get(out, "rows"));
	if (r < 0 || json_object_set_new(out, "tiers", matrix_tiers(eps, n)) < 0)
		return op_error_set(err, r < 0 ? r : -ENOMEM, "out of memory");
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- diff ----------------------------------------------------------------------------------- */

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* {"set": [elements, "... N more"]} and their total. */
static json_t *elems_json(const struct policy_elems_delta *d, size_t n, size_t *ret_total)
{
	json_t *out = json_object();
	size_t total = 0;

	for (size_t i = 0; out && i < n; i++) {
		json_t *list = json_array();

		for (size_t k = 0; list && k < d[i].n_elems && k < DIFF_MAX_ELEMENTS_LISTED; k++) {
			char buf[2 * INET6_ADDRSTRLEN + 2];

			json_array_append_new(list, policy_set_elem_text(d[i].set, d[i].elems[k],
									 buf, sizeof(buf)) < 0
							    ? json_null()
							    : json_string(buf));
		}
		if (list && d[i].n_elems > DIFF_MAX_ELEMENTS_LISTED)
			json_array_append_new(list, json_sprintf("... %zu more",
								 d[i].n_elems -
									 DIFF_MAX_ELEMENTS_LISTED));
		json_object_set_new(out, d[i].set->name, list);
		total += d[i].n_elems;
	}
	*ret_total = total;
	return out;
}

static json_t *isolation_json(const struct policy_plan *p)
{
	if (!p)
		return json_null();
	return json_pack("{s:b, s:b}", "ingress", p->isolated[POLICY_DIR_INGRESS], "egress",
			 p->isolated[POLICY_DIR_EGRESS]);
}

static json_t *selected_json(const struct policy_plan *p)
{
	return p ? strv_json(p->selected_by, p->n_selected_by) : json_array();
}

static json_t *endpoint_diff(const struct endpoint *e, const struct policy_plan *old,
			     const struct policy_plan *new)
{
	struct policy_plan_diff d;
	size_t n_add = 0, n_del = 0;
	json_t *o, *add, *del;

	if (policy_plan_diff(old, new, &d) < 0)
		return NULL;
	add = elems_json(d.elems_added, d.n_elems_added, &n_add);
	del = elems_json(d.elems_removed, d.n_elems_removed, &n_del);
	o = json_pack("{s:s, s:s, s:b, s:{s:o, s:o}, s:{s:o, s:o}, s:o, s:o, s:I, s:I, s:o, s:o}",
		      "name", e->pe.name, "namespace", e->pe.namespace, "committed_before",
		      old != NULL, "isolation", "before", isolation_json(old), "after",
		      isolation_json(new), "selected_by", "before", selected_json(old), "after",
		      selected_json(new), "rules_added", strv_json(d.rules_added, d.n_rules_added),
		      "rules_removed", strv_json(d.rules_removed, d.n_rules_removed),
		      "elements_added_count", (json_int_t)n_add, "elements_removed_count",
		      (json_int_t)n_del, "elements_added", add, "elements_removed", del);
	policy_plan_diff_done(&d);
	return o;
}

/* Pairs with a changed end whose verdict changes, on ports: appended to reach, at most
 * EXPLAIN_DIFF_MAX_LISTED; *ret_more counts the others. */
static int reachability(const struct registry *reg, struct policy_plan **plans, const bool *changed,
			const struct policy_l4 *ports, size_t n_ports, json_t *reach,
			size_t *ret_more)
{
	size_t listed = 0, more = 0;

	for (size_t i = 0; i < reg->n; i++)
		for (size_t j = 0; j < reg->n; j++) {
			const struct endpoint *a = reg->items[i], *b = reg->items[j];

			if (i == j || !(changed[i] || changed[j]) || !plans[i] || !plans[j] ||
			    !a->installed || !b->installed)
				continue;
			for (size_t k = 0; k < n_ports; k++) {
				bool known = false;
				int before, after;

				before = pair_allowed(a, a->installed, b, b->installed, &ports[k],
						      &known);
				if (before < 0)
					return before;
				if (!known)
					break;
				after = pair_allowed(a, plans[i], b, plans[j], &ports[k], &known);
				if (after < 0)
					return after;
				if (before == after)
					continue;
				if (listed == EXPLAIN_DIFF_MAX_LISTED) {
					more++;
					continue;
				}
				if (json_array_append_new(reach,
							  json_pack("{s:s, s:s, s:o, s:b, s:b}",
								    "from", a->pe.name, "to",
								    b->pe.name, "port",
								    json_l4(&ports[k]), "before",
								    before, "after", after)) < 0)
					return -ENOMEM;
				listed++;
			}
		}
	*ret_more = more;
	return 0;
}

int explain_diff(const struct registry *reg, struct policy_plan **plans, uint64_t budget,
		 json_t **ret)
{
	struct policy_l4 ports[EXPLAIN_MAX_PORTS];
	_cleanup_free_ bool *changed = calloc(reg->n + 1, sizeof(*changed));
	json_auto_t *eps = json_array(), *reach = json_array();
	size_t n_ports = 0, n_changed = 0, n_eval = 0, more = 0;
	uint64_t cells;
	json_t *out;
	int r;

	if (!changed || !eps || !reach)
		return -ENOMEM;
	for (size_t i = 0; i < reg->n; i++) {
		const struct endpoint *e = reg->items[i];
		json_t *d;

		if (!plans[i])
			continue;
		n_ports = policy_plan_ports(e->installed, ports, n_ports, EXPLAIN_MAX_PORTS);
		n_ports = policy_plan_ports(plans[i], ports, n_ports, EXPLAIN_MAX_PORTS);
		if (e->installed)
			n_eval++;
		if (e->installed && policy_plan_equal(e->installed, plans[i]))
			continue;
		changed[i] = true;
		n_changed++;
		d = endpoint_diff(e, e->installed, plans[i]);
		if (!d || json_array_append_new(eps, d) < 0)
			return -ENOMEM;
	}
	if (n_ports == 0)
		ports[n_ports++] = (struct policy_l4){ .port = 80, .proto = POLICY_PROTO_TCP };
	policy_l4_sort(ports, n_ports);

	/* Only a pair with a changed end can change; both ends need a plan before and after.
	 * The cost is known before any pair is evaluated: over the budget, no pairs at all. */
	cells = policy_diff_cells(n_changed, n_eval, n_ports);
	if (!policy_cells_fit(cells, budget)) {
		json_decref(reach);
		reach = json_null();
	} else {
		r = reachability(reg, plans, changed, ports, n_ports, reach, &more);
		if (r < 0)
			return r;
	}

	out = json_pack("{s:O, s:o, s:O}", "endpoints", eps, "ports", ports_json(ports, n_ports),
			"reachability", reach);
	if (!out)
		return -ENOMEM;
	if (json_is_null(reach))
		json_object_set_new(
			out, "reachability_error",
			json_sprintf("%zu changed endpoints against %zu x %zu ports is %" PRIu64
				     " cells, over the budget of %" PRIu64
				     " (segd --matrix-budget): run segctl matrix with a "
				     "namespace before and after instead",
				     n_changed, n_eval, n_ports, cells, budget));
	if (more)
		json_object_set_new(out, "reachability_more", json_integer((json_int_t)more));
	*ret = out;
	return 0;
}
