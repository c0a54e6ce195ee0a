/* SPDX-License-Identifier: MIT */
/*
 * The label index: the endpoints of a world by namespace, by label key and by key=value.
 *
 * Each of those is a posting list (an unordered array of endpoint pointers) in one hash table,
 * keyed by an encoding that keeps the three kinds and their parts apart. An endpoint is in
 * 1 + 2 x (its labels) posting lists; its entry (a second table, keyed by its address) keeps
 * the lists it is in and a copy of the namespace and labels it was indexed under, so that
 * removing it needs nothing of what the endpoint holds now. A selector's candidates are its
 * most selective posting list (a matchLabels pair, the union of an In's values, an Exists key,
 * else the whole namespace), each checked against the whole selector.
 *
 * Both tables use linear probing with backward-shift deletion (no tombstones), at most half
 * full. Removing an endpoint from a posting list scans that list: a removal costs the size of
 * the lists it is in, a query the size of the list it walks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy/policy.h"

struct posting {
	char *key;
	char *ns; /* for the namespace's own list: its name; else NULL */
	const struct policy_endpoint **eps;
	size_t n, cap;
};

struct entry {
	const struct policy_endpoint *ep;
	char *ns;
	struct policy_labels labels;
	struct posting **in; /* the lists it is in ... */
	size_t *at;	     /* ... and where in each: leaving one costs O(1), not its length */
	size_t n_in;
};

/* A set of pointers by hash: linear probing, at most half full, backward-shift deletion (no
 * tombstones). */
struct ptab {
	void **slots;
	size_t n, used;
	uint64_t (*hash)(const void *item);
};

