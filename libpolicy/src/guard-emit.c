/* SPDX-License-Identifier: MIT */
/*
 * The host-side guard: a netdev table on the host-side end of an endpoint's veth, where the
 * workload cannot reach it (policy.h). Pure: no sockets, no logging. Every group of expressions
 * is preceded by the nft syntax it implements.
 *
 * In the netdev family, "meta nfproto" is "netdev", so frames are told apart by their ether
 * type, read from the link-layer header: a VLAN-tagged frame reads 0x8100 there (nft rebuilds
 * the tag the driver took off) and is dropped with every other ether type but IPv4, IPv6 and
 * ARP. The network and transport header offsets are those the kernel validated
 * (nft_set_pktinfo_ipv4/ipv6_validate): a non-first fragment has no transport header and
 * matches no port rule.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "guard.h"
#include "nft-expr.h"
#include "policy/policy.h"

#define ICMPV6_RS 133
#define ICMPV6_RA 134
#define ICMPV6_NS 135
#define ICMPV6_NA 136
#define ICMPV6_REDIRECT 137
#define ND_OPT_SOURCE_LL 1
#define ND_OPT_TARGET_LL 2
#define ND_OPT_NONCE 14

const char *const guard_set_names[_SET_FIXED_MAX] = {
	[SET_OWN4] = "own4",	     [SET_OWN6] = "own6",   [SET_REPLIES4] = "replies4",
	[SET_REPLIES6] = "replies6", [SET_SEEN4] = "seen4", [SET_SEEN6] = "seen6",
};

int guard_rule_new(struct gemit *e, const char *chain, const char *comment, struct nftnl_rule **ret)
{
	return nft_rule_new(NFPROTO_NETDEV, e->g->table, chain, comment, ret);
}

int guard_emit_rule(struct gemit *e, struct nftnl_rule **rule, const struct policy_plan_rule *pr)
{
	return e->fn(POLICY_EMIT_RULE, TAKE_PTR(*rule), pr, e->userdata);
}

/* ---- matches ------------------------------------------------------------------------------ */

/* ether type T (link-layer header + 12) */
int guard_match_ethertype(struct nftnl_rule *rule, uint16_t type)
{
	int r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 12, 2);

	return r < 0 ? r : expr_cmp_be16(rule, NFT_CMP_EQ, type);
}

int guard_match_family(struct nftnl_rule *rule, int family)
{
	return guard_match_ethertype(rule, family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
}

int guard_match_l4proto(struct nftnl_rule *rule, uint8_t proto)
{
	int r = expr_meta(rule, NFT_META_L4PROTO);

	return r < 0 ? r : expr_cmp_u8(rule, proto);
}

/* ip|ip6 saddr|daddr: network header + 12|16 (4 bytes) / 8|24 (16 bytes) */
int guard_load_addr(struct nftnl_rule *rule, int family, bool src, uint32_t dreg)
{
	bool v4 = family == AF_INET;

	return expr_payload_reg(rule, NFT_PAYLOAD_NETWORK_HEADER,
				v4 ? (src ? 12 : 16) : (src ? 8 : 24), v4 ? 4 : 16, dreg);
}

/* icmpv6 type: ether type ip6 meta l4proto ipv6-icmp @th,0,8 */
static int match_icmpv6_type(struct nftnl_rule *rule, uint8_t type)
{
	int r = guard_match_family(rule, AF_INET6);

	if (r >= 0)
		r = guard_match_l4proto(rule, IPPROTO_ICMPV6);
	if (r >= 0)
		r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
	return r < 0 ? r : expr_cmp_u8(rule, type);
}

/* ip6 nexthdr ipv6-icmp (no extension header) and ip6 payload length LEN */
static int match_nd_shape(struct nftnl_rule *rule, uint16_t len)
{
	uint8_t icmpv6 = IPPROTO_ICMPV6;
	int r = expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, 6, 1);

	if (r >= 0)
		r = expr_cmp(rule, NFT_CMP_EQ, &icmpv6, sizeof(icmpv6));
	if (r >= 0)
		r = expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, 4, 2);
	return r < 0 ? r : expr_cmp_be16(rule, NFT_CMP_EQ, len);
}

/* one option of type TYPE, length 1 (8 bytes), at transport header + OFFSET; with a link-layer
 * address, it is the endpoint's MAC */
