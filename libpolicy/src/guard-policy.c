/* SPDX-License-Identifier: MIT */
/*
 * The host-side guard's policy rules (guard.h): the endpoint's egress policy, enforced again
 * statelessly at the end of chain from_endpoint, with the replies it may send on the flows its
 * ingress policy admits, which chain to_endpoint records. Pure: no sockets, no logging.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "guard.h"
#include "nft-expr.h"
#include "policy/policy.h"

/* The chain of a tier's rules: from_endpoint_admin|baseline for egress (what the endpoint
 * sends), to_endpoint_admin|baseline for ingress (what it is sent). */
static const char *tier_chain(enum policy_dir d, enum policy_tier t)
{
	if (d == POLICY_DIR_EGRESS)
		return t == POLICY_TIER_ADMIN ? POLICY_GUARD_CHAIN_FROM_ADMIN
					      : POLICY_GUARD_CHAIN_FROM_BASELINE;
	return t == POLICY_TIER_ADMIN ? POLICY_GUARD_CHAIN_TO_ADMIN
				      : POLICY_GUARD_CHAIN_TO_BASELINE;
}

static bool has_tier(const struct policy_plan *plan, enum policy_dir d, enum policy_tier t)
{
	for (size_t i = 0; i < plan->n_rules; i++)
		if (plan->rules[i].dir == d && plan->rules[i].tier == t)
			return true;
	return false;
}

/* Whether the plan has ClusterNetworkPolicy rules in direction d. */
static bool has_tiers(const struct policy_plan *plan, enum policy_dir d)
{
	return has_tier(plan, d, POLICY_TIER_ADMIN) || has_tier(plan, d, POLICY_TIER_BASELINE);
}

/* Whether chain to_endpoint records flows: when what the endpoint sends can be denied, or
 * goes through the tiers (where replies are accepted first, as established traffic). */
static bool records(const struct policy_plan *plan)
{
	return policy_plan_restricts(plan, POLICY_DIR_EGRESS) || has_tiers(plan, POLICY_DIR_EGRESS);
}

/* Whether the chain of tier t in direction d is jumped to: the Baseline tier only where
 * NetworkPolicies do not isolate (their default deny comes first); ingress only where
 * to_endpoint records, and then by the ingress tiers only. */
static bool tier_used(const struct policy_plan *plan, enum policy_dir d, enum policy_tier t)
{
	if (!has_tier(plan, d, t) || (t == POLICY_TIER_BASELINE && plan->isolated[d]))
		return false;
	return d == POLICY_DIR_EGRESS || records(plan);
}

/* chain from_endpoint_admin|... { } : a regular chain, jumped to */
int guard_emit_tier_chains(struct gemit *e)
{
	static const enum policy_tier tiers[] = { POLICY_TIER_ADMIN, POLICY_TIER_BASELINE };

	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++)
		for (size_t i = 0; i < ARRAY_SIZE(tiers); i++) {
			_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = NULL;
			int r;

			if (!tier_used(e->g->plan, d, tiers[i]))
				continue;
			c = nftnl_chain_alloc();
			if (!c)
				return -ENOMEM;
			nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_NETDEV);
			if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, e->g->table) < 0 ||
			    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, tier_chain(d, tiers[i])) < 0)
				return -ENOMEM;
			r = e->fn(POLICY_EMIT_CHAIN, TAKE_PTR(c), NULL, e->userdata);
			if (r < 0)
				return r;
		}
	return 0;
}

/* jump CHAIN comment "segd: admin tier"|"segd: baseline tier", in from_endpoint|to_endpoint */
static int emit_tier_jump(struct gemit *e, enum policy_dir d, enum policy_tier t)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e,
			   d == POLICY_DIR_EGRESS ? POLICY_GUARD_CHAIN_FROM : POLICY_GUARD_CHAIN_TO,
			   t == POLICY_TIER_ADMIN ? POLICY_COMMENT_ADMIN_TIER
						  : POLICY_COMMENT_BASELINE_TIER,
			   &rule);
	if (r < 0 || (r = expr_jump(rule, tier_chain(d, t))) < 0)
		return r;
	return guard_emit_rule(e, &rule, NULL);
}

