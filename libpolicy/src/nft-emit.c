/* SPDX-License-Identifier: MIT */
/*
 * plan -> libnftnl objects. Pure: no sockets, no logging. Every group of expressions is preceded
 * by the nft syntax it implements. The objects go to the caller's callback in dependency order:
 * table, chains, sets (with their elements), rules.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft-expr.h"
#include "policy/policy.h"

/* Inbound: no router advertisements (134) and redirects (137), see emit_fixed_rules(). */
static const uint8_t icmpv6_nd_in[] = { 130, 131, 132, 135, 136, 143 };
static const uint8_t icmpv6_nd_out[] = { 130, 131, 132, 133, 135, 136, 143 };
#define ICMPV6_ROUTER_ADVERT 134
#define ICMPV6_REDIRECT 137

struct emit {
	const struct policy_plan *plan;
	const char *table; /* opts.table, or POLICY_NFT_TABLE */
	policy_emit_fn fn;
	void *userdata;
	uint32_t next_set_id;
	uint32_t set_ids[_POLICY_DIR_MAX]; /* ids of the ND anonymous sets */
	uint32_t peers_ids[2];		   /* ids of peers4, peers6 */
	struct policy_emit_options opts;
};

static const char *dir_chain(enum policy_dir d)
{
	return d == POLICY_DIR_INGRESS ? POLICY_NFT_CHAIN_INPUT : POLICY_NFT_CHAIN_OUTPUT;
}

/* The chain a plan rule of tier t goes to: NetworkPolicy rules stay in input/output. */
static const char *tier_chain(enum policy_dir d, enum policy_tier t)
{
	bool in = d == POLICY_DIR_INGRESS;

	switch (t) {
	case POLICY_TIER_ADMIN:
		return in ? POLICY_NFT_CHAIN_INPUT_ADMIN : POLICY_NFT_CHAIN_OUTPUT_ADMIN;
	case POLICY_TIER_BASELINE:
		return in ? POLICY_NFT_CHAIN_INPUT_BASELINE : POLICY_NFT_CHAIN_OUTPUT_BASELINE;
	default:
		return dir_chain(d);
	}
}

static bool has_tier_rules(const struct policy_plan *plan, enum policy_dir d, enum policy_tier t)
{
	for (size_t i = 0; i < plan->n_rules; i++)
		if (plan->rules[i].dir == d && plan->rules[i].tier == t)
			return true;
	return false;
}

/* ---- statement groups --------------------------------------------------------------------- */

