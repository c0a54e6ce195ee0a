/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "drift.h"
#include "errlog.h"
#include "reconcile.h"
#include "registry.h"
#include "store.h"

/* What the API shows of the model, as JSON (docs/api.md). NULL means out of memory. */

/* {"state", "reason", "devices": [{"interface", "device", "netns", "table", "installed"}]} */
json_t *view_guard(const struct ep_guard *g);
json_t *view_endpoint(const struct endpoint *e);
/* {"items": [...]}, of one namespace or (ns NULL) all. */
/* node: this node's name in a fleet (given to local endpoints), else NULL. */
json_t *view_endpoints(const struct registry *r, const char *ns, const char *node);
json_t *view_netpols(const struct store *s, const char *ns);
json_t *view_netpol(const struct policy_netpol *p);
/* {"items": [every ClusterNetworkPolicy, by name]} */
json_t *view_cnps(const struct store *s);
json_t *view_cnp(const struct policy_cnp *p);
json_t *view_nodes(const struct store *s);
json_t *view_node(const struct policy_node *n);
json_t *view_namespace(const struct policy_namespace *n);
/* Applied namespaces plus the implicit ones endpoints and policies use. */
json_t *view_namespaces(const struct store *s, const struct registry *r);

struct status_inputs {
	const struct registry *registry;
	const struct store *store;
	const struct reconciler *rc;
	const struct drift *drift;
	bool drift_watching;
	const struct errlog *errlog;
	time_t started;
	const char *engine_spec;
	json_t *engine; /* taken */
	char *const *hook_fail_open;
	size_t n_hook_fail_open;
	const char *config;
};

json_t *view_status(const struct status_inputs *in);
