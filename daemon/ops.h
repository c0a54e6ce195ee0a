/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "containers.h"
#include "drift.h"
#include "errlog.h"
#include "error.h"
#include "flows.h"
#include "reconcile.h"
#include "registry.h"
#include "spec.h"
#include "state.h"
#include "store.h"

struct conn_limit;

/* What the fleet (fleet.c) does for the operations. */
struct ops_fleet {
	/* Writes the store's change since snap to the fleet's store, as one transaction: the
	 * revision it made. -EHOSTUNREACH when the store cannot be reached. */
	int (*store_write)(void *userdata, const struct store *s, const struct store_snapshot *snap,
			   int64_t *ret_revision, struct op_error *err);
	json_t *(*view)(void *userdata); /* GET /v1/fleet */
	int (*node_delete)(void *userdata, const char *name, json_t **ret, struct op_error *err);
	const char *node; /* this node's name */
	void *userdata;
};

/*
 * The operations: everything that reads or changes the model, whoever asks (the API, the engine
 * source, the kernel's events). A change is one transaction:
 *
 *   snapshot -> change the model -> audit record -> persist (write-ahead: durable before the
 *   kernel sees it) -> reconcile (one netlink transaction per namespace it touches) -> answer
 *
 * and any failure puts the persisted state back, restores the snapshot and reconciles again, so
 * that a failed change changes nothing; one that cannot be persisted never reaches the kernel. Each returns 0 with a JSON answer in *ret, or a negative errno with err filled:
 *   -EINVAL, -EBADMSG (with diagnostics), -ERANGE, -E2BIG, -ENXIO  the request is wrong
 *   -ENOENT  what it names does not exist          -EEXIST  it exists already
 *   -EPERM, -ENOTCONN  not possible on that object  -EMSGSIZE  the answer would be too large
 *   -EIO  the kernel, the audit log or the state dir refused   -ENOSPC  the state dir is full
 *   -ENOMEM
 */
struct ops {
	struct store *store;
	struct registry *registry;
	struct reconciler *rc;
	struct containers *containers;
	struct state *state;
	struct audit *audit;
	struct flows *flows;
	struct drift *drift;
	bool drift_watching;
	bool drift_report_only;
	struct errlog *errlog;
	const struct endpoint_env *env;
	time_t started;
	const char *engine_spec;
	uint64_t matrix_budget; /* cells a matrix or a diff may cost (settings.h) */
	/* the containers the OCI hook may start unisolated when segd is down, for status */
	char *const *hook_fail_open;
	size_t n_hook_fail_open;
	const char *config; /* the config file the hook reads them from, or NULL */
	/* The engine source's status ({...} or null), from the part that owns it. */
	json_t *(*engine_status)(void *userdata);
	void *userdata;
	/* The API's connection figures (metrics), while the API runs. */
	const struct conn_limit *api_conns;
	/* A fleet (docs/fleet.md), NULL: a single host. */
	const struct ops_fleet *fleet;
	int64_t written_revision; /* of the last change written to the fleet's store */
	size_t recheck_next;	  /* where the periodic namespace check goes on (upkeep.c) */
	size_t recheck_slice;	  /* endpoints it looks at per tick; 0: RECHECK_SLICE */
};

/* ---- policies (ops.c) ---- */
int ops_apply(struct ops *o, const char *file, const char *text, size_t len, bool dry_run,
	      json_t **ret, struct op_error *err);
/* What applying the file would change (plans per endpoint, reachability per pair); nothing
 * changes. */
int ops_diff(struct ops *o, const char *file, const char *text, size_t len, json_t **ret,
	     struct op_error *err);
/* Deletes the objects a file names: all of them, or none if one is missing. */
int ops_delete_file(struct ops *o, const char *file, const char *text, size_t len, json_t **ret,
		    struct op_error *err);
int ops_delete_netpol(struct ops *o, const char *ns, const char *name, json_t **ret,
		      struct op_error *err);
int ops_get_netpol(struct ops *o, const char *ns, const char *name, json_t **ret,
		   struct op_error *err);
int ops_delete_cnp(struct ops *o, const char *name, json_t **ret, struct op_error *err);
int ops_get_cnp(struct ops *o, const char *name, json_t **ret, struct op_error *err);
int ops_delete_node(struct ops *o, const char *name, json_t **ret, struct op_error *err);
int ops_get_node(struct ops *o, const char *name, json_t **ret, struct op_error *err);
json_t *ops_status(struct ops *o);
/* GET /v1/fleet: the fleet's nodes; on a single host, this one (state "local"). */
json_t *ops_fleet_view(struct ops *o);
/* DELETE /v1/fleet/nodes/NAME: -EPERM on a single host. */
int ops_fleet_node_delete(struct ops *o, const char *name, json_t **ret, struct op_error *err);
/* GET /v1/flows */
int ops_flows(struct ops *o, const struct flows_filter *q, json_t **ret, struct op_error *err);

