/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "registry.h"

void registry_done(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		endpoint_free(r->items[i]);
	free(r->items);
	*r = (struct registry){ 0 };
}

/* The index of the first endpoint whose name is not below `name`. */
static size_t lower_bound(const struct registry *r, const char *name)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->items[mid]->pe.name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static ssize_t index_of(const struct registry *r, const struct endpoint *e)
{
	size_t k = lower_bound(r, e->pe.name);

	/* Names are unique, but e may be out of place right after a rename. */
	if (k < r->n && r->items[k] == e)
		return (ssize_t)k;
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i] == e)
			return (ssize_t)i;
	return -1;
}

static void put_at(struct registry *r, size_t k, struct endpoint *e)
{
	memmove(&r->items[k + 1], &r->items[k], (r->n - k) * sizeof(*r->items));
	r->items[k] = e;
	r->n++;
}

static void take_at(struct registry *r, size_t k)
{
	memmove(&r->items[k], &r->items[k + 1], (r->n - k - 1) * sizeof(*r->items));
	r->n--;
}

int registry_insert(struct registry *r, struct endpoint *e)
{
	struct endpoint **p = reallocarray(r->items, r->n + 1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	r->items = p;
	put_at(r, lower_bound(r, e->pe.name), e);
	return 0;
}

void registry_remove(struct registry *r, struct endpoint *e)
{
	ssize_t k = index_of(r, e);

	if (k >= 0)
		take_at(r, (size_t)k);
}

void registry_reposition(struct registry *r, struct endpoint *e)
{
	ssize_t k = index_of(r, e);

	if (k < 0)
		return;
	take_at(r, (size_t)k);
	put_at(r, lower_bound(r, e->pe.name), e);
}

struct endpoint *registry_get(const struct registry *r, const char *name)
{
	size_t k = lower_bound(r, name);

	return k < r->n && streq(r->items[k]->pe.name, name) ? r->items[k] : NULL;
}

struct endpoint *registry_find(const struct registry *r, const char *ref)
{
	struct endpoint *found = registry_get(r, ref);
	size_t len = strlen(ref);

	if (found)
		return found;
	if (len < 4 || strspn(ref, "0123456789abcdef") != len)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j < r->items[i]->n_containers; j++)
			if (strncmp(r->items[i]->containers[j].id, ref, len) == 0) {
				if (found && found != r->items[i])
					return NULL; /* ambiguous */
				found = r->items[i];
			}
	return found;
}

struct endpoint *registry_find_container(const struct registry *r, const char *id,
					 size_t *ret_index)
{
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j < r->items[i]->n_containers; j++)
			if (streq(r->items[i]->containers[j].id, id)) {
				if (ret_index)
					*ret_index = j;
				return r->items[i];
			}
	return NULL;
}

struct endpoint *registry_find_ns(const struct registry *r, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < r->n; i++)
		if (endpoint_live(r->items[i]) && r->items[i]->ns_ino == ino &&
		    r->items[i]->ns_dev == dev)
			return r->items[i];
	return NULL;
}

const char *registry_kind_text(const struct endpoint *e)
{
	if (e->kind != ENDPOINT_KIND_CONTAINER)
		return "registered by hand";
	return e->n_containers > 1 ? "a pod" : "a container";
}

static bool holds(const struct endpoint *e, const struct policy_addr *a)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	for (size_t k = 0; k < e->n_held; k++)
		if (e->held[k].family == a->family && memcmp(e->held[k].addr, a->addr, len) == 0)
			return true;
	return false;
}

size_t registry_addr_holders(const struct registry *r, const struct policy_addr *a,
			     struct endpoint **ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (holds(r->items[i], a)) {
			if (n < max)
				ret[n] = r->items[i];
			n++;
		}
	return n;
}

struct endpoint *registry_find_addr(const struct registry *r, const struct policy_addr *a)
{
	struct endpoint *e = NULL;

	return registry_addr_holders(r, a, &e, 1) == 1 ? e : NULL;
}

struct holding {
	struct policy_addr addr;
	size_t ep;	/* index in the registry */
	uint64_t since; /* generation its holder first held it in */
};

static int cmp_holding(const void *a, const void *b)
{
	const struct holding *x = a, *y = b;
	int c = x->addr.family - y->addr.family;

	if (c == 0)
		c = memcmp(x->addr.addr, y->addr.addr, sizeof(x->addr.addr));
	if (c == 0)
		c = (x->ep > y->ep) - (x->ep < y->ep);
	return c;
}

