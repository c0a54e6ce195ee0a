/* SPDX-License-Identifier: MIT */
/*
 * NetworkPolicy -> per-endpoint plan.
 *
 * Semantics (networking.k8s.io/v1): an endpoint is isolated for a direction when at least one
 * policy of its namespace selects it and has that direction in policyTypes. Traffic in an
 * isolated direction is allowed when any rule of any selecting policy allows it (union). A rule
 * allows a peer (any of `from`/`to`, or every peer when empty) on a port (any of `ports`, or
 * every port when empty). A selector peer names endpoints: podSelector alone = same namespace as
 * the policy, namespaceSelector alone = every endpoint of the matching namespaces, both = AND.
 *
 * Per rule, peers become named sets: selector peers one hash set per family (addresses of the
 * selected endpoints), ipBlocks one interval set per family (cidr minus except, merged).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipset.h"
#include "select.h"
#include "macro.h"
#include "policy/policy.h"

#define COMMENT_MAX 240

struct port_spec {
	bool has_proto;
	enum policy_proto proto;
	uint16_t lo, hi;
};

struct builder {
	const struct policy_world *w;
	struct policy_compile_cache *cache;
	const struct policy_endpoint *ep;
	struct policy_plan *plan;
	size_t sets_allocated, rules_allocated;
	unsigned seq[_POLICY_DIR_MAX];
};

static int add_set(struct builder *b, const char *name, int family, bool interval,
		   struct policy_set_elem *elems, size_t n, int *ret_index)
{
	struct policy_plan *plan = b->plan;
	struct policy_set *s;

	if (plan->n_sets == b->sets_allocated) {
		size_t m = b->sets_allocated ? b->sets_allocated * 2 : 8;
		struct policy_set *p = reallocarray(plan->sets, m, sizeof(*p));

		if (!p)
			return -ENOMEM;
		plan->sets = p;
		b->sets_allocated = m;
	}
	s = &plan->sets[plan->n_sets];
	*s = (struct policy_set){ .family = family,
				  .interval = interval,
				  .elems = elems,
				  .n_elems = n };
	s->name = strdup(name);
	if (!s->name)
		return -ENOMEM;
	*ret_index = (int)plan->n_sets++;
	return 0;
}

/* A hash set holding a copy of elems. The set is added even when empty, so that endpoints
 * appearing later only ever change set elements. */
static int add_elems_set(struct builder *b, const char *name, int family,
			 const struct policy_set_elem *elems, size_t n, int *ret_index)
{
	_cleanup_free_ struct policy_set_elem *copy = NULL;
	int r;

	if (n > 0) {
		copy = memdup(elems, n * sizeof(*elems));
		if (!copy)
			return -ENOMEM;
	}
	r = add_set(b, name, family, false, copy, n, ret_index);
	if (r >= 0)
		TAKE_PTR(copy);
	return r;
}

/* A hash set of the addresses (of `family`) of eps[0..n). */
static int add_endpoint_set(struct builder *b, const char *name, int family,
			    const struct policy_endpoint *const *eps, size_t n_eps, int *ret_index)
{
	_cleanup_free_ struct policy_set_elem *elems = NULL;
	size_t n;
	int r;

	r = select_endpoint_elems(eps, n_eps, family, &elems, &n);
	if (r < 0)
		return r;
	r = add_set(b, name, family, false, elems, n, ret_index);
	if (r >= 0)
		TAKE_PTR(elems);
	return r;
}

static int add_range_set(struct builder *b, const char *name, int family,
			 const struct range_list *rl, int *ret_index)
{
	struct policy_set_elem *elems;
	int r;

	elems = calloc(rl->n ? rl->n : 1, sizeof(*elems));
	if (!elems)
		return -ENOMEM;
	for (size_t i = 0; i < rl->n; i++) {
		u128_to_addr(family, rl->items[i].lo, elems[i].start);
		u128_to_addr(family, rl->items[i].hi, elems[i].end);
	}
	r = add_set(b, name, family, true, elems, rl->n, ret_index);
	if (r < 0)
		free(elems);
	return r;
}

