/* SPDX-License-Identifier: MIT */
/*
 * Selectors against the world: which endpoints a NetworkPolicy selects and references, which
 * endpoints a rule's selector peers select (podSelector alone: the policy's namespace;
 * namespaceSelector alone: every endpoint of the matching namespaces; both: AND), and the
 * per-rule cache that computes each rule's peers once for a compile of many endpoints.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "select.h"

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

/* policy_ns: the NetworkPolicy's namespace (a podSelector alone selects there); NULL for a
 * ClusterNetworkPolicy, whose selector peers always have a namespace selector. */
static bool peer_selects(const struct policy_world *w, const char *policy_ns,
			 const struct policy_peer *peer, const struct policy_endpoint *e)
{
	if (peer->ipblock || peer->n_networks > 0 || peer->node_selector)
		return false;

	if (peer->ns_selector) {
		struct policy_labels tmp;
		struct policy_label tmp_label;

		if (!policy_selector_matches(peer->ns_selector,
					     ns_labels(w, e->namespace, &tmp, &tmp_label)))
			return false;
	} else if (!policy_ns || !streq(e->namespace, policy_ns))
		return false;

	return !peer->pod_selector || policy_selector_matches(peer->pod_selector, &e->labels);
}

bool policy_netpol_selects(const struct policy_netpol *p, const struct policy_endpoint *e)
{
	return streq(p->namespace, e->namespace) &&
	       policy_selector_matches(&p->pod_selector, &e->labels);
}

/* Whether one of rules[0..n) (of direction dir, in a policy of namespace policy_ns, NULL for a
 * ClusterNetworkPolicy) can put e in a plan: as a selector peer, or as a candidate destination
 * of an egress named port (those resolve against every destination). */
static bool rules_reference(const struct policy_world *w, const char *policy_ns,
			    enum policy_dir dir, const struct policy_rule *rules, size_t n,
			    const struct policy_endpoint *e)
{
	for (size_t i = 0; i < n; i++) {
		const struct policy_rule *r = &rules[i];

		if (dir == POLICY_DIR_EGRESS)
			for (size_t k = 0; k < r->n_ports; k++)
				if (r->ports[k].has_port && r->ports[k].name)
					return true;
		for (size_t k = 0; k < r->n_peers; k++)
			if (peer_selects(w, policy_ns, &r->peers[k], e))
				return true;
	}
	return false;
}

bool policy_netpol_references(const struct policy_world *w, const struct policy_netpol *p,
			      const struct policy_endpoint *e)
{
	return ((p->types & POLICY_TYPE_INGRESS) &&
		rules_reference(w, p->namespace, POLICY_DIR_INGRESS, p->ingress, p->n_ingress,
				e)) ||
	       ((p->types & POLICY_TYPE_EGRESS) &&
		rules_reference(w, p->namespace, POLICY_DIR_EGRESS, p->egress, p->n_egress, e));
}

bool policy_cnp_selects(const struct policy_world *w, const struct policy_cnp *p,
			const struct policy_endpoint *e)
{
	struct policy_labels tmp;
	struct policy_label tmp_label;

	return policy_selector_matches(&p->ns_selector,
				       ns_labels(w, e->namespace, &tmp, &tmp_label)) &&
	       (!p->pod_selector || policy_selector_matches(p->pod_selector, &e->labels));
}

bool policy_cnp_references(const struct policy_world *w, const struct policy_cnp *p,
			   const struct policy_endpoint *e)
{
	return rules_reference(w, NULL, POLICY_DIR_INGRESS, p->ingress, p->n_ingress, e) ||
	       rules_reference(w, NULL, POLICY_DIR_EGRESS, p->egress, p->n_egress, e);
}

bool policy_cnp_has_node_peers(const struct policy_cnp *p)
{
	for (size_t i = 0; i < p->n_egress; i++)
		for (size_t k = 0; k < p->egress[i].n_peers; k++)
			if (p->egress[i].peers[k].node_selector)
				return true;
	return false;
}

static int cmp_elem(const void *a, const void *b);

/* Into *ret (sorted, unique), the addresses of `family` of the world's Nodes that a `nodes`
 * peer of rule selects; *ret_has is whether the rule has such a peer. */
