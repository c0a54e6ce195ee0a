/* SPDX-License-Identifier: MIT */
/*
 * The registry's address side (registry.h): address -> holders, the endpoints whose held
 * addresses wait to be settled, the settle itself, and the endpoints whose namespace reported
 * an address or link change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "registry-internal.h"

/* ---- the address map ---- */

struct holder {
	struct endpoint *e;
	uint64_t since; /* the settle generation it was first seen holding the address in */
};

struct addr_holders {
	struct policy_addr addr; /* family 0: a free slot */
	struct holder *h;
	size_t n;
};

static int cmp_addr(const void *a, const void *b)
{
	const struct policy_addr *x = a, *y = b;
	int c = x->family - y->family;

	return c ? c : memcmp(x->addr, y->addr, sizeof(x->addr));
}

static bool same_addr(const struct policy_addr *a, const struct policy_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static size_t addr_hash(const struct policy_addr *a)
{
	uint64_t h = 14695981039346656037ull ^ (uint64_t)a->family;

	for (size_t i = 0; i < sizeof(a->addr); i++)
		h = (h ^ a->addr[i]) * 1099511628211ull;
	return (size_t)h;
}

static size_t amap_slot(const struct registry *r, const struct policy_addr *a)
{
	size_t m = r->n_amap - 1, k = addr_hash(a) & m;

	while (r->amap[k].addr.family && !same_addr(&r->amap[k].addr, a))
		k = (k + 1) & m;
	return k;
}

static struct addr_holders *amap_get(const struct registry *r, const struct policy_addr *a)
{
	struct addr_holders *s;

	if (!r->n_amap)
		return NULL;
	s = &r->amap[amap_slot(r, a)];
	return s->addr.family ? s : NULL;
}

static int amap_grow(struct registry *r)
{
	size_t n = r->n_amap ? r->n_amap * 2 : 256, n_old = r->n_amap;
	struct addr_holders *old = r->amap;

	r->amap = calloc(n, sizeof(*r->amap));
	if (!r->amap) {
		r->amap = old;
		return -ENOMEM;
	}
	r->n_amap = n;
	for (size_t i = 0; i < n_old; i++)
		if (old[i].addr.family)
			r->amap[amap_slot(r, &old[i].addr)] = old[i];
	free(old);
	return 0;
}

static void amap_delete(struct registry *r, struct addr_holders *s)
{
	size_t m = r->n_amap - 1, i = (size_t)(s - r->amap), j = i;

	free(s->h);
	r->amap[i] = (struct addr_holders){ 0 };
	r->used_amap--;
	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!r->amap[j].addr.family)
			break;
		home = addr_hash(&r->amap[j].addr) & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			r->amap[i] = r->amap[j];
			r->amap[j] = (struct addr_holders){ 0 };
			i = j;
		}
	}
}

static int amap_add(struct registry *r, const struct policy_addr *a, struct endpoint *e,
		    uint64_t since)
{
	struct addr_holders *s = amap_get(r, a);
	struct holder *h;

	if (!s) {
		if ((r->used_amap + 1) * 2 > r->n_amap && amap_grow(r) < 0)
			return -ENOMEM;
		s = &r->amap[amap_slot(r, a)];
		*s = (struct addr_holders){ .addr = *a };
		r->used_amap++;
	}
	h = reallocarray(s->h, s->n + 1, sizeof(*h));
	if (!h) {
		if (s->n == 0)
			amap_delete(r, s);
		return -ENOMEM;
	}
	s->h = h;
	s->h[s->n++] = (struct holder){ .e = e, .since = since };
	return 0;
}

static void amap_remove(struct registry *r, const struct policy_addr *a, const struct endpoint *e)
{
	struct addr_holders *s = amap_get(r, a);

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].e == e) {
			s->h[i] = s->h[--s->n];
			break;
		}
	if (s->n == 0)
		amap_delete(r, s);
}

/* Appends e to a list of endpoints; -ENOMEM leaves it as it was. */
static int list_push(struct endpoint ***list, size_t *n, size_t *cap, struct endpoint *e)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct endpoint **p = reallocarray(*list, c, sizeof(*p));

		if (!p)
			return -ENOMEM;
		*list = p;
		*cap = c;
	}
	(*list)[(*n)++] = e;
	return 0;
}

/* Takes e out of a list of endpoints (order does not matter). */
static void list_drop(struct endpoint **list, size_t *n, const struct endpoint *e)
{
	for (size_t i = 0; i < *n; i++)
		if (list[i] == e) {
			list[i] = list[--*n];
			return;
		}
}

