/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errlog.h"
#include "histogram.h"
#include "registry.h"
#include "store.h"

/*
 * Bringing the kernel to the model: compile the plan of every endpoint that may have changed
 * and commit those that differ from what their namespace holds, one atomic transaction per
 * namespace (set elements alone when only they changed, else the whole table).
 *
 * A change marks what it can affect before reconciling: the endpoint itself, the endpoints
 * selected by policies that reference an endpoint (before and after it changes), the
 * endpoints a changed policy (NetworkPolicy or ClusterNetworkPolicy) selects, on a Node
 * change the endpoints selected by ClusterNetworkPolicies with an egress `nodes` peer; a
 * namespace relabel marks everything.
 */

/* What the kernel was sent, for one reconcile and in total. */
struct change_stats {
	uint64_t namespaces;  /* namespaces committed */
	uint64_t incremental; /* of those, by set elements alone */
	uint64_t compiled;    /* plans compiled */
	uint64_t batches, messages, bytes;
	uint64_t usec;
};

struct reconciler {
	struct store *store;
	struct registry *registry;
	struct errlog *errlog;
	enum policy_deny_action deny;
	struct policy_emit_options emit; /* table flags, flow logging */
	struct guards *guards;		 /* host-side guards; NULL: none */
	bool keep_established;		 /* do not cut flows a tightened plan denies */
	uint64_t flows_cut;		 /* conntrack entries deleted, in total */
	uint64_t compromised_seen;	 /* tables found owned by another process */
	bool all_dirty;			 /* the next reconcile compiles every endpoint */
	struct change_stats last, total;
	uint64_t commits, commit_errors;
	uint64_t retries;	 /* commits of failed endpoints tried again */
	bool ignore_backoff;	 /* the next reconcile tries failed endpoints at once */
	char first_failure[256]; /* the first endpoint the last reconcile newly failed ("") */
	struct histogram duration;
	/* The possible peers (live, labels usable) by namespace and label, kept across changes:
	 * what a change touches is found from it, not from a walk of every endpoint. Made on
	 * first use. */
	struct policy_index *index;
	bool index_failed; /* out of memory while keeping it: rebuilt by the next reconcile */
	/* The marked endpoints (dirty), each once: a reconcile looks at these, not the fleet. */
	struct endpoint **marked;
	size_t n_marked, cap_marked;
	uint64_t index_repairs; /* endpoints the periodic check found out of date (a bug) */
	/* a change may have touched another node's endpoint: their models (`installed`) are
	 * made again by reconcile_model_remotes */
	bool remote_models_stale;
	/* What other nodes see of a local endpoint (name, namespace, labels, addresses, named
	 * ports, whether it is a peer at all) may change: called by reconcile_mark_peers_of,
	 * which every such change calls. NULL: a single host. */
	void (*peer_changed)(struct endpoint *e, void *userdata);
	void *peer_userdata;
};

void reconcile_done(struct reconciler *rc);

/* Marks e for the next reconcile (its own plan may change), after bringing the index to what e
 * is now (its namespace, labels, liveness or quarantine may have changed). */
void reconcile_mark(struct reconciler *rc, struct endpoint *e);
/* Marks the endpoints selected by policies that reference e (call before and after e
 * changes; the index is brought to e first). */
void reconcile_mark_peers_of(struct reconciler *rc, struct endpoint *e);
void reconcile_mark_selected_by(struct reconciler *rc, const struct policy_netpol *p);
/* The endpoints a ClusterNetworkPolicy's subject selects (namespace labels, then pods). */
void reconcile_mark_selected_by_cnp(struct reconciler *rc, const struct policy_cnp *p);
/* e leaves the registry: out of the index and of the marked endpoints. */
void reconcile_forget(struct reconciler *rc, struct endpoint *e);
/* Compares the index and the marks with every endpoint (O(N): for the periodic tick, never a
 * change); whatever is out of date is repaired, logged as the bug it is, and recompiled.
 * Returns how many endpoints were out of date. */
size_t reconcile_check_index(struct reconciler *rc);
/* Marks what the store's change since `snap` can touch. */
void reconcile_mark_store_changes(struct reconciler *rc, const struct store_snapshot *snap);

/*
 * Compiles the marked endpoints (and any never committed) and commits the plans that differ.
 * Returns the number of namespaces that newly failed (0: all enforced), or -ENOMEM;
 * *ret_updated counts the namespaces committed.
 *
 * A failed endpoint is in state failed with the reason, keeps the last table it had (or gets
 * default-deny if it had none) and is retried on its own schedule (its `retry`): until then
 * reconciles pass it by, keeping it marked. When its retry fails again, that is not a new
 * failure: one endpoint the kernel refuses does not fail every later change.
 */
int reconcile_marked(struct reconciler *rc, size_t *ret_updated);
/* Every endpoint. */
int reconcile_all(struct reconciler *rc, size_t *ret_updated);
/* After a failed change was rolled back: brings every namespace back to the restored model. */
void reconcile_after_rollback(struct reconciler *rc);
/* The first endpoint the last reconcile newly failed, to name in a refusal. */
const struct endpoint *reconcile_first_failure(const struct reconciler *rc);
/* When the first failed endpoint's retry is due (CLOCK_MONOTONIC usec), 0 if none is. */
uint64_t reconcile_next_retry(const struct reconciler *rc);

/* Another node's endpoints (ENDPOINT_KIND_REMOTE) have, as `installed`, the plan their node
 * commits, compiled here from the same store when asked for (check, matrix): made again, all
 * of them, after a change that may have touched one (remote_models_stale). */
int reconcile_model_remotes(struct reconciler *rc);

/* Deletes e's conntrack entries that its installed plan denies (after a restart, say): the
 * number deleted, or -errno. */
int reconcile_cut_flows(struct reconciler *rc, struct endpoint *e);

/* Every live endpoint's plan under the current model, indexed like the registry (NULL for the
 * others); nothing is committed. */
int reconcile_compile_all(struct reconciler *rc, struct policy_plan ***ret);
void reconcile_plans_free(const struct reconciler *rc, struct policy_plan **plans);