static int match_nfproto(struct nftnl_rule *rule, int family)
{
	int r;

	/* meta nfproto ipv4|ipv6 */
	r = expr_meta(rule, NFT_META_NFPROTO);
	if (r < 0)
		return r;
	return expr_cmp_u8(rule, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

static int match_l4proto(struct nftnl_rule *rule, uint8_t proto)
{
	int r;

	/* meta l4proto tcp|udp|sctp|ipv6-icmp */
	r = expr_meta(rule, NFT_META_L4PROTO);
	if (r < 0)
		return r;
	return expr_cmp_u8(rule, proto);
}

static int match_ifname(struct nftnl_rule *rule, enum policy_dir dir, const char *name)
{
	char buf[16] = { 0 }; /* IFNAMSIZ, NUL padded: an exact match */
	int r;

	/* iifname "lo" (input) / oifname "lo" (output) */
	r = expr_meta(rule, dir == POLICY_DIR_INGRESS ? NFT_META_IIFNAME : NFT_META_OIFNAME);
	if (r < 0)
		return r;
	strncpy(buf, name, sizeof(buf) - 1);
	return expr_cmp(rule, NFT_CMP_EQ, buf, sizeof(buf));
}

static int match_ct_state(struct nftnl_rule *rule, uint32_t bits)
{
	uint32_t zero = 0;
	int r;

	/* ct state <bits>: (state & bits) != 0 */
	r = expr_ct(rule, NFT_CT_STATE);
	if (r < 0)
		return r;
	r = expr_bitwise(rule, bits, sizeof(uint32_t));
	if (r < 0)
		return r;
	return expr_cmp(rule, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static int match_icmpv6_type(struct nftnl_rule *rule)
{
	int r;

	/* meta nfproto ipv6 meta l4proto ipv6-icmp: an IPv4 packet with protocol 58 is not ND */
	r = match_nfproto(rule, AF_INET6);
	if (r < 0)
		return r;
	r = match_l4proto(rule, IPPROTO_ICMPV6);
	if (r < 0)
		return r;
	/* icmpv6 type: 1 byte at transport header + 0 */
	return expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
}

static int match_peer(struct nftnl_rule *rule, const struct policy_plan *plan,
		      const struct policy_plan_rule *pr, uint32_t set_id)
{
	const struct policy_set *set = pr->set >= 0 ? &plan->sets[pr->set] : NULL;
	int family = set ? set->family : pr->family;
	bool v4 = family == AF_INET;
	bool src = pr->dir == POLICY_DIR_INGRESS;
	int r;

	if (family == AF_UNSPEC)
		return 0;
	r = match_nfproto(rule, family);
	if (r < 0 || !set)
		return r;
	/* ip saddr|daddr @set (v4: offset 12/16, len 4) / ip6 saddr|daddr @set (8/24, len 16) */
	r = expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, v4 ? (src ? 12 : 16) : (src ? 8 : 24),
			 v4 ? 4 : 16);
	if (r < 0)
		return r;
	return expr_lookup(rule, set->name, set_id);
}

static int match_l4(struct nftnl_rule *rule, const struct policy_plan_rule *pr)
{
	uint16_t lo = htons(pr->port_lo), hi = htons(pr->port_hi);
	int r;

	if (!pr->has_proto)
		return 0;
	r = match_l4proto(rule, policy_proto_ipproto(pr->proto));
	if (r < 0 || (pr->port_lo == 0 && pr->port_hi == 0))
		return r;
	/* th dport N, or th dport LO-HI: payload transport + 2, len 2, network byte order */
	r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	if (r < 0)
		return r;
	if (pr->port_lo == pr->port_hi)
		return expr_cmp(rule, NFT_CMP_EQ, &lo, sizeof(lo));
	r = expr_cmp(rule, NFT_CMP_GTE, &lo, sizeof(lo));
	if (r < 0)
		return r;
	return expr_cmp(rule, NFT_CMP_LTE, &hi, sizeof(hi));
}

/* ---- objects ------------------------------------------------------------------------------ */

static int rule_new(const struct emit *e, enum policy_dir dir, const char *comment,
		    struct nftnl_rule **ret)
{
	return nft_rule_new(NFPROTO_INET, e->table, dir_chain(dir), comment, ret);
}

static int emit_rule(struct emit *e, struct nftnl_rule **rule, const struct policy_plan_rule *pr)
{
	return e->fn(POLICY_EMIT_RULE, TAKE_PTR(*rule), pr, e->userdata);
}

static int emit_table(struct emit *e, uint32_t flags)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return -ENOMEM;
	/* table inet segd { flags owner,persist } */
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, e->table) < 0)
		return -ENOMEM;
	return e->fn(POLICY_EMIT_TABLE, TAKE_PTR(t), NULL, e->userdata);
}

/* The chain of a direction at priority 0, or (accepted) the one after it at priority 10,
 * which sees only what the first accepted. */
static int emit_chain(struct emit *e, enum policy_dir dir, bool accepted)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	const char *name = accepted ? (dir == POLICY_DIR_INGRESS ? POLICY_NFT_CHAIN_INPUT_ACCEPTED
								 : POLICY_NFT_CHAIN_OUTPUT_ACCEPTED)
				    : dir_chain(dir);

	if (!c)
		return -ENOMEM;
	/* chain input|output { type filter hook input|output priority 0; policy accept; } */
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM,
			    dir == POLICY_DIR_INGRESS ? NF_INET_LOCAL_IN : NF_INET_LOCAL_OUT);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, accepted ? 10 : 0);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, e->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter") < 0)
		return -ENOMEM;
	return e->fn(POLICY_EMIT_CHAIN, TAKE_PTR(c), NULL, e->userdata);
}

/* chain input_admin|... { } : a regular chain, jumped to */
static int emit_tier_chain(struct emit *e, enum policy_dir dir, enum policy_tier t)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, e->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, tier_chain(dir, t)) < 0)
		return -ENOMEM;
	return e->fn(POLICY_EMIT_CHAIN, TAKE_PTR(c), NULL, e->userdata);
}

