/* SPDX-License-Identifier: MIT */
/*
 * Reference compiler for benchmark (a), written from the NetworkPolicy semantics and the plan
 * format documented in policy.h, deliberately naive: for the endpoint, every policy; for every
 * rule of a selecting policy, every peer of the rule against every endpoint of the world. No
 * index, no shared helpers with libpolicy's compiler (own selector matcher, own CIDR
 * arithmetic, own sorting). It must produce plans equal (policy_plan_equal) to policy_compile.
 *
 * Plan format (policy.h): selecting policies sorted by namespace, name; per direction, each
 * rule of each selecting policy having that policyType gets a sequence number q (per
 * direction, from 0). Rule ports: none = any; {proto} = all ports; numeric = [port, endPort];
 * named = own port number (ingress) or per-destination (egress, below). Per rule, in order:
 *   no peers          -> one rule per port spec, any family, no set
 *   selector peers    -> hash sets "Dq_p4" / "Dq_p6" (addresses of the selected endpoints,
 *                        present even when empty) and one rule per port spec per set
 *   ipBlock peers     -> interval sets "Dq_c4" / "Dq_c6" (union of cidr minus except,
 *                        merged), only when non-empty, one rule per port spec per set
 *   egress named port k (k-th named port of the rule), when the rule has no peers or selector
 *                     peers: for each distinct number N the candidate endpoints (every
 *                     endpoint when no peers, else the selected ones) give that name/proto,
 *                     ascending: sets "eq_nk_N_4" / "_6" and a v4 then a v6 rule for N.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ref-compile.h"

/* ---- selector semantics ------------------------------------------------------------------ */

static const char *lab(const struct policy_labels *l, const char *k)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].key, k) == 0)
			return l->items[i].value;
	return NULL;
}

static int in_values(const struct policy_expr *e, const char *v)
{
	for (size_t i = 0; i < e->n_values; i++)
		if (strcmp(e->values[i], v) == 0)
			return 1;
	return 0;
}

static int sel_match(const struct policy_selector *s, const struct policy_labels *l)
{
	for (size_t i = 0; i < s->match_labels.n; i++) {
		const char *v = lab(l, s->match_labels.items[i].key);
		if (!v || strcmp(v, s->match_labels.items[i].value) != 0)
			return 0;
	}
	for (size_t i = 0; i < s->n_exprs; i++) {
		const struct policy_expr *e = &s->exprs[i];
		const char *v = lab(l, e->key);
		switch (e->op) {
		case POLICY_OP_IN:
			if (!v || !in_values(e, v))
				return 0;
			break;
		case POLICY_OP_NOT_IN:
			if (v && in_values(e, v))
				return 0;
			break;
		case POLICY_OP_EXISTS:
			if (!v)
				return 0;
			break;
		case POLICY_OP_DOES_NOT_EXIST:
			if (v)
				return 0;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

static int ns_match(const struct policy_world *w, const struct policy_selector *s, const char *ns)
{
	for (size_t i = 0; i < w->n_namespaces; i++)
		if (strcmp(w->namespaces[i]->name, ns) == 0)
			return sel_match(s, &w->namespaces[i]->labels);
	struct policy_label one = { (char *)POLICY_NS_NAME_LABEL, (char *)ns };
	struct policy_labels l = { &one, 1 };
	return sel_match(s, &l);
}

/* Does selector peer `pe` of policy `p` name endpoint `e`? */
static int peer_names(const struct policy_world *w, const struct policy_netpol *p,
		      const struct policy_peer *pe, const struct policy_endpoint *e)
{
	if (pe->ns_selector) {
		if (!ns_match(w, pe->ns_selector, e->namespace))
			return 0;
	} else if (strcmp(p->namespace, e->namespace) != 0)
		return 0;
	return pe->pod_selector ? sel_match(pe->pod_selector, &e->labels) : 1;
}

/* ---- plan building --------------------------------------------------------------------------- */

struct ctx {
	const struct policy_world *w;
	const struct policy_endpoint *ep;
	struct policy_plan *pl;
	int oom;
};

static void *xgrow(void *p, size_t n, size_t sz, struct ctx *c)
{
	void *q = realloc(p, (n + 1) * sz);
	if (!q)
		c->oom = 1;
	return q ? q : p;
}

static int elem_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct policy_set_elem));
}

