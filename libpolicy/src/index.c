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
	struct posting **in;
	size_t n_in;
};

struct policy_index {
	struct posting **post; /* by key */
	size_t n_post, used_post;
	struct entry **ent; /* by endpoint address */
	size_t n_ent, used_ent;
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

/* ---- the posting table ---- */

static size_t post_slot(const struct policy_index *x, const char *key)
{
	size_t m = x->n_post - 1, k = hash_str(key) & m;

	while (x->post[k] && !streq(x->post[k]->key, key))
		k = (k + 1) & m;
	return k;
}

static struct posting *post_get(const struct policy_index *x, const char *key)
{
	return x->n_post ? x->post[post_slot(x, key)] : NULL;
}

static int post_grow(struct policy_index *x)
{
	size_t n = x->n_post ? x->n_post * 2 : 64;
	struct posting **old = x->post;
	size_t n_old = x->n_post;

	x->post = calloc(n, sizeof(*x->post));
	if (!x->post) {
		x->post = old;
		return -ENOMEM;
	}
	x->n_post = n;
	for (size_t i = 0; i < n_old; i++)
		if (old[i])
			x->post[post_slot(x, old[i]->key)] = old[i];
	free(old);
	return 0;
}

static void post_delete(struct policy_index *x, struct posting *p)
{
	size_t m = x->n_post - 1, i = post_slot(x, p->key), j = i;

	x->post[i] = NULL;
	x->used_post--;
	/* backward shift: move up every later element of the run that may sit in i */
	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!x->post[j])
			break;
		home = hash_str(x->post[j]->key) & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			x->post[i] = x->post[j];
			x->post[j] = NULL;
			i = j;
		}
	}
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
	size_t k;

	if (!key)
		return -ENOMEM;
	p = post_get(x, key);
	if (p) {
		free(key);
		*ret = p;
		return 0;
	}
	if ((x->used_post + 1) * 2 > x->n_post && post_grow(x) < 0) {
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
	k = post_slot(x, key);
	x->post[k] = p;
	x->used_post++;
	if (ns)
		x->nss[x->n_nss++] = p;
	*ret = p;
	return 0;
}

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

static void post_drop(struct policy_index *x, struct posting *p, const struct policy_endpoint *ep)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->eps[i] == ep) {
			p->eps[i] = p->eps[--p->n];
			break;
		}
	if (p->n == 0)
		post_delete(x, p);
}

/* ---- the entry table ---- */

static size_t ent_slot(const struct policy_index *x, const struct policy_endpoint *ep)
{
	size_t m = x->n_ent - 1, k = hash_ptr(ep) & m;

	while (x->ent[k] && x->ent[k]->ep != ep)
		k = (k + 1) & m;
	return k;
}

static struct entry *ent_get(const struct policy_index *x, const struct policy_endpoint *ep)
{
	return x->n_ent ? x->ent[ent_slot(x, ep)] : NULL;
}

static int ent_grow(struct policy_index *x)
{
	size_t n = x->n_ent ? x->n_ent * 2 : 64;
	struct entry **old = x->ent;
	size_t n_old = x->n_ent;

	x->ent = calloc(n, sizeof(*x->ent));
	if (!x->ent) {
		x->ent = old;
		return -ENOMEM;
	}
	x->n_ent = n;
	for (size_t i = 0; i < n_old; i++)
		if (old[i])
			x->ent[ent_slot(x, old[i]->ep)] = old[i];
	free(old);
	return 0;
}

static void ent_delete(struct policy_index *x, struct entry *e)
{
	size_t m = x->n_ent - 1, i = ent_slot(x, e->ep), j = i;

	x->ent[i] = NULL;
	x->used_ent--;
	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!x->ent[j])
			break;
		home = hash_ptr(x->ent[j]->ep) & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			x->ent[i] = x->ent[j];
			x->ent[j] = NULL;
			i = j;
		}
	}
}

static void entry_free(struct policy_index *x, struct entry *e)
{
	for (size_t i = 0; i < e->n_in; i++)
		post_drop(x, e->in[i], e->ep);
	free(e->in);
	free(e->ns);
	policy_labels_done(&e->labels);
	free(e);
}

/* ---- the interface ---- */

_public_ int policy_index_new(struct policy_index **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

_public_ struct policy_index *policy_index_free(struct policy_index *x)
{
	if (!x)
		return NULL;
	for (size_t i = 0; i < x->n_ent; i++)
		if (x->ent[i]) {
			free(x->ent[i]->in);
			free(x->ent[i]->ns);
			policy_labels_done(&x->ent[i]->labels);
			free(x->ent[i]);
		}
	for (size_t i = 0; i < x->n_post; i++)
		if (x->post[i]) {
			free(x->post[i]->key);
			free(x->post[i]->ns);
			free(x->post[i]->eps);
			free(x->post[i]);
		}
	free(x->ent);
	free(x->post);
	free(x->nss);
	free(x);
	return NULL;
}

_public_ bool policy_index_remove(struct policy_index *x, const struct policy_endpoint *ep)
{
	struct entry *e = ent_get(x, ep);

	if (!e)
		return false;
	ent_delete(x, e);
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
	e->in[e->n_in++] = p;
	return 0;
}

_public_ int policy_index_add(struct policy_index *x, const struct policy_endpoint *ep)
{
	const struct policy_labels *l = &ep->labels;
	struct entry *e;
	int r;

	if (ent_get(x, ep))
		return -EEXIST;
	if ((x->used_ent + 1) * 2 > x->n_ent && ent_grow(x) < 0)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ep = ep;
	e->in = calloc(1 + 2 * l->n, sizeof(*e->in));
	e->ns = strdup(ep->namespace);
	if (!e->in || !e->ns || policy_labels_copy(&e->labels, l) < 0) {
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
	x->ent[ent_slot(x, ep)] = e;
	x->used_ent++;
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
	return x->used_ent;
}

/* The selector's most selective candidates: one list, or the lists of an In's values (*ret_n of
 * them, in `many`, which the caller frees). 0 lists: nothing can match. */
static int candidates(const struct policy_index *x, const char *ns,
		      const struct policy_selector *sel, const struct posting **one,
		      const struct posting ***many, size_t *ret_n)
{
	const struct posting *best;
	size_t best_n;
	char *k;

	*many = NULL;
	k = key_ns(ns);
	if (!k)
		return -ENOMEM;
	best = post_get(x, k);
	free(k);
	*ret_n = 0;
	if (!best)
		return 0;
	best_n = best->n;
	for (size_t i = 0; sel && i < sel->match_labels.n; i++) {
		const struct posting *p;

		k = key_pair(ns, sel->match_labels.items[i].key, sel->match_labels.items[i].value);
		if (!k)
			return -ENOMEM;
		p = post_get(x, k);
		free(k);
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
			k = key_label(ns, ex->key);
			if (!k)
				return -ENOMEM;
			p = post_get(x, k);
			free(k);
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
			k = key_pair(ns, ex->key, ex->values[v]);
			if (!k) {
				free(ps);
				free(*many);
				*many = NULL;
				return -ENOMEM;
			}
			p = post_get(x, k);
			free(k);
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