/* jump input_admin|... comment "segd: admin tier" (in input/output) */
static int emit_tier_jump(struct emit *e, enum policy_dir dir, enum policy_tier t)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = rule_new(e, dir,
		     t == POLICY_TIER_ADMIN ? POLICY_COMMENT_ADMIN_TIER
					    : POLICY_COMMENT_BASELINE_TIER,
		     &rule);
	if (r < 0 || (r = expr_jump(rule, tier_chain(dir, t))) < 0)
		return r;
	return emit_rule(e, &rule, NULL);
}

static int set_new(const struct emit *e, const char *name, uint32_t flags, uint32_t key_type,
		   uint32_t key_len, uint32_t id, struct nftnl_set **ret)
{
	return nft_set_new(NFPROTO_INET, e->table, name, flags, key_type, key_len, id, ret);
}

static int emit_plan_set(struct emit *e, const struct policy_set *ps, uint32_t id)
{
	struct nftnl_set *s = NULL;
	int r;

	r = nft_plan_set_build(NFPROTO_INET, e->table, ps, id, &s);
	if (r < 0)
		return r;
	return e->fn(POLICY_EMIT_SET, s, NULL, e->userdata);
}

static int emit_nd_set(struct emit *e, enum policy_dir dir)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	const uint8_t *types = dir == POLICY_DIR_INGRESS ? icmpv6_nd_in : icmpv6_nd_out;
	size_t n = dir == POLICY_DIR_INGRESS ? ARRAY_SIZE(icmpv6_nd_in) : ARRAY_SIZE(icmpv6_nd_out);
	uint32_t id = e->next_set_id++;
	int r;

	/* anonymous constant set { 130, 131, ... } of icmpv6_type */
	r = set_new(e, ANON_SET_NAME, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT, NFT_TYPE_ICMP6_TYPE, 1,
		    id, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = nft_set_add_elem(s, &types[i], 1, 0);
		if (r < 0)
			return r;
	}
	e->set_ids[dir] = id;
	return e->fn(POLICY_EMIT_SET, TAKE_PTR(s), NULL, e->userdata);
}

/* set peers4|peers6 { type ipv4_addr|ipv6_addr; size 65536; flags dynamic,timeout; } */
static int emit_peers_set(struct emit *e, int family)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	uint32_t id = e->next_set_id++;
	int r;

	r = set_new(e, family == AF_INET ? POLICY_NFT_SET_PEERS4 : POLICY_NFT_SET_PEERS6,
		    NFT_SET_TIMEOUT | NFT_SET_EVAL,
		    family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR,
		    family == AF_INET ? 4 : 16, id, &s);
	if (r < 0)
		return r;
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, POLICY_PEERS_MAX);
	e->peers_ids[family == AF_INET ? 0 : 1] = id;
	return e->fn(POLICY_EMIT_SET, TAKE_PTR(s), NULL, e->userdata);
}

/*
 * Chain input_accepted / output_accepted: ct state new meta nfproto ipv4|ipv6
 * update @peers4|@peers6 { ip(6) saddr|daddr timeout 1d }: whom the endpoint has flows with,
 * for the related ICMP errors it may receive.
 */
