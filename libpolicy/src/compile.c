/* SPDX-License-Identifier: MIT */
/*
 * NetworkPolicy and ClusterNetworkPolicy -> per-endpoint plan.
 *
 * Semantics (networking.k8s.io/v1): an endpoint is isolated for a direction when at least one
 * policy of its namespace selects it and has that direction in policyTypes. Traffic in an
 * isolated direction is allowed when any rule of any selecting policy allows it (union). A rule
 * allows a peer (any of `from`/`to`, or every peer when empty) on a port (any of `ports`, or
 * every port when empty). A selector peer names endpoints: podSelector alone = same namespace as
 * the policy, namespaceSelector alone = every endpoint of the matching namespaces, both = AND.
 *
 * ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): per direction, the Admin tier's
 * rules, then NetworkPolicy's, then the Baseline tier's. A tier's rules are those of the
 * policies whose subject selects the endpoint, lower priority first (equal priorities by name:
 * upstream leaves their order open), each policy's rules in order; the first rule that matches
 * decides (Accept, Deny) or leaves the tier (Pass). The plan keeps that order.
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

/* Where plan rules come from: a NetworkPolicy (tier NETPOL, ns set) or a ClusterNetworkPolicy. */
struct src {
	enum policy_tier tier;
	const char *ns; /* NULL for a ClusterNetworkPolicy */
	const char *name;
	unsigned priority;
};