static int new_set(struct ctx *c, const char *name, int family, int interval,
		   struct policy_set_elem *el, size_t n)
{
	struct policy_plan *pl = c->pl;
	struct policy_set *s;

	if (n > 1) {
		size_t o = 1;
		qsort(el, n, sizeof(*el), elem_cmp);
		for (size_t i = 1; i < n; i++)
			if (memcmp(&el[i], &el[o - 1], sizeof(*el)) != 0)
				el[o++] = el[i];
		n = o;
	}
	pl->sets = xgrow(pl->sets, pl->n_sets, sizeof(*pl->sets), c);
	if (c->oom) {
		free(el);
		return -1;
	}
	s = &pl->sets[pl->n_sets];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->family = family;
	s->interval = interval;
	s->elems = el;
	s->n_elems = n;
	return (int)pl->n_sets++;
}

struct spec {
	int has_proto;
	enum policy_proto proto;
	unsigned lo, hi;
};

static void new_rule(struct ctx *c, enum policy_dir dir, const struct policy_netpol *p,
		     unsigned idx, int family, int set, const struct spec *s)
{
	struct policy_plan *pl = c->pl;
	struct policy_plan_rule *r;
	char cm[512];
	int n = snprintf(cm, sizeof(cm), "%s/%s %s[%u]", p->namespace, p->name,
			 dir == POLICY_DIR_INGRESS ? "ingress" : "egress", idx);

	if (n >= 240) { /* long names: shortened, made unique by an FNV-1a hash of the name */
		unsigned h = 2166136261u;
		for (const unsigned char *x = (const unsigned char *)p->name; *x; x++)
			h = (h ^ *x) * 16777619u;
		snprintf(cm, 240, "%s/%.*s~%08x %s[%u]", p->namespace, 120, p->name, h,
			 dir == POLICY_DIR_INGRESS ? "ingress" : "egress", idx);
	}
	pl->rules = xgrow(pl->rules, pl->n_rules, sizeof(*pl->rules), c);
	if (c->oom)
		return;
	r = &pl->rules[pl->n_rules++];
	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->policy_namespace = strdup(p->namespace);
	r->policy_name = strdup(p->name);
	r->rule_index = idx;
	r->family = family;
	r->set = set;
	r->has_proto = s->has_proto;
	r->proto = s->has_proto ? s->proto : 0;
	r->port_lo = (uint16_t)s->lo;
	r->port_hi = (uint16_t)s->hi;
	r->comment = strdup(cm);
}

/* Addresses of `family` of the endpoints with flag[i] set, as hash-set elements. */
static int addr_set(struct ctx *c, const char *name, int family, const char *flag)
{
	struct policy_set_elem *el = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->w->n_endpoints; i++) {
		const struct policy_endpoint *e = c->w->endpoints[i];
		if (!flag[i])
			continue;
		for (size_t a = 0; a < e->n_addrs; a++) {
			if (e->addrs[a].family != family)
				continue;
			el = xgrow(el, n, sizeof(*el), c);
			if (c->oom)
				return -1;
			memcpy(el[n].start, e->addrs[a].addr, 16);
			memcpy(el[n].end, e->addrs[a].addr, 16);
			n++;
		}
	}
	return new_set(c, name, family, 0, el, n);
}

/* CIDR arithmetic on 128-bit integers: IPv4 as the low 32 bits. */
typedef unsigned __int128 u128;
struct rng {
	u128 lo, hi;
};

