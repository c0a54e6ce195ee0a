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
#define EXPLAIN_MAX_PAIRS (1u << 20) /* pairs x ports in one answer */

/* One flow: from and to are endpoint names, container id prefixes or addresses; port is
 * "PORT[/PROTOCOL]". `emit` is what the tables were written with (for the read-back). */
int explain_check(const struct registry *r, const struct policy_emit_options *emit,
		  const char *from, const char *to, const char *port, json_t **ret,
		  struct op_error *err);
/* Every ordered pair of endpoints (of namespace ns, or all), on `ports` (comma-separated, or
 * NULL: the ports the plans name, 80/TCP if none). -EMSGSIZE past EXPLAIN_MAX_PAIRS. */
int explain_matrix(const struct registry *r, const char *ns, const char *ports, json_t **ret,
		   struct op_error *err);
/* What `plans` (indexed like the registry, NULL for endpoints not live) change against what is
 * committed: per endpoint, and the pairs whose verdict changes. */
int explain_diff(const struct registry *r, struct policy_plan **plans, json_t **ret);
