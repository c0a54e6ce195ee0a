/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "registry-internal.h"

static void maps_done(struct registry *r);
static void registry_joined(struct registry *r, struct endpoint *e);
static void registry_left(struct registry *r, struct endpoint *e);

void registry_done(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		endpoint_free(r->items[i]);
	free(r->items);
	registry_addrs_done(r);
	maps_done(r);
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
	registry_joined(r, e);
	return 0;
}

void registry_remove(struct registry *r, struct endpoint *e)
{
	ssize_t k = index_of(r, e);

	if (k >= 0) {
		take_at(r, (size_t)k);
		registry_left(r, e);
	}
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

/* ---- lookups by netns and by namespace identity ---- */

static uint64_t hash_netns(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static uint64_t hash_ns(dev_t dev, ino_t ino)
{
	uint64_t x = (uint64_t)dev * 0x9e3779b97f4a7c15ull ^ (uint64_t)ino;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int map_add(struct registry_map *m, uint64_t h, struct endpoint *e)
{
	size_t k;

	if ((m->used + 1) * 2 > m->n) {
		size_t n = m->n ? m->n * 2 : 256;
		struct registry_slot *slots = calloc(n, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < m->n; i++)
			if (m->slots[i].e) {
				for (k = m->slots[i].h & (n - 1); slots[k].e; k = (k + 1) & (n - 1))
					;
				slots[k] = m->slots[i];
			}
		free(m->slots);
		m->slots = slots;
		m->n = n;
	}
	for (k = h & (m->n - 1); m->slots[k].e; k = (k + 1) & (m->n - 1))
		;
	m->slots[k] = (struct registry_slot){ .h = h, .e = e };
	m->used++;
	return 0;
}

static void map_del(struct registry_map *m, uint64_t h, const struct endpoint *e)
{
	size_t mask = m->n - 1, i, j;

	if (!m->n)
		return;
	for (i = h & mask; m->slots[i].e && m->slots[i].e != e; i = (i + 1) & mask)
		;
	if (!m->slots[i].e)
		return;
	m->slots[i] = (struct registry_slot){ 0 };
	m->used--;
	for (j = i;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slots[j].e)
			break;
		home = m->slots[j].h & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			m->slots[j] = (struct registry_slot){ 0 };
			i = j;
		}
	}
}

static void maps_done(struct registry *r)
{
	free(r->by_netns.slots);
	free(r->by_ns.slots);
	r->by_netns = r->by_ns = (struct registry_map){ 0 };
}

/* Another node's endpoints have no namespace here: nothing to find them by but their name. */
static void maps_add(struct registry *r, struct endpoint *e)
{
	if (e->kind == ENDPOINT_KIND_REMOTE)
		return;
	e->mapped_dev = e->ns_dev;
	e->mapped_ino = e->ns_ino;
	if (map_add(&r->by_netns, hash_netns(e->netns), e) < 0 ||
	    map_add(&r->by_ns, hash_ns(e->mapped_dev, e->mapped_ino), e) < 0)
		r->maps_failed = true;
}

static void maps_del(struct registry *r, struct endpoint *e)
{
	if (e->kind == ENDPOINT_KIND_REMOTE)
		return;
	map_del(&r->by_netns, hash_netns(e->netns), e);
	map_del(&r->by_ns, hash_ns(e->mapped_dev, e->mapped_ino), e);
}

void registry_ns_changed(struct registry *r, struct endpoint *e)
{
	if (!e->registered)
		return;
	map_del(&r->by_ns, hash_ns(e->mapped_dev, e->mapped_ino), e);
	e->mapped_dev = e->ns_dev;
	e->mapped_ino = e->ns_ino;
	if (map_add(&r->by_ns, hash_ns(e->mapped_dev, e->mapped_ino), e) < 0)
		r->maps_failed = true;
}

static bool is_ns(const struct endpoint *e, dev_t dev, ino_t ino)
{
	return endpoint_live(e) && e->ns_ino == ino && e->ns_dev == dev;
}

/* Of the endpoints the map holds under h that match, the first in registry (name) order. */
static struct endpoint *map_find(const struct registry *r, const struct registry_map *m, uint64_t h,
				 bool (*match)(const struct endpoint *e, const void *key),
				 const void *key)
{
	struct endpoint *best = NULL;

	if (r->maps_failed) {
		for (size_t i = 0; i < r->n; i++)
			if (match(r->items[i], key))
				return r->items[i];
		return NULL;
	}
	for (size_t k = m->n ? h & (m->n - 1) : 0; m->n && m->slots[k].e; k = (k + 1) & (m->n - 1))
		if (m->slots[k].h == h && match(m->slots[k].e, key) &&
		    (!best || strcmp(m->slots[k].e->pe.name, best->pe.name) < 0))
			best = m->slots[k].e;
	return best;
}

struct ns_key {
	dev_t dev;
	ino_t ino;
};

static bool match_ns(const struct endpoint *e, const void *key)
{
	const struct ns_key *k = key;

	return is_ns(e, k->dev, k->ino);
}

static bool match_netns(const struct endpoint *e, const void *key)
{
	return streq(e->netns, key);
}

struct endpoint *registry_find_ns(const struct registry *r, dev_t dev, ino_t ino)
{
	const struct ns_key k = { dev, ino };

	return map_find(r, &r->by_ns, hash_ns(dev, ino), match_ns, &k);
}

const char *registry_kind_text(const struct endpoint *e)
{
	if (e->kind != ENDPOINT_KIND_CONTAINER)
		return "registered by hand";
	return e->n_containers > 1 ? "a pod" : "a container";
}

static void registry_joined(struct registry *r, struct endpoint *e)
{
	maps_add(r, e);
	e->registered = true;
	registry_addrs_join(r, e);
}

static void registry_left(struct registry *r, struct endpoint *e)
{
	maps_del(r, e);
	registry_addrs_leave(r, e);
	e->registered = false;
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

struct endpoint *registry_find_netns(const struct registry *r, const char *netns)
{
	return map_find(r, &r->by_netns, hash_netns(netns), match_netns, netns);
}

bool registry_name_taken(const struct registry *r, const struct endpoint *self, const char *name)
{
	struct endpoint *e = registry_get(r, name);

	return e && e != self;
}