struct builder {
	const struct policy_world *w;
	struct policy_compile_cache *cache;
	const struct policy_endpoint *ep;
	struct policy_plan *plan;
	size_t sets_allocated, rules_allocated;
	unsigned seq[_POLICY_TIER_MAX][_POLICY_DIR_MAX];
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

/* A rule name as it may stand in a comment: printable ASCII, ']' and '"' replaced. */
static void clean_name(char *dst, size_t size, const char *name)
{
	size_t i = 0;

	for (; name[i] && i + 1 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		dst[i] = c < 0x20 || c > 0x7e || c == ']' || c == '"' ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void make_comment(char *buf, size_t size, const struct src *p, enum policy_dir dir,
			 unsigned idx, const char *rule_name)
{
	char sel[POLICY_CNP_MAX_RULE_NAME + 1];
	const char *ns = p->ns ? p->ns : "cnp";
	int n;

	if (rule_name)
		clean_name(sel, sizeof(sel), rule_name);
	else
		snprintf(sel, sizeof(sel), "%u", idx);
	n = snprintf(buf, size, "%s/%s %s[%s]", ns, p->name, policy_dir_to_string(dir), sel);
	if (n >= 0 && (size_t)n < size)
		return;

	/* Display only (the plan keeps the full provenance): a long name is shortened and made
	 * unique again with a hash of the whole name. */
	uint32_t h = 2166136261u;
	for (const char *c = p->name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	snprintf(buf, size, "%s/%.*s~%08x %s[%.40s]", ns, 120, p->name, h,
		 policy_dir_to_string(dir), sel);
}

static int add_rule(struct builder *b, enum policy_dir dir, const struct src *p,
		    const struct policy_rule *rule, unsigned idx, int family, int set,
		    const struct port_spec *ps)
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
	make_comment(comment, sizeof(comment), p, dir, idx, rule->name);

	r = &plan->rules[plan->n_rules];
	*r = (struct policy_plan_rule){
		.dir = dir,
		.tier = p->tier,
		.action = rule->action,
		.priority = p->priority,
		.rule_index = idx,
		.family = family,
		.set = set,
		.has_proto = ps->has_proto,
		.proto = ps->proto,
		.port_lo = ps->lo,
		.port_hi = ps->hi,
	};
	r->policy_namespace = p->ns ? strdup(p->ns) : NULL;
	r->policy_name = strdup(p->name);
	r->rule_name = rule->name ? strdup(rule->name) : NULL;
	r->comment = strdup(comment);
	plan->n_rules++; /* counted now so that policy_plan_free() releases partial strings */
	if ((p->ns && !r->policy_namespace) || !r->policy_name || !r->comment ||
	    (rule->name && !r->rule_name))
		return -ENOMEM;
	return 0;
}

static int add_rules_for(struct builder *b, enum policy_dir dir, const struct src *p,
			 const struct policy_rule *rule, unsigned idx, int family, int set,
			 const struct port_spec *specs, size_t n_specs)
{
	for (size_t i = 0; i < n_specs; i++) {
		int r = add_rule(b, dir, p, rule, idx, family, set, &specs[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

/* The endpoint's port called pt->name, of pt's protocol (or of any: a ClusterNetworkPolicy's
 * destinationNamedPort); names are unique per endpoint. */
static const struct policy_named_port *find_named_port(const struct policy_endpoint *e,
						       const struct policy_port *pt)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if ((pt->any_proto || e->ports[i].proto == pt->proto) &&
		    streq(e->ports[i].name, pt->name))
			return &e->ports[i];
	return NULL;
}

/* A resolved named port as one number: protocol above the port, so sorting groups both. */
static uint32_t port_key(const struct policy_named_port *np)
{
	return (uint32_t)np->proto << 16 | np->port;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Egress to a named port: the number (and, for a destinationNamedPort, the protocol) is the
 * destination's. Peers (eps[0..n_eps)) are grouped by what their port of that name resolves
 * to, one pair of hash sets and rules per group.
 */
static int compile_named_egress(struct builder *b, const struct src *p,
				const struct policy_rule *rule, unsigned idx, char d, unsigned seq,
				unsigned k, const struct policy_port *port,
				const struct policy_endpoint *const *eps, size_t n_eps)
{
	_cleanup_free_ uint32_t *keys = NULL;
	_cleanup_free_ const struct policy_endpoint **group = NULL;
	size_t n_keys = 0;
	int r;

	keys = calloc(n_eps ? n_eps : 1, sizeof(*keys));
	group = calloc(n_eps ? n_eps : 1, sizeof(*group));
	if (!keys || !group)
		return -ENOMEM;

	for (size_t i = 0; i < n_eps; i++) {
		const struct policy_named_port *np = find_named_port(eps[i], port);

		if (np)
			keys[n_keys++] = port_key(np);
	}
	qsort_safe(keys, n_keys, sizeof(*keys), cmp_u32);

	for (size_t j = 0; j < n_keys; j++) {
		struct port_spec ps = { .has_proto = true,
					.proto = (enum policy_proto)(keys[j] >> 16) };
		size_t n_group = 0;
		char name[32];
		int s4, s6;

		if (j > 0 && keys[j] == keys[j - 1])
			continue;
		ps.lo = ps.hi = (uint16_t)keys[j];
		for (size_t i = 0; i < n_eps; i++) {
			const struct policy_named_port *np = find_named_port(eps[i], port);

			if (np && port_key(np) == keys[j])
				group[n_group++] = eps[i];
		}
		/* the protocol is in the name only where the port name has none of its own */
		if (port->any_proto)
			snprintf(name, sizeof(name), "%c%u_n%u_%u_%u_4", d, seq, k,
				 (unsigned)ps.proto, (unsigned)ps.lo);
		else
			snprintf(name, sizeof(name), "%c%u_n%u_%u_4", d, seq, k, (unsigned)ps.lo);
		r = add_endpoint_set(b, name, AF_INET, group, n_group, &s4);
		if (r < 0)
			return r;
		name[strlen(name) - 1] = '6';
		r = add_endpoint_set(b, name, AF_INET6, group, n_group, &s6);
		if (r < 0)
			return r;
		r = add_rule(b, POLICY_DIR_EGRESS, p, rule, idx, AF_INET, s4, &ps);
		if (r < 0)
			return r;
		r = add_rule(b, POLICY_DIR_EGRESS, p, rule, idx, AF_INET6, s6, &ps);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A rule's `nodes` peers: one hash set per family ("A3_n4", "A3_n6") of the addresses of the
 * Nodes they select, added even when empty so that a Node appearing, changing address or going
 * only ever changes set elements. Nothing when the rule has no such peer.
 */
static int compile_node_peers(struct builder *b, enum policy_dir dir, const struct src *p,
			      const struct policy_rule *rule, unsigned idx, char d, unsigned seq,
			      const struct port_spec *specs, size_t n_specs)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	char name[32];
	int r, s;

	for (size_t f = 0; f < 2; f++) {
		struct policy_set_elem *elems;
		size_t n;
		bool has;

		r = select_node_elems(b->w, rule, families[f], &elems, &n, &has);
		if (r < 0)
			return r;
		if (!has)
			return 0;
		snprintf(name, sizeof(name), "%c%u_n%c", d, seq, f == 0 ? '4' : '6');
		r = add_set(b, name, families[f], false, elems, n, &s);
		if (r < 0) {
			free(elems);
			return r;
		}
		r = add_rules_for(b, dir, p, rule, idx, families[f], s, specs, n_specs);
		if (r < 0)
			return r;
	}
	return 0;
}

static int compile_rule(struct builder *b, enum policy_dir dir, const struct src *p, unsigned idx,
			const struct policy_rule *rule)
{
	/* Set names: tiers apart, so that a policy's sets keep their names when one of another
	 * tier comes or goes: i/e (NetworkPolicy), a/A (Admin in/e), b/B (Baseline in/e). */
	static const char tag[_POLICY_TIER_MAX][_POLICY_DIR_MAX] = {
		[POLICY_TIER_NETPOL] = { 'i', 'e' },
		[POLICY_TIER_ADMIN] = { 'a', 'A' },
		[POLICY_TIER_BASELINE] = { 'b', 'B' },
	};
	const char d = tag[p->tier][dir];
	struct range_list r4 = { 0 }, r6 = { 0 };
	_cleanup_free_ struct port_spec *specs = NULL;
	struct peers own = { 0 };
	const struct peers *pe;
	size_t n_specs = 0;
	bool any_peer = rule->n_peers == 0;
	unsigned seq = b->seq[p->tier][dir]++;
	char name[32];
	int r, s;

	specs = calloc(rule->n_ports ? rule->n_ports : 1, sizeof(*specs));
	if (!specs)
		return -ENOMEM;
	if (b->cache)
		r = select_cache_lookup(b->cache, p->ns, rule, &pe);
	else {
		r = select_peers_compute(b->w, p->ns, rule, &own);
		pe = &own;
	}
	if (r < 0)
		return r;

	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_peer *peer = &rule->peers[i];

		for (size_t k = 0; k < peer->n_networks; k++) {
			struct policy_ipblock net = { .cidr = peer->networks[k] };

			r = ipblock_ranges(&net, net.cidr.family == AF_INET ? &r4 : &r6);
			if (r < 0)
				goto out;
		}
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
			np = find_named_port(b->ep, pt);
			if (np)
				specs[n_specs++] =
					(struct port_spec){ true, np->proto, np->port, np->port };
		}
	}

	if (n_specs > 0) {
		if (any_peer) {
			r = add_rules_for(b, dir, p, rule, idx, AF_UNSPEC, -1, specs, n_specs);
			if (r < 0)
				goto out;
		}
		if (pe->has_sel) {
			snprintf(name, sizeof(name), "%c%u_p4", d, seq);
			r = add_elems_set(b, name, AF_INET, pe->elems[0], pe->n_elems[0], &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, rule, idx, AF_INET, s, specs, n_specs);
			if (r < 0)
				goto out;
			snprintf(name, sizeof(name), "%c%u_p6", d, seq);
			r = add_elems_set(b, name, AF_INET6, pe->elems[1], pe->n_elems[1], &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, rule, idx, AF_INET6, s, specs,
						  n_specs);
			if (r < 0)
				goto out;
		}
		if (r4.n > 0) {
			snprintf(name, sizeof(name), "%c%u_c4", d, seq);
			r = add_range_set(b, name, AF_INET, &r4, &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, rule, idx, AF_INET, s, specs, n_specs);
			if (r < 0)
				goto out;
		}
		r = compile_node_peers(b, dir, p, rule, idx, d, seq, specs, n_specs);
		if (r < 0)
			goto out;
		if (r6.n > 0) {
			snprintf(name, sizeof(name), "%c%u_c6", d, seq);
			r = add_range_set(b, name, AF_INET6, &r6, &s);
			if (r >= 0)
				r = add_rules_for(b, dir, p, rule, idx, AF_INET6, s, specs,
						  n_specs);
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
			r = compile_named_egress(b, p, rule, idx, d, seq, k++, pt,
						 any_peer ? all : pe->eps,
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

static int add_selected_by(struct policy_plan *plan, const char *ns, const char *name,
			   unsigned types)
{
	char *s;

	if (asprintf(&s, "%s/%s", ns, name) < 0)
		return -ENOMEM;
	plan->selected_by[plan->n_selected_by] = s;
	plan->selected_types[plan->n_selected_by++] = types;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rules of the ClusterNetworkPolicies cnps[0..n) (in evaluation order) of one tier. */
static int compile_tier(struct builder *b, enum policy_dir dir, enum policy_tier tier,
			const struct policy_cnp *const *cnps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct policy_cnp *c = cnps[i];
		const struct policy_rule *rules =
			dir == POLICY_DIR_INGRESS ? c->ingress : c->egress;
		size_t n_rules = dir == POLICY_DIR_INGRESS ? c->n_ingress : c->n_egress;
		struct src src = { .tier = tier, .name = c->name, .priority = c->priority };

		if (c->tier != tier)
			continue;
		for (size_t j = 0; j < n_rules; j++) {
			int r = compile_rule(b, dir, &src, (unsigned)j, &rules[j]);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int compile_with(const struct policy_world *world, struct policy_compile_cache *cache,
			const struct policy_endpoint *ep, enum policy_deny_action deny,
			struct policy_plan **ret)
{
	struct builder b = { .w = world, .cache = cache, .ep = ep };
	_cleanup_free_ const struct policy_netpol **selecting = NULL;
	_cleanup_free_ const struct policy_cnp **cnps = NULL;
	size_t n_selecting = 0, n_cnps = 0;
	int r;

	b.plan = calloc(1, sizeof(*b.plan));
	if (!b.plan)
		return -ENOMEM;
	b.plan->deny = deny;
	b.plan->endpoint = strdup(ep->name);
	selecting = calloc(world->n_netpols ? world->n_netpols : 1, sizeof(*selecting));
	cnps = calloc(world->n_cnps ? world->n_cnps : 1, sizeof(*cnps));
	if (!b.plan->endpoint || !selecting || !cnps) {
		r = -ENOMEM;
		goto fail;
	}

	r = select_policies_of(world, cache, ep, selecting, &n_selecting);
	if (r >= 0)
		r = select_cnps_of(world, ep, cnps, &n_cnps);
	if (r < 0)
		goto fail;

	if (n_selecting + n_cnps > 0) {
		b.plan->selected_by = calloc(n_selecting + n_cnps, sizeof(char *));
		b.plan->selected_types = calloc(n_selecting + n_cnps, sizeof(unsigned));
		if (!b.plan->selected_by || !b.plan->selected_types) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < n_selecting; i++) {
		r = add_selected_by(b.plan, selecting[i]->namespace, selecting[i]->name,
				    selecting[i]->types);
		if (r < 0)
			goto fail;
	}
	/* "cnp/NAME": a ClusterNetworkPolicy isolates nothing (its rules decide what they match) */
	for (size_t i = 0; i < n_cnps; i++) {
		r = add_selected_by(b.plan, "cnp", cnps[i]->name, 0);
		if (r < 0)
			goto fail;
	}
	if (n_cnps > 0) {
		/* sorted as the NetworkPolicies alone are; the types travel with their names */
		for (size_t i = 0; i < b.plan->n_selected_by; i++)
			for (size_t k = i + 1; k < b.plan->n_selected_by; k++)
				if (cmp_str(&b.plan->selected_by[k], &b.plan->selected_by[i]) < 0) {
					char *t = b.plan->selected_by[i];
					unsigned u = b.plan->selected_types[i];

					b.plan->selected_by[i] = b.plan->selected_by[k];
					b.plan->selected_types[i] = b.plan->selected_types[k];
					b.plan->selected_by[k] = t;
					b.plan->selected_types[k] = u;
				}
	}

	for (enum policy_dir dir = 0; dir < _POLICY_DIR_MAX; dir++) {
		unsigned type =
			dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS : POLICY_TYPE_EGRESS;

		r = compile_tier(&b, dir, POLICY_TIER_ADMIN, cnps, n_cnps);
		if (r < 0)
			goto fail;
		for (size_t i = 0; i < n_selecting; i++) {
			const struct policy_netpol *p = selecting[i];
			const struct policy_rule *rules =
				dir == POLICY_DIR_INGRESS ? p->ingress : p->egress;
			size_t n = dir == POLICY_DIR_INGRESS ? p->n_ingress : p->n_egress;
			struct src src = { .tier = POLICY_TIER_NETPOL,
					   .ns = p->namespace,
					   .name = p->name };

			/* Rules of a direction not in policyTypes are ignored, as upstream. */
			if (!(p->types & type))
				continue;
			b.plan->isolated[dir] = true;
			for (size_t j = 0; j < n; j++) {
				r = compile_rule(&b, dir, &src, (unsigned)j, &rules[j]);
				if (r < 0)
					goto fail;
			}
		}
		r = compile_tier(&b, dir, POLICY_TIER_BASELINE, cnps, n_cnps);
		if (r < 0)
			goto fail;
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
