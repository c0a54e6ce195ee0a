/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/*
 * The audit log: one JSON line per change made through the API, appended and fdatasync'd
 * before the change is acknowledged:
 *
 *   {"time": "2026-11-29T05:17:18.123Z", "seq": 7, "uid": 1000, "pid": 4242, "comm": "segctl",
 *    "request": "POST /v1/apply", "file": "web.yaml", "node": "n1" (in a fleet only),
 *    "changes": [{"kind": "NetworkPolicy", "namespace": "shop", "name": "db",
 *                 "action": "created"|"configured"|"deleted",
 *                 "before": OBJECT|null, "after": OBJECT|null}]}
 *
 * kind is Namespace, NetworkPolicy, ClusterNetworkPolicy or Endpoint; namespace is null for
 * the cluster-scoped kinds (Namespace, ClusterNetworkPolicy).
 *
 * A change acknowledged to the caller always has its record, written before the state and the
 * kernel see the change (docs/state.md). If a change fails after its record was written (the
 * state dir or the kernel refused it), a second record {"seq_rolled_back": 7, "error": "..."}
 * follows. Requests that change nothing (reads, dry
 * runs, applying what is already in force) leave no record.
 */

#define AUDIT_LOG_DEFAULT "/var/log/segd/audit.jsonl"

struct audit;

/* path NULL: no audit log. */
int audit_open(const char *path, struct audit **ret);
struct audit *audit_free(struct audit *a);
/* Opens the file again by name (after logrotate moved it). */
int audit_reopen(struct audit *a);

/* Who is asking; set by the API around each request (cleared with audit_end). */
void audit_begin(struct audit *a, uid_t uid, pid_t pid, const char *method, const char *url,
		 const char *file);
void audit_end(struct audit *a);
/* In a fleet (docs/fleet.md): every record names this node ("node": name), where the change
 * was made. NULL (a single host): records have no "node". The string must outlive a. */
void audit_set_node(struct audit *a, const char *node);
/* Whether an API request is being served (changes are then recorded). */
bool audit_active(const struct audit *a);

/* Records one change of the current request (takes the references to before and after). */
void audit_change(struct audit *a, const char *kind, const char *ns, const char *name,
		  const char *action, json_t *before, json_t *after);
/* Writes the current request's record, if it has changes. -errno if it cannot be written. */
int audit_commit(struct audit *a);
/* After audit_commit succeeded but the change was then undone: names the record that call
 * wrote (none if it wrote none). */
void audit_rolled_back(struct audit *a, const char *error);
/* Records written since start. */
uint64_t audit_records(const struct audit *a);
/* Forgets the current request's changes (the request failed before audit_commit). */
void audit_discard(struct audit *a);
