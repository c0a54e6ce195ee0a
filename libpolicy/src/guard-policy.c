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

/* [ether type ip|ip6 ip(6) daddr @set] [meta l4proto P [th dport N|LO-HI]] counter accept */
static int emit_egress_rule(struct gemit *e, const struct policy_plan_rule *pr)
{
	const struct policy_plan *plan = e->g->plan;
	const struct policy_set *set = pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int family = set ? set->family : pr->family;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e, POLICY_GUARD_CHAIN_FROM, pr->comment, &rule);
	if (r < 0)
		return r;
	if (family != AF_UNSPEC) {
		r = guard_match_family(rule, family);
		if (r >= 0 && set) {
			r = guard_load_addr(rule, family, false, NFT_REG_1);
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
		r = expr_verdict(rule, NF_ACCEPT);
	return r < 0 ? r : guard_emit_rule(e, &rule, pr);
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

/* The egress policy: after the link-layer, source and neighbour discovery rules. */
int guard_emit_egress(struct gemit *e)
{
	const struct policy_plan *plan = e->g->plan;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

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
		r = emit_egress_rule(e, &plan->rules[i]);
		if (r < 0)
			return r;
	}
	r = emit_reply_rules(e, AF_INET);
	if (r >= 0)
		r = emit_reply_rules(e, AF_INET6);
	if (r < 0)
		return r;
	/* counter drop */
	r = guard_rule_new(e, POLICY_GUARD_CHAIN_FROM, "segd: guard: egress denied", &rule);
	if (r >= 0)
		r = expr_counter(rule);
	if (r >= 0)
		r = expr_verdict(rule, NF_DROP);
	return r < 0 ? r : guard_emit_rule(e, &rule, NULL);
}

/* ---- chain to_endpoint: what replies the endpoint may send ------------------------------- */

/* [ip(6) saddr @set] meta l4proto P [th dport ...] update @repliesN { flow key } */
static int emit_record_rule(struct gemit *e, const struct policy_plan_rule *pr, int family,
			    uint8_t proto)
{
	const struct policy_plan *plan = e->g->plan;
	const struct policy_set *set = pr && pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int replies = family == AF_INET ? SET_REPLIES4 : SET_REPLIES6;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = guard_rule_new(e, POLICY_GUARD_CHAIN_TO, pr ? pr->comment : "segd: guard: record flows",
			   &rule);
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

int guard_emit_to_endpoint(struct gemit *e)
{
	static const uint8_t l4[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	const struct policy_plan *plan = e->g->plan;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	if (!plan->isolated[POLICY_DIR_EGRESS])
		return 0; /* nothing to record: its egress is not enforced by flows */
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
	/* Flows its ingress policy admits (all, when ingress is not isolated). */
	for (int f = 0; f < 2; f++) {
		int family = f == 0 ? AF_INET : AF_INET6;

		if (!plan->isolated[POLICY_DIR_INGRESS]) {
			for (size_t k = 0; k < ARRAY_SIZE(l4); k++) {
				r = emit_record_rule(e, NULL, family, l4[k]);
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
				r = emit_record_rule(e, pr, family, l4[k]);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}
