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

json_t *explain_port_json(const struct explain_port *p)
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
	sel = explain_isolating(plan, dir);
	for (size_t i = 0; rules && i < v.n_rules; i++)
		json_array_append_new(rules, rule_json(&plan->rules[v.rules[i]]));

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

		for (size_t i = 0; f && i < json_array_size(sel); i++)
			fprintf(f, "%s%s", i ? ", " : "", json_string_value(json_array_get(sel, i)));
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

json_t *explain_isolating(const struct policy_plan *plan, enum policy_dir dir)
{
	unsigned type = dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS : POLICY_TYPE_EGRESS;
	json_t *a = json_array();

	for (size_t i = 0; a && plan && i < plan->n_selected_by; i++)
		if (!plan->selected_types || (plan->selected_types[i] & type))
			json_array_append_new(a, json_string(plan->selected_by[i]));
	return a;
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
			"port", explain_port_json(&p), "verdict", verdict ? "allowed" : "denied", "family",
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

size_t explain_plan_ports(const struct policy_plan *plan, struct explain_port *ports, size_t k)
{
	for (size_t j = 0; plan && j < plan->n_rules && k < MATRIX_MAX_PORTS; j++) {
		const struct policy_plan_rule *r = &plan->rules[j];
		struct explain_port p = { .port = r->port_lo, .proto = r->proto };

		if (!r->has_proto || r->port_lo == 0 || has_port(ports, k, &p))
			continue;
		ports[k++] = p;
	}
	return k;
}

void explain_sort_ports(struct explain_port *ports, size_t n)
{
	qsort_safe(ports, n, sizeof(*ports), cmp_port);
}

/* The ports the plans of `eps` name (a range by its first port), sorted; 80/TCP when none. */
static size_t default_ports(struct endpoint **eps, size_t n, struct explain_port *ports)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k = explain_plan_ports(eps[i]->installed, ports, k);
	if (k == 0)
		ports[k++] = (struct explain_port){ .port = 80, .proto = POLICY_PROTO_TCP };
	explain_sort_ports(ports, k);
	return k;
}

/* Allowed in every family both have (the same rule as check's verdict), with plans pa, pb. */
static bool pair_allowed(struct endpoint *a, const struct policy_plan *pa, struct endpoint *b,
			 const struct policy_plan *pb, const struct explain_port *p, bool *ret_known)
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
		if (policy_plan_evaluate(pa, POLICY_DIR_EGRESS, y, p->proto, p->port, &v) < 0)
			return false;
		allowed = allowed && v.allowed;
		policy_verdict_done(&v);
		if (policy_plan_evaluate(pb, POLICY_DIR_INGRESS, x, p->proto, p->port, &v) < 0)
			return false;
		allowed = allowed && v.allowed;
		policy_verdict_done(&v);
	}
	*ret_known = any;
	return any && allowed;
}