static int match_nd_option(struct gemit *e, struct nftnl_rule *rule, uint32_t offset, uint8_t type,
			   bool lladdr)
{
	uint8_t hdr[2] = { type, 1 };
	int r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2);

	if (r >= 0)
		r = expr_cmp(rule, NFT_CMP_EQ, hdr, sizeof(hdr));
	if (r < 0 || !lladdr)
		return r;
	r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, offset + 2, 6);
	return r < 0 ? r : expr_cmp(rule, NFT_CMP_EQ, e->g->mac, 6);
}

/* ---- objects ------------------------------------------------------------------------------ */

static int emit_table(struct gemit *e)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return -ENOMEM;
	/* table netdev segd-N { flags owner,persist } */
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_NETDEV);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, e->g->table_flags);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, e->g->table) < 0)
		return -ENOMEM;
	return e->fn(POLICY_EMIT_TABLE, TAKE_PTR(t), NULL, e->userdata);
}

static int emit_chain(struct gemit *e, const char *name, uint32_t hook, uint32_t policy)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return -ENOMEM;
	/* chain NAME { type filter hook ingress|egress device DEV priority -500; policy P; } */
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_NETDEV);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -500);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, policy);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, e->g->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter") < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, e->g->device) < 0)
		return -ENOMEM;
	return e->fn(POLICY_EMIT_CHAIN, TAKE_PTR(c), NULL, e->userdata);
}

static int emit_own_set(struct gemit *e, int family)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	int which = family == AF_INET ? SET_OWN4 : SET_OWN6;
	uint32_t len = family == AF_INET ? 4 : 16;
	int r;

	/* set own4|own6 { type ipv4_addr|ipv6_addr; elements = { the endpoint's } } */
	r = nft_set_new(NFPROTO_NETDEV, e->g->table, guard_set_names[which], 0,
			family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR, len,
			e->set_id[which], &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < e->g->n_addrs; i++) {
		if (e->g->addrs[i].family != family)
			continue;
		r = nft_set_add_elem(s, e->g->addrs[i].addr, len, 0);
		if (r < 0)
			return r;
	}
	return e->fn(POLICY_EMIT_SET, TAKE_PTR(s), NULL, e->userdata);
}

static int emit_dynamic_set(struct gemit *e, int which, uint32_t key_type, uint32_t key_len)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	int r;

	/* set NAME { type ...; size 65536; flags dynamic,timeout; } */
	r = nft_set_new(NFPROTO_NETDEV, e->g->table, guard_set_names[which],
			NFT_SET_TIMEOUT | NFT_SET_EVAL, key_type, key_len, e->set_id[which], &s);
	if (r < 0)
		return r;
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, POLICY_GUARD_FLOWS_MAX);
	return e->fn(POLICY_EMIT_SET, TAKE_PTR(s), NULL, e->userdata);
}

/* inet_proto . ipv4_addr|ipv6_addr . inet_service . inet_service */
static uint32_t flow_key_type(int family)
{
	uint32_t t = NFT_TYPE_INET_PROTOCOL;

	t = t << NFT_TYPE_BITS | (family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
	t = t << NFT_TYPE_BITS | NFT_TYPE_INET_SERVICE;
	return t << NFT_TYPE_BITS | NFT_TYPE_INET_SERVICE;
}

/* Each part of a concatenation takes whole 32-bit registers. */
static uint32_t flow_key_len(int family)
{
	return 4 + (family == AF_INET ? 4 : 16) + 4 + 4;
}

/*
 * Loads the flow key "meta l4proto . ip(6) PEER . th PEERPORT . th OWNPORT" into the registers
 * from NFT_REG32_00: for a frame to the endpoint the peer is the source, for one from it the
 * destination, so both directions build the same key for one flow.
 */
int guard_load_flow_key(struct nftnl_rule *rule, int family, bool to_endpoint)
{
	uint32_t addr_regs = family == AF_INET ? 1 : 4;
	int r;

	r = expr_meta_reg(rule, NFT_META_L4PROTO, NFT_REG32_00);
	if (r >= 0)
		r = guard_load_addr(rule, family, to_endpoint, NFT_REG32_01);
	if (r >= 0)
		r = expr_payload_reg(rule, NFT_PAYLOAD_TRANSPORT_HEADER, to_endpoint ? 0 : 2, 2,
				     NFT_REG32_01 + addr_regs);
	if (r >= 0)
		r = expr_payload_reg(rule, NFT_PAYLOAD_TRANSPORT_HEADER, to_endpoint ? 2 : 0, 2,
				     NFT_REG32_01 + addr_regs + 1);
	return r;
}

/* ---- chain from_endpoint: what the endpoint may send ----------------------------------- */

/* meta iif|oif != IFINDEX accept: the device of that name is another one (this guard's was
 * deleted and its name reused): not ours to judge, let it be. */
int guard_same_device(struct gemit *e, const char *chain, uint32_t key)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	uint32_t ifindex = e->g->ifindex;
	int r;

	r = guard_rule_new(e, chain, "segd: guard: another device of that name", &rule);
	if (r < 0 || (r = expr_meta(rule, key)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, &ifindex, sizeof(ifindex))) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0)
		return r;
	return guard_emit_rule(e, &rule, NULL);
}

