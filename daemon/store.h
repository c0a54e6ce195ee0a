/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy/policy.h"

/*
 * The policy objects in force: Namespaces (only applied ones) sorted by name, NetworkPolicies
 * sorted by namespace and name, ClusterNetworkPolicies and Nodes sorted by name. A change is made on the live store after taking a snapshot
 * (the arrays, not the objects): keeping the change frees what only the snapshot had, undoing
 * it frees what only the change added.
 */
struct store {
	struct policy_namespace **namespaces;
	size_t n_namespaces;
	struct policy_netpol **netpols;
	size_t n_netpols;
	struct policy_cnp **cnps;
	size_t n_cnps;
	struct policy_node **nodes;
	size_t n_nodes;
};

struct store_snapshot {
	struct policy_namespace **namespaces;
	size_t n_namespaces;
	struct policy_netpol **netpols;
	size_t n_netpols;
	struct policy_cnp **cnps;
	size_t n_cnps;
	struct policy_node **nodes;
	size_t n_nodes;
};

void store_done(struct store *s);
/* Takes every object of objs (which is freed). */
void store_load(struct store *s, struct policy_objects *objs);

ssize_t store_find_namespace(const struct store *s, const char *name);
ssize_t store_find_netpol(const struct store *s, const char *ns, const char *name);
ssize_t store_find_cnp(const struct store *s, const char *name);
ssize_t store_find_node(const struct store *s, const char *name);

enum store_put {
	STORE_UNCHANGED,
	STORE_CONFIGURED,
	STORE_CREATED,
	_STORE_PUT_MAX,
};

const char *store_put_to_string(enum store_put p); /* "unchanged", "configured", "created" */
/* Within a change begun with `snap`: puts *objp in place of the object of the same name, or
 * adds it (taking it: *objp = NULL), unless an equal one is there (then *objp is left to the
 * caller). STORE_* or -ENOMEM. The arrays are sorted again by store_sort(). */
int store_put_namespace(struct store *s, const struct store_snapshot *snap,
			struct policy_namespace **objp);
int store_put_netpol(struct store *s, const struct store_snapshot *snap,
		     struct policy_netpol **objp);
int store_put_cnp(struct store *s, const struct store_snapshot *snap, struct policy_cnp **objp);
int store_put_node(struct store *s, const struct store_snapshot *snap, struct policy_node **objp);
void store_sort(struct store *s);
/* Removes (does not free: the snapshot still has it) the object at k. */
void store_remove_namespace_at(struct store *s, size_t k);
void store_remove_netpol_at(struct store *s, size_t k);
void store_remove_cnp_at(struct store *s, size_t k);
void store_remove_node_at(struct store *s, size_t k);

int store_snapshot_take(const struct store *s, struct store_snapshot *snap);
/* Keeps the current objects: frees those only the snapshot had. */
void store_snapshot_commit(struct store *s, struct store_snapshot *snap);
/* Restores the snapshot: frees the objects only the current store has. */
void store_snapshot_restore(struct store *s, struct store_snapshot *snap);
/* What changed since the snapshot: whether any namespace was added, changed or removed, and
 * each NetworkPolicy or ClusterNetworkPolicy added, changed or removed (old and new versions
 * both). */
bool store_namespaces_changed(const struct store *s, const struct store_snapshot *snap);
void store_netpols_changed(const struct store *s, const struct store_snapshot *snap,
			   void (*fn)(const struct policy_netpol *p, void *userdata),
			   void *userdata);
void store_cnps_changed(const struct store *s, const struct store_snapshot *snap,
			void (*fn)(const struct policy_cnp *p, void *userdata), void *userdata);
/* Every object the change since snap put (its new version, as the JSON text `segctl get -o
 * json` shows and the parser reads, taken by put()) and every one it removed (by key), for a
 * store that is not here (docs/fleet.md). kind: "Namespace", "NetworkPolicy",
 * "ClusterNetworkPolicy", "Node"; ns NULL but for NetworkPolicy. -ENOMEM, or what a callback
 * returned (< 0 stops). */
struct store_change_ops {
	int (*put)(const char *kind, const char *ns, const char *name, char *json, void *userdata);
	int (*del)(const char *kind, const char *ns, const char *name, void *userdata);
};
int store_changes(const struct store *s, const struct store_snapshot *snap,
		  const struct store_change_ops *ops, void *userdata);
/* Whether any Node was added, changed or removed since the snapshot. */
bool store_nodes_changed(const struct store *s, const struct store_snapshot *snap);