static void pending_add(struct registry *r, struct endpoint *e)
{
	if (e->held_pending)
		return;
	if (list_push(&r->pending, &r->n_pending, &r->cap_pending, e) < 0)
		r->settle_failed = true; /* the next settle looks at everyone */
	else
		e->held_pending = true;
}

void registry_addr_event(struct registry *r, struct endpoint *e)
{
	if (!e->registered || e->addr_listed)
		return;
	if (list_push(&r->addr_events, &r->n_addr_events, &r->cap_addr_events, e) < 0)
		r->addr_events_lost = true; /* the next take lists everyone marked */
	else
		e->addr_listed = true;
}

struct endpoint **registry_take_addr_events(struct registry *r, size_t *ret_n)
{
	struct endpoint **out = r->addr_events;
	size_t n = r->n_addr_events;

	if (r->addr_events_lost) {
		/* out of memory listing one: every endpoint with an event pending */
		free(out);
		out = calloc(r->n + 1, sizeof(*out));
		n = 0;
		if (!out) {
			*ret_n = 0;
			return NULL; /* still lost: the next call tries again */
		}
		r->addr_events_lost = false;
		for (size_t i = 0; i < r->n; i++)
			if (r->items[i]->addrs_dirty)
				out[n++] = r->items[i];
	}
	for (size_t i = 0; i < n; i++)
		out[i]->addr_listed = false;
	r->addr_events = NULL;
	r->n_addr_events = r->cap_addr_events = 0;
	*ret_n = n;
	return out;
}

void registry_held_changed(struct registry *r, struct endpoint *e)
{
	if (e->registered)
		pending_add(r, e);
}

/* e's addresses leave the map; whoever shares one is looked at again. */
static void unmap(struct registry *r, struct endpoint *e)
{
	for (size_t k = 0; k < e->n_mapped; k++) {
		struct addr_holders *s;

		amap_remove(r, &e->mapped[k], e);
		s = amap_get(r, &e->mapped[k]);
		for (size_t i = 0; s && i < s->n; i++)
			pending_add(r, s->h[i].e);
	}
	free(e->mapped);
	e->mapped = NULL;
	e->n_mapped = 0;
}

void registry_addrs_done(struct registry *r)
{
	for (size_t i = 0; i < r->n_amap; i++)
		free(r->amap[i].h);
	free(r->amap);
	free(r->pending);
	free(r->addr_events);
	r->amap = NULL;
	r->pending = NULL;
	r->n_amap = r->used_amap = r->n_pending = r->cap_pending = 0;
}

/* Brings the map to what e holds now (sorted, unique): the addresses that came or went, and
 * whoever else holds them, go to `touched`. */
static int remap(struct registry *r, struct endpoint *e, uint64_t gen, struct endpoint ***touched,
		 size_t *n_touched, size_t *cap_touched)
{
	_cleanup_free_ struct policy_addr *now = NULL;
	size_t n = 0, i = 0, j = 0;

#define TOUCH(x)                                                                       \
	do {                                                                           \
		struct endpoint *t_ = (x);                                             \
		if (!t_->settle_seen) {                                                \
			if (*n_touched == *cap_touched) {                              \
				size_t c_ = *cap_touched ? *cap_touched * 2 : 64;      \
				struct endpoint **q_ =                                 \
					reallocarray(*touched, c_, sizeof(**touched)); \
				if (!q_)                                               \
					return -ENOMEM;                                \
				*touched = q_;                                         \
				*cap_touched = c_;                                     \
			}                                                              \
			t_->settle_seen = true;                                        \
			(*touched)[(*n_touched)++] = t_;                               \
		}                                                                      \
	} while (0)

	TOUCH(e);
	if (e->n_held > 0) {
		now = memdup(e->held, e->n_held * sizeof(*now));
		if (!now)
			return -ENOMEM;
		qsort_safe(now, e->n_held, sizeof(*now), cmp_addr);
		for (size_t k = 0; k < e->n_held; k++)
			if (n == 0 || !same_addr(&now[k], &now[n - 1]))
				now[n++] = now[k];
	}
	while (i < e->n_mapped || j < n) {
		int c = i == e->n_mapped ? 1 : j == n ? -1 : cmp_addr(&e->mapped[i], &now[j]);
		const struct policy_addr *a = c < 0 ? &e->mapped[i] : &now[j];
		struct addr_holders *s;

		if (c == 0) {
			i++, j++;
			continue;
		}
		if (c < 0) {
			amap_remove(r, a, e);
			i++;
		} else {
			if (amap_add(r, a, e, gen) < 0)
				return -ENOMEM;
			j++;
		}
		s = amap_get(r, a);
		for (size_t k = 0; s && k < s->n; k++)
			TOUCH(s->h[k].e);
	}
#undef TOUCH
	free(e->mapped);
	e->mapped = n ? TAKE_PTR(now) : NULL;
	e->n_mapped = n;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the holders of s other than `self`, ", "-separated, in registry order. */
static char *other_names(const struct addr_holders *s, const struct endpoint *self)
{
	_cleanup_free_ const char **names = calloc(s->n + 1, sizeof(*names));
	size_t n = 0;
	char *out = NULL;

	if (!names)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].e != self)
			names[n++] = s->h[i].e->pe.name;
	qsort_safe(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *t;

		if (asprintf(&t, "%s%s%s", out ? out : "", out ? ", " : "", names[i]) < 0) {
			free(out);
			return NULL;
		}
		free(out);
		out = t;
	}
	return out;
}