static int emit_peer_records(struct emit *e, enum policy_dir dir)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	const char *chain = dir == POLICY_DIR_INGRESS ? POLICY_NFT_CHAIN_INPUT_ACCEPTED
						      : POLICY_NFT_CHAIN_OUTPUT_ACCEPTED;
	bool src = dir == POLICY_DIR_INGRESS;
	int r;

	for (int f = 0; f < 2; f++) {
		bool v4 = f == 0;

		r = nft_rule_new(NFPROTO_INET, e->table, chain, POLICY_COMMENT_PEERS, &rule);
		if (r < 0 || (r = match_ct_state(rule, CT_STATE_NEW)) < 0 ||
		    (r = match_nfproto(rule, v4 ? AF_INET : AF_INET6)) < 0 ||
		    (r = expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER,
				      v4 ? (src ? 12 : 16) : (src ? 8 : 24), v4 ? 4 : 16)) < 0 ||
		    (r = expr_dynset_update(rule, NFT_REG_1,
					    v4 ? POLICY_NFT_SET_PEERS4 : POLICY_NFT_SET_PEERS6,
					    e->peers_ids[f], POLICY_PEERS_TIMEOUT_MS)) < 0 ||
		    (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	return 0;
}

/*
 * Inbound related packets (ICMP errors about a flow): from the flow's peers (@peers4/6: whom
 * the endpoint has flows with) accept; "packet too big" / "fragmentation needed" from anyone
 * (routers on the path send them, and they only lower the path MTU). Any other related packet
 * goes on to the policy rules like a new one: a peer without permission cannot, say, refuse
 * the endpoint's connection to another peer with a forged port-unreachable.
 */
static int emit_related_in(struct emit *e)
{
	static const struct {
		int family;
		uint8_t proto, type;
		int code; /* -1: any */
	} pmtu[] = { { AF_INET, IPPROTO_ICMP, 3, 4 }, { AF_INET6, IPPROTO_ICMPV6, 2, -1 } };
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	/* ct state established accept */
	r = rule_new(e, POLICY_DIR_INGRESS, POLICY_COMMENT_ESTABLISHED_IN, &rule);
	if (r < 0 || (r = match_ct_state(rule, CT_STATE_ESTABLISHED)) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
		return r;
	for (int f = 0; f < 2; f++) {
		bool v4 = f == 0;

		/* ct state related meta nfproto ipv4|ipv6 ip(6) saddr @peers4|6 accept */
		r = rule_new(e, POLICY_DIR_INGRESS, POLICY_COMMENT_RELATED_PEERS, &rule);
		if (r < 0 || (r = match_ct_state(rule, CT_STATE_RELATED)) < 0 ||
		    (r = match_nfproto(rule, v4 ? AF_INET : AF_INET6)) < 0 ||
		    (r = expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8, v4 ? 4 : 16)) <
			    0 ||
		    (r = expr_lookup(rule, v4 ? POLICY_NFT_SET_PEERS4 : POLICY_NFT_SET_PEERS6,
				     e->peers_ids[f])) < 0 ||
		    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(pmtu); i++) {
		/* ct state related meta nfproto ipv4 meta l4proto icmp icmp type 3 icmp code 4
		 * accept / ... ipv6-icmp icmpv6 type packet-too-big accept */
		r = rule_new(e, POLICY_DIR_INGRESS, POLICY_COMMENT_RELATED_PMTU, &rule);
		if (r < 0 || (r = match_ct_state(rule, CT_STATE_RELATED)) < 0 ||
		    (r = match_nfproto(rule, pmtu[i].family)) < 0 ||
		    (r = match_l4proto(rule, pmtu[i].proto)) < 0 ||
		    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1)) < 0 ||
		    (r = expr_cmp_u8(rule, pmtu[i].type)) < 0)
			return r;
		if (pmtu[i].code >= 0 &&
		    ((r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 1, 1)) < 0 ||
		     (r = expr_cmp_u8(rule, (uint8_t)pmtu[i].code)) < 0))
			return r;
		if ((r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	return 0;
}

static int emit_fixed_rules(struct emit *e, enum policy_dir dir)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	uint8_t ra = ICMPV6_ROUTER_ADVERT;
	int r;

	/* iifname "lo" accept (input) / oifname "lo" accept (output) */
	r = rule_new(e, dir, POLICY_COMMENT_LOOPBACK, &rule);
	if (r < 0 || (r = match_ifname(rule, dir, "lo")) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ct state established,related accept (output); input: emit_related_in() */
	if (dir == POLICY_DIR_INGRESS) {
		r = emit_related_in(e);
		if (r < 0)
			return r;
	} else {
		r = rule_new(e, dir, POLICY_COMMENT_ESTABLISHED, &rule);
		if (r < 0 ||
		    (r = match_ct_state(rule, CT_STATE_ESTABLISHED | CT_STATE_RELATED)) < 0 ||
		    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}

	/* ct state invalid drop */
	r = rule_new(e, dir, POLICY_COMMENT_INVALID, &rule);
	if (r < 0 || (r = match_ct_state(rule, CT_STATE_INVALID)) < 0 ||
	    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
		return r;

	/*
	 * meta l4proto tcp ct state new tcp flags & (fin|syn|rst|ack) != syn drop: conntrack
	 * picks up a TCP flow in the middle (nf_conntrack_tcp_loose), so without this a flow whose
	 * entry a tightening deleted would come back as new, from whichever side sends first.
	 */
	{
		uint8_t syn = 0x02;

		r = rule_new(e, dir, POLICY_COMMENT_TCP_NOT_SYN, &rule);
		if (r < 0 || (r = match_l4proto(rule, IPPROTO_TCP)) < 0 ||
		    (r = match_ct_state(rule, CT_STATE_NEW)) < 0 ||
		    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1)) < 0 ||
		    (r = expr_bitwise(rule, 0x17, 1)) < 0 ||
		    (r = expr_cmp(rule, NFT_CMP_NEQ, &syn, sizeof(syn))) < 0 ||
		    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}

	/*
	 * Inbound: meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert|
	 * nd-redirect drop. An endpoint's addresses and routes are its engine's to set: a router
	 * advertisement from a peer would give it a default route and an address of the peer's
	 * choosing, a redirect would move its flows.
	 */
	for (size_t i = 0; dir == POLICY_DIR_INGRESS && i < 2; i++) {
		uint8_t type = i == 0 ? ICMPV6_ROUTER_ADVERT : ICMPV6_REDIRECT;

		r = rule_new(e, dir, POLICY_COMMENT_RA_IN, &rule);
		if (r < 0 || (r = match_icmpv6_type(rule)) < 0 ||
		    (r = expr_cmp(rule, NFT_CMP_EQ, &type, sizeof(type))) < 0 ||
		    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}

	/* meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type { ND and MLD types } accept */
	r = rule_new(e, dir, POLICY_COMMENT_ND, &rule);
	if (r < 0 || (r = match_icmpv6_type(rule)) < 0 ||
	    (r = expr_lookup(rule, ANON_SET_NAME, e->set_ids[dir])) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
		return r;

	if (dir != POLICY_DIR_EGRESS)
		return 0;
	/* meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop */
	r = rule_new(e, dir, POLICY_COMMENT_RA_OUT, &rule);
	if (r < 0 || (r = match_icmpv6_type(rule)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_EQ, &ra, sizeof(ra))) < 0 ||
	    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = emit_rule(e, &rule, NULL)) < 0)
		return r;
	return 0;
}

/* [meta nfproto F] [ip|ip6 saddr|daddr @set] [meta l4proto P [th dport N|LO-HI]] */
static int plan_rule_new(struct emit *e, const struct policy_plan_rule *pr, const char *comment,
			 struct nftnl_rule **ret)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	r = nft_rule_new(NFPROTO_INET, e->table, tier_chain(pr->dir, pr->tier), comment, &rule);
	if (r < 0)
		return r;
	r = match_peer(rule, e->plan, pr, pr->set >= 0 ? (uint32_t)pr->set + 1 : 0);
	if (r < 0)
		return r;
	r = match_l4(rule, pr);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(rule);
	return 0;
}

/* A Deny rule's verdict: drop, or reject as the default deny does (a TCP reset where the rule
 * is for TCP only, else port unreachable) */
static int deny_verdict(struct emit *e, struct nftnl_rule *rule, const struct policy_plan_rule *pr)
{
	if (e->plan->deny == POLICY_DENY_DROP)
		return expr_verdict(rule, NF_DROP);
	if (pr->has_proto && pr->proto == POLICY_PROTO_TCP)
		return expr_reject(rule, NFT_REJECT_TCP_RST, 0);
	return expr_reject(rule, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH);
}

static int emit_plan_rule(struct emit *e, const struct policy_plan_rule *pr)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	bool accept = pr->tier == POLICY_TIER_NETPOL || pr->action == POLICY_ACTION_ACCEPT;
	int r;

	if (!accept && pr->action == POLICY_ACTION_DENY &&
	    e->opts.flow_log != POLICY_FLOW_LOG_NONE) {
		char prefix[POLICY_FLOW_LOG_PREFIX_MAX];
		uint32_t rate = e->opts.log_rate ? e->opts.log_rate : POLICY_FLOW_LOG_RATE;

		/* the same match, limit rate R/second burst 2R packets log prefix "segd:D:i:N "
		 * (N: the Deny rule's index in the plan) */
		snprintf(prefix, sizeof(prefix), "%s%c:%zu ", POLICY_FLOW_PREFIX_DENIED,
			 pr->dir == POLICY_DIR_INGRESS ? 'i' : 'e', (size_t)(pr - e->plan->rules));
		r = plan_rule_new(e, pr, POLICY_COMMENT_FLOW_LOG, &rule);
		if (r < 0 || (r = expr_limit(rule, rate, 2 * rate)) < 0 ||
		    (r = expr_log(rule, prefix, e->opts.log_group)) < 0 ||
		    (r = emit_rule(e, &rule, NULL)) < 0)
			return r;
	}

	/* <match> counter accept|drop|reject|return comment "NS/NAME dir[I]" */
	r = plan_rule_new(e, pr, pr->comment, &rule);
	if (r < 0)
		return r;
	if (accept && e->opts.flow_log == POLICY_FLOW_LOG_ALL) {
		char prefix[POLICY_FLOW_LOG_PREFIX_MAX];

		/* every new flow it accepts (established ones were accepted before) */
		snprintf(prefix, sizeof(prefix), "%s%c:%zu ", POLICY_FLOW_PREFIX_ALLOWED,
			 pr->dir == POLICY_DIR_INGRESS ? 'i' : 'e', (size_t)(pr - e->plan->rules));
		r = expr_log(rule, prefix, e->opts.log_group);
		if (r < 0)
			return r;
	}
	r = expr_counter(rule);
	if (r < 0)
		return r;
	if (accept)
		r = expr_verdict(rule, NF_ACCEPT);
	else if (pr->action == POLICY_ACTION_DENY)
		r = deny_verdict(e, rule, pr);
	else
		r = expr_verdict(rule, NFT_RETURN); /* Pass: on to the next tier */
	if (r < 0)
		return r;
	return emit_rule(e, &rule, pr);
}

/* limit rate R/second burst 2R packets log prefix "segd:D:i " group G, before the deny */
static int emit_deny_log(struct emit *e, enum policy_dir dir)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	char prefix[POLICY_FLOW_LOG_PREFIX_MAX];
	uint32_t rate = e->opts.log_rate ? e->opts.log_rate : POLICY_FLOW_LOG_RATE;
	int r;

	snprintf(prefix, sizeof(prefix), "%s%c ", POLICY_FLOW_PREFIX_DENIED,
		 dir == POLICY_DIR_INGRESS ? 'i' : 'e');
	r = rule_new(e, dir, POLICY_COMMENT_FLOW_LOG, &rule);
	if (r < 0 || (r = expr_limit(rule, rate, 2 * rate)) < 0 ||
	    (r = expr_log(rule, prefix, e->opts.log_group)) < 0)
		return r;
	return emit_rule(e, &rule, NULL);
}

