/* SPDX-License-Identifier: MIT */
/*
 * Reading plans the way an auditor asks: may A reach B on a port (both directions, every
 * address family they share), does a plan still let one flow through (conntrack cuts what it
 * no longer does), which policies isolate a direction, which ports the rules name, and what
 * differs between two plans of one endpoint (rules as text, set elements). Pure: the daemon
 * renders the answers as JSON, the tests compare them directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "evaluate.h"
#include "macro.h"
#include "policy/policy.h"

_public_ const char *policy_family_to_string(int family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "any";
}

_public_ const char *policy_ipproto_to_string(uint8_t p)
{
	switch (p) {
	case 1:
		return "ICMP";
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 58:
		return "ICMPv6";
	case 132:
		return "SCTP";
	}
	return NULL;
}

_public_ size_t policy_plan_isolating(const struct policy_plan *plan, enum policy_dir dir,
				      const char **ret)
{
	unsigned type = dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS : POLICY_TYPE_EGRESS;
	size_t n = 0;

	for (size_t i = 0; plan && i < plan->n_selected_by; i++)
		if (!plan->selected_types || (plan->selected_types[i] & type))
			ret[n++] = plan->selected_by[i];
	return n;
}

static bool has_l4(const struct policy_l4 *ports, size_t n, const struct policy_l4 *p)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i].port == p->port && ports[i].proto == p->proto)
			return true;
	return false;
}

_public_ size_t policy_plan_ports(const struct policy_plan *plan, struct policy_l4 *ports, size_t n,
				  size_t max)
{
	for (size_t j = 0; plan && j < plan->n_rules && n < max; j++) {
		const struct policy_plan_rule *r = &plan->rules[j];
		struct policy_l4 p = { .port = r->port_lo, .proto = r->proto };

		if (!r->has_proto || r->port_lo == 0 || has_l4(ports, n, &p))
			continue;
		ports[n++] = p;
	}
	return n;
}

static int cmp_l4(const void *x, const void *y)
{
	const struct policy_l4 *a = x, *b = y;

	if (a->proto != b->proto)
		return (int)a->proto - (int)b->proto;
	return (int)a->port - (int)b->port;
}

_public_ void policy_l4_sort(struct policy_l4 *ports, size_t n)
{
	qsort_safe(ports, n, sizeof(*ports), cmp_l4);
}

_public_ int policy_l4_list_parse(const char *spec, struct policy_l4 *ports, size_t max,
				  size_t *ret_n)
{
	size_t n = 0;

	for (const char *p = spec; p && *p;) {
		size_t len = strcspn(p, ",");
		struct policy_l4 x;
		char item[16];
		int r;

		if (len == 0 || len >= sizeof(item))
			return -EINVAL;
		memcpy(item, p, len);
		item[len] = 0;
		r = policy_port_spec_parse(item, &x.port, &x.proto);
		if (r < 0)
			return -EINVAL;
		if (!has_l4(ports, n, &x)) {
			if (n == max)
				return -E2BIG;
			ports[n++] = x;
		}
		p += len;
		if (*p == ',' && !*++p)
			return -EINVAL;
	}
	*ret_n = n;
	return 0;
}

static const struct policy_addr *addr_of(const struct policy_addr *a, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].family == family)
			return &a[i];
	return NULL;
}

_public_ int policy_pair_allowed(const struct policy_plan *from,
				 const struct policy_addr *from_addrs, size_t n_from,
				 const struct policy_plan *to, const struct policy_addr *to_addrs,
				 size_t n_to, const struct policy_l4 *p, bool *ret_known)
{
	static const int families[] = { AF_INET, AF_INET6 };
	const uint8_t ipproto = policy_proto_ipproto(p->proto);
	bool allowed = true, any = false;

	if ((unsigned)p->proto >= _POLICY_PROTO_MAX)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct policy_addr *x = addr_of(from_addrs, n_from, families[i]);
		const struct policy_addr *y = addr_of(to_addrs, n_to, families[i]);
		int r;

		if (!x || !y)
			continue;
		any = true;
		/* the first matching rule decides; nothing to collect, nothing allocated */
		r = policy_plan_allows(from, POLICY_DIR_EGRESS, y, ipproto, p->port);
		if (r < 0)
			return r;
		allowed = allowed && r > 0;
		r = policy_plan_allows(to, POLICY_DIR_INGRESS, x, ipproto, p->port);
		if (r < 0)
			return r;
		allowed = allowed && r > 0;
	}
	*ret_known = any;
	return any && allowed;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