static u128 to_int(int family, const uint8_t *a)
{
	u128 v = 0;
	for (int i = 0; i < (family == AF_INET ? 4 : 16); i++)
		v = (v << 8) | a[i];
	return v;
}

static void to_addr(int family, u128 v, uint8_t *out)
{
	int len = family == AF_INET ? 4 : 16;
	memset(out, 0, 16);
	for (int i = len - 1; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static struct rng cidr(const struct policy_cidr *c)
{
	int bits = c->family == AF_INET ? 32 : 128, host = bits - c->prefixlen;
	u128 m = host == 128 ? ~(u128)0 : (((u128)1 << host) - 1), v = to_int(c->family, c->addr);
	return (struct rng){ v & ~m, v | m };
}

static int rng_cmp(const void *a, const void *b)
{
	const struct rng *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Union over the ipBlocks of `family` of (cidr minus every except), merged, as intervals. */
static int block_set(struct ctx *c, const char *name, int family, const struct policy_rule *rule)
{
	struct rng *r = NULL;
	size_t n = 0;

	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_ipblock *b = rule->peers[i].ipblock;
		struct rng *cur;
		size_t nc = 1;

		if (!b || b->cidr.family != family)
			continue;
		cur = malloc(sizeof(*cur) * (b->n_except + 2) * 2 + sizeof(*cur));
		if (!cur)
			return c->oom = 1, -1;
		cur[0] = cidr(&b->cidr);
		/* IPv6 blocks never cover link-local fe80::/10, unless they lie inside it. */
		struct policy_cidr ll_cidr = { .family = AF_INET6, .prefixlen = 10 };
		ll_cidr.addr[0] = 0xfe;
		ll_cidr.addr[1] = 0x80;
		struct rng ll = cidr(&ll_cidr);
		size_t n_ex = b->n_except;
		if (family == AF_INET6 && !(cur[0].lo >= ll.lo && cur[0].hi <= ll.hi))
			n_ex++;
		for (size_t x = 0; x < n_ex; x++) {
			struct rng ex = x < b->n_except ? cidr(&b->except[x]) : ll;
			struct rng *nx = malloc(sizeof(*nx) * (nc * 2 + 1));
			size_t nn = 0;
			if (!nx) {
				free(cur);
				return c->oom = 1, -1;
			}
			for (size_t k = 0; k < nc; k++) {
				if (ex.hi < cur[k].lo || ex.lo > cur[k].hi) {
					nx[nn++] = cur[k];
					continue;
				}
				if (ex.lo > cur[k].lo)
					nx[nn++] = (struct rng){ cur[k].lo, ex.lo - 1 };
				if (ex.hi < cur[k].hi)
					nx[nn++] = (struct rng){ ex.hi + 1, cur[k].hi };
			}
			free(cur);
			cur = nx;
			nc = nn;
		}
		for (size_t k = 0; k < nc; k++) {
			r = xgrow(r, n, sizeof(*r), c);
			if (c->oom) {
				free(cur);
				return -1;
			}
			r[n++] = cur[k];
		}
		free(cur);
	}
	if (n == 0) {
		free(r);
		return -2; /* nothing: no set */
	}
	qsort(r, n, sizeof(*r), rng_cmp);
	size_t o = 0;
	for (size_t i = 1; i < n; i++) {
		if (r[i].lo <= r[o].hi || r[i].lo == r[o].hi + 1) {
			if (r[i].hi > r[o].hi)
				r[o].hi = r[i].hi;
		} else
			r[++o] = r[i];
	}
	n = o + 1;
	struct policy_set_elem *el = calloc(n, sizeof(*el));
	if (!el) {
		free(r);
		return c->oom = 1, -1;
	}
	for (size_t i = 0; i < n; i++) {
		to_addr(family, r[i].lo, el[i].start);
		to_addr(family, r[i].hi, el[i].end);
	}
	free(r);
	return new_set(c, name, family, 1, el, n);
}

static const struct policy_named_port *own_port(const struct policy_endpoint *e, const char *name,
						enum policy_proto proto)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i].proto == proto && strcmp(e->ports[i].name, name) == 0)
			return &e->ports[i];
	return NULL;
}