/* ---- endpoints (ops-endpoint.c) ---- */
int ops_endpoint_add(struct ops *o, struct endpoint_spec *spec, json_t **ret, struct op_error *err);
int ops_endpoint_label(struct ops *o, const char *name, const struct label_change *c, json_t **ret,
		       struct op_error *err);
int ops_endpoint_del(struct ops *o, const char *name, json_t **ret, struct op_error *err);
int ops_endpoint_get(struct ops *o, const char *name, json_t **ret, struct op_error *err);
/* The kernel's read-back of its table, compared with the plan. */
int ops_endpoint_rules(struct ops *o, const char *name, json_t **ret, struct op_error *err);
/* At start: the endpoints the state dir stored (each attached again; one that cannot be is
 * kept in error) and the quarantined ones (default-deny, in error with the position of their
 * fault). Nothing is reconciled. */
int ops_restore(struct ops *o, struct state_loaded *l);

/* ---- containers (ops-container.c) ---- */
int ops_hook_create(struct ops *o, const struct hook_request *h, json_t **ret,
		    struct op_error *err);
int ops_hook_poststop(struct ops *o, const char *id, json_t **ret, struct op_error *err);
/* From the engine source: an inspection's result, a container gone, ... */
int ops_container_seen(struct ops *o, const struct container_info *ci);
void ops_container_gone(struct ops *o, const char *id);

/* ---- the fleet (ops-fleet.c): what this node learns from the fleet's store ---- */
/* Another node's endpoint (pe's parts taken): added as NODE/NAME, or changed; what it
 * touches is marked, not reconciled (ops_fleet_reconcile). 1 added, 0 changed or the same. */
int ops_remote_put(struct ops *o, const char *node, struct policy_endpoint *pe);
/* It is gone (its node removed it, or its node's lease expired): true if it was there. */
bool ops_remote_del(struct ops *o, const char *node, const char *name);
/* Removes every other node's endpoint that keep() refuses (after a re-list); how many. */
size_t ops_remote_prune(struct ops *o, bool (*keep)(const struct endpoint *e, void *userdata),
			void *userdata);
/* Policies from the store as one change: puts (taken) in place, dels removed (missing ones
 * ignored), cached in the state dir, reconciled. Nothing is undone: a namespace the kernel
 * refuses is failed and retried (ops_not_committed). -ENOMEM with err. */
struct ops_store_ref {
	const char *kind, *ns, *name;
};
int ops_store_sync(struct ops *o, struct policy_objects *puts, const struct ops_store_ref *dels,
		   size_t n_dels, struct op_error *err);
int ops_fleet_reconcile(struct ops *o, size_t *ret_updated);
/* Local endpoints whose current plan the kernel refused (failed, retried). */
size_t ops_not_committed(const struct ops *o);

/* ---- what the kernel tells (upkeep.c) ---- */
/* Re-reads the addresses of the endpoints whose monitor fired; reconciles their peers. */
int ops_refresh_addresses(struct ops *o);
/* Endpoints whose namespace vanished (or whose /run/netns name now names another one) lose
 * their table and stop being anyone's peer. A backstop for the name watch, so it looks at a
 * slice of the endpoints per call (recheck_slice, round robin): a large fleet's check never
 * holds the loop. It also proves the label index right (reconcile_check_index). */
#define RECHECK_SLICE 512
int ops_check_namespaces(struct ops *o);
/* Something happened to /run/netns/NAME: if a hand-registered endpoint's namespace is named
 * so, look at it again (vanished, or created anew: re-attached and enforced at once). 1 if an
 * endpoint changed, 0 if not, -EAGAIN while the name is not yet a namespace. */
int ops_netns_changed(struct ops *o, const char *name);
/* The endpoints whose commit failed and whose retry is due: committed again (the others'
 * retries stay scheduled). */
int ops_retry_failed(struct ops *o);
/* When the next retry is due (CLOCK_MONOTONIC usec), 0 if no endpoint is failing. */
uint64_t ops_next_retry(struct ops *o);
/* The endpoints not committed yet (failed, being retried), as [{name, error}] under
 * "not_committed" in a change's answer; nothing when every endpoint is committed. */
void ops_note_not_committed(struct ops *o, json_t *answer);
/* e's nf_tables events: a foreign change to its table is repaired (or, --drift report, only
 * reported). */
void ops_endpoint_drift(struct ops *o, struct endpoint *e);
/* e's flow logs into records. */
void ops_endpoint_flows(struct ops *o, struct endpoint *e);