_public_ uint64_t policy_matrix_cells(size_t n_endpoints, size_t n_ports)
{
	if (n_endpoints < 2)
		return 0;
	return mul_sat(mul_sat(n_endpoints, n_endpoints - 1), n_ports);
}

_public_ uint64_t policy_diff_cells(size_t n_changed, size_t n_evaluated, size_t n_ports)
{
	uint64_t pairs, both;

	if (n_changed > n_evaluated)
		n_changed =
			n_evaluated; /* a changed endpoint without a plan before is not paired */
	if (n_changed == 0 || n_evaluated < 2)
		return 0;
	/* ordered pairs with at least one changed end: all from or to a changed one, less those
	 * counted twice (both ends changed) */
	pairs = mul_sat(mul_sat(2, n_changed), n_evaluated - 1);
	both = mul_sat(n_changed, n_changed - 1);
	pairs = pairs == UINT64_MAX ? pairs : pairs - both;
	return mul_sat(mul_sat(pairs, 2), n_ports);
}

_public_ bool policy_cells_fit(uint64_t cells, uint64_t budget)
{
	return cells <= budget;
}

_public_ bool policy_plan_restricts(const struct policy_plan *plan, enum policy_dir dir)
{
	if (!plan || (unsigned)dir >= _POLICY_DIR_MAX)
		return false;
	if (plan->isolated[dir])
		return true;
	for (size_t i = 0; i < plan->n_rules; i++)
		if (plan->rules[i].dir == dir && plan->rules[i].tier != POLICY_TIER_NETPOL &&
		    plan->rules[i].action == POLICY_ACTION_DENY)
			return true;
	return false;
}

_public_ bool policy_plan_has_tiers(const struct policy_plan *plan)
{
	for (size_t i = 0; plan && i < plan->n_rules; i++)
		if (plan->rules[i].tier != POLICY_TIER_NETPOL)
			return true;
	return false;
}

_public_ int policy_plan_allows(const struct policy_plan *plan, enum policy_dir dir,
				const struct policy_addr *peer, uint8_t ipproto, uint16_t port)
{
	if (!plan || !peer || (unsigned)dir >= _POLICY_DIR_MAX ||
	    (peer->family != AF_INET && peer->family != AF_INET6))
		return -EINVAL;
	struct evaluate_decision d;

	evaluate_decide(plan, dir, peer, ipproto, port, &d);
	return d.allowed;
}

_public_ int policy_set_elem_text(const struct policy_set *s, const struct policy_set_elem *e,
				  char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN], z[INET6_ADDRSTRLEN];
	int k;

	if (!inet_ntop(s->family, e->start, a, sizeof(a)) ||
	    !inet_ntop(s->family, e->end, z, sizeof(z)))
		return -EINVAL;
	if (!s->interval || streq(a, z))
		k = snprintf(buf, size, "%s", a);
	else
		k = snprintf(buf, size, "%s-%s", a, z);
	return k < 0 || (size_t)k >= size ? -ENOBUFS : 0;
}

_public_ char *policy_plan_rule_text(const struct policy_plan *plan,
				     const struct policy_plan_rule *r)
{
	const char *set =
		r->set >= 0 && (size_t)r->set < plan->n_sets ? plan->sets[r->set].name : NULL;
	char l4[32], action[48] = "", *out;

	if (!r->has_proto)
		snprintf(l4, sizeof(l4), "any port");
	else if (r->port_lo == 0)
		snprintf(l4, sizeof(l4), "%s any port", policy_proto_to_string(r->proto));
	else if (r->port_lo == r->port_hi)
		snprintf(l4, sizeof(l4), "%s/%u", policy_proto_to_string(r->proto), r->port_lo);
	else
		snprintf(l4, sizeof(l4), "%s/%u-%u", policy_proto_to_string(r->proto), r->port_lo,
			 r->port_hi);
	/* a ClusterNetworkPolicy rule says what it does and where: "... TCP/80: Deny (Admin 10)" */
	if (r->tier != POLICY_TIER_NETPOL)
		snprintf(action, sizeof(action), ": %s (%s %u)", policy_action_to_string(r->action),
			 policy_tier_to_string(r->tier), r->priority);
	if (asprintf(&out, "%s: %s %s %s%s %s%s", r->comment ? r->comment : "?",
		     r->family == AF_UNSPEC ? "any family" : policy_family_to_string(r->family),
		     r->dir == POLICY_DIR_INGRESS ? "from" : "to", set ? "@" : "",
		     set ? set : "anyone", l4, action) < 0)
		return NULL;
	return out;
}

