/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Builders of libnftnl objects shared by the emitters (nft-emit.c: the endpoint's own table;
 * guard-emit.c: the host-side guard). Each expression builder appends one expression to a rule
 * and returns 0 or -ENOMEM. Values are loaded into NFT_REG_1 unless a register is given (the
 * _reg variants, for concatenations: one 32-bit register per 4 bytes, NFT_REG32_00 on).
 */

#include <stdbool.h>
#include <stdint.h>

#include <linux/netfilter/nf_tables.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "macro.h"

/* nft's datatype ids (nftables include/datatype.h), stored as the set key type. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_INET_PROTOCOL 12
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_ICMP6_TYPE 29
/* A concatenation's type: its members' types, 6 bits each, the first one highest. */
#define NFT_TYPE_BITS 6

/* ct state bits as the kernel loads them (NF_CT_STATE_BIT, host byte order). */
#define CT_STATE_INVALID (1u << 0)
#define CT_STATE_ESTABLISHED (1u << 1)
#define CT_STATE_RELATED (1u << 2)
#define CT_STATE_NEW (1u << 3)

/* Anonymous sets get their name from the kernel ("%d" is filled in at commit). */
#define ANON_SET_NAME "__set%d"

DEFINE_CLEANUP(struct nftnl_table *, nftnl_table_free);
DEFINE_CLEANUP(struct nftnl_chain *, nftnl_chain_free);
DEFINE_CLEANUP(struct nftnl_set *, nftnl_set_free);
DEFINE_CLEANUP(struct nftnl_rule *, nftnl_rule_free);
DEFINE_CLEANUP(struct nftnl_expr *, nftnl_expr_free);

int expr_meta(struct nftnl_rule *rule, uint32_t key);
int expr_meta_reg(struct nftnl_rule *rule, uint32_t key, uint32_t dreg);
int expr_ct(struct nftnl_rule *rule, uint32_t key);
int expr_payload(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len);
int expr_payload_reg(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len,
		     uint32_t dreg);
int expr_cmp(struct nftnl_rule *rule, enum nft_cmp_ops op, const void *data, uint32_t len);
int expr_cmp_u8(struct nftnl_rule *rule, uint8_t v);
int expr_cmp_be16(struct nftnl_rule *rule, enum nft_cmp_ops op, uint16_t host_value);
/* reg1 = (reg1 & mask) ^ 0, len bytes (1..4) */
int expr_bitwise(struct nftnl_rule *rule, uint32_t mask, uint32_t len);
int expr_lookup(struct nftnl_rule *rule, const char *set, uint32_t set_id);
/* lookup from sreg; inverted: the rule goes on when the key is NOT in the set */
int expr_lookup_reg(struct nftnl_rule *rule, uint32_t sreg, const char *set, uint32_t set_id,
		    bool inverted);
/* update @set { key from sreg timeout T }: adds the key or refreshes its timeout */
int expr_dynset_update(struct nftnl_rule *rule, uint32_t sreg, const char *set, uint32_t set_id,
		       uint64_t timeout_ms);
int expr_counter(struct nftnl_rule *rule);
int expr_log(struct nftnl_rule *rule, const char *prefix, uint16_t group);
int expr_limit(struct nftnl_rule *rule, uint32_t rate, uint32_t burst);
int expr_verdict(struct nftnl_rule *rule, int verdict);
/* jump CHAIN */
int expr_jump(struct nftnl_rule *rule, const char *chain);
int expr_reject(struct nftnl_rule *rule, uint32_t type, uint8_t code);

/* A rule of table `table` (family) in `chain`, with a comment (NULL: none; -EINVAL if too long
 * for nft's userdata). */
int nft_rule_new(uint32_t family, const char *table, const char *chain, const char *comment,
		 struct nftnl_rule **ret);
int nft_set_new(uint32_t family, const char *table, const char *name, uint32_t flags,
		uint32_t key_type, uint32_t key_len, uint32_t id, struct nftnl_set **ret);
int nft_set_add_elem(struct nftnl_set *s, const uint8_t *key, uint32_t len, uint32_t flags);
/* a + 1 in network byte order; false if a was all ones. */
bool nft_addr_inc(uint8_t *a, size_t len);
/* The nftnl set of plan set `ps` (set ps->name { type ipv4_addr|ipv6_addr; [flags interval;]
 * elements = { ... } }) in table `table`, with transaction id `id`. */
struct policy_set;
int nft_plan_set_build(uint32_t family, const char *table, const struct policy_set *ps, uint32_t id,
		       struct nftnl_set **ret);
