/* SPDX-License-Identifier: MIT */
/* Private helpers of the object model, shared by the parser and the serializer. */
#pragma once

#include "policy/policy.h"

void policy_selector_done(struct policy_selector *s);
struct policy_selector *policy_selector_free(struct policy_selector *s);
int policy_selector_copy(struct policy_selector *dst, const struct policy_selector *src);
bool policy_selector_equal(const struct policy_selector *a, const struct policy_selector *b);
void policy_expr_done(struct policy_expr *e);

struct policy_ipblock *policy_ipblock_free(struct policy_ipblock *b);
void policy_peer_done(struct policy_peer *p);
void policy_port_done(struct policy_port *p);
void policy_rule_done(struct policy_rule *r);
void policy_rules_free(struct policy_rule *rules, size_t n);

struct policy_netpol *policy_netpol_new(void);

static inline void policy_netpol_freep(struct policy_netpol **p)
{
	*p = policy_netpol_free(*p);
}

struct policy_cnp *policy_cnp_new(void);

static inline void policy_cnp_freep(struct policy_cnp **p)
{
	*p = policy_cnp_free(*p);
}

static inline void policy_objects_freep(struct policy_objects **o)
{
	*o = policy_objects_free(*o);
}