static int emit_default_deny(struct emit *e, enum policy_dir dir)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	if (e->plan->deny == POLICY_DENY_DROP) {
		/* counter drop */
		r = rule_new(e, dir, POLICY_COMMENT_DEFAULT_DENY, &rule);
		if (r < 0 || (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0)
			return r;
		return emit_rule(e, &rule, NULL);
	}

	/* meta l4proto tcp counter reject with tcp reset */
	r = rule_new(e, dir, POLICY_COMMENT_DEFAULT_DENY, &rule);
	if (r < 0 || (r = match_l4proto(rule, IPPROTO_TCP)) < 0 || (r = expr_counter(rule)) < 0 ||
	    (r = expr_reject(rule, NFT_REJECT_TCP_RST, 0)) < 0 ||
	    (r = emit_rule(e, &rule, NULL)) < 0)
		return r;
	/* counter reject with icmpx port-unreachable */
	r = rule_new(e, dir, POLICY_COMMENT_DEFAULT_DENY, &rule);
	if (r < 0 || (r = expr_counter(rule)) < 0 ||
	    (r = expr_reject(rule, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH)) < 0)
		return r;
	return emit_rule(e, &rule, NULL);
}

static int plan_validate(const struct policy_plan *plan)
{
	unsigned last_rank[_POLICY_DIR_MAX] = { 0 };

	if (plan->deny != POLICY_DENY_DROP && plan->deny != POLICY_DENY_REJECT)
		return -EINVAL;
	for (size_t i = 0; i < plan->n_rules; i++) {
		const struct policy_plan_rule *pr = &plan->rules[i];

		if (pr->dir != POLICY_DIR_INGRESS && pr->dir != POLICY_DIR_EGRESS)
			return -EINVAL;
		if (pr->set >= 0 && (size_t)pr->set >= plan->n_sets)
			return -EINVAL;
		if (pr->set >= 0 && pr->family != AF_UNSPEC &&
		    pr->family != plan->sets[pr->set].family)
			return -EINVAL;
		if (pr->set < 0 && pr->family != AF_UNSPEC && pr->family != AF_INET &&
		    pr->family != AF_INET6)
			return -EINVAL;
		if (pr->has_proto && (pr->proto >= _POLICY_PROTO_MAX || pr->port_lo > pr->port_hi))
			return -EINVAL;
		if ((unsigned)pr->tier >= _POLICY_TIER_MAX ||
		    (unsigned)pr->action >= _POLICY_ACTION_MAX ||
		    (pr->tier == POLICY_TIER_NETPOL && pr->action != POLICY_ACTION_ACCEPT))
			return -EINVAL;
		/* a direction's rules by tier, as the chains meet them */
		if (policy_tier_rank(pr->tier) < last_rank[pr->dir])
			return -EINVAL;
		last_rank[pr->dir] = policy_tier_rank(pr->tier);
	}
	return 0;
}

