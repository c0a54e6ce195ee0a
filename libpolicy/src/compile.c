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
#include "macro.h"
#include "policy/policy.h"

#define COMMENT_MAX 240

struct port_spec {
	bool has_proto;
	enum policy_proto proto;
	uint16_t lo, hi;
};

/* The endpoints a rule's selector peers select, and their addresses per family (sorted,
 * unique), so that each plan's sets are a copy of output size. */
struct peers {
	bool *sel;			  /* world->n_endpoints flags */
	bool has_sel;			  /* the rule has selector peers */
	struct policy_set_elem *elems[2]; /* [0] AF_INET, [1] AF_INET6 */
	size_t n_elems[2];
};

/* Peers per rule, keyed by the rule's address (open addressing). */
struct cache_entry {
	const struct policy_rule *rule;
	struct peers peers;
};

struct policy_compile_cache {
	const struct policy_world *w;
	struct cache_entry *slots;
	size_t n_slots, used;
	/* The world's policies sorted by (namespace, name): an endpoint's candidates are the run
	 * of its namespace, already in plan order. Built on first use. */
	const struct policy_netpol **by_ns;
};

struct builder {
	const struct policy_world *w;
	struct policy_compile_cache *cache;
	const struct policy_endpoint *ep;
	struct policy_plan *plan;
	size_t sets_allocated, rules_allocated;
	unsigned seq[_POLICY_DIR_MAX];
};

static const struct policy_labels *ns_labels(const struct policy_world *w, const char *ns,
					     struct policy_labels *tmp,
					     struct policy_label *tmp_label)
{
	for (size_t i = 0; i < w->n_namespaces; i++)
		if (streq(w->namespaces[i]->name, ns))
			return &w->namespaces[i]->labels;

	/* Implicit namespace: only the name label, as the API server would add it. */
	*tmp_label =
		(struct policy_label){ .key = (char *)POLICY_NS_NAME_LABEL, .value = (char *)ns };
	*tmp = (struct policy_labels){ .items = tmp_label, .n = 1 };
	return tmp;
}

static bool peer_selects(const struct policy_world *w, const struct policy_netpol *p,
			 const struct policy_peer *peer, const struct policy_endpoint *e)
{
	if (peer->ipblock)
		return false;

	if (peer->ns_selector) {
		struct policy_labels tmp;
		struct policy_label tmp_label;

		if (!policy_selector_matches(peer->ns_selector,
					     ns_labels(w, e->namespace, &tmp, &tmp_label)))
			return false;
	} else if (!streq(e->namespace, p->namespace))
		return false;

	return !peer->pod_selector || policy_selector_matches(peer->pod_selector, &e->labels);
}

bool policy_netpol_selects(const struct policy_netpol *p, const struct policy_endpoint *e)
{
	return streq(p->namespace, e->namespace) &&
	       policy_selector_matches(&p->pod_selector, &e->labels);
}

bool policy_netpol_references(const struct policy_world *w, const struct policy_netpol *p,
			      const struct policy_endpoint *e)
{
	for (enum policy_dir dir = 0; dir < _POLICY_DIR_MAX; dir++) {
		unsigned type =
			dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS : POLICY_TYPE_EGRESS;
		const struct policy_rule *rules =
			dir == POLICY_DIR_INGRESS ? p->ingress : p->egress;
		size_t n = dir == POLICY_DIR_INGRESS ? p->n_ingress : p->n_egress;

		if (!(p->types & type))
			continue;
		for (size_t i = 0; i < n; i++) {
			const struct policy_rule *r = &rules[i];

			/* Egress named ports resolve against every candidate destination. */
			if (dir == POLICY_DIR_EGRESS)
				for (size_t k = 0; k < r->n_ports; k++)
					if (r->ports[k].has_port && r->ports[k].name)
						return true;
			for (size_t k = 0; k < r->n_peers; k++)
				if (peer_selects(w, p, &r->peers[k], e))
					return true;
		}
	}
	return false;
}

