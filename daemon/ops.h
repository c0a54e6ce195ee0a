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
	size_t recheck_next;  /* where the periodic namespace check goes on (upkeep.c) */
	size_t recheck_slice; /* endpoints it looks at per tick; 0: RECHECK_SLICE */
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