int select_node_elems(const struct policy_world *w, const struct policy_rule *rule, int family,
		      struct policy_set_elem **ret, size_t *ret_n, bool *ret_has)
{
	struct policy_set_elem *elems = NULL;
	size_t n = 0, cap = 0, o;

	*ret = NULL;
	*ret_n = 0;
	*ret_has = false;
	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_selector *sel = rule->peers[i].node_selector;

		if (!sel)
			continue;
		*ret_has = true;
		for (size_t k = 0; k < w->n_nodes; k++) {
			const struct policy_node *nd = w->nodes[k];

			if (!policy_selector_matches(sel, &nd->labels))
				continue;
			for (size_t a = 0; a < nd->n_addrs; a++) {
				if (nd->addrs[a].family != family)
					continue;
				if (n == cap) {
					size_t m = cap ? cap * 2 : 8;
					struct policy_set_elem *x =
						reallocarray(elems, m, sizeof(*x));

					if (!x) {
						free(elems);
						return -ENOMEM;
					}
					elems = x;
					cap = m;
				}
				memcpy(elems[n].start, nd->addrs[a].addr, 16);
				memcpy(elems[n].end, nd->addrs[a].addr, 16);
				n++;
			}
		}
	}
	if (n == 0) {
		free(elems);
		return 0;
	}
	qsort_safe(elems, n, sizeof(*elems), cmp_elem);
	o = 1;
	for (size_t i = 1; i < n; i++)
		if (memcmp(&elems[i], &elems[o - 1], sizeof(*elems)) != 0)
			elems[o++] = elems[i];
	*ret = elems;
	*ret_n = o;
	return 0;
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

/* The addresses (of `family`) of eps[0..n), sorted and unique; NULL and 0 when there are
 * none. */
int select_endpoint_elems(const struct policy_endpoint *const *eps, size_t n_eps, int family,
			  struct policy_set_elem **ret, size_t *ret_n)
{
	struct policy_set_elem *elems;
	size_t n = 0, o = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < n_eps; i++)
		for (size_t a = 0; a < eps[i]->n_addrs; a++)
			n += eps[i]->addrs[a].family == family;
	if (n == 0)
		return 0;

	elems = calloc(n, sizeof(*elems));
	if (!elems)
		return -ENOMEM;
	for (size_t i = 0; i < n_eps; i++)
		for (size_t a = 0; a < eps[i]->n_addrs; a++) {
			const struct policy_addr *ad = &eps[i]->addrs[a];

			if (ad->family != family)
				continue;
			memcpy(elems[o].start, ad->addr, 16);
			memcpy(elems[o].end, ad->addr, 16);
			o++;
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

/* A growing list of endpoints. */
struct ep_list {
	const struct policy_endpoint **eps;
	size_t n, cap;
};

static int ep_list_add(const struct policy_endpoint *ep, void *ud)
{
	struct ep_list *l = ud;

	if (l->n == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 16;
		const struct policy_endpoint **q = reallocarray(l->eps, c, sizeof(*q));

		if (!q)
			return -ENOMEM;
		l->eps = q;
		l->cap = c;
	}
	l->eps[l->n++] = ep;
	return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a,
		  y = (uintptr_t) * (const void *const *)b;

	return (x > y) - (x < y);
}

/* Each endpoint once (several peers of a rule may select one). */
static void ep_list_unique(struct ep_list *l)
{
	size_t o = 0;

	qsort_safe(l->eps, l->n, sizeof(*l->eps), cmp_ptr);
	for (size_t i = 0; i < l->n; i++)
		if (o == 0 || l->eps[i] != l->eps[o - 1])
			l->eps[o++] = l->eps[i];
	l->n = o;
}

struct ns_walk {
	const struct policy_world *w;
	const struct policy_selector *ns_sel;  /* NULL: every namespace */
	const struct policy_selector *pod_sel; /* NULL: every endpoint */
	struct ep_list *out;
};

static int walk_namespace(const char *ns, void *ud)
{
	struct ns_walk *k = ud;
	struct policy_labels tmp;
	struct policy_label tmp_label;

	if (k->ns_sel && !policy_selector_matches(k->ns_sel, ns_labels(k->w, ns, &tmp, &tmp_label)))
		return 0;
	return policy_index_select(k->w->index, ns, k->pod_sel, ep_list_add, k->out);
}

/* Into out, the endpoints a rule's selector peers select; whether it has any. */
static int select_peers(const struct policy_world *w, const char *policy_ns,
			const struct policy_rule *rule, struct ep_list *out, bool *ret_has_sel)
{
	bool has_sel = false;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < rule->n_peers; i++) {
		const struct policy_peer *peer = &rule->peers[i];

		if (peer->ipblock || peer->n_networks > 0 || peer->node_selector)
			continue;
		has_sel = true;
		if (!w->index) {
			for (size_t e = 0; r >= 0 && e < w->n_endpoints; e++)
				if (peer_selects(w, policy_ns, peer, w->endpoints[e]))
					r = ep_list_add(w->endpoints[e], out);
		} else if (peer->ns_selector) {
			struct ns_walk k = { w, peer->ns_selector, peer->pod_selector, out };

			r = policy_index_foreach_namespace(w->index, walk_namespace, &k);
		} else if (policy_ns)
			r = policy_index_select(w->index, policy_ns, peer->pod_selector,
						ep_list_add, out);
	}
	if (r >= 0)
		ep_list_unique(out);
	*ret_has_sel = has_sel;
	return r;
}

