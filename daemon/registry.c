/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

struct endpoint *registry_find_inode(const struct registry *r, ino_t ino)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i]->kind == ENDPOINT_KIND_CONTAINER && endpoint_live(r->items[i]) &&
		    r->items[i]->ns_ino == ino)
			return r->items[i];
	return NULL;
}

struct endpoint *registry_find_addr(const struct registry *r, const struct policy_addr *a)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < r->n; i++)
		for (size_t k = 0; k < r->items[i]->pe.n_addrs; k++) {
			const struct policy_addr *x = &r->items[i]->pe.addrs[k];

			if (x->family == a->family && memcmp(x->addr, a->addr, len) == 0)
				return r->items[i];
		}
	return NULL;
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
