/* SPDX-License-Identifier: MIT */
#pragma once

/* The manager's own plumbing, shared by manager.c and containers.c only. */

#include <jansson.h>

#include "manager.h"

int endpoint_new(struct manager *m, const char *name, const char *netns, const char *ns,
		 struct endpoint **ret);
struct endpoint *endpoint_free(struct endpoint *e);
int endpoint_attach(struct endpoint *e, int nsfd);
void endpoint_close(struct endpoint *e);
void endpoint_set_error(struct endpoint *e, enum endpoint_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
json_t *endpoint_json(const struct endpoint *e);

int endpoints_insert(struct manager *m, struct endpoint *e);
void endpoints_remove(struct manager *m, struct endpoint *e);
/* After e's name changed: keeps m->endpoints sorted by name (lookups rely on it). */
void endpoints_reposition(struct manager *m, struct endpoint *e);
int bury(struct manager *m, struct endpoint *e);
void arm_debounce(struct manager *m);

/* reconcile(): every endpoint; reconcile_marked(): only those marked dirty (plus any never
 * committed). Marking: the endpoint itself, the endpoints selected by policies that reference
 * an endpoint (call before and after it changes), the endpoints a policy selects. */
int reconcile(struct manager *m, size_t *ret_updated);
int reconcile_marked(struct manager *m, size_t *ret_updated);
void mark_peers_of(struct manager *m, const struct policy_endpoint *x);
void mark_selected_by(struct manager *m, const struct policy_netpol *p);
void reconcile_after_rollback(struct manager *m);
int commit_change(struct manager *m, size_t *ret_updated, struct op_error *err);
/* Every live endpoint's plan under the current model, indexed like m->endpoints (NULL for the
 * others); nothing is committed. */
int manager_compile_all(struct manager *m, struct policy_plan ***ret);
void manager_plans_free(struct manager *m, struct policy_plan **plans);

/* containers.c */
void endpoint_containers_done(struct endpoint *e);
