/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the ops-*.c files only. */
#include "ops.h"

/*
 * The second half of every change, after the model changed and what it touches was marked:
 * write the audit record, persist (everything, or only endpoint e's registration, or its
 * removal), then reconcile; a kernel failure puts the persisted state back. On failure the
 * caller restores its snapshot and reconciles again. snap: the change is one of policies (in
 * a fleet it goes to the fleet's store first, see ops.c).
 */
int ops_commit(struct ops *o, const struct endpoint *e, bool removed,
	       const struct store_snapshot *snap, size_t *ret_updated, struct op_error *err);

/* Moves every object of objs into the store (within the change begun with snap), naming each
 * in `applied` and, when audit, in the audit record. */
int ops_put_objects(struct ops *o, struct store_snapshot *snap, struct policy_objects *objs,
		    bool audit, json_t *applied);
/* Removes the object of that kind ("Namespace", "NetworkPolicy", ...) and name from the store,
 * within a change begun with a snapshot: -ENOENT if it is not there. */
int ops_remove_object(struct ops *o, const char *kind, const char *ns, const char *name);