static void one_rule(struct ctx *c, enum policy_dir dir, const struct policy_netpol *p,
		     unsigned idx, unsigned q, const struct policy_rule *rule)
{
	const struct policy_world *w = c->w;
	char d = dir == POLICY_DIR_INGRESS ? 'i' : 'e', name[64];
	struct spec *sp = calloc(rule->n_ports + 1, sizeof(*sp));
	char *flag = calloc(w->n_endpoints + 1, 1);
	size_t ns = 0;
	int any = rule->n_peers == 0, sel = 0, s;

	if (!sp || !flag) {
		c->oom = 1;
		goto out;
	}
	/* triple loop: peer x endpoint (policy and endpoint fixed by the callers) */
	for (size_t i = 0; i < rule->n_peers; i++) {
		const struct policy_peer *pe = &rule->peers[i];
		if (pe->ipblock)
			continue;
		sel = 1;
		for (size_t e = 0; e < w->n_endpoints; e++)
			if (peer_names(w, p, pe, w->endpoints[e]))
				flag[e] = 1;
	}
	if (rule->n_ports == 0)
		sp[ns++] = (struct spec){ 0, 0, 0, 0 };
	for (size_t i = 0; i < rule->n_ports; i++) {
		const struct policy_port *pt = &rule->ports[i];
		if (!pt->has_port)
			sp[ns++] = (struct spec){ 1, pt->proto, 0, 0 };
		else if (!pt->name)
			sp[ns++] = (struct spec){ 1, pt->proto, pt->port,
						  pt->end_port ? pt->end_port : pt->port };
		else if (dir == POLICY_DIR_INGRESS) {
			const struct policy_named_port *np = own_port(c->ep, pt->name, pt->proto);
			if (np)
				sp[ns++] = (struct spec){ 1, pt->proto, np->port, np->port };
		}
	}
	if (ns) {
		if (any)
			for (size_t k = 0; k < ns; k++)
				new_rule(c, dir, p, idx, AF_UNSPEC, -1, &sp[k]);
		if (sel) {
			static const int fams[2] = { AF_INET, AF_INET6 };
			for (int f = 0; f < 2; f++) {
				snprintf(name, sizeof(name), "%c%u_p%c", d, q, f ? '6' : '4');
				s = addr_set(c, name, fams[f], flag);
				if (s < 0)
					goto out;
				for (size_t k = 0; k < ns; k++)
					new_rule(c, dir, p, idx, fams[f], s, &sp[k]);
			}
		}
		for (int f = 0; f < 2; f++) {
			int fam = f ? AF_INET6 : AF_INET;
			snprintf(name, sizeof(name), "%c%u_c%c", d, q, f ? '6' : '4');
			s = block_set(c, name, fam, rule);
			if (s == -1)
				goto out;
			if (s >= 0)
				for (size_t k = 0; k < ns; k++)
					new_rule(c, dir, p, idx, fam, s, &sp[k]);
		}
	}
	if (dir == POLICY_DIR_EGRESS && (any || sel)) {
		unsigned k = 0;
		for (size_t i = 0; i < rule->n_ports; i++) {
			const struct policy_port *pt = &rule->ports[i];
			if (!pt->has_port || !pt->name)
				continue;
			/* every port number 1..65535 in ascending order that some candidate gives */
			unsigned char *seen = calloc(65536, 1);
			char *grp = calloc(w->n_endpoints + 1, 1);
			if (!seen || !grp) {
				free(seen);
				free(grp);
				c->oom = 1;
				goto out;
			}
			for (size_t e = 0; e < w->n_endpoints; e++) {
				const struct policy_named_port *np;
				if (!any && !flag[e])
					continue;
				np = own_port(w->endpoints[e], pt->name, pt->proto);
				if (np)
					seen[np->port] = 1;
			}
			for (unsigned num = 0; num < 65536; num++) {
				if (!seen[num])
					continue;
				for (size_t e = 0; e < w->n_endpoints; e++) {
					const struct policy_named_port *np = NULL;
					if (any || flag[e])
						np = own_port(w->endpoints[e], pt->name, pt->proto);
					grp[e] = np && np->port == num;
				}
				struct spec one = { 1, pt->proto, num, num };
				int s4, s6;
				snprintf(name, sizeof(name), "e%u_n%u_%u_4", q, k, num);
				s4 = addr_set(c, name, AF_INET, grp);
				snprintf(name, sizeof(name), "e%u_n%u_%u_6", q, k, num);
				s6 = s4 < 0 ? -1 : addr_set(c, name, AF_INET6, grp);
				if (s4 < 0 || s6 < 0) {
					free(seen);
					free(grp);
					goto out;
				}
				new_rule(c, dir, p, idx, AF_INET, s4, &one);
				new_rule(c, dir, p, idx, AF_INET6, s6, &one);
			}
			free(seen);
			free(grp);
			k++;
		}
	}
out:
	free(sp);
	free(flag);
}

