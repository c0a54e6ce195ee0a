/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "endpoint.h"

/*
 * Every endpoint segd knows, sorted by name (lookups by name are binary searches), and the
 * other ways to find one: a container id or an unambiguous id prefix, a namespace inode, an
 * address, a /run/netns name.
 */
struct registry {
	struct endpoint **items;
	size_t n;
};

/* Frees every endpoint (at once: for shutdown). */
void registry_done(struct registry *r);
int registry_insert(struct registry *r, struct endpoint *e);
void registry_remove(struct registry *r, struct endpoint *e);
/* After e's name changed: keeps the list sorted. No-op if e is not in it. */
void registry_reposition(struct registry *r, struct endpoint *e);

struct endpoint *registry_get(const struct registry *r, const char *name);
/* By name, else by container id or unique id prefix (4 or more hex digits). */
struct endpoint *registry_find(const struct registry *r, const char *ref);
struct endpoint *registry_find_container(const struct registry *r, const char *id,
					 size_t *ret_index);
/* The live container endpoint of the namespace with this inode. */
struct endpoint *registry_find_inode(const struct registry *r, ino_t ino);
struct endpoint *registry_find_addr(const struct registry *r, const struct policy_addr *a);
struct endpoint *registry_find_netns(const struct registry *r, const char *netns);
/* Whether an endpoint other than `self` has this name. */
bool registry_name_taken(const struct registry *r, const struct endpoint *self, const char *name);
