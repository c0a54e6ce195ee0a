/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one rule matcher of libpolicy: whether an allow rule of a plan lets a packet through,
 * as the kernel evaluates the rule policy_emit() makes of it. policy_plan_evaluate() (every
 * matching rule) and policy_plan_allows() (the first one) both walk the chain with it.
 * Private to libpolicy.
 */
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/*
 * The index of the first rule of `plan` at or after `from`, in direction `dir`, that matches a
 * packet of IP protocol `ipproto` (IPPROTO_*) to destination port `port` with remote side
 * `peer` (AF_INET or AF_INET6, checked by the caller); plan->n_rules if none does. A rule
 * naming a protocol (TCP, UDP or SCTP, with or without ports) matches only that protocol; a
 * rule naming none matches every protocol, ICMP and the rest included. `port` is only looked
 * at for a rule that names ports.
 */
size_t evaluate_next_match(const struct policy_plan *plan, enum policy_dir dir,
			   const struct policy_addr *peer, uint8_t ipproto, uint16_t port,
			   size_t from);

/*
 * How the chains of one direction decide a new flow, tier by tier, as policy_emit() builds
 * them: the Admin tier's rules in order (the first match accepts, denies or passes), then, if
 * the endpoint is isolated for the direction, its NetworkPolicy rules (a match accepts, none
 * denies), else the Baseline tier's rules like the Admin's; nothing decided allows.
 */
struct evaluate_decision {
	bool allowed;
	size_t rule;	       /* the deciding rule, or plan->n_rules: none did */
	enum policy_tier tier; /* the deciding tier; _POLICY_TIER_MAX: none (allowed) */
	size_t passes[2];      /* Pass rules that matched on the way, in order */
	size_t n_passes;
};

void evaluate_decide(const struct policy_plan *plan, enum policy_dir dir,
		     const struct policy_addr *peer, uint8_t ipproto, uint16_t port,
		     struct evaluate_decision *ret);