static int pol_cmp(const void *a, const void *b)
{
	const struct policy_netpol *x = *(const struct policy_netpol *const *)a;
	const struct policy_netpol *y = *(const struct policy_netpol *const *)b;
	int r = strcmp(x->namespace, y->namespace);
	return r ? r : strcmp(x->name, y->name);
}

int ref_compile(const struct policy_world *w, const struct policy_endpoint *ep,
		enum policy_deny_action deny, struct policy_plan **ret)
{
	struct ctx c = { .w = w, .ep = ep };
	const struct policy_netpol **sel = calloc(w->n_netpols + 1, sizeof(*sel));
	size_t n = 0;

	c.pl = calloc(1, sizeof(*c.pl));
	if (!sel || !c.pl) {
		free(sel);
		free(c.pl);
		return -ENOMEM;
	}
	c.pl->endpoint = strdup(ep->name);
	c.pl->deny = deny;
	for (size_t i = 0; i < w->n_netpols; i++)
		if (strcmp(w->netpols[i]->namespace, ep->namespace) == 0 &&
		    sel_match(&w->netpols[i]->pod_selector, &ep->labels))
			sel[n++] = w->netpols[i];
	qsort(sel, n, sizeof(*sel), pol_cmp);
	if (n) {
		c.pl->selected_by = calloc(n, sizeof(char *));
		c.pl->selected_types = calloc(n, sizeof(unsigned));
		for (size_t i = 0; c.pl->selected_by && c.pl->selected_types && i < n; i++) {
			char *s = NULL;
			if (asprintf(&s, "%s/%s", sel[i]->namespace, sel[i]->name) < 0)
				s = NULL;
			c.pl->selected_types[c.pl->n_selected_by] = sel[i]->types;
			c.pl->selected_by[c.pl->n_selected_by++] = s;
		}
	}
	for (int dir = 0; dir < 2; dir++) {
		unsigned q = 0, want = dir == POLICY_DIR_INGRESS ? POLICY_TYPE_INGRESS
								 : POLICY_TYPE_EGRESS;
		for (size_t i = 0; i < n; i++) {
			const struct policy_netpol *p = sel[i];
			const struct policy_rule *rules =
				dir == POLICY_DIR_INGRESS ? p->ingress : p->egress;
			size_t nr = dir == POLICY_DIR_INGRESS ? p->n_ingress : p->n_egress;
			if (!(p->types & want))
				continue;
			c.pl->isolated[dir] = true;
			for (size_t j = 0; j < nr; j++)
				one_rule(&c, dir, p, (unsigned)j, q++, &rules[j]);
		}
	}
	free(sel);
	if (c.oom) {
		policy_plan_free(c.pl);
		return -ENOMEM;
	}
	*ret = c.pl;
	return 0;
}