_public_ size_t policy_set_elems_minus(const struct policy_set *a, const struct policy_set *b,
				       const struct policy_set_elem **ret)
{
	size_t x = 0, y = 0, n = 0;

	/* Both sorted by start, unique: one merge walk. */
	while (a && x < a->n_elems) {
		int c = !b || y == b->n_elems
				? -1
				: memcmp(&a->elems[x], &b->elems[y], sizeof(a->elems[x]));

		if (c < 0)
			ret[n++] = &a->elems[x++];
		else if (c > 0)
			y++;
		else
			x++, y++;
	}
	return n;
}

static const struct policy_set *set_by_name(const struct policy_plan *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_sets; i++)
		if (streq(p->sets[i].name, name))
			return &p->sets[i];
	return NULL;
}

static int rule_texts(const struct policy_plan *p, char ***ret)
{
	char **t = calloc((p ? p->n_rules : 0) + 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; p && i < p->n_rules; i++) {
		t[i] = policy_plan_rule_text(p, &p->rules[i]);
		if (!t[i]) {
			for (size_t k = 0; k < i; k++)
				free(t[k]);
			free(t);
			return -ENOMEM;
		}
	}
	*ret = t;
	return 0;
}

static void texts_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static bool strv_has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

/* Copies of the texts of a that b lacks. */
static int texts_minus(char **a, size_t n, char **b, char ***ret, size_t *ret_n)
{
	char **out = calloc(n + 1, sizeof(*out));
	size_t k = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (strv_has(b, a[i]))
			continue;
		out[k] = strdup(a[i]);
		if (!out[k]) {
			texts_free(out, k);
			return -ENOMEM;
		}
		k++;
	}
	*ret = out;
	*ret_n = k;
	return 0;
}

/* For each set of a: the elements the same-named set of b lacks. */
static int elems_minus(const struct policy_plan *a, const struct policy_plan *b,
		       struct policy_elems_delta **ret, size_t *ret_n)
{
	struct policy_elems_delta *d = calloc((a ? a->n_sets : 0) + 1, sizeof(*d));
	size_t n = 0;

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; a && i < a->n_sets; i++) {
		const struct policy_set *s = &a->sets[i];
		const struct policy_set_elem **elems = calloc(s->n_elems + 1, sizeof(*elems));
		size_t k;

		if (!elems) {
			for (size_t j = 0; j < n; j++)
				free(d[j].elems);
			free(d);
			return -ENOMEM;
		}
		k = policy_set_elems_minus(s, set_by_name(b, s->name), elems);
		if (k == 0) {
			free(elems);
			continue;
		}
		d[n++] = (struct policy_elems_delta){ .set = s, .elems = elems, .n_elems = k };
	}
	*ret = d;
	*ret_n = n;
	return 0;
}

_public_ int policy_plan_diff(const struct policy_plan *old, const struct policy_plan *new,
			      struct policy_plan_diff *ret)
{
	struct policy_plan_diff d = { 0 };
	char **to = NULL, **tn = NULL;
	size_t no = old ? old->n_rules : 0, nn = new ? new->n_rules : 0;
	int r;

	r = rule_texts(old, &to);
	if (r >= 0)
		r = rule_texts(new, &tn);
	if (r >= 0)
		r = texts_minus(tn, nn, to, &d.rules_added, &d.n_rules_added);
	if (r >= 0)
		r = texts_minus(to, no, tn, &d.rules_removed, &d.n_rules_removed);
	texts_free(to, no);
	texts_free(tn, nn);
	if (r >= 0)
		r = elems_minus(new, old, &d.elems_added, &d.n_elems_added);
	if (r >= 0)
		r = elems_minus(old, new, &d.elems_removed, &d.n_elems_removed);
	if (r < 0) {
		policy_plan_diff_done(&d);
		return r;
	}
	*ret = d;
	return 0;
}

_public_ void policy_plan_diff_done(struct policy_plan_diff *d)
{
	for (size_t i = 0; i < d->n_rules_added; i++)
		free(d->rules_added[i]);
	free(d->rules_added);
	for (size_t i = 0; i < d->n_rules_removed; i++)
		free(d->rules_removed[i]);
	free(d->rules_removed);
	for (size_t i = 0; i < d->n_elems_added; i++)
		free(d->elems_added[i].elems);
	free(d->elems_added);
	for (size_t i = 0; i < d->n_elems_removed; i++)
		free(d->elems_removed[i].elems);
	free(d->elems_removed);
	*d = (struct policy_plan_diff){ 0 };
}
