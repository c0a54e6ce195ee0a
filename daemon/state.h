/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "registry.h"
#include "store.h"

/*
 * The state dir holds state.json: the applied Namespace and NetworkPolicy objects (as a
 * `kind: List` that the policy parser reads back, so stored state passes the same validation
 * as user input) and the endpoints registered by hand (container endpoints are not stored: the
 * engine is their source of truth). Written to a temporary file, fsync'd, renamed over the old
 * one, then the directory is fsync'd: a crash leaves the old or the new state.
 *
 * Registering or removing one endpoint must not cost a rewrite of every other one, so such a
 * change is appended to state.journal instead (one JSON line: the endpoint as stored, or its
 * removal by name), then fdatasync'd. Every change of an endpoint has its journal line, so
 * replaying the journal over a state.json that already holds it gives the same model: a crash
 * between a full write and the journal's truncation is harmless. A torn last line (a crash
 * during the append, before the change reached the kernel) is skipped and cut off.
 *
 * Write-ahead (docs/state.md): a change is persisted (state_save or state_record_endpoint)
 * before the kernel sees it. Until state_settle, state_undo puts the previous state back,
 * durably and without needing free space: the journal is cut back to its old length, or the
 * old state.json (kept as a hard link, .state.json.prev) is renamed back. state_settle drops
 * that copy and, when the journal has grown past the size of state.json (and at least
 * STATE_JOURNAL_MIN), folds it: amortised O(1) per registration.
 *
 * Loading fails closed (state_load): a stored endpoint that is invalid but still names its
 * network namespace is quarantined (default-deny there, in state error with the file, line
 * and column); any other fault refuses the whole state, with its position.
 */
/* state.json version 1: Namespaces and NetworkPolicies; 2: also ClusterNetworkPolicies and
 * Nodes. */
#define STATE_VERSION_CNP 2
#define STATE_FILE "state.json"
#define STATE_JOURNAL "state.journal"
#define STATE_PREV ".state.json.prev"
#define STATE_MAX_BYTES (64u * 1024 * 1024)
#define STATE_JOURNAL_MIN (256u * 1024)

enum state_pending {
	STATE_PENDING_NONE,
	STATE_PENDING_JOURNAL, /* a journal line, after journal_before bytes */
	STATE_PENDING_SAVE,    /* a full save; the old state.json is STATE_PREV */
};

struct state {
	char *dir;
	int journal_fd; /* open for appending once loaded */
	uint64_t journal_bytes, state_bytes;
	enum state_pending pending; /* the change persisted last, until settled or undone */
	uint64_t journal_before;
	bool prev_absent; /* the full save wrote the first state.json: undo removes it */
	bool stale;	  /* an undo failed: the files may hold more than the model, write it all */
	/* name -> {"name", "netns", "quarantined": reason, "stored": what was stored}: the
	 * quarantined endpoints, written back as they are until they are deleted */
	json_t *quarantined;
};

/* What the state dir held. */
struct state_loaded {
	struct policy_objects *objects;
	json_t *endpoints;   /* object: name -> stored description (valid), journal applied */
	json_t *quarantined; /* object: name -> {"name", "netns", "quarantined", "stored"} */
};

void state_loaded_done(struct state_loaded *l);

/* Creates the dir (the last component private to root) if needed. */
int state_open(const char *dir, struct state **ret);
struct state *state_free(struct state *st);
/* -EBADMSG (logged with file:line:column) when the state cannot be trusted: state.journal
 * without state.json, a state.json or journal line that is not valid, stored policies that
 * are not, a stored endpoint that names no usable network namespace. A fresh dir gets an
 * empty state.json first. */
int state_load(struct state *st, struct state_loaded *ret);
/* Persists everything (a change of policies). -errno: nothing changed on disk. */
int state_save(struct state *st, const struct store *s, const struct registry *r);
/* Persists the addition (or relabelling) of e, or its removal: a journal line. Containers
 * are not stored: 0. -errno: nothing changed on disk. */
int state_record_endpoint(struct state *st, const struct endpoint *e, bool removed,
			  const struct store *s, const struct registry *r);
/* The change persisted last did not take effect: the previous state, durably. */
int state_undo(struct state *st);
/* The change persisted last is in force: forgets the undo copy, folds the journal if due
 * (a failure there is logged: the journal and state.json stay valid). */
void state_settle(struct state *st, const struct store *s, const struct registry *r);
/* {"name", "netns", "namespace", "labels", "ports"}: as stored, and as POST /v1/endpoints
 * takes it. */
json_t *state_endpoint_desc(const struct endpoint *e);
