/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "manager.h"
#include "policy/policy.h"

/* "80", "80/TCP", "53/udp" */
struct explain_port {
	uint16_t port;
	enum policy_proto proto;
};

#define MATRIX_MAX_PORTS 64

int explain_parse_port(const char *s, struct explain_port *ret);
/* The policies of plan->selected_by that isolate the endpoint in `dir` (a JSON array). */
json_t *explain_isolating(const struct policy_plan *plan, enum policy_dir dir);
json_t *explain_port_json(const struct explain_port *p);
/* Adds the ports `plan`'s rules name (a range by its first port) to ports[0..k), up to
 * MATRIX_MAX_PORTS; returns the new count. */
size_t explain_plan_ports(const struct policy_plan *plan, struct explain_port *ports, size_t k);
void explain_sort_ports(struct explain_port *ports, size_t n);
/* Whether a may reach b on p with plans pa and pb; *ret_known false when they share no
 * address family. */
bool explain_pair_allowed(struct endpoint *a, const struct policy_plan *pa, struct endpoint *b,
			  const struct policy_plan *pb, const struct explain_port *p, bool *ret_known);
/* A comma-separated list of ports; 0 ports for NULL or "". -EINVAL past 64 or on a bad one. */
int explain_collect_ports(const char *spec, struct explain_port *ports, size_t *ret_n);

/*
 * {"endpoints": [{name, namespace}], "ports": ["80/TCP"], "pairs": [{from, to, port, allowed}]}
 * for every ordered pair of distinct endpoints of `eps` (each with a plan in ->installed) that
 * share an address family: allowed when egress at `from` and ingress at `to` both allow it in
 * every family they share.
 */
int explain_matrix_json(struct endpoint **eps, size_t n, const struct explain_port *ports,
			size_t n_ports, json_t **ret);

/*
 * What the plans `plans` (indexed like m->endpoints, NULL for endpoints not live) change against
 * what is committed: {"endpoints": [per changed endpoint: rules and set elements added and
 * removed, isolation and selecting policies before and after], "ports": [...], "reachability":
 * [{from, to, port, before, after}] for every pair whose verdict changes}.
 */
int explain_diff_json(struct manager *m, struct policy_plan **plans, json_t **ret);

/* GET /v1/check and /v1/matrix (docs/api.md). */
int manager_check(struct manager *m, const char *from, const char *to, const char *port,
		  json_t **ret, struct op_error *err);
int manager_matrix(struct manager *m, const char *ns, const char *ports, json_t **ret,
		   struct op_error *err);
