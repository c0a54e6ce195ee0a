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
struct addr_holders;

struct registry {
	struct endpoint **items;
	size_t n;
	uint64_t generation; /* of registry_settle_addresses(): when addresses were first seen */
	uint64_t refused;    /* registrations refused: their namespace was an endpoint already */
	/* address -> the endpoints holding it (open addressing): a settle costs the endpoints
	 * whose addresses changed and those sharing an address with them, not the fleet */
	struct addr_holders *amap;
	size_t n_amap, used_amap;
	struct endpoint **pending; /* held addresses changed since the last settle */
	size_t n_pending, cap_pending;
	struct endpoint **addr_events; /* their namespace reported an address or link change */
	size_t n_addr_events, cap_addr_events;
	bool addr_events_lost;
	bool settle_failed; /* out of memory in a settle: the next one redoes everything */
	/* by netns name or path, and by namespace identity (as of insertion or
	 * registry_ns_changed): lookups cost the endpoints that share the key, not the fleet */
	struct registry_map {
		struct registry_slot {
			uint64_t h;
			struct endpoint *e; /* NULL: free */
		} * slots;
		size_t n, used;
	} by_netns, by_ns;
	bool maps_failed; /* out of memory keeping them: lookups walk every endpoint */
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
/* The live endpoint, of any kind (registered by hand, container, pod), whose namespace is
 * dev/ino: a namespace is never two endpoints. */
struct endpoint *registry_find_ns(const struct registry *r, dev_t dev, ino_t ino);
/* How an endpoint came to be, for messages naming it ("registered by hand", "container"). */
const char *registry_kind_text(const struct endpoint *e);
/* The endpoint whose namespace holds address a, if exactly one does. */
struct endpoint *registry_find_addr(const struct registry *r, const struct policy_addr *a);
/* Every endpoint whose namespace holds a (up to max, in registry order); the count. */
size_t registry_addr_holders(const struct registry *r, const struct policy_addr *a,
			     struct endpoint **ret, size_t max);
/*
 * An address held by two endpoints' namespaces belongs to the one that held it first (seen in
 * an earlier settle); the others' claims are ignored, and all of them show the conflict. When
 * none was first (both seen in the same settle, as after a restart), it is neither's: it
 * leaves every holder's own addresses. Either way a workload that takes another's address
 * gains nothing: no peer set names it for the taker, no guard lets the taker send from it.
 * Recomputes the own addresses and conflicts of the endpoints whose held addresses changed
 * (registry_held_changed, insert, remove) and of those sharing an address with them; calls
 * changed() for each endpoint whose own addresses changed. -ENOMEM: the next settle redoes
 * every endpoint.
 */
int registry_settle_addresses(struct registry *r, void (*changed)(struct endpoint *e, void *ud),
			      void *ud);
/* e's held addresses changed (read again, forgotten): the next settle looks at them. Inserting
 * and removing an endpoint need no call. */
void registry_held_changed(struct registry *r, struct endpoint *e);
/* e's namespace reported an address or link change (e->addrs_dirty): listed for
 * registry_take_addr_events(), so that reading them costs the endpoints that had one. */
void registry_addr_event(struct registry *r, struct endpoint *e);
/* The endpoints listed since the last call (the caller frees the array), each once. */
struct endpoint **registry_take_addr_events(struct registry *r, size_t *ret_n);
struct endpoint *registry_find_netns(const struct registry *r, const char *netns);
/* e's namespace identity (ns_dev, ns_ino) changed while it is in the registry (attached anew). */
void registry_ns_changed(struct registry *r, struct endpoint *e);
/* Whether an endpoint other than `self` has this name. */
bool registry_name_taken(const struct registry *r, const struct endpoint *self, const char *name);
