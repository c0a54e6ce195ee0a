/* SPDX-License-Identifier: MIT */
/*
 * The host-side guard's emitter, shared by its two files: guard-emit.c (the table, its chains
 * and sets, the link-layer, source and neighbour discovery rules) and guard-policy.c (the
 * endpoint's policy in chains from_endpoint and to_endpoint). Private to libpolicy.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libnftnl/rule.h>

#include "policy/policy.h"

/* Fixed sets, after the plan's (plan set i has id i + 1). */
enum {
	SET_OWN4,
	SET_OWN6,
	SET_REPLIES4,
	SET_REPLIES6,
	SET_SEEN4,
	SET_SEEN6,
	_SET_FIXED_MAX,
};

extern const char *const guard_set_names[_SET_FIXED_MAX];

struct gemit {
	const struct policy_guard *g;
	policy_emit_fn fn;
	void *userdata;
	uint32_t set_id[_SET_FIXED_MAX];
};

int guard_rule_new(struct gemit *e, const char *chain, const char *comment,
		   struct nftnl_rule **ret);
/* Hands the rule over (*rule is NULL after), pr its plan rule or NULL. */
int guard_emit_rule(struct gemit *e, struct nftnl_rule **rule, const struct policy_plan_rule *pr);

/* ether type T */
int guard_match_ethertype(struct nftnl_rule *rule, uint16_t type);
/* ether type ip|ip6 */
int guard_match_family(struct nftnl_rule *rule, int family);
/* meta l4proto P */
int guard_match_l4proto(struct nftnl_rule *rule, uint8_t proto);
/* ip|ip6 saddr|daddr into dreg */
int guard_load_addr(struct nftnl_rule *rule, int family, bool src, uint32_t dreg);
/* The flow key "meta l4proto . ip(6) PEER . th PEERPORT . th OWNPORT" from NFT_REG32_00. */
int guard_load_flow_key(struct nftnl_rule *rule, int family, bool to_endpoint);
/* meta iif|oif != IFINDEX accept, first in chain */
int guard_same_device(struct gemit *e, const char *chain, uint32_t key);

/* guard-policy.c: the egress policy at the end of chain from_endpoint, and chain
 * to_endpoint's records of the flows the endpoint's ingress admits. */
int guard_emit_egress(struct gemit *e);
/* The regular chains of the ClusterNetworkPolicy tiers the rules jump to, after the base
 * chains. */
int guard_emit_tier_chains(struct gemit *e);
int guard_emit_to_endpoint(struct gemit *e);