static int cmp_netpol(const void *a, const void *b)
{
	const struct policy_netpol *x = *(struct policy_netpol *const *)a;
	const struct policy_netpol *y = *(struct policy_netpol *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static int cmp_elem(const void *a, const void *b)
{
	const struct policy_set_elem *x = a, *y = b;
	int c = memcmp(x->start, y->start, 16);

	return c ? c : memcmp(x->end, y->end, 16);
}

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

/* The addresses (of `family`) of the endpoints flagged in `sel`, sorted and unique; NULL and
 * 0 when there are none. */
static int endpoint_elems(const struct policy_world *w, int family, const bool *sel,
			  struct policy_set_elem **ret, size_t *ret_n)
{
	struct policy_set_elem *elems;
	size_t n = 0, o = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < w->n_endpoints; i++)
		if (sel[i])
			for (size_t a = 0; a < w->endpoints[i]->n_addrs; a++)
				n += w->endpoints[i]->addrs[a].family == family;
	if (n == 0)
		return 0;

	elems = calloc(n, sizeof(*elems));
	if (!elems)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_endpoints; i++) {
		if (!sel[i])
			continue;
		for (size_t a = 0; a < w->endpoints[i]->n_addrs; a++) {
			const struct policy_addr *ad = &w->endpoints[i]->addrs[a];

			if (ad->family != family)
				continue;
			memcpy(elems[o].start, ad->addr, 16);
			memcpy(elems[o].end, ad->addr, 16);
			o++;
		}
	}
	qsort_safe(elems, n, sizeof(*elems), cmp_elem);
	/* unique: two endpoints may briefly claim one address */
	o = 1;
	for (size_t i = 1; i < n; i++)
		if (cmp_elem(&elems[i], &elems[o - 1]) != 0)
			elems[o++] = elems[i];
	*ret = elems;
	*ret_n = o;
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

/* A hash set of the addresses (of `family`) of the endpoints flagged in `sel`. */
static int add_endpoint_set(struct builder *b, const char *name, int family, const bool *sel,
			    int *ret_index)
{
	_cleanup_free_ struct policy_set_elem *elems = NULL;
	size_t n;
	int r;

	r = endpoint_elems(b->w, family, sel, &elems, &n);
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
 * Egress to a named port: the number is the destination's. Peers are grouped by the number
 * their port of that name has, one pair of hash sets and rules per number.
 */
static int compile_named_egress(struct builder *b, const struct policy_netpol *p, unsigned idx,
				unsigned seq, unsigned k, const struct policy_port *port,
				const bool *sel, bool any_peer)
{
	const struct policy_world *w = b->w;
	_cleanup_free_ uint16_t *nums = NULL;
	_cleanup_free_ bool *group = NULL;
	size_t n_nums = 0;
	int r;

	nums = calloc(w->n_endpoints ? w->n_endpoints : 1, sizeof(*nums));
	group = calloc(w->n_endpoints ? w->n_endpoints : 1, sizeof(*group));
	if (!nums || !group)
		return -ENOMEM;

	for (size_t i = 0; i < w->n_endpoints; i++) {
		const struct policy_named_port *np;

		if (!any_peer && !sel[i])
			continue;
		np = find_named_port(w->endpoints[i], port->name, port->proto);
		if (np)
			nums[n_nums++] = np->port;
	}
	qsort_safe(nums, n_nums, sizeof(*nums), cmp_u16);

	for (size_t j = 0; j < n_nums; j++) {
		struct port_spec ps = { .has_proto = true, .proto = port->proto };
		char name[32];
		int s4, s6;

		if (j > 0 && nums[j] == nums[j - 1])
			continue;
		ps.lo = ps.hi = nums[j];
		for (size_t i = 0; i < w->n_endpoints; i++) {
			const struct policy_named_port *np;

			group[i] = false;
			if (!any_peer && !sel[i])
				continue;
			np = find_named_port(w->endpoints[i], port->name, port->proto);
			group[i] = np && np->port == nums[j];
		}
		snprintf(name, sizeof(name), "e%u_n%u_%u_4", seq, k, (unsigned)nums[j]);
		r = add_endpoint_set(b, name, AF_INET, group, &s4);
		if (r < 0)
			return r;
		snprintf(name, sizeof(name), "e%u_n%u_%u_6", seq, k, (unsigned)nums[j]);
		r = add_endpoint_set(b, name, AF_INET6, group, &s6);
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

/* Flags in sel the endpoints a rule's selector peers select; whether it has any. */
static bool select_peers(const struct policy_world *w, const struct policy_netpol *p,
			 const struct policy_rule *rule, bool *sel)
{
	bool has_sel = false;

	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_peer *peer = &rule->peers[i];

		if (peer->ipblock)
			continue;
		has_sel = true;
		for (size_t e = 0; e < w->n_endpoints; e++)
			if (!sel[e] && peer_selects(w, p, peer, w->endpoints[e]))
				sel[e] = true;
	}
	return has_sel;
}

static size_t hash_ptr(const void *p, size_t n)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 17;
	x *= (uintptr_t)0xed5ad4bbu;
	x ^= x >> 11;
	return (size_t)x & (n - 1);
}

static int cache_grow(struct policy_compile_cache *c)
{
	size_t n = c->n_slots ? c->n_slots * 2 : 64;
	struct cache_entry *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_slots; i++) {
		size_t k;

		if (!c->slots[i].rule)
			continue;
		for (k = hash_ptr(c->slots[i].rule, n); slots[k].rule; k = (k + 1) & (n - 1))
			;
		slots[k] = c->slots[i];
	}
	free(c->slots);
	c->slots = slots;
	c->n_slots = n;
	return 0;
}

static void peers_done(struct peers *pe)
{
	free(pe->sel);
	free(pe->elems[0]);
	free(pe->elems[1]);
	*pe = (struct peers){ 0 };
}

static int peers_compute(const struct policy_world *w, const struct policy_netpol *p,
			 const struct policy_rule *rule, struct peers *pe)
{
	int r;

	*pe = (struct peers){ 0 };
	pe->sel = calloc(w->n_endpoints ? w->n_endpoints : 1, sizeof(*pe->sel));
	if (!pe->sel)
		return -ENOMEM;
	pe->has_sel = select_peers(w, p, rule, pe->sel);
	if (!pe->has_sel)
		return 0;
	r = endpoint_elems(w, AF_INET, pe->sel, &pe->elems[0], &pe->n_elems[0]);
	if (r >= 0)
		r = endpoint_elems(w, AF_INET6, pe->sel, &pe->elems[1], &pe->n_elems[1]);
	if (r < 0)
		peers_done(pe);
	return r;
}

static int cache_lookup(struct policy_compile_cache *c, const struct policy_netpol *p,
			const struct policy_rule *rule, const struct peers **ret)
{
	size_t k;
	int r;

	if (c->n_slots > 0)
		for (k = hash_ptr(rule, c->n_slots); c->slots[k].rule;
		     k = (k + 1) & (c->n_slots - 1))
			if (c->slots[k].rule == rule) {
				*ret = &c->slots[k].peers;
				return 0;
			}
	if ((c->used + 1) * 2 > c->n_slots) {
		r = cache_grow(c);
		if (r < 0)
			return r;
	}
	for (k = hash_ptr(rule, c->n_slots); c->slots[k].rule; k = (k + 1) & (c->n_slots - 1))
		;
	r = peers_compute(c->w, p, rule, &c->slots[k].peers);
	if (r < 0)
		return r;
	c->slots[k].rule = rule;
	c->used++;
	*ret = &c->slots[k].peers;
	return 0;
}

int policy_compile_cache_new(const struct policy_world *world, struct policy_compile_cache **ret)
{
	struct policy_compile_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->w = world;
	*ret = c;
	return 0;
}

struct policy_compile_cache *policy_compile_cache_free(struct policy_compile_cache *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].rule)
			peers_done(&c->slots[i].peers);
	free(c->slots);
	free(c->by_ns);
	free(c);
	return NULL;
}

