/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "error.h"
#include "registry.h"

/*
 * Who can reach whom, and why, from the plans the kernel was given (endpoint->installed), as
 * the JSON answers of docs/api.md. The evaluation itself is libpolicy's (policy_pair_allowed,
 * policy_plan_evaluate, policy_plan_diff); this module resolves names and addresses to
 * endpoints, reads the kernel back where a check asks for evidence, and renders.
 */
#define EXPLAIN_MAX_PORTS 64
/* What a matrix or a diff may cost by default, in cells (pairs x ports; segd --matrix-budget):
 * a quarter of a megabyte of rows, and well under a second of the loop. Measured with plans of
 * 20 rules: 500 endpoints x 4 ports (998000 cells) took 0.09 s and 1.4 MB in all; a cell
 * evaluates in 0.1 to 1.7 us depending on the plans and the machine's load. */
#define EXPLAIN_DEFAULT_BUDGET 250000u
/* a matrix's rows: one character per cell */
#define MATRIX_ALLOWED 'Y'
#define MATRIX_DENIED '.'
#define MATRIX_SELF '-'
#define MATRIX_NO_FAMILY '?' /* no address family in common */
/* at most this many pairs whose verdict changes are listed by a diff */
#define EXPLAIN_DIFF_MAX_LISTED 10000

/* One flow: from and to are endpoint names, container id prefixes or addresses; port is
 * "PORT[/PROTOCOL]". `emit` is what the tables were written with (for the read-back). */
int explain_check(const struct registry *r, const struct policy_emit_options *emit,
		  const char *from, const char *to, const char *port, json_t **ret,
		  struct op_error *err);
/* Every ordered pair of endpoints (of namespace ns, or all), on `ports` (comma-separated, or
 * NULL: the ports the plans name, 80/TCP if none), as rows of MATRIX_* characters: rows[k][i]
 * is endpoint i towards every endpoint on ports[k]. -EMSGSIZE, before any pair is evaluated,
 * when it costs more than `budget` cells (policy_matrix_cells()). */
int explain_matrix(const struct registry *r, const char *ns, const char *ports, uint64_t budget,
		   json_t **ret, struct op_error *err);
/* What `plans` (indexed like the registry, NULL for endpoints not live) change against what is
 * committed: per endpoint, and the pairs whose verdict changes (at most
 * EXPLAIN_DIFF_MAX_LISTED of them; none, with reachability_error, when evaluating them would
 * cost more than `budget` cells: policy_diff_cells()). */
int explain_diff(const struct registry *r, struct policy_plan **plans, uint64_t budget,
		 json_t **ret);