static bool same_addr(const struct policy_addr *a, const struct policy_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The names of the endpoints of run h[0..n) other than `self`, ", "-separated. */
static char *other_names(const struct registry *r, const struct holding *h, size_t n, size_t self)
{
	char *s = NULL;

	for (size_t i = 0; i < n; i++) {
		char *t;

		if (h[i].ep == self || (i > 0 && h[i].ep == h[i - 1].ep))
			continue;
		if (asprintf(&t, "%s%s%s", s ? s : "", s ? ", " : "", r->items[h[i].ep]->pe.name) <
		    0) {
			free(s);
			return NULL;
		}
		free(s);
		s = t;
	}
	return s;
}

int registry_settle_addresses(struct registry *r, void (*changed)(struct endpoint *e, void *ud),
			      void *ud)
{
	_cleanup_free_ struct holding *h = NULL;
	size_t n = 0, total = 0;
	int r_ = 0;

	uint64_t gen = ++r->generation;

	for (size_t i = 0; i < r->n; i++) {
		struct endpoint *e = r->items[i];

		total += e->n_held;
		if (!e->held_since && e->n_held > 0) {
			e->held_since = calloc(e->n_held, sizeof(*e->held_since));
			if (!e->held_since)
				return -ENOMEM;
		}
		for (size_t k = 0; k < e->n_held; k++)
			if (e->held_since[k] == 0)
				e->held_since[k] = gen;
	}
	h = calloc(total + 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++)
		for (size_t k = 0; k < r->items[i]->n_held; k++)
			h[n++] = (struct holding){ .addr = r->items[i]->held[k],
						   .ep = i,
						   .since = r->items[i]->held_since[k] };
	qsort_safe(h, n, sizeof(*h), cmp_holding);

	for (size_t i = 0; i < r->n && r_ >= 0; i++) {
		struct endpoint *e = r->items[i];
		struct policy_addr *own = calloc(e->n_held + 1, sizeof(*own));
		struct ep_conflict *cs = calloc(e->n_held + 1, sizeof(*cs));
		size_t n_own = 0, n_cs = 0;

		if (!own || !cs) {
			free(own);
			free(cs);
			return -ENOMEM;
		}
		for (size_t k = 0; k < e->n_held; k++) {
			const struct policy_addr *a = &e->held[k];
			size_t lo = 0, hi = n, run;

			/* the run of h holding a: binary search for its first element */
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				int c = a->family - h[mid].addr.family;

				if (c == 0)
					c = memcmp(a->addr, h[mid].addr.addr, sizeof(a->addr));
				if (c > 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (run = lo; run < n && same_addr(&h[run].addr, a); run++)
				;
			if (h[lo].ep == h[run - 1].ep) {
				own[n_own++] = *a;
				continue;
			}
			/* the first holder keeps it, if there is one */
			{
				uint64_t first = UINT64_MAX;
				size_t n_first = 0;
				bool mine = false;

				for (size_t x = lo; x < run; x++)
					first = h[x].since < first ? h[x].since : first;
				for (size_t x = lo; x < run; x++)
					if (h[x].since == first &&
					    (x == lo || h[x].ep != h[x - 1].ep)) {
						n_first++;
						mine = mine || h[x].ep == i;
					}
				cs[n_cs].owner = mine && n_first == 1;
				if (cs[n_cs].owner)
					own[n_own++] = *a;
			}
			cs[n_cs].addr = *a;
			cs[n_cs].with = other_names(r, &h[lo], run - lo, i);
			if (!cs[n_cs++].with)
				r_ = -ENOMEM;
		}
		if (n_cs > 0 && (e->n_conflicts != n_cs))
			log_warning("Endpoint %s holds %zu address(es) another endpoint holds too: "
				    "neither may use them",
				    e->pe.name, n_cs);
		endpoint_conflicts_clear(e);
		e->conflicts = cs;
		e->n_conflicts = n_cs;
		if (n_own == e->pe.n_addrs &&
		    (n_own == 0 || memcmp(own, e->pe.addrs, n_own * sizeof(*own)) == 0)) {
			free(own);
			continue;
		}
		free(e->pe.addrs);
		e->pe.addrs = own;
		e->pe.n_addrs = n_own;
		if (changed)
			changed(e, ud);
	}
	return r_;
}

struct endpoint *registry_find_netns(const struct registry *r, const char *netns)
{
	for (size_t i = 0; i < r->n; i++)
		if (streq(r->items[i]->netns, netns))
			return r->items[i];
	return NULL;
}

bool registry_name_taken(const struct registry *r, const struct endpoint *self, const char *name)
{
	struct endpoint *e = registry_get(r, name);

	return e && e != self;
}