/* A rule with no match and a verdict (accept, drop with a counter), in chain ch. */
static int emit_verdict(struct gemit *e, const char *ch, const char *comment, int verdict)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e, ch, comment, &rule);
	if (r >= 0 && verdict == NF_DROP)
		r = expr_counter(rule);
	if (r >= 0)
		r = expr_verdict(rule, verdict);
	return r < 0 ? r : guard_emit_rule(e, &rule, NULL);
}

/*
 * [ether type ip|ip6 ip(6) daddr|saddr @set] [meta l4proto P [th dport N|LO-HI]] counter V
 * in chain ch: the peer is the destination of what the endpoint sends (egress), the source of
 * what it is sent (ingress); V is accept, drop or return.
 */
static int emit_match_rule(struct gemit *e, const char *ch, const struct policy_plan_rule *pr,
			   int verdict)
{
	const struct policy_plan *plan = e->g->plan;
	const struct policy_set *set = pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int family = set ? set->family : pr->family;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e, ch, pr->comment, &rule);
	if (r < 0)
		return r;
	if (family != AF_UNSPEC) {
		r = guard_match_family(rule, family);
		if (r >= 0 && set) {
			r = guard_load_addr(rule, family, pr->dir == POLICY_DIR_INGRESS, NFT_REG_1);
			if (r >= 0)
				r = expr_lookup(rule, set->name, (uint32_t)pr->set + 1);
		}
		if (r < 0)
			return r;
	}
	if (pr->has_proto) {
		uint16_t lo = htons(pr->port_lo), hi = htons(pr->port_hi);

		r = guard_match_l4proto(rule, policy_proto_ipproto(pr->proto));
		if (r >= 0 && (pr->port_lo || pr->port_hi)) {
			r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
			if (r >= 0 && pr->port_lo == pr->port_hi)
				r = expr_cmp(rule, NFT_CMP_EQ, &lo, sizeof(lo));
			else if (r >= 0) {
				r = expr_cmp(rule, NFT_CMP_GTE, &lo, sizeof(lo));
				if (r >= 0)
					r = expr_cmp(rule, NFT_CMP_LTE, &hi, sizeof(hi));
			}
		}
		if (r < 0)
			return r;
	}
	r = expr_counter(rule);
	if (r >= 0)
		r = expr_verdict(rule, verdict);
	return r < 0 ? r : guard_emit_rule(e, &rule, pr);
}

/* What a tier rule does at the guard: for egress, Accept accepts, Deny drops; for ingress
 * (to_endpoint, which only records), Deny accepts unrecorded (the endpoint's table drops
 * it). Pass returns to the chain that jumped. */
static int tier_verdict(const struct policy_plan_rule *pr)
{
	if (pr->action == POLICY_ACTION_PASS)
		return NFT_RETURN;
	if (pr->action == POLICY_ACTION_DENY && pr->dir == POLICY_DIR_EGRESS)
		return NF_DROP;
	return NF_ACCEPT;
}