int select_all(const struct policy_world *w, const struct policy_endpoint ***ret, size_t *ret_n)
{
	struct ep_list l = { 0 };
	int r = 0;

	if (!w->index)
		for (size_t e = 0; r >= 0 && e < w->n_endpoints; e++)
			r = ep_list_add(w->endpoints[e], &l);
	else {
		struct ns_walk k = { w, NULL, NULL, &l };

		r = policy_index_foreach_namespace(w->index, walk_namespace, &k);
	}
	if (r < 0) {
		free(l.eps);
		return r;
	}
	*ret = l.eps;
	*ret_n = l.n;
	return 0;
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

void select_peers_done(struct peers *pe)
{
	free(pe->eps);
	free(pe->elems[0]);
	free(pe->elems[1]);
	*pe = (struct peers){ 0 };
}

int select_peers_compute(const struct policy_world *w, const char *policy_ns,
			 const struct policy_rule *rule, struct peers *pe)
{
	struct ep_list l = { 0 };
	int r;

	*pe = (struct peers){ 0 };
	r = select_peers(w, policy_ns, rule, &l, &pe->has_sel);
	pe->eps = l.eps;
	pe->n_eps = l.n;
	if (r < 0 || !pe->has_sel) {
		if (r < 0)
			select_peers_done(pe);
		return r;
	}
	r = select_endpoint_elems(pe->eps, pe->n_eps, AF_INET, &pe->elems[0], &pe->n_elems[0]);
	if (r >= 0)
		r = select_endpoint_elems(pe->eps, pe->n_eps, AF_INET6, &pe->elems[1],
					  &pe->n_elems[1]);
	if (r < 0)
		select_peers_done(pe);
	return r;
}

int select_cache_lookup(struct policy_compile_cache *c, const char *policy_ns,
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
	r = select_peers_compute(c->w, policy_ns, rule, &c->slots[k].peers);
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
			select_peers_done(&c->slots[i].peers);
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
int select_policies_of(const struct policy_world *w, struct policy_compile_cache *c,
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

static int cmp_cnp(const void *a, const void *b)
{
	const struct policy_cnp *x = *(struct policy_cnp *const *)a;
	const struct policy_cnp *y = *(struct policy_cnp *const *)b;

	if (x->tier != y->tier)
		return policy_tier_rank(x->tier) < policy_tier_rank(y->tier) ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->name, y->name);
}

int select_cnps_of(const struct policy_world *w, const struct policy_endpoint *ep,
		   const struct policy_cnp **out, size_t *ret_n)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n_cnps; i++)
		if (policy_cnp_selects(w, w->cnps[i], ep))
			out[n++] = w->cnps[i];
	qsort_safe(out, n, sizeof(*out), cmp_cnp);
	*ret_n = n;
	return 0;
}
