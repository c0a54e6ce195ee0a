/* SPDX-License-Identifier: MIT */
#pragma once

struct manager;

/*
 * The state dir holds state.json: the applied Namespace and NetworkPolicy objects (as a
 * `kind: List` that the policy parser reads back, so stored state passes the same validation
 * as user input) and the registered endpoints. Written to a temporary file, fsync'd, renamed
 * over the old one, then the directory is fsync'd: a crash leaves the old or the new state.
 */
#define STATE_FILE "state.json"
#define STATE_MAX_BYTES (64u * 1024 * 1024)

int state_save(struct manager *m);
int state_load(struct manager *m);