static int emit_l2_rules(struct gemit *e)
{
	static const uint8_t arp_shape[6] = { 0, 1, 8, 0, 6, 4 }; /* ethernet, IPv4, 6, 4 */
	static const uint8_t any4[4] = { 0 };
	const char *ch = POLICY_GUARD_CHAIN_FROM;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	/* ether saddr != MAC counter drop */
	r = guard_rule_new(e, ch, "segd: guard: source MAC", &rule);
	if (r < 0 || (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 6, 6)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, e->g->mac, 6)) < 0 || (r = expr_counter(rule)) < 0 ||
	    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type arp @ll,112,48 != { htype 1, ptype ip, hlen 6, plen 4 } counter drop */
	r = guard_rule_new(e, ch, "segd: guard: ARP shape", &rule);
	if (r < 0 || (r = guard_match_ethertype(rule, ETH_P_ARP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 14, 6)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, arp_shape, sizeof(arp_shape))) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
	    (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type arp arp saddr ether != MAC counter drop */
	r = guard_rule_new(e, ch, "segd: guard: ARP sender MAC", &rule);
	if (r < 0 || (r = guard_match_ethertype(rule, ETH_P_ARP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 22, 6)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, e->g->mac, 6)) < 0 || (r = expr_counter(rule)) < 0 ||
	    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type arp arp saddr ip @own4 accept */
	r = guard_rule_new(e, ch, "segd: guard: ARP", &rule);
	if (r < 0 || (r = guard_match_ethertype(rule, ETH_P_ARP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 28, 4)) < 0 ||
	    (r = expr_lookup(rule, guard_set_names[SET_OWN4], e->set_id[SET_OWN4])) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type arp arp saddr ip 0.0.0.0 accept (address probes, RFC 5227) */
	r = guard_rule_new(e, ch, "segd: guard: ARP probe", &rule);
	if (r < 0 || (r = guard_match_ethertype(rule, ETH_P_ARP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 28, 4)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_EQ, any4, sizeof(any4))) < 0 ||
	    (r = expr_verdict(rule, NF_ACCEPT)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type != { ip, ip6 } counter drop (ARP from another sender, VLAN tags, ...) */
	r = guard_rule_new(e, ch, "segd: guard: ether type", &rule);
	if (r < 0 || (r = expr_payload(rule, NFT_PAYLOAD_LL_HEADER, 12, 2)) < 0 ||
	    (r = expr_cmp_be16(rule, NFT_CMP_NEQ, ETH_P_IP)) < 0 ||
	    (r = expr_cmp_be16(rule, NFT_CMP_NEQ, ETH_P_IPV6)) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0)
		return r;
	return guard_emit_rule(e, &rule, NULL);
}

static int emit_source_rules(struct gemit *e)
{
	static const uint8_t any6[16] = { 0 };
	const char *ch = POLICY_GUARD_CHAIN_FROM;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	/* ether type ip ip saddr != @own4 counter drop */
	r = guard_rule_new(e, ch, "segd: guard: source address", &rule);
	if (r < 0 || (r = guard_match_family(rule, AF_INET)) < 0 ||
	    (r = guard_load_addr(rule, AF_INET, true, NFT_REG_1)) < 0 ||
	    (r = expr_lookup_reg(rule, NFT_REG_1, guard_set_names[SET_OWN4], e->set_id[SET_OWN4],
				 true)) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
	    (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip udp sport 67 counter drop (DHCP server replies) */
	r = guard_rule_new(e, ch, "segd: guard: no DHCP server replies from endpoints", &rule);
	if (r < 0 || (r = guard_match_family(rule, AF_INET)) < 0 ||
	    (r = guard_match_l4proto(rule, IPPROTO_UDP)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2)) < 0 ||
	    (r = expr_cmp_be16(rule, NFT_CMP_EQ, 67)) < 0 || (r = expr_counter(rule)) < 0 ||
	    (r = expr_verdict(rule, NF_DROP)) < 0 || (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp counter drop */
	r = guard_rule_new(e, ch, "segd: guard: unspecified source", &rule);
	if (r < 0 || (r = guard_match_family(rule, AF_INET6)) < 0 ||
	    (r = guard_load_addr(rule, AF_INET6, true, NFT_REG_1)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_EQ, any6, sizeof(any6))) < 0 ||
	    (r = expr_meta(rule, NFT_META_L4PROTO)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, &(uint8_t){ IPPROTO_ICMPV6 }, 1)) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
	    (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip6 ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, mld2-listener-report }
	 * counter drop (duplicate address detection and its MLD report only) */
	r = guard_rule_new(e, ch, "segd: guard: unspecified source", &rule);
	if (r < 0 || (r = guard_match_family(rule, AF_INET6)) < 0 ||
	    (r = guard_load_addr(rule, AF_INET6, true, NFT_REG_1)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_EQ, any6, sizeof(any6))) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, &(uint8_t){ ICMPV6_NS }, 1)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, &(uint8_t){ 143 }, 1)) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
	    (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/* ether type ip6 ip6 saddr != @own6 ip6 saddr != :: counter drop */
	r = guard_rule_new(e, ch, "segd: guard: source address", &rule);
	if (r < 0 || (r = guard_match_family(rule, AF_INET6)) < 0 ||
	    (r = guard_load_addr(rule, AF_INET6, true, NFT_REG_1)) < 0 ||
	    (r = expr_lookup_reg(rule, NFT_REG_1, guard_set_names[SET_OWN6], e->set_id[SET_OWN6],
				 true)) < 0 ||
	    (r = expr_cmp(rule, NFT_CMP_NEQ, any6, sizeof(any6))) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0)
		return r;
	return guard_emit_rule(e, &rule, NULL);
}

/* Router advertisements and redirects dropped; neighbour solicitations, advertisements and
 * router solicitations accepted when their shape, target and link-layer options are the
 * endpoint's; MLD accepted. */
static int emit_nd_rules(struct gemit *e)
{
	static const uint8_t drop_types[] = { ICMPV6_RA, ICMPV6_REDIRECT };
	static const uint8_t mld_types[] = { 130, 131, 132, 143 };
	const char *ch = POLICY_GUARD_CHAIN_FROM;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(drop_types); i++) {
		/* icmpv6 type nd-router-advert|nd-redirect counter drop */
		r = guard_rule_new(e, ch, "segd: guard: no router advertisements or redirects",
				   &rule);
		if (r < 0 || (r = match_icmpv6_type(rule, drop_types[i])) < 0 ||
		    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
		    (r = guard_emit_rule(e, &rule, NULL)) < 0)
			return r;
	}

	/* icmpv6 type nd-neighbor-advert @th,64,128 != @own6 counter drop */
	r = guard_rule_new(e, ch, "segd: guard: neighbour advertisement target", &rule);
	if (r < 0 || (r = match_icmpv6_type(rule, ICMPV6_NA)) < 0 ||
	    (r = expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16)) < 0 ||
	    (r = expr_lookup_reg(rule, NFT_REG_1, guard_set_names[SET_OWN6], e->set_id[SET_OWN6],
				 true)) < 0 ||
	    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
	    (r = guard_emit_rule(e, &rule, NULL)) < 0)
		return r;

	/*
	 * Each ND message: without options, or with exactly one option of an allowed kind (its
	 * link-layer address being the endpoint's): accept. ip6 nexthdr must be ipv6-icmp, so that
	 * the payload length is the message's.
	 *   NS (24 bytes): source link-layer address, or a nonce (enhanced DAD, RFC 7527)
	 *   NA (24 bytes): target link-layer address
	 *   RS (8 bytes):  source link-layer address
	 */
	static const struct {
		uint8_t type;
		uint16_t len;
		uint8_t option; /* 0: none */
		bool lladdr;
	} nd[] = {
		{ ICMPV6_NS, 24, 0, false },
		{ ICMPV6_NS, 32, ND_OPT_SOURCE_LL, true },
		{ ICMPV6_NS, 32, ND_OPT_NONCE, false },
		{ ICMPV6_NA, 24, 0, false },
		{ ICMPV6_NA, 32, ND_OPT_TARGET_LL, true },
		{ ICMPV6_RS, 8, 0, false },
		{ ICMPV6_RS, 16, ND_OPT_SOURCE_LL, true },
	};
	for (size_t i = 0; i < ARRAY_SIZE(nd); i++) {
		r = guard_rule_new(e, ch, "segd: guard: neighbour discovery", &rule);
		if (r < 0 || (r = match_icmpv6_type(rule, nd[i].type)) < 0 ||
		    (r = match_nd_shape(rule, nd[i].len)) < 0)
			return r;
		if (nd[i].option) {
			r = match_nd_option(e, rule, nd[i].len - 8, nd[i].option, nd[i].lladdr);
			if (r < 0)
				return r;
		}
		r = expr_verdict(rule, NF_ACCEPT);
		if (r >= 0)
			r = guard_emit_rule(e, &rule, NULL);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < 3; i++) {
		static const uint8_t types[] = { ICMPV6_NS, ICMPV6_NA, ICMPV6_RS };

		/* any other NS/NA/RS: counter drop */
		r = guard_rule_new(e, ch, "segd: guard: neighbour discovery", &rule);
		if (r < 0 || (r = match_icmpv6_type(rule, types[i])) < 0 ||
		    (r = expr_counter(rule)) < 0 || (r = expr_verdict(rule, NF_DROP)) < 0 ||
		    (r = guard_emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(mld_types); i++) {
		/* icmpv6 type mld-* accept */
		r = guard_rule_new(e, ch, "segd: guard: multicast listener discovery", &rule);
		if (r < 0 || (r = match_icmpv6_type(rule, mld_types[i])) < 0 ||
		    (r = expr_verdict(rule, NF_ACCEPT)) < 0 ||
		    (r = guard_emit_rule(e, &rule, NULL)) < 0)
			return r;
	}
	return 0;
}

static int emit_from_endpoint(struct gemit *e)
{
	int r;

	r = guard_same_device(e, POLICY_GUARD_CHAIN_FROM, NFT_META_IIF);
	if (r >= 0)
		r = emit_l2_rules(e);
	if (r >= 0)
		r = emit_source_rules(e);
	if (r >= 0)
		r = emit_nd_rules(e);
	return r < 0 ? r : guard_emit_egress(e);
}

_public_ int policy_emit_guard(const struct policy_guard *g, policy_emit_fn fn, void *userdata)
{
	struct gemit e = {
		.g = g,
		.fn = fn,
		.userdata = userdata,
	};
	const struct policy_plan *plan;
	int r;

	if (!g || !fn || !g->plan || !g->table || !g->device || g->ifindex == 0)
		return -EINVAL;
	plan = g->plan;
	if (strlen(g->table) >= NFT_TABLE_MAXNAMELEN || strlen(g->device) >= 16 || !*g->device)
		return -EINVAL;
	for (size_t i = 0; i < plan->n_rules; i++)
		if (plan->rules[i].set >= 0 && (size_t)plan->rules[i].set >= plan->n_sets)
			return -EINVAL;
	for (int i = 0; i < _SET_FIXED_MAX; i++)
		e.set_id[i] = (uint32_t)(plan->n_sets + 1 + (size_t)i);

	r = emit_table(&e);
	if (r >= 0)
		r = emit_chain(&e, POLICY_GUARD_CHAIN_FROM, NF_NETDEV_INGRESS, NF_DROP);
	if (r >= 0)
		r = emit_chain(&e, POLICY_GUARD_CHAIN_TO, NF_NETDEV_EGRESS, NF_ACCEPT);
	if (r >= 0)
		r = guard_emit_tier_chains(&e);
	for (size_t i = 0; r >= 0 && i < plan->n_sets; i++) {
		struct nftnl_set *s = NULL;

		r = nft_plan_set_build(NFPROTO_NETDEV, g->table, &plan->sets[i], (uint32_t)i + 1,
				       &s);
		if (r >= 0)
			r = fn(POLICY_EMIT_SET, s, NULL, userdata);
	}
	if (r >= 0)
		r = emit_own_set(&e, AF_INET);
	if (r >= 0)
		r = emit_own_set(&e, AF_INET6);
	for (int f = 0; r >= 0 && f < 2; f++) {
		int family = f == 0 ? AF_INET : AF_INET6;

		r = emit_dynamic_set(&e, family == AF_INET ? SET_REPLIES4 : SET_REPLIES6,
				     flow_key_type(family), flow_key_len(family));
		if (r >= 0)
			r = emit_dynamic_set(&e, family == AF_INET ? SET_SEEN4 : SET_SEEN6,
					     family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR,
					     family == AF_INET ? 4 : 16);
	}
	if (r >= 0)
		r = emit_from_endpoint(&e);
	if (r >= 0)
		r = guard_emit_to_endpoint(&e);
	return r;
}
