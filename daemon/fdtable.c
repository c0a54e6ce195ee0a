/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdtable.h"
#include "macro.h"

#define NAME_MAX_LEN 255

struct fdtable_entry {
	char *name;
	size_t len;
	int fd;
};

struct fdtable {
	struct fdtable_entry *entries;
	size_t n, allocated;
	/* Linear probing; a slot is 0 (empty) or an entry's index + 1. Never more than half full. */
	uint32_t *slots;
	size_t n_slots; /* a power of two, or 0 */
};

int fdtable_new(struct fdtable **ret)
{
	struct fdtable *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

void fdtable_clear(struct fdtable *t)
{
	for (size_t i = 0; i < t->n; i++) {
		safe_close(t->entries[i].fd);
		free(t->entries[i].name);
	}
	t->n = 0;
	if (t->slots)
		memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
}

struct fdtable *fdtable_free(struct fdtable *t)
{
	if (!t)
		return NULL;
	fdtable_clear(t);
	free(t->entries);
	free(t->slots);
	free(t);
	return NULL;
}

size_t fdtable_size(const struct fdtable *t)
{
	return t->n;
}

/* FNV-1a */
static size_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t slot_of(const struct fdtable *t, const char *name, size_t len)
{
	size_t mask = t->n_slots - 1, s = name_hash(name, len) & mask;

	for (;;) {
		uint32_t v = t->slots[s];

		if (v == 0)
			return s;
		if (t->entries[v - 1].len == len && memcmp(t->entries[v - 1].name, name, len) == 0)
			return s;
		s = (s + 1) & mask;
	}
}

int fdtable_find(const struct fdtable *t, const char *name, size_t len)
{
	size_t s;

	if (t->n == 0)
		return -ENOENT;
	s = slot_of(t, name, len);
	return t->slots[s] == 0 ? -ENOENT : (int)(t->slots[s] - 1);
}

static int grow_slots(struct fdtable *t)
{
	size_t n = t->n_slots ? t->n_slots * 2 : 16;
	uint32_t *slots;

	if (n > UINT32_MAX / 2)
		return -ENOMEM;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(t->slots);
	t->slots = slots;
	t->n_slots = n;
	for (size_t i = 0; i < t->n; i++)
		t->slots[slot_of(t, t->entries[i].name, t->entries[i].len)] = (uint32_t)(i + 1);
	return 0;
}

int fdtable_set(struct fdtable *t, const char *name, size_t len, int fd)
{
	struct fdtable_entry *e;
	int i, r;

	if (len == 0 || len > NAME_MAX_LEN)
		return -EINVAL;
	i = fdtable_find(t, name, len);
	if (i >= 0) {
		if (t->entries[i].fd != fd)
			safe_close(t->entries[i].fd);
		t->entries[i].fd = fd;
		return 0;
	}
	if ((t->n + 1) * 2 > t->n_slots) {
		r = grow_slots(t);
		if (r < 0)
			return r;
	}
	if (t->n == t->allocated) {
		size_t m = t->allocated ? t->allocated * 2 : 16;

		e = reallocarray(t->entries, m, sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->entries = e;
		t->allocated = m;
	}
	e = &t->entries[t->n];
	e->name = malloc(len + 1);
	if (!e->name)
		return -ENOMEM;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	e->len = len;
	e->fd = fd;
	t->slots[slot_of(t, name, len)] = (uint32_t)(t->n + 1);
	t->n++;
	return 1;
}

int fdtable_take(struct fdtable *t, const char *name, size_t len, int *ret_fd)
{
	int i = fdtable_find(t, name, len);

	if (i < 0 || t->entries[i].fd < 0)
		return -ENOENT;
	*ret_fd = TAKE_FD(t->entries[i].fd);
	return 0;
}

/* Empties slot s and moves later entries of its probe run back (no tombstones). */
static void slot_delete(struct fdtable *t, size_t s)
{
	size_t mask = t->n_slots - 1, j = s;

	for (;;) {
		size_t home;

		t->slots[s] = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (t->slots[j] == 0)
				return;
			home = name_hash(t->entries[t->slots[j] - 1].name,
					 t->entries[t->slots[j] - 1].len) &
			       mask;
			/* j's entry may stay unless its home lies cyclically in (s, j]. */
			if (s <= j ? (s < home && home <= j) : (s < home || home <= j))
				continue;
			break;
		}
		t->slots[s] = t->slots[j];
		s = j;
	}
}

int fdtable_remove(struct fdtable *t, const char *name, size_t len)
{
	size_t last;
	int i = fdtable_find(t, name, len);

	if (i < 0)
		return -ENOENT;
	slot_delete(t, slot_of(t, name, len));
	safe_close(t->entries[i].fd);
	free(t->entries[i].name);
	last = t->n - 1;
	if ((size_t)i != last) {
		t->entries[i] = t->entries[last];
		/* the moved entry's slot points at `last`: point it at i */
		t->slots[slot_of(t, t->entries[i].name, t->entries[i].len)] = (uint32_t)(i + 1);
	}
	t->n--;
	return 0;
}

const char *fdtable_name(const struct fdtable *t, size_t i, size_t *ret_len)
{
	if (ret_len)
		*ret_len = t->entries[i].len;
	return t->entries[i].name;
}

int fdtable_fd(const struct fdtable *t, size_t i)
{
	return t->entries[i].fd;
}