/* e's own addresses and conflicts from the map. */
static int settle_one(struct registry *r, struct endpoint *e,
		      void (*changed)(struct endpoint *e, void *ud), void *ud)
{
	struct policy_addr *own = calloc(e->n_mapped + 1, sizeof(*own));
	struct ep_conflict *cs = calloc(e->n_mapped + 1, sizeof(*cs));
	size_t n_own = 0, n_cs = 0;
	int ret = 0;

	if (!own || !cs) {
		free(own);
		free(cs);
		return -ENOMEM;
	}
	for (size_t k = 0; k < e->n_mapped; k++) {
		const struct policy_addr *a = &e->mapped[k];
		const struct addr_holders *s = amap_get(r, a);
		uint64_t first = UINT64_MAX, mine = UINT64_MAX;
		size_t n_first = 0;

		if (!s || s->n <= 1) {
			own[n_own++] = *a;
			continue;
		}
		/* the first holder keeps it, if there is exactly one */
		for (size_t x = 0; x < s->n; x++) {
			if (s->h[x].since < first)
				first = s->h[x].since, n_first = 0;
			if (s->h[x].since == first)
				n_first++;
			if (s->h[x].e == e)
				mine = s->h[x].since;
		}
		cs[n_cs].owner = mine == first && n_first == 1;
		if (cs[n_cs].owner)
			own[n_own++] = *a;
		cs[n_cs].addr = *a;
		cs[n_cs].with = other_names(s, e);
		if (!cs[n_cs++].with)
			ret = -ENOMEM;
	}
	if (n_cs > 0 && e->n_conflicts != n_cs)
		log_warning("Endpoint %s holds %zu address(es) another endpoint holds too: "
			    "neither may use them",
			    e->pe.name, n_cs);
	endpoint_conflicts_clear(e);
	e->conflicts = cs;
	e->n_conflicts = n_cs;
	if (n_own == e->pe.n_addrs &&
	    (n_own == 0 || memcmp(own, e->pe.addrs, n_own * sizeof(*own)) == 0)) {
		free(own);
		return ret;
	}
	free(e->pe.addrs);
	e->pe.addrs = own;
	e->pe.n_addrs = n_own;
	if (changed)
		changed(e, ud);
	return ret;
}

int registry_settle_addresses(struct registry *r, void (*changed)(struct endpoint *e, void *ud),
			      void *ud)
{
	_cleanup_free_ struct endpoint **touched = NULL;
	size_t n_touched = 0, cap_touched = 0;
	uint64_t gen = ++r->generation;
	int ret = 0;

	if (r->settle_failed) {
		/* Redo everything: the map anew from what every endpoint holds. */
		r->settle_failed = false;
		for (size_t i = 0; i < r->n; i++)
			pending_add(r, r->items[i]);
		if (r->settle_failed)
			return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_pending && ret >= 0; i++) {
		struct endpoint *e = r->pending[i];

		e->held_pending = false;
		ret = remap(r, e, gen, &touched, &n_touched, &cap_touched);
	}
	r->n_pending = 0;
	/* Own addresses in address order of what is held, as before: e->pe.addrs follows
	 * e->mapped, which is sorted. */
	for (size_t i = 0; i < n_touched; i++) {
		touched[i]->settle_seen = false;
		if (ret >= 0 && touched[i]->registered)
			ret = settle_one(r, touched[i], changed, ud);
	}
	if (ret < 0)
		r->settle_failed = true;
	return ret;
}

void registry_addrs_join(struct registry *r, struct endpoint *e)
{
	pending_add(r, e);
}

void registry_addrs_leave(struct registry *r, struct endpoint *e)
{
	unmap(r, e);
	if (e->addr_listed)
		list_drop(r->addr_events, &r->n_addr_events, e);
	if (e->held_pending)
		list_drop(r->pending, &r->n_pending, e);
	e->addr_listed = e->held_pending = false;
}