static void make_comment(char *buf, size_t size, const struct policy_netpol *p, enum policy_dir dir,
			 unsigned idx)
{
	int n = snprintf(buf, size, "%s/%s %s[%u]", p->namespace, p->name,
			 policy_dir_to_string(dir), idx);

	if (n >= 0 && (size_t)n < size)
		return;

	/* Display only (the plan keeps the full provenance): a long name is shortened and made
	 * unique again with a hash of the whole name. */
	uint32_t h = 2166136261u;
	for (const char *c = p->name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	snprintf(buf, size, "%s/%.*s~%08x %s[%u]", p->namespace, 120, p->name, h,
		 policy_dir_to_string(dir), idx);
}

static int add_rule(struct builder *b, enum policy_dir dir, const struct policy_netpol *p,
		    unsigned idx, int family, int set, const struct port_spec *ps)
{
	struct policy_plan *plan = b->plan;
	struct policy_plan_rule *r;
	char comment[COMMENT_MAX];

	if (plan->n_rules == b->rules_allocated) {
		size_t m = b->rules_allocated ? b->rules_allocated * 2 : 16;
		struct policy_plan_rule *q = reallocarray(plan->rules, m, sizeof(*q));

		if (!q)
			return -ENOMEM;
		plan->rules = q;
		b->rules_allocated = m;
	}
	make_comment(comment, sizeof(comment), p, dir, idx);

	r = &plan->rules[plan->n_rules];
	*r = (struct policy_plan_rule){
		.dir = dir,
		.rule_index = idx,
		.family = family,
		.set = set,
		.has_proto = ps->has_proto,
		.proto = ps->proto,
		.port_lo = ps->lo,
		.port_hi = ps->hi,
	};
	r->policy_namespace = strdup(p->namespace);
	r->policy_name = strdup(p->name);
	r->comment = strdup(comment);
	plan->n_rules++; /* counted now so that policy_plan_free() releases partial strings */
	if (!r->policy_namespace || !r->policy_name || !r->comment)
		return -ENOMEM;
	return 0;
}

static int add_rules_for(struct builder *b, enum policy_dir dir, const struct policy_netpol *p,
			 unsigned idx, int family, int set, const struct port_spec *specs,
			 size_t n_specs)
{
	for (size_t i = 0; i < n_specs; i++) {
		int r = add_rule(b, dir, p, idx, family, set, &specs[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static const struct policy_named_port *find_named_port(const struct policy_endpoint *e,
						       const char *name, enum policy_proto proto)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i].proto == proto && streq(e->ports[i].name, name))
			return &e->ports[i];
	return NULL;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/*
 * Egress to a named port: the number is the destination's. Peers (eps[0..n_eps)) are grouped
 * by the number their port of that name has, one pair of hash sets and rules per number.
 */
static int compile_named_egress(struct builder *b, const struct policy_netpol *p, unsigned idx,
				unsigned seq, unsigned k, const struct policy_port *port,
				const struct policy_endpoint *const *eps, size_t n_eps)
{
	_cleanup_free_ uint16_t *nums = NULL;
	_cleanup_free_ const struct policy_endpoint **group = NULL;
	size_t n_nums = 0;
	int r;

	nums = calloc(n_eps ? n_eps : 1, sizeof(*nums));
	group = calloc(n_eps ? n_eps : 1, sizeof(*group));
	if (!nums || !group)
		return -ENOMEM;

	for (size_t i = 0; i < n_eps; i++) {
		const struct policy_named_port *np =
			find_named_port(eps[i], port->name, port->proto);

		if (np)
			nums[n_nums++] = np->port;
	}
	qsort_safe(nums, n_nums, sizeof(*nums), cmp_u16);

	for (size_t j = 0; j < n_nums; j++) {
		struct port_spec ps = { .has_proto = true, .proto = port->proto };
		size_t n_group = 0;
		char name[32];
		int s4, s6;

		if (j > 0 && nums[j] == nums[j - 1])
			continue;
		ps.lo = ps.hi = nums[j];
		for (size_t i = 0; i < n_eps; i++) {
			const struct policy_named_port *np =
				find_named_port(eps[i], port->name, port->proto);

			if (np && np->port == nums[j])
				group[n_group++] = eps[i];
		}
		snprintf(name, sizeof(name), "e%u_n%u_%u_4", seq, k, (unsigned)nums[j]);
		r = add_endpoint_set(b, name, AF_INET, group, n_group, &s4);
		if (r < 0)
			return r;
		snprintf(name, sizeof(name), "e%u_n%u_%u_6", seq, k, (unsigned)nums[j]);
		r = add_endpoint_set(b, name, AF_INET6, group, n_group, &s6);
		if (r < 0)
			return r;
		r = add_rule(b, POLICY_DIR_EGRESS, p, idx, AF_INET, s4, &ps);
		if (r < 0)
			return r;
		r = add_rule(b, POLICY_DIR_EGRESS, p, idx, AF_INET6, s6, &ps);
		if (r < 0)
			return r;
	}
	return 0;
}

static int compile_rule(struct builder *b, enum policy_dir dir, const struct policy_netpol *p,
			unsigned idx, const struct policy_rule *rule)
{
	const char d = dir == POLICY_DIR_INGRESS ? 'i' : 'e';
	struct range_list r4 = { 0 }, r6 = { 0 };
	_cleanup_free_ struct port_spec *specs = NULL;
	struct peers own = { 0 };
	const struct peers *pe;
	size_t n_specs = 0;
	bool any_peer = rule->n_peers == 0;
	unsigned seq = b->seq[dir]++;
	char name[32];
	int r, s;

	specs = calloc(rule->n_ports ? rule->n_ports : 1, sizeof(*specs));
	if (!specs)
		return -ENOMEM;
	if (b->cache)
		r = select_cache_lookup(b->cache, p, rule, &pe);
	else {
		r = select_peers_compute(b->w, p, rule, &own);
		pe = &own;
	}
	if (r < 0)
		return r;

	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_peer *peer = &rule->peers[i];

		if (!peer->ipblock)
			continue;
		r = ipblock_ranges(peer->ipblock,
				   peer->ipblock->cidr.family == AF_INET ? &r4 : &r6);
		if (r < 0)
			goto out;
	}
	range_list_normalize(&r4);
	range_list_normalize(&r6);

	/* Numeric ports, protocol-only entries and (for ingress) our own named ports. */
	if (rule->n_ports == 0)
		specs[n_specs++] = (struct port_spec){ .has_proto = false };
	for (size_t i = 0; i < rule->n_ports; i++) {
		const struct policy_port *pt = &rule->ports[i];
		const struct policy_named_port *np;

		if (!pt->has_port)
			specs[n_specs++] = (struct port_spec){ true, pt->proto, 0, 0 };
		else if (!pt->name)
			specs[n_specs++] =
				(struct port_spec){ true, pt->proto, pt->port,
						    pt->end_port ? pt->end_port : pt->port };
		else if (dir == POLICY_DIR_INGRESS) {
			np = find_named_port(b->ep, pt->name, pt->proto);
			if (np)
				specs[n_specs++] =
					(struct port_spec){ true, pt->proto, np->port, np->port };
		}
	}

	if (n_specs > 0) {
		if (any_peer) {
			r = add_rules_for(b, dir, p, idx, AF_UNSPEC, -1, specs, n_specs);
			if (r < 0)
				goto out;
		}
		if (pe->has_sel) {
			snprintf(name, sizeof(name), "%c%u_p4", d, seq);
			r = add_elems_set(b, name, AF_INET, pe->elems[0], pe->n_elems[0], &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, idx, AF_INET, s, specs, n_specs);
			if (r < 0)
				goto out;
			snprintf(name, sizeof(name), "%c%u_p6", d, seq);
			r = add_elems_set(b, name, AF_INET6, pe->elems[1], pe->n_elems[1], &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, idx, AF_INET6, s, specs, n_specs);
			if (r < 0)
				goto out;
		}
		if (r4.n > 0) {
			snprintf(name, sizeof(name), "%c%u_c4", d, seq);
			r = add_range_set(b, name, AF_INET, &r4, &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, idx, AF_INET, s, specs, n_specs);
			if (r < 0)
				goto out;
		}
		if (r6.n > 0) {
			snprintf(name, sizeof(name), "%c%u_c6", d, seq);
			r = add_range_set(b, name, AF_INET6, &r6, &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, idx, AF_INET6, s, specs, n_specs);
			if (r < 0)
				goto out;
		}
	}

	/* Egress named ports resolve per destination endpoint. An ipBlock peer has no named
	 * ports, so such a port matches nothing there. */
	if (dir == POLICY_DIR_EGRESS && (any_peer || pe->has_sel)) {
		const struct policy_endpoint **all = NULL;
		size_t n_all = 0;
		unsigned k = 0;

		for (size_t i = 0; i < rule->n_ports; i++) {
			const struct policy_port *pt = &rule->ports[i];

			if (!pt->has_port || !pt->name)
				continue;
			/* no peers: every endpoint is a destination */
			if (any_peer && !all && (r = select_all(b->w, &all, &n_all)) < 0)
				goto out;
			r = compile_named_egress(b, p, idx, seq, k++, pt, any_peer ? all : pe->eps,
						 any_peer ? n_all : pe->n_eps);
			if (r < 0) {
				free(all);
				goto out;
			}
		}
		free(all);
	}
	r = 0;
out:
	range_list_done(&r4);
	range_list_done(&r6);
	select_peers_done(&own);
	return r;
}

static int compile_with(const struct policy_world *world, struct policy_compile_cache *cache,
			const struct policy_endpoint *ep, enum policy_deny_action deny,
			struct policy_plan **ret)
{
	struct builder b = { .w = world, .cache = cache, .ep = ep };
	_cleanup_free_ const struct policy_netpol **selecting = NULL;
	size_t n_selecting = 0;
	int r;

	b.plan = calloc(1, sizeof(*b.plan));
	if (!b.plan)
		return -ENOMEM;
	b.plan->deny = deny;
	b.plan->endpoint = strdup(ep->name);
	selecting = calloc(world->n_netpols ? world->n_netpols : 1, sizeof(*selecting));
	if (!b.plan->endpoint || !selecting) {
		r = -ENOMEM;
		goto fail;
	}

	r = select_policies_of(world, cache, ep, selecting, &n_selecting);
	if (r < 0)
		goto fail;

	if (n_selecting > 0) {
		b.plan->selected_by = calloc(n_selecting, sizeof(char *));
		b.plan->selected_types = calloc(n_selecting, sizeof(unsigned));
		if (!b.plan->selected_by || !b.plan->selected_types) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < n_selecting; i++) {
		if (asprintf(&b.plan->selected_by[i], "%s/%s", selecting[i]->namespace,
			     selecting[i]->name) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		b.plan->selected_types[i] = selecting[i]->types;
		b.plan->n_selected_by++;
	}

	for (enum policy_dir dir = 0; dir < _POLICY_DIR_MAX; dir++) {
		unsigned type =
			dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS : POLICY_TYPE_EGRESS;

		for (size_t i = 0; i < n_selecting; i++) {
			const struct policy_netpol *p = selecting[i];
			const struct policy_rule *rules =
				dir == POLICY_DIR_INGRESS ? p->ingress : p->egress;
			size_t n = dir == POLICY_DIR_INGRESS ? p->n_ingress : p->n_egress;

			/* Rules of a direction not in policyTypes are ignored, as upstream. */
			if (!(p->types & type))
				continue;
			b.plan->isolated[dir] = true;
			for (size_t j = 0; j < n; j++) {
				r = compile_rule(&b, dir, p, (unsigned)j, &rules[j]);
				if (r < 0)
					goto fail;
			}
		}
	}

	*ret = b.plan;
	return 0;
fail:
	policy_plan_free(b.plan);
	return r;
}

int policy_compile(const struct policy_world *world, const struct policy_endpoint *ep,
		   enum policy_deny_action deny, struct policy_plan **ret)
{
	return compile_with(world, NULL, ep, deny, ret);
}

int policy_compile_cached(struct policy_compile_cache *c, const struct policy_endpoint *ep,
			  enum policy_deny_action deny, struct policy_plan **ret)
{
	return compile_with(c->w, c, ep, deny, ret);
}