static int emit_reply_rules(struct gemit *e, int family)
{
	static const uint8_t rst = 0x04;
	const char *ch = POLICY_GUARD_CHAIN_FROM;
	int seen = family == AF_INET ? SET_SEEN4 : SET_SEEN6;
	int replies = family == AF_INET ? SET_REPLIES4 : SET_REPLIES6;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	/* ether type ip|ip6 meta l4proto . ip daddr . th dport . th sport @repliesN accept */
	r = guard_rule_new(e, ch, "segd: guard: replies", &rule);
	if (r < 0 || (r = guard_match_family(rule, family)) < 0 ||
	    (r = guard_load_flow_key(rule, family, false)) < 0 ||
	    (r = expr_lookup_reg(rule, NFT_REG32_00, guard_set_names[replies], e->set_id[replies],
				 false)) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip|ip6 meta l4proto icmp|ipv6-icmp ip daddr @seenN accept (errors, echo
	 * replies, to who sent something) */
	r = guard_rule_new(e, ch, "segd: guard: icmp to senders", &rule);
	if (r < 0 || (r = guard_match_family(rule, family)) < 0 ||
	    (r = guard_match_l4proto(rule, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6)) <
		    0 ||
	    (r = guard_load_addr(rule, family, false, NFT_REG_1)) < 0 ||
	    (r = expr_lookup(rule, guard_set_names[seen], e->set_id[seen])) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip|ip6 tcp flags & rst != 0 ip daddr @seenN accept */
	r = guard_rule_new(e, ch, "segd: guard: resets to senders", &rule);
	if (r < 0 || (r = guard_match_family(rule, family)) < 0 ||
	    (r = guard_match_l4proto(rule, IPPROTO_TCP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1)) < 0 ||
	    (r = expr_bitwise(rule, rst, 1)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, &(uint8_t){ 0 }, 1)) < 0 ||
	    (r = guard_load_addr(rule, family, false, NFT_REG_1)) < 0 ||
	    (r = expr_lookup(rule, guard_set_names[seen], e->set_id[seen])) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0)
		return r;
	return guard_emit_rule(e, &rule, NULL);
}

/* The rules of tier t in direction d, in plan order, into its chain. */
static int emit_tier_rules(struct gemit *e, enum policy_dir d, enum policy_tier t);

/*
 * The egress policy with ClusterNetworkPolicy tiers, as evaluate_decide() and the endpoint's
 * table have it: replies first (the endpoint's table accepts established traffic before any
 * tier), then jump from_endpoint_admin (Accept accepts, Deny drops, Pass returns), the
 * NetworkPolicy rules, then the default deny where they isolate, else jump
 * from_endpoint_baseline; what nothing decided is accepted.
 */
static int emit_egress_tiers(struct gemit *e)
{
	const struct policy_plan *plan = e->g->plan;
	const char *ch = POLICY_GUARD_CHAIN_FROM;
	int r;

	r = emit_reply_rules(e, AF_INET);
	if (r >= 0)
		r = emit_reply_rules(e, AF_INET6);
	if (r >= 0 && has_tier(plan, POLICY_DIR_EGRESS, POLICY_TIER_ADMIN))
		r = emit_tier_jump(e, POLICY_DIR_EGRESS, POLICY_TIER_ADMIN);
	for (size_t i = 0; r >= 0 && i < plan->n_rules; i++) {
		const struct policy_plan_rule *pr = &plan->rules[i];

		if (pr->dir == POLICY_DIR_EGRESS && pr->tier == POLICY_TIER_NETPOL)
			r = emit_match_rule(e, ch, pr, NF_ACCEPT);
	}
	if (r < 0)
		return r;
	if (plan->isolated[POLICY_DIR_EGRESS]) {
		r = emit_verdict(e, ch, "segd: guard: egress denied", NF_DROP);
	} else {
		if (tier_used(plan, POLICY_DIR_EGRESS, POLICY_TIER_BASELINE))
			r = emit_tier_jump(e, POLICY_DIR_EGRESS, POLICY_TIER_BASELINE);
		if (r >= 0)
			r = emit_verdict(e, ch, "segd: guard: egress not denied", NF_ACCEPT);
	}
	for (enum policy_tier t = 0; r >= 0 && t < _POLICY_TIER_MAX; t++)
		if (t != POLICY_TIER_NETPOL && tier_used(plan, POLICY_DIR_EGRESS, t))
			r = emit_tier_rules(e, POLICY_DIR_EGRESS, t);
	return r;
}

/* The egress policy: after the link-layer, source and neighbour discovery rules. */
int guard_emit_egress(struct gemit *e)
{
	const struct policy_plan *plan = e->g->plan;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	if (has_tiers(plan, POLICY_DIR_EGRESS))
		return emit_egress_tiers(e);
	if (!plan->isolated[POLICY_DIR_EGRESS]) {
		/* accept: its egress is not isolated */
		r = guard_rule_new(e, POLICY_GUARD_CHAIN_FROM, "segd: guard: egress not isolated",
				   &rule);
		if (r >= 0)
			r = expr_verdict(rule, NF_ACCEPT);
		return r < 0 ? r : guard_emit_rule(e, &rule, NULL);
	}
	for (size_t i = 0; i < plan->n_rules; i++) {
		if (plan->rules[i].dir != POLICY_DIR_EGRESS)
			continue;
		r = emit_match_rule(e, POLICY_GUARD_CHAIN_FROM, &plan->rules[i], NF_ACCEPT);
		if (r < 0)
			return r;
	}
	r = emit_reply_rules(e, AF_INET);
	if (r >= 0)
		r = emit_reply_rules(e, AF_INET6);
	if (r < 0)
		return r;
	/* counter drop */
	return emit_verdict(e, POLICY_GUARD_CHAIN_FROM, "segd: guard: egress denied", NF_DROP);
}

/* ---- chain to_endpoint: what replies the endpoint may send ------------------------------- */

/* [ip(6) saddr @set] meta l4proto P [th dport ...] update @repliesN { flow key } */
static int emit_record_rule(struct gemit *e, const char *ch, const struct policy_plan_rule *pr,
			    int family, uint8_t proto)
{
	const struct policy_plan *plan = e->g->plan;
	const struct policy_set *set = pr && pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int replies = family == AF_INET ? SET_REPLIES4 : SET_REPLIES6;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e, ch, pr ? pr->comment : "segd: guard: record flows", &rule);
	if (r >= 0)
		r = guard_match_family(rule, family);
	if (r >= 0 && set) {
		r = guard_load_addr(rule, family, true, NFT_REG_1);
		if (r >= 0)
			r = expr_lookup(rule, set->name, (uint32_t)pr->set + 1);
	}
	if (r >= 0)
		r = guard_match_l4proto(rule, proto);
	if (r >= 0 && pr && pr->has_proto && (pr->port_lo || pr->port_hi)) {
		uint16_t lo = htons(pr->port_lo), hi = htons(pr->port_hi);

		r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
		if (r >= 0)
			r = expr_cmp(rule, NFT_CMP_GTE, &lo, sizeof(lo));
		if (r >= 0)
			r = expr_cmp(rule, NFT_CMP_LTE, &hi, sizeof(hi));
	}
	if (r >= 0)
		r = guard_load_flow_key(rule, family, true);
	if (r >= 0)
		r = expr_dynset_update(rule, NFT_REG32_00, guard_set_names[replies],
				       e->set_id[replies], POLICY_GUARD_REPLY_TIMEOUT_MS);
	if (r >= 0)
		r = expr_verdict(rule, NF_ACCEPT);
	return r < 0 ? r : guard_emit_rule(e, &rule, NULL);
}