struct policy_index {
	struct ptab post;     /* postings by key */
	struct ptab ent;      /* entries by endpoint address */
	struct posting **nss; /* the namespaces' own lists */
	size_t n_nss, cap_nss;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static uint64_t hash_ptr(const void *p)
{
	uint64_t x = (uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* "n<ns>", "k<len(ns)>:<ns><key>", "v<len(ns)>:<ns><len(key)>:<key><value>": no two kinds
 * or parts can be confused, whatever bytes the names hold. */
static char *key_ns(const char *ns)
{
	char *k;

	return asprintf(&k, "n%s", ns) < 0 ? NULL : k;
}

static char *key_label(const char *ns, const char *key)
{
	char *k;

	return asprintf(&k, "k%zu:%s%s", strlen(ns), ns, key) < 0 ? NULL : k;
}

static char *key_pair(const char *ns, const char *key, const char *value)
{
	char *k;

	return asprintf(&k, "v%zu:%s%zu:%s%s", strlen(ns), ns, strlen(key), key, value) < 0 ? NULL
											    : k;
}

/* ---- the tables ---- */

static size_t ptab_slot(const struct ptab *t, uint64_t h,
			bool (*is)(const void *item, const void *key), const void *key)
{
	size_t m = t->n - 1, k = h & m;

	while (t->slots[k] && !is(t->slots[k], key))
		k = (k + 1) & m;
	return k;
}

static void *ptab_get(const struct ptab *t, uint64_t h,
		      bool (*is)(const void *item, const void *key), const void *key)
{
	return t->n ? t->slots[ptab_slot(t, h, is, key)] : NULL;
}

static bool is_same(const void *item, const void *key)
{
	return item == key;
}

/* Room for one more. */
static int ptab_reserve(struct ptab *t)
{
	size_t n = t->n ? t->n * 2 : 64, n_old = t->n;
	void **old = t->slots;

	if ((t->used + 1) * 2 <= t->n)
		return 0;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->n = n;
	for (size_t i = 0; i < n_old; i++)
		if (old[i])
			t->slots[ptab_slot(t, t->hash(old[i]), is_same, NULL)] = old[i];
	free(old);
	return 0;
}

/* After ptab_reserve(). */
static void ptab_put(struct ptab *t, void *item)
{
	t->slots[ptab_slot(t, t->hash(item), is_same, NULL)] = item;
	t->used++;
}

static void ptab_del(struct ptab *t, void *item)
{
	size_t m = t->n - 1, i = ptab_slot(t, t->hash(item), is_same, item), j = i;

	t->slots[i] = NULL;
	t->used--;
	/* backward shift: move up every later element of the run that may sit in i */
	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!t->slots[j])
			break;
		home = t->hash(t->slots[j]) & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
}

static uint64_t posting_hash(const void *item)
{
	return hash_str(((const struct posting *)item)->key);
}

static bool posting_is(const void *item, const void *key)
{
	return streq(((const struct posting *)item)->key, key);
}

static uint64_t entry_hash(const void *item)
{
	return hash_ptr(((const struct entry *)item)->ep);
}

static bool entry_is(const void *item, const void *key)
{
	return ((const struct entry *)item)->ep == key;
}

/* ---- the postings ---- */

static struct posting *post_get(const struct policy_index *x, const char *key)
{
	return ptab_get(&x->post, hash_str(key), posting_is, key);
}

static void post_delete(struct policy_index *x, struct posting *p)
{
	ptab_del(&x->post, p);
	if (p->ns)
		for (size_t k = 0; k < x->n_nss; k++)
			if (x->nss[k] == p) {
				x->nss[k] = x->nss[--x->n_nss];
				break;
			}
	free(p->key);
	free(p->ns);
	free(p->eps);
	free(p);
}

/* The list under key (taken), made if absent. */
static int post_take(struct policy_index *x, char *key, const char *ns, struct posting **ret)
{
	struct posting *p;

	if (!key)
		return -ENOMEM;
	p = post_get(x, key);
	if (p) {
		free(key);
		*ret = p;
		return 0;
	}
	if (ptab_reserve(&x->post) < 0) {
		free(key);
		return -ENOMEM;
	}
	if (ns && x->n_nss == x->cap_nss) {
		size_t c = x->cap_nss ? x->cap_nss * 2 : 8;
		struct posting **q = reallocarray(x->nss, c, sizeof(*q));

		if (!q) {
			free(key);
			return -ENOMEM;
		}
		x->nss = q;
		x->cap_nss = c;
	}
	p = calloc(1, sizeof(*p));
	if (!p || (ns && !(p->ns = strdup(ns)))) {
		free(p);
		free(key);
		return -ENOMEM;
	}
	p->key = key;
	ptab_put(&x->post, p);
	if (ns)
		x->nss[x->n_nss++] = p;
	*ret = p;
	return 0;
}

static struct entry *ent_get(const struct policy_index *x, const struct policy_endpoint *ep);

static int post_append(struct posting *p, const struct policy_endpoint *ep)
{
	if (p->n == p->cap) {
		size_t c = p->cap ? p->cap * 2 : 4;
		const struct policy_endpoint **q = reallocarray(p->eps, c, sizeof(*q));

		if (!q)
			return -ENOMEM;
		p->eps = q;
		p->cap = c;
	}
	p->eps[p->n++] = ep;
	return 0;
}

/* Takes the endpoint at `at` out of p: the last one moves there (and its entry learns it). */
static void post_drop(struct policy_index *x, struct posting *p, size_t at)
{
	const struct policy_endpoint *moved = p->eps[--p->n];

	if (at < p->n) {
		struct entry *m = ent_get(x, moved);

		p->eps[at] = moved;
		for (size_t k = 0; m && k < m->n_in; k++)
			if (m->in[k] == p)
				m->at[k] = at;
	}
	if (p->n == 0)
		post_delete(x, p);
}

/* ---- the entries ---- */

static struct entry *ent_get(const struct policy_index *x, const struct policy_endpoint *ep)
{
	return ptab_get(&x->ent, hash_ptr(ep), entry_is, ep);
}

static void entry_free(struct policy_index *x, struct entry *e)
{
	for (size_t i = 0; i < e->n_in; i++)
		post_drop(x, e->in[i], e->at[i]);
	free(e->in);
	free(e->at);
	free(e->ns);
	policy_labels_done(&e->labels);
	free(e);
}

/* ---- the interface ---- */

_public_ int policy_index_new(struct policy_index **ret)
{
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	(*ret)->post.hash = posting_hash;
	(*ret)->ent.hash = entry_hash;
	return 0;
}

_public_ struct policy_index *policy_index_free(struct policy_index *x)
{
	if (!x)
		return NULL;
	for (size_t i = 0; i < x->ent.n; i++) {
		struct entry *e = x->ent.slots[i];

		if (e) {
			free(e->in);
			free(e->at);
			free(e->ns);
			policy_labels_done(&e->labels);
			free(e);
		}
	}
	for (size_t i = 0; i < x->post.n; i++) {
		struct posting *p = x->post.slots[i];

		if (p) {
			free(p->key);
			free(p->ns);
			free(p->eps);
			free(p);
		}
	}
	free(x->ent.slots);
	free(x->post.slots);
	free(x->nss);
	free(x);
	return NULL;
}

_public_ bool policy_index_remove(struct policy_index *x, const struct policy_endpoint *ep)
{
	struct entry *e = ent_get(x, ep);

	if (!e)
		return false;
	ptab_del(&x->ent, e);
	entry_free(x, e);
	return true;
}

/* Puts the entry in the list under key (taken). */
static int entry_join(struct policy_index *x, struct entry *e, char *key, const char *ns)
{
	struct posting *p;
	int r = post_take(x, key, ns, &p);

	if (r < 0)
		return r;
	r = post_append(p, e->ep);
	if (r < 0) {
		if (p->n == 0)
			post_delete(x, p);
		return r;
	}
	e->in[e->n_in] = p;
	e->at[e->n_in++] = p->n - 1;
	return 0;
}

_public_ int policy_index_add(struct policy_index *x, const struct policy_endpoint *ep)
{
	const struct policy_labels *l = &ep->labels;
	struct entry *e;
	int r;

	if (ent_get(x, ep))
		return -EEXIST;
	if (ptab_reserve(&x->ent) < 0)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ep = ep;
	e->in = calloc(1 + 2 * l->n, sizeof(*e->in));
	e->at = calloc(1 + 2 * l->n, sizeof(*e->at));
	e->ns = strdup(ep->namespace);
	if (!e->in || !e->at || !e->ns || policy_labels_copy(&e->labels, l) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = entry_join(x, e, key_ns(ep->namespace), ep->namespace);
	for (size_t i = 0; r >= 0 && i < l->n; i++) {
		r = entry_join(x, e, key_label(ep->namespace, l->items[i].key), NULL);
		if (r >= 0)
			r = entry_join(x, e,
				       key_pair(ep->namespace, l->items[i].key, l->items[i].value),
				       NULL);
	}
	if (r < 0)
		goto fail;
	ptab_put(&x->ent, e);
	return 0;
fail:
	entry_free(x, e);
	return r;
}

_public_ bool policy_index_has(const struct policy_index *x, const struct policy_endpoint *ep)
{
	return ent_get(x, ep) != NULL;
}

_public_ bool policy_index_current(const struct policy_index *x, const struct policy_endpoint *ep)
{
	const struct entry *e = ent_get(x, ep);

	return e && streq(e->ns, ep->namespace) && policy_labels_equal(&e->labels, &ep->labels);
}

_public_ size_t policy_index_count(const struct policy_index *x)
{
	return x->ent.used;
}

/* The list under key (taken; NULL: out of memory), or NULL in *ret if there is none. */
static int post_lookup(const struct policy_index *x, char *key, const struct posting **ret)
{
	if (!key)
		return -ENOMEM;
	*ret = post_get(x, key);
	free(key);
	return 0;
}

/* The selector's most selective candidates: one list, or the lists of an In's values (*ret_n of
 * them, in `many`, which the caller frees). 0 lists: nothing can match. */
static int candidates(const struct policy_index *x, const char *ns,
		      const struct policy_selector *sel, const struct posting **one,
		      const struct posting ***many, size_t *ret_n)
{
	const struct posting *best;
	size_t best_n;

	*many = NULL;
	*ret_n = 0;
	if (post_lookup(x, key_ns(ns), &best) < 0)
		return -ENOMEM;
	if (!best)
		return 0;
	best_n = best->n;
	for (size_t i = 0; sel && i < sel->match_labels.n; i++) {
		const struct posting *p;

		if (post_lookup(x,
				key_pair(ns, sel->match_labels.items[i].key,
					 sel->match_labels.items[i].value),
				&p) < 0)
			return -ENOMEM;
		if (!p)
			return 0;
		if (p->n < best_n) {
			best = p;
			best_n = p->n;
		}
	}
	for (size_t i = 0; sel && i < sel->n_exprs; i++) {
		const struct policy_expr *ex = &sel->exprs[i];
		const struct posting *p;
		size_t sum = 0, n = 0;

		if (ex->op == POLICY_OP_EXISTS) {
			if (post_lookup(x, key_label(ns, ex->key), &p) < 0)
				return -ENOMEM;
			if (!p)
				return 0;
			if (p->n < best_n) {
				best = p;
				best_n = p->n;
				free(*many);
				*many = NULL;
			}
			continue;
		}
		if (ex->op != POLICY_OP_IN)
			continue;
		const struct posting **ps = calloc(ex->n_values + 1, sizeof(*ps));

		if (!ps) {
			free(*many);
			*many = NULL;
			return -ENOMEM;
		}
		for (size_t v = 0; v < ex->n_values; v++) {
			if (post_lookup(x, key_pair(ns, ex->key, ex->values[v]), &p) < 0) {
				free(ps);
				free(*many);
				*many = NULL;
				return -ENOMEM;
			}
			/* values may repeat: each list once */
			for (size_t j = 0; p && j < n; j++)
				if (ps[j] == p)
					p = NULL;
			if (p) {
				ps[n++] = p;
				sum += p->n;
			}
		}
		if (sum < best_n) {
			free(*many);
			*many = ps;
			*ret_n = n;
			best_n = sum;
			best = NULL;
		} else
			free(ps);
	}
	if (best) {
		free(*many);
		*many = NULL;
		*one = best;
		*ret_n = 1;
	}
	return 0;
}

_public_ int policy_index_select(const struct policy_index *x, const char *ns,
				 const struct policy_selector *sel,
				 int (*fn)(const struct policy_endpoint *ep, void *ud), void *ud)
{
	const struct posting *one = NULL, **many = NULL;
	size_t n = 0;
	int r;

	r = candidates(x, ns, sel, &one, &many, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct posting *p = many ? many[i] : one;

		for (size_t j = 0; r >= 0 && j < p->n; j++)
			if (policy_selector_matches(sel, &p->eps[j]->labels))
				r = fn(p->eps[j], ud);
	}
	free(many);
	return r < 0 ? r : 0;
}

_public_ int policy_index_foreach_namespace(const struct policy_index *x,
					    int (*fn)(const char *ns, void *ud), void *ud)
{
	for (size_t i = 0; i < x->n_nss; i++) {
		int r = fn(x->nss[i]->ns, ud);

		if (r < 0)
			return r;
	}
	return 0;
}