bool explain_pair_allowed(struct endpoint *a, const struct policy_plan *pa, struct endpoint *b,
			  const struct policy_plan *pb, const struct explain_port *p, bool *ret_known)
{
	return pair_allowed(a, pa, b, pb, p, ret_known);
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
		json_array_append_new(plist, explain_port_json(&ports[k]));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			if (i == j)
				continue;
			for (size_t k = 0; k < n_ports; k++) {
				bool known = false;
				bool ok = pair_allowed(eps[i], eps[i]->installed, eps[j],
						       eps[j]->installed, &ports[k], &known);
				json_t *o;

				if (!known)
					continue;	/* no address family in common */
				o = json_pack("{s:s, s:s, s:o, s:b}", "from", eps[i]->pe.name, "to",
					      eps[j]->pe.name, "port", explain_port_json(&ports[k]), "allowed",
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

/* ---- diff ----------------------------------------------------------------------------------- */

#define DIFF_MAX_ELEMENTS_LISTED 32

static char *elem_text(const struct policy_set *s, const struct policy_set_elem *el)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	char *out;

	if (!inet_ntop(s->family, el->start, a, sizeof(a)) ||
	    !inet_ntop(s->family, el->end, b, sizeof(b)))
		return NULL;
	if (streq(a, b))
		return strdup(a);
	return asprintf(&out, "%s-%s", a, b) < 0 ? NULL : out;
}

/* "x/allow-b ingress[0]: ipv4 from @i0_p4 TCP/80" */
static char *rule_text(const struct policy_plan *plan, const struct policy_plan_rule *r)
{
	char l4[32], *out;
	const char *set = r->set >= 0 && (size_t)r->set < plan->n_sets ? plan->sets[r->set].name : NULL;

	if (!r->has_proto)
		snprintf(l4, sizeof(l4), "any port");
	else if (r->port_lo == 0)
		snprintf(l4, sizeof(l4), "%s any port", policy_proto_to_string(r->proto));
	else if (r->port_lo == r->port_hi)
		snprintf(l4, sizeof(l4), "%s/%u", policy_proto_to_string(r->proto), r->port_lo);
	else
		snprintf(l4, sizeof(l4), "%s/%u-%u", policy_proto_to_string(r->proto), r->port_lo,
			 r->port_hi);
	if (asprintf(&out, "%s: %s %s %s%s %s", r->comment ? r->comment : "?",
		     r->family == AF_UNSPEC ? "any family" : family_name(r->family),
		     r->dir == POLICY_DIR_INGRESS ? "from" : "to", set ? "@" : "",
		     set ? set : "anyone", l4) < 0)
		return NULL;
	return out;
}

static json_t *rule_texts(const struct policy_plan *plan)
{
	json_t *a = json_array();

	for (size_t i = 0; a && plan && i < plan->n_rules; i++) {
		char *t = rule_text(plan, &plan->rules[i]);

		if (!t || json_array_append_new(a, json_string(t)) < 0) {
			free(t);
			json_decref(a);
			return NULL;
		}
		free(t);
	}
	return a;
}

static bool json_strings_has(json_t *a, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (streq(json_string_value(v), s))
			return true;
	return false;
}

/* The strings of a that b lacks. */
static json_t *json_strings_minus(json_t *a, json_t *b)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (out && !json_strings_has(b, json_string_value(v)))
			json_array_append(out, v);
	return out;
}

static const struct policy_set *find_set(const struct policy_plan *plan, const char *name)
{
	for (size_t i = 0; plan && i < plan->n_sets; i++)
		if (streq(plan->sets[i].name, name))
			return &plan->sets[i];
	return NULL;
}

static bool set_has_elem(const struct policy_set *s, const struct policy_set_elem *el)
{
	for (size_t i = 0; s && i < s->n_elems; i++)
		if (memcmp(&s->elems[i], el, sizeof(*el)) == 0)
			return true;
	return false;
}

/* Elements of a's sets that b's same-named sets lack: {"set": [elements]}, and their count. */
static json_t *elements_minus(const struct policy_plan *a, const struct policy_plan *b,
			      size_t *ret_n)
{
	json_t *out = json_object();
	size_t total = 0;

	for (size_t i = 0; out && a && i < a->n_sets; i++) {
		const struct policy_set *s = &a->sets[i], *t = find_set(b, s->name);
		json_t *list = NULL;
		size_t n = 0;

		for (size_t k = 0; k < s->n_elems; k++) {
			char *txt;

			if (set_has_elem(t, &s->elems[k]))
				continue;
			n++;
			if (n > DIFF_MAX_ELEMENTS_LISTED)
				continue;
			if (!list)
				list = json_array();
			txt = elem_text(s, &s->elems[k]);
			json_array_append_new(list, txt ? json_string(txt) : json_null());
			free(txt);
		}
		if (n > DIFF_MAX_ELEMENTS_LISTED)
			json_array_append_new(list, json_sprintf("... %zu more", n - DIFF_MAX_ELEMENTS_LISTED));
		if (list)
			json_object_set_new(out, s->name, list);
		total += n;
	}
	*ret_n = total;
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
	json_t *a = json_array();

	for (size_t i = 0; a && p && i < p->n_selected_by; i++)
		json_array_append_new(a, json_string(p->selected_by[i]));
	return a;
}

static json_t *endpoint_diff(struct endpoint *e, const struct policy_plan *old,
			     const struct policy_plan *new)
{
	json_auto_t *ro = rule_texts(old), *rn = rule_texts(new);
	size_t n_add = 0, n_del = 0;
	json_t *add, *del;

	if (!ro || !rn)
		return NULL;
	add = elements_minus(new, old, &n_add);
	del = elements_minus(old, new, &n_del);
	return json_pack("{s:s, s:s, s:b, s:{s:o, s:o}, s:{s:o, s:o}, s:o, s:o, s:I, s:I, s:o, s:o}",
			 "name", e->pe.name, "namespace", e->pe.namespace, "committed_before", old != NULL,
			 "isolation", "before", isolation_json(old), "after", isolation_json(new),
			 "selected_by", "before", selected_json(old), "after", selected_json(new),
			 "rules_added", json_strings_minus(rn, ro), "rules_removed",
			 json_strings_minus(ro, rn), "elements_added_count", (json_int_t)n_add,
			 "elements_removed_count", (json_int_t)n_del, "elements_added", add,
			 "elements_removed", del);
}

int explain_diff_json(struct manager *m, struct policy_plan **plans, json_t **ret)
{
	struct explain_port ports[MATRIX_MAX_PORTS];
	_cleanup_free_ bool *changed = calloc(m->n_endpoints + 1, sizeof(*changed));
	json_auto_t *eps = json_array(), *reach = json_array(), *plist = json_array();
	size_t n_ports = 0, n_changed = 0, n_eval = 0;
	json_t *out;

	if (!changed || !eps || !reach || !plist)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];
		json_t *d;

		if (!plans[i])
			continue;
		n_ports = explain_plan_ports(e->installed, ports, n_ports);
		n_ports = explain_plan_ports(plans[i], ports, n_ports);
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
		ports[n_ports++] = (struct explain_port){ .port = 80, .proto = POLICY_PROTO_TCP };
	explain_sort_ports(ports, n_ports);
	for (size_t k = 0; k < n_ports; k++)
		json_array_append_new(plist, explain_port_json(&ports[k]));

	/* Only a pair with a changed end can change; both ends need a plan before and after. */
	if ((uint64_t)n_changed * n_eval * 2 * n_ports > MATRIX_MAX_PAIRS) {
		json_decref(reach);
		reach = json_null();
	} else
		for (size_t i = 0; i < m->n_endpoints; i++)
			for (size_t j = 0; j < m->n_endpoints; j++) {
				struct endpoint *a = m->endpoints[i], *b = m->endpoints[j];

				if (i == j || !(changed[i] || changed[j]) || !plans[i] || !plans[j] ||
				    !a->installed || !b->installed)
					continue;
				for (size_t k = 0; k < n_ports; k++) {
					bool known = false, before, after;

					before = explain_pair_allowed(a, a->installed, b, b->installed,
								      &ports[k], &known);
					if (!known)
						break;
					after = explain_pair_allowed(a, plans[i], b, plans[j], &ports[k],
								     &known);
					if (before == after)
						continue;
					if (json_array_append_new(reach, json_pack(
						    "{s:s, s:s, s:o, s:b, s:b}", "from", a->pe.name, "to",
						    b->pe.name, "port", explain_port_json(&ports[k]),
						    "before", before, "after", after)) < 0)
						return -ENOMEM;
				}
			}

	out = json_pack("{s:O, s:O, s:O}", "endpoints", eps, "ports", plist, "reachability", reach);
	if (!out)
		return -ENOMEM;
	if (json_is_null(reach))
		json_object_set_new(out, "reachability_error",
				    json_sprintf("over %u pairs x ports: run segctl matrix before and "
						 "after instead", MATRIX_MAX_PAIRS));
	*ret = out;
	return 0;
}
