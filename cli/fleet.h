/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "segctl.h"

/* The wait for the nodes (fleet_wait): the first pause between two looks at GET /v1/fleet, and
 * the longest; each pause doubles the one before. */
#define FLEET_WAIT_FIRST_MS 2
#define FLEET_WAIT_MAX_MS 50
/* Nodes named in a timeout's message; more are counted. */
#define FLEET_WAIT_MAX_NAMED 16

/* `segctl get nodes [NAME]`: GET /v1/fleet as a table, or the answer (-o json|yaml), or one
 * node of it. */
int fleet_get(const struct segctl *c, const char *name, enum output_format out);

/*
 * The "revision" of a change's answer (POST /v1/apply, /v1/delete, DELETE of a policy object),
 * present with a fleet (docs/fleet.md): raises *max to it. 0 and nothing changed when the answer
 * has none (a single host) or says 0 (its node wrote no change yet); -EPROTO, after saying so,
 * when it is not an integer >= 0.
 */
int fleet_revision(json_t *reply, int64_t *max);

/*
 * Waits until every live node of GET /v1/fleet (state other than "lost"; at least one) has
 * enforced_revision >= revision, looking again after a pause growing from FLEET_WAIT_FIRST_MS
 * to FLEET_WAIT_MAX_MS, for at most --timeout from now. Then, with `print`, says "enforced on N
 * node(s) at revision R" on stdout. Returns 0; -ETIME when the time ran out, after naming the
 * nodes that had not enforced it on stderr; or what client_call() returns.
 */
int fleet_wait(const struct segctl *c, int64_t revision, bool print);

/* After a change: wait for `revision` unless there is none (a single host), it was a dry run
 * or the user said --no-wait (then only say the revision). The exit status to return, from
 * `ret` (the change's own). */
int fleet_after_change(const struct segctl *c, int ret, int64_t revision, bool no_wait, bool print);