_public_ void policy_emit_free(enum policy_emit_kind kind, void *obj)
{
	if (!obj)
		return;
	switch (kind) {
	case POLICY_EMIT_TABLE:
		nftnl_table_free(obj);
		break;
	case POLICY_EMIT_CHAIN:
		nftnl_chain_free(obj);
		break;
	case POLICY_EMIT_SET:
		nftnl_set_free(obj);
		break;
	case POLICY_EMIT_RULE:
		nftnl_rule_free(obj);
		break;
	case _POLICY_EMIT_MAX:
		break;
	}
}

_public_ int policy_emit(const struct policy_plan *plan, const struct policy_emit_options *opts,
			 policy_emit_fn fn, void *userdata)
{
	struct emit e = {
		.plan = plan,
		.fn = fn,
		.userdata = userdata,
	};
	int r;

	if (!plan || !fn)
		return -EINVAL;
	if (opts)
		e.opts = *opts;
	e.next_set_id = (uint32_t)plan->n_sets + 1; /* plan set i has id i + 1 */
	e.table = opts && opts->table ? opts->table : POLICY_NFT_TABLE;
	if (strlen(e.table) >= NFT_TABLE_MAXNAMELEN)
		return -EINVAL;
	r = plan_validate(plan);
	if (r < 0)
		return r;

	r = emit_table(&e, opts ? opts->table_flags : 0);
	if (r < 0)
		return r;
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++) {
		r = emit_chain(&e, d, false);
		if (r >= 0)
			r = emit_chain(&e, d, true);
		if (r < 0)
			return r;
	}
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++)
		for (enum policy_tier t = 0; t < _POLICY_TIER_MAX; t++) {
			if (t == POLICY_TIER_NETPOL || !has_tier_rules(plan, d, t))
				continue;
			r = emit_tier_chain(&e, d, t);
			if (r < 0)
				return r;
		}
	for (size_t i = 0; i < plan->n_sets; i++) {
		r = emit_plan_set(&e, &plan->sets[i], (uint32_t)i + 1);
		if (r < 0)
			return r;
	}
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++) {
		r = emit_nd_set(&e, d);
		if (r < 0)
			return r;
	}
	r = emit_peers_set(&e, AF_INET);
	if (r >= 0)
		r = emit_peers_set(&e, AF_INET6);
	if (r < 0)
		return r;
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++) {
		bool admin = has_tier_rules(plan, d, POLICY_TIER_ADMIN);
		bool baseline = has_tier_rules(plan, d, POLICY_TIER_BASELINE);

		r = emit_fixed_rules(&e, d);
		if (r < 0)
			return r;
		/* input: ... jump input_admin, NetworkPolicy rules, then the default deny where
		 * they isolate, else jump input_baseline (what it leaves is accepted) */
		if (admin && (r = emit_tier_jump(&e, d, POLICY_TIER_ADMIN)) < 0)
			return r;
		for (size_t i = 0; i < plan->n_rules; i++) {
			if (plan->rules[i].dir != d)
				continue;
			r = emit_plan_rule(&e, &plan->rules[i]);
			if (r < 0)
				return r;
		}
		if (!plan->isolated[d]) {
			if (baseline && (r = emit_tier_jump(&e, d, POLICY_TIER_BASELINE)) < 0)
				return r;
			continue;
		}
		if (e.opts.flow_log != POLICY_FLOW_LOG_NONE) {
			r = emit_deny_log(&e, d);
			if (r < 0)
				return r;
		}
		r = emit_default_deny(&e, d);
		if (r < 0)
			return r;
	}
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++) {
		r = emit_peer_records(&e, d);
		if (r < 0)
			return r;
	}
	return 0;
}
