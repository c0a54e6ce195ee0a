/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

struct manager;

/*
 * The state dir holds state.json: the applied Namespace and NetworkPolicy objects (as a
 * `kind: List` that the policy parser reads back, so stored state passes the same validation
 * as user input) and the registered endpoints. Written to a temporary file, fsync'd, renamed
 * over the old one, then the directory is fsync'd: a crash leaves the old or the new state.
 *
 * Registering or removing one endpoint must not cost a rewrite of every other one, so such a
 * change is appended to state.journal instead (one JSON line: the endpoint as stored, or its
 * removal by name), then fdatasync'd. Replaying a line twice gives the same model, so a crash
 * between a full write and the journal's truncation is harmless; a torn last line (a crash
 * during the append, before the change was acknowledged) is skipped. When the journal grows
 * past the size of state.json (and at least STATE_JOURNAL_MIN), the next change rewrites
 * state.json and empties the journal: amortised O(1) per registration.
 */
#define STATE_FILE "state.json"
#define STATE_JOURNAL "state.journal"
#define STATE_MAX_BYTES (64u * 1024 * 1024)
#define STATE_JOURNAL_MIN (256u * 1024)

struct endpoint;

int state_save(struct manager *m);
/* Persists the addition (or relabelling) of `e`, or its removal. */
int state_record_endpoint(struct manager *m, const struct endpoint *e, bool removed);
int state_load(struct manager *m);
void state_close(struct manager *m);