static const uint8_t l4[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };

/* The record rules of plan rule pr (NULL: every flow) in chain ch, both families. */
static int emit_records(struct gemit *e, const char *ch, const struct policy_plan_rule *pr)
{
	const struct policy_plan *plan = e->g->plan;
	const struct policy_set *set = pr && pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int rf = set ? set->family : pr ? pr->family : AF_UNSPEC;

	for (int f = 0; f < 2; f++) {
		int family = f == 0 ? AF_INET : AF_INET6;

		if (rf != AF_UNSPEC && rf != family)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(l4); k++) {
			int r;

			if (pr && pr->has_proto && policy_proto_ipproto(pr->proto) != l4[k])
				continue;
			r = emit_record_rule(e, ch, pr, family, l4[k]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int emit_tier_rules(struct gemit *e, enum policy_dir d, enum policy_tier t)
{
	const struct policy_plan *plan = e->g->plan;

	for (size_t i = 0; i < plan->n_rules; i++) {
		const struct policy_plan_rule *pr = &plan->rules[i];
		int r;

		if (pr->dir != d || pr->tier != t)
			continue;
		/* to_endpoint_*: an Accept records its flows; what it does not record (other
		 * protocols) is never recorded, whatever the later rules do */
		if (d == POLICY_DIR_INGRESS && pr->action == POLICY_ACTION_ACCEPT)
			r = emit_records(e, tier_chain(d, t), pr);
		else
			r = emit_match_rule(e, tier_chain(d, t), pr, tier_verdict(pr));
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The records of flows its ingress admits with ClusterNetworkPolicy tiers, as
 * evaluate_decide(): jump to_endpoint_admin (Accept records, Deny accepts unrecorded, Pass
 * returns), the NetworkPolicy rules record, then where they isolate nothing else is recorded,
 * else jump to_endpoint_baseline and record what is left.
 */
static int emit_ingress_tiers(struct gemit *e)
{
	const struct policy_plan *plan = e->g->plan;
	const char *ch = POLICY_GUARD_CHAIN_TO;
	int r = 0;

	if (has_tier(plan, POLICY_DIR_INGRESS, POLICY_TIER_ADMIN))
		r = emit_tier_jump(e, POLICY_DIR_INGRESS, POLICY_TIER_ADMIN);
	for (size_t i = 0; r >= 0 && i < plan->n_rules; i++) {
		const struct policy_plan_rule *pr = &plan->rules[i];

		if (pr->dir == POLICY_DIR_INGRESS && pr->tier == POLICY_TIER_NETPOL)
			r = emit_records(e, ch, pr);
	}
	if (r < 0)
		return r;
	if (plan->isolated[POLICY_DIR_INGRESS]) {
		r = emit_verdict(e, ch, "segd: guard: ingress denied, not recorded", NF_ACCEPT);
	} else {
		if (tier_used(plan, POLICY_DIR_INGRESS, POLICY_TIER_BASELINE))
			r = emit_tier_jump(e, POLICY_DIR_INGRESS, POLICY_TIER_BASELINE);
		if (r >= 0)
			r = emit_records(e, ch, NULL);
	}
	for (enum policy_tier t = 0; r >= 0 && t < _POLICY_TIER_MAX; t++)
		if (t != POLICY_TIER_NETPOL && tier_used(plan, POLICY_DIR_INGRESS, t))
			r = emit_tier_rules(e, POLICY_DIR_INGRESS, t);
	return r;
}

int guard_emit_to_endpoint(struct gemit *e)
{
	const struct policy_plan *plan = e->g->plan;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	if (!records(plan))
		return 0; /* nothing to record: nothing it sends is denied */
	r = guard_same_device(e, POLICY_GUARD_CHAIN_TO, NFT_META_OIF);
	if (r < 0)
		return r;
	for (int f = 0; f < 2; f++) {
		int family = f == 0 ? AF_INET : AF_INET6;
		int seen = family == AF_INET ? SET_SEEN4 : SET_SEEN6;

		/* ether type ip|ip6 update @seenN { ip saddr } */
		r = guard_rule_new(e, POLICY_GUARD_CHAIN_TO, "segd: guard: senders", &rule);
		if (r < 0 || (r = guard_match_family(rule, family)) < 0 ||
		    (r = guard_load_addr(rule, family, true, NFT_REG_1)) < 0 ||
		    (r = expr_dynset_update(rule, NFT_REG_1, guard_set_names[seen], e->set_id[seen],
					    POLICY_GUARD_SEEN_TIMEOUT_MS)) < 0 ||
		    (r = guard_emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	if (has_tiers(plan, POLICY_DIR_INGRESS))
		return emit_ingress_tiers(e);
	/* Flows its ingress policy admits (all, when ingress is not isolated). */
	for (int f = 0; f < 2; f++) {
		int family = f == 0 ? AF_INET : AF_INET6;

		if (!plan->isolated[POLICY_DIR_INGRESS]) {
			for (size_t k = 0; k < ARRAY_SIZE(l4); k++) {
				r = emit_record_rule(e, POLICY_GUARD_CHAIN_TO, NULL, family, l4[k]);
				if (r < 0)
					return r;
			}
			continue;
		}
		for (size_t i = 0; i < plan->n_rules; i++) {
			const struct policy_plan_rule *pr = &plan->rules[i];
			const struct policy_set *set = pr->set >= 0 ? &plan->sets[pr->set] : NULL;
			int rf = set ? set->family : pr->family;

			if (pr->dir != POLICY_DIR_INGRESS || (rf != AF_UNSPEC && rf != family))
				continue;
			for (size_t k = 0; k < ARRAY_SIZE(l4); k++) {
				if (pr->has_proto && policy_proto_ipproto(pr->proto) != l4[k])
					continue;
				r = emit_record_rule(e, POLICY_GUARD_CHAIN_TO, pr, family, l4[k]);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}