static int cmp_netpol_ns(const void *key, const void *elem)
{
	return strcmp(key, (*(struct policy_netpol *const *)elem)->namespace);
}

/* The policies of the endpoint's namespace that select it, sorted by name. */
static int selecting_policies(const struct policy_world *w, struct policy_compile_cache *c,
			      const struct policy_endpoint *ep, const struct policy_netpol **out,
			      size_t *ret_n)
{
	size_t n = 0;

	if (!c) {
		for (size_t i = 0; i < w->n_netpols; i++)
			if (policy_netpol_selects(w->netpols[i], ep))
				out[n++] = w->netpols[i];
		qsort_safe(out, n, sizeof(*out), cmp_netpol);
		*ret_n = n;
		return 0;
	}

	if (!c->by_ns && w->n_netpols > 0) {
		c->by_ns = memdup(w->netpols, w->n_netpols * sizeof(*c->by_ns));
		if (!c->by_ns)
			return -ENOMEM;
		qsort_safe(c->by_ns, w->n_netpols, sizeof(*c->by_ns), cmp_netpol);
	}
	if (w->n_netpols > 0) {
		/* lower bound of the namespace's run */
		size_t lo = 0, hi = w->n_netpols;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (cmp_netpol_ns(ep->namespace, &c->by_ns[mid]) > 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo;
		     i < w->n_netpols && streq(c->by_ns[i]->namespace, ep->namespace); i++)
			if (policy_selector_matches(&c->by_ns[i]->pod_selector, &ep->labels))
				out[n++] = c->by_ns[i];
	}
	*ret_n = n;
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
		r = cache_lookup(b->cache, p, rule, &pe);
	else {
		r = peers_compute(b->w, p, rule, &own);
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
		unsigned k = 0;

		for (size_t i = 0; i < rule->n_ports; i++) {
			const struct policy_port *pt = &rule->ports[i];

			if (!pt->has_port || !pt->name)
				continue;
			r = compile_named_egress(b, p, idx, seq, k++, pt, pe->sel, any_peer);
			if (r < 0)
				goto out;
		}
	}
	r = 0;
out:
	range_list_done(&r4);
	range_list_done(&r6);
	peers_done(&own);
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

	r = selecting_policies(world, cache, ep, selecting, &n_selecting);
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
