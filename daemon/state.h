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
 * removal by name), then fdatasync'd. Replaying a line twice gives the same model, so a crash
 * between a full write and the journal's truncation is harmless; a torn last line (a crash
 * during the append, before the change was acknowledged) is skipped and cut off. When the
 * journal grows past the size of state.json (and at least STATE_JOURNAL_MIN), the next change
 * rewrites state.json and empties the journal: amortised O(1) per registration.
 */
#define STATE_FILE "state.json"
#define STATE_JOURNAL "state.journal"
#define STATE_MAX_BYTES (64u * 1024 * 1024)
#define STATE_JOURNAL_MIN (256u * 1024)

struct state {
	char *dir;
	int journal_fd; /* open for appending once loaded */
	uint64_t journal_bytes, state_bytes;
};

/* What the state dir held. */
struct state_loaded {
	struct policy_objects *objects;
	json_t *endpoints; /* object: name -> stored description, journal applied */
};

void state_loaded_done(struct state_loaded *l);

/* Creates the dir (the last component private to root) if needed. */
int state_open(const char *dir, struct state **ret);
struct state *state_free(struct state *st);
int state_load(struct state *st, struct state_loaded *ret);
int state_save(struct state *st, const struct store *s, const struct registry *r);
/* Persists the addition (or relabelling) of e, or its removal: a journal line, or a full save
 * when the journal is due to be folded. Containers are not stored: 0. */
int state_record_endpoint(struct state *st, const struct endpoint *e, bool removed,
			  const struct store *s, const struct registry *r);
/* {"name", "netns", "namespace", "labels", "ports"}: as stored, and as POST /v1/endpoints
 * takes it. */
json_t *state_endpoint_desc(const struct endpoint *e);
