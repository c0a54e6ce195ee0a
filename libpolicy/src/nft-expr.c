/* SPDX-License-Identifier: MIT */
/*
 * Expression, rule and set builders shared by the emitters. Pure: no sockets, no logging.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include <linux/netfilter.h>

#include <libnftnl/udata.h>

#include "nft-expr.h"
#include "policy/policy.h"

DEFINE_CLEANUP(struct nftnl_udata_buf *, nftnl_udata_buf_free);

static int add_expr(struct nftnl_rule *rule, struct nftnl_expr **e)
{
	nftnl_rule_add_expr(rule, TAKE_PTR(*e));
	return 0;
}

int expr_meta_reg(struct nftnl_rule *rule, uint32_t key, uint32_t dreg)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	return add_expr(rule, &e);
}

int expr_meta(struct nftnl_rule *rule, uint32_t key)
{
	return expr_meta_reg(rule, key, NFT_REG_1);
}

int expr_ct(struct nftnl_rule *rule, uint32_t key)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	return add_expr(rule, &e);
}

int expr_payload_reg(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len,
		     uint32_t dreg)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	return add_expr(rule, &e);
}

int expr_payload(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len)
{
	return expr_payload_reg(rule, base, offset, len, NFT_REG_1);
}

int expr_cmp(struct nftnl_rule *rule, enum nft_cmp_ops op, const void *data, uint32_t len)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	if (nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0)
		return -ENOMEM;
	return add_expr(rule, &e);
}

int expr_cmp_u8(struct nftnl_rule *rule, uint8_t v)
{
	return expr_cmp(rule, NFT_CMP_EQ, &v, sizeof(v));
}

int expr_cmp_be16(struct nftnl_rule *rule, enum nft_cmp_ops op, uint16_t host_value)
{
	uint16_t v = htons(host_value);

	return expr_cmp(rule, op, &v, sizeof(v));
}

int expr_bitwise(struct nftnl_rule *rule, uint32_t mask, uint32_t len)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint32_t xor = 0;

	if (!e)
		return -ENOMEM;
	if (len == 0 || len > sizeof(uint32_t))
		return -EINVAL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, len) < 0 ||
	    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, len) < 0)
		return -ENOMEM;
	return add_expr(rule, &e);
}

int expr_lookup_reg(struct nftnl_rule *rule, uint32_t sreg, const char *set, uint32_t set_id,
		    bool inverted)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	if (inverted)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	return add_expr(rule, &e);
}

int expr_lookup(struct nftnl_rule *rule, const char *set, uint32_t set_id)
{
	return expr_lookup_reg(rule, NFT_REG_1, set, set_id, false);
}

int expr_dynset_update(struct nftnl_rule *rule, uint32_t sreg, const char *set, uint32_t set_id,
		       uint64_t timeout_ms)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("dynset");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set) < 0)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
	return add_expr(rule, &e);
}

int expr_counter(struct nftnl_rule *rule)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("counter");

	if (!e)
		return -ENOMEM;
	return add_expr(rule, &e);
}

/* log prefix "..." group G (NFLOG; the prefix names the decision, see policy.h) */
int expr_log(struct nftnl_rule *rule, const char *prefix, uint16_t group)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("log");

	if (!e)
		return -ENOMEM;
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix) < 0)
		return -ENOMEM;
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, POLICY_FLOW_LOG_SNAPLEN);
	return add_expr(rule, &e);
}

/* limit rate N/second burst B packets */
int expr_limit(struct nftnl_rule *rule, uint32_t rate, uint32_t burst)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("limit");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	return add_expr(rule, &e);
}

int expr_verdict(struct nftnl_rule *rule, int verdict)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return add_expr(rule, &e);
}

int expr_jump(struct nftnl_rule *rule, const char *chain)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) < 0)
		return -ENOMEM;
	return add_expr(rule, &e);
}

int expr_reject(struct nftnl_rule *rule, uint32_t type, uint8_t code)
{
	_cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("reject");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	return add_expr(rule, &e);
}

int nft_rule_new(uint32_t family, const char *table, const char *chain, const char *comment,
		 struct nftnl_rule **ret)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = nftnl_rule_alloc();
	_cleanup_(nftnl_udata_buf_freep) struct nftnl_udata_buf *ud = NULL;

	if (!rule)
		return -ENOMEM;
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, family);
	if (nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain) < 0)
		return -ENOMEM;
	if (comment && *comment) {
		/* comment "...": NFTNL_UDATA_RULE_COMMENT, NUL-terminated, as nft writes it */
		if (strlen(comment) > NFTNL_UDATA_COMMENT_MAXLEN)
			return -EINVAL;
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud)
			return -ENOMEM;
		if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment))
			return -EINVAL;
		if (nftnl_rule_set_data(rule, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					nftnl_udata_buf_len(ud)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(rule);
	return 0;
}

int nft_set_new(uint32_t family, const char *table, const char *name, uint32_t flags,
		uint32_t key_type, uint32_t key_len, uint32_t id, struct nftnl_set **ret)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return -ENOMEM;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(s);
	return 0;
}

int nft_set_add_elem(struct nftnl_set *s, const uint8_t *key, uint32_t len, uint32_t flags)
{
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();

	if (!el)
		return -ENOMEM;
	if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, len) < 0) {
		nftnl_set_elem_free(el);
		return -ENOMEM;
	}
	if (flags)
		nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_add(s, el);
	return 0;
}

bool nft_addr_inc(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++a[i] != 0)
			return true;
	return false;
}

int nft_plan_set_build(uint32_t family, const char *table, const struct policy_set *ps, uint32_t id,
		       struct nftnl_set **ret)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	uint32_t len = ps->family == AF_INET ? 4 : 16;
	int r;

	if (ps->family != AF_INET && ps->family != AF_INET6)
		return -EINVAL;
	if (!ps->name || strlen(ps->name) >= NFT_SET_MAXNAMELEN || strchr(ps->name, '%'))
		return -EINVAL;
	/* set NAME { type ipv4_addr|ipv6_addr; [flags interval;] elements = { ... } } */
	r = nft_set_new(family, table, ps->name, ps->interval ? NFT_SET_INTERVAL : 0,
			ps->family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR, len, id, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ps->n_elems; i++) {
		const struct policy_set_elem *el = &ps->elems[i];
		uint8_t end[16];

		r = nft_set_add_elem(s, el->start, len, 0);
		if (r < 0)
			return r;
		if (!ps->interval)
			continue;
		/*
		 * The rbtree backend stores an interval as a start key plus an end key flagged
		 * INTERVAL_END, exclusive (end + 1). An interval that runs to the last address
		 * has no end key: the kernel treats an open start as "up to the top".
		 */
		if (memcmp(el->start, el->end, len) > 0)
			return -EINVAL;
		memcpy(end, el->end, len);
		if (!nft_addr_inc(end, len))
			continue;
		r = nft_set_add_elem(s, end, len, NFT_SET_ELEM_INTERVAL_END);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}
